#pragma once

// The identity service's rules and their orchestration, free of RPC and database code: it
// talks to storage through IdentityStore and to the matching engine through Matcher. The gRPC
// adapter (api/) only converts transport concerns; every request/response is the
// hie.identity.v1 message.
//
// Invariants kept by every operation (and checked by tests after random operation sequences):
//  - every registered source record has exactly one link, to an ACTIVE person;
//  - every ACTIVE person has at least one link; MERGED and RETIRED persons have none;
//  - every change of a link is an event in the append-only history, with actor and reason.
//
// Concurrency: registrations that could match each other share a lock key (the engine's
// blocking keys), so they are decided one after the other, in this process (key locks, which
// also keep the in-memory index in step with the commit order) and across processes (the
// store's transaction locks). Operations that change a person's links lock "person:<id>" in
// the transaction before re-reading the person.
//
// Thread-safe.

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/identity/core/authorization.h"
#include "services/identity/core/call_context.h"
#include "services/identity/core/history_follower.h"
#include "services/identity/core/matcher.h"
#include "services/identity/core/resolve_cache.h"
#include "services/identity/core/survivorship.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {

class KeyLocks;
struct RegistrationPlan;

class IdentityManager {
 public:
  // `store`, `matcher`, `clock` and `cache` (optional: nullptr = no cache) must outlive the
  // manager. `survivorship` chooses the golden record's fields (survivorship.h).
  IdentityManager(IdentityStore* store, Matcher* matcher, const Clock* clock,
                  ResolveCache* cache = nullptr, SurvivorshipPolicy survivorship = {});
  ~IdentityManager();

  // Loads the current version of every ACTIVE record into the matcher. Call once at start.
  [[nodiscard]] absl::StatusOr<size_t> RebuildIndex(absl::Time deadline);

  // Brings the match index up to date with records other replicas changed (from the history).
  // Registrations do this themselves under their locks; call it periodically so that searches
  // on this replica see other replicas' records within the period.
  [[nodiscard]] absl::Status SyncIndex(absl::Time deadline);

  // Forgets the results of idempotent writes older than `retention` (a retry with such a key
  // then runs the operation again; one with the same key and another request is accepted).
  // Answers how many were forgotten. The API promises keys for at least 24 hours.
  absl::StatusOr<int64_t> PurgeIdempotencyKeys(absl::Duration retention, absl::Time deadline);

  absl::StatusOr<v1::RegisterSourceRecordResponse> Register(
      const CallContext& call, const v1::RegisterSourceRecordRequest& request);
  // Registers many records in one transaction (RegisterSourceRecords): each entry decided as
  // Register decides it, in order; refused entries get their own error, the others commit.
  absl::StatusOr<v1::RegisterSourceRecordsResponse> RegisterBatch(
      const CallContext& call, const v1::RegisterSourceRecordsRequest& request);
  absl::StatusOr<v1::MergeSourceRecordsResponse> MergeSourceRecords(
      const CallContext& call, const v1::MergeSourceRecordsRequest& request);

