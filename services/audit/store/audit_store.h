#pragma once

// The audit service's storage port. One owner: only the audit service uses it. The in-memory
// store (unit tests) and the PostgreSQL store (production) implement it and must both pass the
// contract suite in audit_store_contract.h.
//
// Data model:
//   events        the chain: one row per sequence 1..head, gap-free, never updated; each keeps
//                 its canonical encoding (core/canonical.h: the bytes its hash covers), hash,
//                 previous hash and content fingerprint, plus the columns search filters on
//                 (derived from the event, written once with it)
//   head          the chain head (sequence, hash, record time): one row, locked by every append
//   checkpoints   signed heads; signing_keys, every key ever used (old ones stay listed)
//   positions     how far each followed feed (identity's WatchEvents) has been recorded
//   retention     events are kept in monthly partitions by record time; a partition is dropped
//                 only when every event in it is at or below a signed checkpoint's sequence, and
//                 the horizon (first kept sequence and the hash before it) is recorded so that
//                 verification starts there
//
// The store checks nothing about the chain itself: core/ computes hashes and decides; the
// store keeps what it is given and reads it back exactly (so that tampering stays visible).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"
#include "services/audit/core/canonical.h"

namespace hie::audit {

// `v1` here is ::hie::audit::v1 (the protobuf package): no alias needed (clang refuses one).
using ::hie::common::v1::SourceId;

struct ChainHead {
  int64_t sequence = 0;      // 0: empty chain
  std::string hash;          // 32 zero bytes when empty
  absl::Time record_time = absl::UnixEpoch();
};

// An event ready to append: `event` has sequence, record_time, hash and previous_hash set;
// `encoding` is EncodeEvent(event) and `fingerprint` ContentFingerprint(event).
struct NewEvent {
  v1::AuditEvent event;
  std::string encoding;
  std::string fingerprint;
};

// What an earlier append of an event id left (idempotent retries answer from it).
struct ExistingEvent {
  int64_t sequence = 0;
  std::string hash;
  absl::Time record_time;
  std::string fingerprint;
};

// One link of the chain as stored, for verification.
struct ChainRow {
  int64_t sequence = 0;
  std::string encoding;
  std::string hash;
  std::string previous_hash;
};

// Reads and writes of one append transaction. Errors: the store's (UNAVAILABLE, ABORTED...),
// after which the transaction is rolled back.
class AuditTxn {
 public:
  virtual ~AuditTxn() = default;
  // The head, locked until the transaction ends (appends from every replica serialise here).
  virtual absl::StatusOr<ChainHead> LockHead() = 0;
  // The earlier appends of these ids (absent ids are not in the map).
  virtual absl::StatusOr<std::map<std::string, ExistingEvent>> FindEvents(
      const std::vector<std::string>& event_ids) = 0;
  // Appends events with sequences head+1, head+2, ... in order and moves the head to the last.
  // FAILED_PRECONDITION when the sequences do not continue the head; ALREADY_EXISTS when an
  // event id is already stored.
  virtual absl::Status Append(const std::vector<NewEvent>& events) = 0;
  // The pipelined form of Append, for a writer that knows the head another transaction still in
  // flight will leave: stores `events` as continuing `expected` WITHOUT the head lock (so the two
  // transactions' writes overlap), calls `written` (which may wait, e.g. for that transaction to
  // lock the head first), then locks the head, calls `locked`, and moves the head to the last
  // event. ABORTED when the head is then not `expected` (that transaction failed, or
  // another replica appended between): nothing may be committed, retry with LockHead + Append.
  // FAILED_PRECONDITION and ALREADY_EXISTS as Append; rows that collide with the ones of the
  // transaction in flight (an event id it stored, or a store's own keys) may show as
  // ALREADY_EXISTS rather than ABORTED: retry the same way.
  virtual absl::Status AppendExpecting(const ChainHead& expected,
                                       const std::vector<NewEvent>& events,
                                       const std::function<void()>& written,
                                       const std::function<void()>& locked) = 0;
  // A followed feed's position (0 when never set), and setting it in this transaction.
  virtual absl::StatusOr<int64_t> GetPosition(const std::string& feed) = 0;
  virtual absl::Status SetPosition(const std::string& feed, int64_t position) = 0;
};

// The first instant of the month (UTC) holding `t`: partitions hold whole months.
absl::Time MonthStart(absl::Time t);

// Search filters (all optional except the event time range; a list matches any of its values).
struct EventQuery {
  std::vector<SourceId> patients;  // the core passes a person's current source ids
  std::string actor_org;
  std::string actor_user_id;
  std::string custodian_org;
  std::vector<v1::EventType> types;
  std::vector<v1::Outcome> outcomes;
  std::vector<hie::common::v1::PurposeOfUse> purposes;
  std::string request_id;
  bool break_glass_only = false;
  absl::Time event_time_start = absl::InfinitePast();  // inclusive
  absl::Time event_time_end = absl::InfiniteFuture();  // exclusive
  // Paging: newest first by (event_time, sequence); only events strictly before this position.
  std::optional<std::pair<int64_t, int64_t>> before;  // (event_time unix nanos, sequence)
  int limit = 100;
};

struct RetentionHorizon {
  int64_t first_sequence = 1;        // the first event still stored
  std::string previous_hash;         // hash of first_sequence - 1 (zeros for 1)
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;

