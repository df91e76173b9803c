#pragma once

// The locator's storage port. Implementations: InMemoryLocatorStore (tests) and PgLocatorStore
// (schema `locator`); both must pass locator_store_contract.h.
//
// Model:
//  - holdings, one per source record (org, local id), never per person: what the hub knows of
//    the data a member holds for that record (core/holding_rules.h decides every change). A
//    removed holding stays, as its tombstone (location.removal set);
//  - document marks: for every registry entry the locator has seen, whether it counts now
//    (APPROVED), so a replayed change is never counted twice and a deprecation lowers the count
//    exactly once;
//  - feed positions: how far each followed feed ("identity", "registry") has been applied,
//    written in the same transaction as the effects of what was applied;
//  - idempotency records: a key's request fingerprint and stored response.
// Errors: UNAVAILABLE when the database cannot be reached; ABORTED on serialization conflicts
// (retry the whole transaction); DEADLINE_EXCEEDED. Messages carry ids only. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/locator/v1/locator.pb.h"

namespace hie::locator {

using HoldingKey = std::pair<std::string, std::string>;  // (org, local id)

inline HoldingKey KeyOf(const common::v1::SourceId& id) { return {id.org(), id.local_id()}; }

struct Holding {
  // source_id, data_categories (sorted by system then code, no duplicates), first seen and last
  // activity times, origins (sorted, no duplicates), identity_record, removal. document_count
  // is not stored here: see below.
  v1::RecordLocation location;
  // Documents counted from the registry's feed (APPROVED entries), and those reported through
  // ReportActivity.documents_added. The answer's document_count is their sum.
  int64_t registry_documents = 0;
  int64_t reported_documents = 0;
  // An administrator reported the holding (it stays listed without documents or identity).
  bool admin_asserted = false;
  // Appears in answers: not removed, and an identity record, a document or an administrator's
  // report stands behind it. Written by the core (ListedNow in core/holding_rules.h).
  bool listed = false;
  // Where each followed feed stood when the holding was removed (identity sequence; registry
  // (version, entry uuid)): a member's removal is lifted only by feed evidence from later.
  int64_t removed_at_identity = 0;
  std::pair<int64_t, std::string> removed_at_registry;
};

// Holdings locked by a transaction.
struct LockedHoldings {
  std::map<HoldingKey, Holding> holdings;  // stored and readable
  std::set<HoldingKey> unreadable;         // stored but unreadable (logged): never overwrite
};

struct StoredResponse {
  std::string fingerprint;  // bytes identifying the request
  std::string response;     // serialized response message
};

// Operations inside one transaction. Reads see the transaction's own writes.
class LocatorTxn {
 public:
  virtual ~LocatorTxn() = default;
  // Locks `key` until commit (concurrent requests with one key serialise), then reads it.
  virtual absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) = 0;
  virtual absl::Status PutIdempotent(const std::string& key, const StoredResponse& value) = 0;
  // The stored holdings among `keys`, each locked until commit (in an order every transaction
  // shares, so two cannot deadlock on them); the keys of stored rows that do not parse apart.
  virtual absl::StatusOr<LockedHoldings> LockHoldings(const std::vector<HoldingKey>& keys) = 0;
  // Inserts or replaces each holding (by its location.source_id).
  virtual absl::Status PutHoldings(const std::vector<Holding>& holdings) = 0;
  // For each of these registry entries seen before: whether it counts now.
  virtual absl::StatusOr<std::map<std::string, bool>> DocumentMarks(
      const std::vector<std::string>& entry_uuids) = 0;
  virtual absl::Status PutDocumentMarks(const std::map<std::string, bool>& marks) = 0;
  // A followed feed's position ("" before the first write); locked until commit.
  virtual absl::StatusOr<std::string> LockFeedPosition(const std::string& feed) = 0;
  virtual absl::Status PutFeedPosition(const std::string& feed, const std::string& position) = 0;
};

// ListLocations: one org's holdings, most recent activity first.
struct ListQuery {
  std::string org;
  std::optional<absl::Time> active_from;    // last activity at or after
  std::optional<absl::Time> active_before;  // last activity before
  bool include_removed = false;             // removed ones too (else listed ones only)
  // Keyset: only holdings after this (last activity ns, local id) in the order below.
  std::optional<std::pair<int64_t, std::string>> after;
  size_t limit = 100;
};

class LocatorStore {
 public:
  virtual ~LocatorStore() = default;

  using TxnFn = std::function<absl::Status(LocatorTxn&)>;
  // Runs `fn` in one transaction; commits when it returns OK, rolls back otherwise (returning
  // its status). `fn` may run again after ABORTED: keep it free of outside effects.
  [[nodiscard]] virtual absl::Status Transact(absl::Time deadline, const TxnFn& fn) = 0;

  // The stored holdings (listed or not, removed or not) among `keys`, in no set order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Holding>> Get(
      absl::Time deadline, const std::vector<HoldingKey>& keys) = 0;
  // Holdings of query.org matching it, ordered by last activity descending then local id
  // descending; at most query.limit.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Holding>> List(absl::Time deadline,
                                                                  const ListQuery& query) = 0;
  // A followed feed's position ("" before the first write), read without locking.
  [[nodiscard]] virtual absl::StatusOr<std::string> FeedPosition(absl::Time deadline,
                                                                 const std::string& feed) = 0;
};

}  // namespace hie::locator