  // A member's own duplicates (HL7 ADT A40) in one transaction: each group's surviving record is
  // registered (as Register decides) and, when `superseded` is set, the superseded record follows
  // it (as MergeSourceRecords; a superseded record never registered is skipped). One key per
  // message, `idempotency_key`: each group's steps are stored under `<key>:survivor:<i>` and
  // `<key>:merge:<i>` (the keys the feed used when they were separate calls), so a retry of the
  // message answers as the first call and changes nothing. At most 50 groups.
  struct SourceMergeGroup {
    v1::RegisterSourceRecordRequest survivor;  // context and idempotency key are filled in
    std::optional<SourceId> superseded;
  };
  absl::StatusOr<std::vector<v1::RegisterSourceRecordResponse>> MergeFromSource(
      const CallContext& call, const hie::common::v1::RequestContext& context,
      std::vector<SourceMergeGroup> groups, const std::string& idempotency_key);
  // A member says two of its records are not one patient (HL7 ADT A37): when `other` and
  // request.source_id() are linked to one person, request.source_id() is unlinked (as
  // UnlinkRecord); otherwise nothing changes (an empty response). NOT_FOUND when either record
  // is unknown. One transaction, idempotent on request.idempotency_key().
  absl::StatusOr<v1::UnlinkRecordResponse> UnlinkFromSource(const CallContext& call,
                                                            const SourceId& other,
                                                            const v1::UnlinkRecordRequest& request);
  absl::StatusOr<v1::SourceRecord> GetSourceRecord(const CallContext& call,
                                                   const v1::GetSourceRecordRequest& request);
  absl::StatusOr<v1::ResolveResponse> Resolve(const CallContext& call,
                                              const v1::ResolveRequest& request);
  absl::StatusOr<v1::SearchPersonsResponse> SearchPersons(const CallContext& call,
                                                          const v1::SearchPersonsRequest& request);
  absl::StatusOr<v1::Person> GetPerson(const CallContext& call,
                                       const v1::GetPersonRequest& request);
  absl::StatusOr<v1::ListReviewTasksResponse> ListReviewTasks(
      const CallContext& call, const v1::ListReviewTasksRequest& request);
  absl::StatusOr<v1::ReviewTask> GetReviewTask(const CallContext& call,
                                               const v1::GetReviewTaskRequest& request);
  absl::StatusOr<v1::ResolveReviewTaskResponse> ResolveReviewTask(
      const CallContext& call, const v1::ResolveReviewTaskRequest& request);
  absl::StatusOr<v1::LinkRecordResponse> LinkRecord(const CallContext& call,
                                                    const v1::LinkRecordRequest& request);
  absl::StatusOr<v1::UnlinkRecordResponse> UnlinkRecord(const CallContext& call,
                                                        const v1::UnlinkRecordRequest& request);
  absl::StatusOr<v1::MergePersonsResponse> MergePersons(const CallContext& call,
                                                        const v1::MergePersonsRequest& request);
  absl::StatusOr<v1::UnmergePersonsResponse> UnmergePersons(
      const CallContext& call, const v1::UnmergePersonsRequest& request);
  absl::StatusOr<v1::GetHistoryResponse> GetHistory(const CallContext& call,
                                                    const v1::GetHistoryRequest& request);
  absl::StatusOr<v1::ListNotAMatchesResponse> ListNotAMatches(
      const CallContext& call, const v1::ListNotAMatchesRequest& request);

  // The history after `after_sequence`, ascending, at most `limit` events (WatchEvents pages).
  // OUT_OF_RANGE when after_sequence is beyond the last committed event.
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAfter(const CallContext& call,
                                                             int64_t after_sequence, int limit);

 private:
  // store_->Transact for operations that change identities: afterwards, drops the cached
  // Resolve answers of every record and person the transaction's events name. When the cache
  // will not take that (Redis refuses writes or times out) the write is acknowledged only once
  // the stale answers have expired (ttl + 1 s after the commit; SettleCache); if the deadline
  // comes first it answers DEADLINE_EXCEEDED although committed (a retry with the same
  // idempotency key gets the stored answer), and leaves its events to the index catch-up.
  absl::Status Write(absl::Time deadline, const std::vector<std::string>& lock_keys,
                     const IdentityStore::TxnFn& fn);

  // What a registration does to the match index once its transaction commits.
  struct IndexChange {
    bool upsert = false;  // index the registration's prepared record
    // What the index held for the record before (its ACTIVE current version), to undo the
    // change if the transaction does not commit; nullopt = nothing.
    std::optional<hie::common::v1::Demographics> before;
  };

  // A record indexed inside a transaction, and how to undo that if it does not commit.
  struct IndexedChange {
    SourceId id;
    IndexChange change;
  };
  // Puts the index back as it was before `indexed` (newest first); empties it.
  absl::Status RestoreIndex(std::vector<IndexedChange>* indexed);