  // Runs `work` in one transaction and commits it (durably) when it returns OK; rolls back
  // otherwise. ABORTED when a concurrent transaction conflicted (retry).
  virtual absl::Status Transact(absl::Time deadline,
                                const std::function<absl::Status(AuditTxn&)>& work) = 0;

  virtual absl::StatusOr<ChainHead> Head(absl::Time deadline) = 0;
  // Calls `visit` for every stored event with from <= sequence <= to, in sequence order, as
  // stored (a missing or reordered row shows as such); stops at visit's first error.
  virtual absl::Status ScanChain(int64_t from, int64_t to, absl::Time deadline,
                                 const std::function<absl::Status(const ChainRow&)>& visit) = 0;
  // Events matching `query`, newest first, at most query.limit, decoded from their encoding.
  virtual absl::StatusOr<std::vector<ChainRow>> Search(const EventQuery& query,
                                                       absl::Time deadline) = 0;

  virtual absl::Status PutCheckpoint(const v1::Checkpoint& checkpoint, absl::Time deadline) = 0;
  // Checkpoints with create_time in [start, end), newest first; at most `limit`; only those
  // with sequence < before_sequence when it is set (paging).
  virtual absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(
      absl::Time start, absl::Time end, std::optional<int64_t> before_sequence, int limit,
      absl::Time deadline) = 0;
  // Checkpoints with from <= sequence <= to, ascending.
  virtual absl::StatusOr<std::vector<v1::Checkpoint>> CheckpointsIn(int64_t from, int64_t to,
                                                                   absl::Time deadline) = 0;

  // Adds `key` when its key_id is new; sets valid_until (to key.valid_from) on every other key
  // that has none. Listing returns every key, oldest first.
  virtual absl::Status AddSigningKey(const v1::SigningKey& key, absl::Time deadline) = 0;
  virtual absl::StatusOr<std::vector<v1::SigningKey>> ListSigningKeys(absl::Time deadline) = 0;

  virtual absl::StatusOr<RetentionHorizon> Horizon(absl::Time deadline) = 0;
  // Drops the oldest events: whole months of record time before `cutoff` whose events all have
  // sequence <= `covered_sequence` (a signed checkpoint's). Moves the horizon. Returns how many
  // events were dropped.
  virtual absl::StatusOr<int64_t> DropBefore(absl::Time cutoff, int64_t covered_sequence,
                                             absl::Time deadline) = 0;
};

}  // namespace hie::audit
