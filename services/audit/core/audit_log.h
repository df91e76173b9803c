#pragma once

// The audit log's rules: appending with group commit, checkpoints, verification, search and the
// accounting of disclosures. Transport-free (the gRPC adapter validates and authorises first);
// storage through the AuditStore port.
//
// Appending. Callers hand in validated events; concurrent callers are committed together: a
// committer thread of the log takes everything queued (up to max_group_events) as ONE group,
// committed in ONE transaction, and answers each of its callers (AppendAsync's callback, or
// the waiting Append). No thread waits per caller: a gRPC handler queues its events and
// returns, and the committer finishes the call (one thread hand-off per group, not three per
// caller). A caller whose deadline passed while queued is answered DEADLINE_EXCEEDED and its
// events are not written. Inside that
// transaction every event id is looked up, sequences, record times and hashes assigned, the
// rows written, and the head row locked and moved, so the chain and the gap-free sequence are
// decided in the commit itself. Two groups may be in flight (pipelining): once a group is
// chained, the next leader chains its group from the head the first will leave (predicted)
// and writes its rows while the first writes and commits its own; it then waits until the
// first holds the head lock (at most 1 s) before asking for it, gets it once the first
// committed, and commits only if the head is the one predicted
// (AuditTxn::AppendExpecting); otherwise (the first failed, or another replica appended, or
// past that bound it got the lock first) it rolls back and retries from the locked head. A
// group carrying an event id that a group in flight carries too (a caller's retry while the
// first attempt commits) does not write behind it: it waits in the same way, locks the head,
// so waits for that commit, and then finds the id stored. A group's slot is free once its
// transaction ends: its callers are answered (and a due checkpoint signed) while the next groups
// commit, hence two committer threads more than groups in flight. Several replicas share one chain
// through that lock on the head row: their groups serialise on it. A caller is answered only after
// its group committed (durable before acknowledged). Each caller's events are all or nothing: an
// event id already stored with the same content answers with the original sequence and hash; with
// other content, ALREADY_EXISTS for that caller only (the rest of the group goes on). record_time
// never goes backwards.
//
// Checkpoints. A checkpoint signs (sequence, head hash, create time, key id) with the service's
// Ed25519 key (core/canonical.h: EncodeCheckpoint). One is made every checkpoint_every_events
// events (by the committer, after it answered its group: the head that group left) and every
// checkpoint_interval while the head moved (MaybeCheckpoint, run periodically), kept in the
// database AND in the archive outside it. The signing key is registered at start (Start); old keys
// stay listed for verification.
//
// Verification (Verify): the chain is recomputed over the range (core/chain_verifier.h), then
// every checkpoint in the range, from the database and from the archive, must carry a valid
// signature by a listed key (archive keys first: the database's could be rewritten) and the
// hash the chain has at its sequence. When the range reaches the head, an archived checkpoint
// beyond the head means the tail was cut: GAP at head + 1. The first failure in sequence order
// is reported.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/audit/core/checkpoint_archive.h"
#include "services/audit/core/patient_resolver.h"
#include "services/audit/core/signer.h"
#include "services/audit/store/audit_store.h"

namespace hie::audit {

struct AuditLogOptions {
  size_t max_group_events = 4000;
  // Events (and their bytes, as serialised) waiting for a group at most; beyond, appends are
  // refused RESOURCE_EXHAUSTED at once (the callers retry with backoff) rather than queued
  // without bound. One caller's events are always taken when nothing else waits.
  size_t max_queued_events = 100'000;
  size_t max_queued_bytes = 256u << 20;
  int64_t checkpoint_every_events = 10000;
  absl::Duration checkpoint_interval = absl::Seconds(60);
  // Verify scans ranges of verify_parallel_min_events and more in verify_parallelism chunks at
  // once, each on its own database connection.
  int verify_parallelism = 2;
  int64_t verify_parallel_min_events = 100'000;
  std::function<absl::Time()> now = absl::Now;
};

struct AppendResult {
  int64_t sequence = 0;
  std::string hash;
  absl::Time record_time;
};

struct VerifyOptions {
  int64_t from_sequence = 0;  // 0 = 1 (or the retention horizon)
  int64_t to_sequence = 0;    // 0 = head
  bool skip_checkpoints = false;
};

class AuditLog {
 public:
  // `archive` and `resolver` may be null (no archive: checkpoints only in the database; no
  // resolver: searches use the patients as given and person ids are refused).
  AuditLog(AuditStore* store, const CheckpointSigner* signer, CheckpointArchive* archive,
           PatientResolver* resolver, AuditLogOptions options = {});
  // Answers what is still queued UNAVAILABLE after the groups in flight end.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Registers the signing key (database and archive). Call once before serving.
  [[nodiscard]] absl::Status Start(absl::Time deadline);