  // RegisterSourceRecords: the entries admitted (refusals answered in `response`), then those
  // still pending registered in one transaction; an entry refused there is named in `refusal`
  // (the call then rolls back and runs again without it).
  struct AdmittedBatch;
  struct BatchRefusal {
    int entry = -1;
    absl::Status status;
  };
  AdmittedBatch AdmitBatch(const CallContext& call, const v1::RegisterSourceRecordsRequest& request,
                           v1::RegisterSourceRecordsResponse* response) const;
  absl::Status RegisterAdmitted(IdentityTxn& txn, const CallContext& call, absl::Time now,
                                const AdmittedBatch& admitted,
                                v1::RegisterSourceRecordsResponse* response,
                                std::vector<IndexedChange>* indexed, BatchRefusal* refusal);

  // One A40 group's merge in MergeFromSource's transaction: supersedes merge.superseded() when
  // it exists (idempotent on the merge's key) and takes it out of the index at once (noted in
  // `indexed`, to be put back if the transaction does not commit).
  absl::Status SupersedeFromSource(IdentityTxn& txn, const CallContext& call, absl::Time now,
                                   const v1::MergeSourceRecordsRequest& merge,
                                   std::vector<IndexedChange>* indexed);

  // The registration's blocking keys and its record's key. `prepared`: the request's record,
  // prepared by matcher_ (once per registration: every step below takes it).
  std::vector<std::string> RegistrationLockKeys(const v1::RegisterSourceRecordRequest& request,
                                                const PreparedRecord& prepared) const;
  // One registration inside a write transaction, under RegistrationLockKeys and after
  // CatchUpIndex: match, then (unless the idempotency key was seen) store and decide.
  absl::StatusOr<v1::RegisterSourceRecordResponse> RegisterInTxn(
      IdentityTxn& txn, const CallContext& call, absl::Time now,
      const v1::RegisterSourceRecordRequest& request, const PreparedRecord& prepared,
      IndexChange* index);
  // Carries out what PlanRegistration decided for the stored `record` (`prepared` by matcher_):
  // link, found a person, open review tasks; fills `decision`.
  absl::Status CarryOutPlan(IdentityTxn& txn, const CallContext& call, absl::Time now,
                            const v1::SourceRecord& record, const PreparedRecord& prepared,
                            const RegistrationPlan& plan, v1::MatchDecision* decision);

  // Write() of an idempotent operation: a retry with the same request.idempotency_key returns
  // the stored response; `kind` namespaces the keys of one operation type. The key is locked
  // (with `lock_keys`) before the stored response is read.
  template <typename Response, typename Request>
  absl::StatusOr<Response> IdempotentWrite(
      const CallContext& call, const std::vector<std::string>& lock_keys, const std::string& kind,
      const Request& request, const std::function<absl::StatusOr<Response>(IdentityTxn&)>& produce);

  // Cached Resolve answers and writes (resolve_cache.h has the promise these keep).
  void SettleCache(const std::vector<SourceId>& stale, absl::Time deadline);
  absl::Status WaitUntilCacheSettled(absl::Time deadline);
  bool CacheSettled();

  // Applies to the index the record events of the history it has not seen yet.
  absl::Status CatchUpIndex(IdentityTxn& txn);
  // Notes events this replica wrote (and applied itself) so catching up skips them.
  void MarkApplied(const std::vector<int64_t>& sequences);

  IdentityStore* store_;
  Matcher* matcher_;
  const Clock* clock_;
  ResolveCache* cache_;
  const SurvivorshipPolicy survivorship_;
  // Until this (real) time a cache invalidation of this replica may have failed: Resolve reads
  // the database and writes are acknowledged only after it (SettleCache).
  std::mutex cache_mu_;
  absl::Time cache_unsettled_until_ = absl::InfinitePast();
  std::unique_ptr<KeyLocks> key_locks_;

  // Position in the history the index reflects (history_follower.h has the gap policy).
  std::mutex sync_mu_;
  HistoryFollower follower_;
};

}  // namespace hie::identity