  // Appends `events` (validated; sequence, record_time, hash and previous_hash are ignored)
  // durably, in order, all or nothing. Results in request order.
  [[nodiscard]] absl::StatusOr<std::vector<AppendResult>> Append(std::vector<v1::AuditEvent> events,
                                                                 absl::Time deadline);
  using AppendCallback = std::function<void(absl::StatusOr<std::vector<AppendResult>>)>;
  // As Append, without waiting: `done` is called exactly once, on a committer thread of the log
  // (never under its lock), once the events are durable or refused. `done` must not block.
  void AppendAsync(std::vector<v1::AuditEvent> events, absl::Time deadline, AppendCallback done);
  // As Append, and sets `feed`'s position to `position` in the same transaction (a follower's
  // progress and the events it recorded commit together, so a restart repeats nothing).
  [[nodiscard]] absl::Status AppendFromFeed(const std::string& feed, int64_t position,
                                            std::vector<v1::AuditEvent> events,
                                            absl::Time deadline);
  [[nodiscard]] absl::StatusOr<int64_t> FeedPosition(const std::string& feed, absl::Time deadline);

  [[nodiscard]] absl::StatusOr<v1::VerifyResult> Verify(const VerifyOptions& options,
                                                        absl::Time deadline);

  // Signs the head now; the existing checkpoint when the head is already signed.
  [[nodiscard]] absl::StatusOr<v1::Checkpoint> CreateCheckpoint(absl::Time deadline);
  // CreateCheckpoint when the head moved and the last checkpoint is older than the interval.
  void MaybeCheckpoint(absl::Time deadline);

  // Search. `query.patients` are widened to every record linked to them now; `person_id`, when
  // set, adds the person's current records. NOT_FOUND for an unknown person.
  [[nodiscard]] absl::StatusOr<std::vector<v1::AuditEvent>> Search(EventQuery query,
                                                                   const std::string& person_id,
                                                                   absl::Time deadline);
  // The patients' records as linked now (each patient widened; duplicates removed).
  [[nodiscard]] absl::StatusOr<std::vector<SourceId>> CurrentRecords(
      const std::vector<SourceId>& patients, absl::Time deadline);

  AuditStore* store() const { return store_; }

 private:
  struct Pending;
  using Group = std::vector<std::unique_ptr<Pending>>;
  // Queues `pending` and returns its id (0, with `pending` answered, when the log is stopping
  // or its queue is full).
  uint64_t Enqueue(std::unique_ptr<Pending> pending);
  // Queues and waits for the outcome; withdraws the events if the deadline passes while queued.
  absl::StatusOr<std::vector<AppendResult>> AppendAndWait(
      std::vector<v1::AuditEvent> events,
      std::optional<std::pair<std::string, int64_t>> feed_position, absl::Time deadline);
  // Removes the queued pending `id`; false when a committer already took it.
  bool Withdraw(uint64_t id);
  // A committer thread: takes groups while it may (CanLead) until the log stops.
  void RunCommitter();
  // Whether a committer may take a group now, and waking one if so (mu_ held).
  bool CanLead() const;
  void WakeCommitter();
  // Takes the next group off the queue, and the callers whose deadline passed (mu_ held).
  Group TakeGroup(Group* expired);
  // Whether a group in flight carries one of the group's event ids, and counting its ids in
  // (change +1) or out of (-1) ids_in_flight_ (mu_ held).
  bool SharesIdsInFlight(const Group& group) const;
  void TrackIds(const Group& group, int change);
  // Commits `group` (behind the `predicted` head, if given); the head it left, none when it
  // appended nothing. Its members' own outcomes (ALREADY_EXISTS for one caller) are in their
  // Pending.
  absl::StatusOr<std::optional<ChainHead>> CommitGroup(const Group& group,
                                                       std::optional<ChainHead> predicted);
  // Answers each member: `status` when the group failed, else its own outcome.
  static void Answer(const Group& group, const absl::Status& status);
  // Whether a checkpoint of `head` (committed by a group) is due: then claims it, so that a group
  // committed just behind does not sign too, and returns the claim it replaced.
  std::optional<int64_t> ClaimCheckpoint(const ChainHead& head);
  // Signs the claimed `head` unless another signing is under way; busy or failed, the claim goes
  // back to `replaced_claim`.
  void SignClaimed(const ChainHead& head, int64_t replaced_claim);
  // One attempt: chains the group from `predicted` (or the locked head), calls `chained` with
  // the head it will leave before writing its rows (none when it appends nothing),
  // `wait_turn(behind_prediction)` before it locks the head (first of all, or once its rows are
  // written behind `predicted`), `locked` once it holds the head.
  absl::Status CommitGroupInTxn(AuditTxn& txn, const Group& group,
                                const std::optional<ChainHead>& predicted,
                                const std::function<void(const std::optional<ChainHead>&)>& chained,
                                const std::function<void(bool)>& wait_turn,
                                const std::function<void()>& locked,
                                std::optional<ChainHead>* head);
  void RaiseCheckpointClaim(int64_t sequence);
  // Signs `head` (stored, at most the current head) unless already signed (checkpoint_mu_ held).
  absl::StatusOr<v1::Checkpoint> SignHead(const ChainHead& head, absl::Time deadline);
  absl::Status CheckCheckpoints(const std::vector<v1::Checkpoint>& checkpoints, int64_t verified_to,
                                const std::map<int64_t, std::string>& hashes,
                                v1::VerifyResult* result, absl::Time deadline);

  AuditStore* const store_;
  const CheckpointSigner* const signer_;
  CheckpointArchive* const archive_;
  PatientResolver* const resolver_;
  const AuditLogOptions options_;

  static constexpr int kMaxGroupsInFlight = 2;
  static constexpr int kCommitters = kMaxGroupsInFlight + 2;
  std::mutex mu_;
  std::condition_variable committer_wake_;  // a group may be taken, or the log stops
  std::deque<std::unique_ptr<Pending>> queue_;
  size_t queued_events_ = 0;  // in queue_
  size_t queued_bytes_ = 0;
  uint64_t last_pending_id_ = 0;
  bool stopping_ = false;
  bool writing_ = false;  // a committer is chaining its group
  int in_flight_ = 0;     // groups whose transaction has not ended
  // The head the last group chained will leave, while nothing says it failed.
  std::optional<ChainHead> predicted_;
  uint64_t prediction_generation_ = 0;
  // The predictions (generations) whose group does not yet hold the head and has not ended its
  // attempt: a group locks the head only once those chained before it are gone (within a bound).
  std::set<uint64_t> turns_pending_;
  // Event ids of the groups in flight, with how many of them carry each.
  std::unordered_map<std::string, int> ids_in_flight_;
  std::condition_variable turn_;
  int64_t last_checkpoint_sequence_ = 0;  // guarded by checkpoint_mu_
  // The newest head signed or being signed (a committer claims a due checkpoint here).
  std::atomic<int64_t> checkpoint_claimed_{0};
  absl::Time last_checkpoint_time_ = absl::InfinitePast();
  std::mutex checkpoint_mu_;
  std::vector<std::thread> committers_;  // last: started when everything above is
};

}  // namespace hie::audit
