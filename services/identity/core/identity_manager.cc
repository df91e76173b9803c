// IdentityManager: construction, the write path every change takes (Write: store transaction,
// cache invalidation, index bookkeeping), the match index follower, idempotency purge. The
// operations live with their kind: registration.cc (registrations), source_events.cc (a member's
// merges and unlinks, ADT A40/A37), operator_actions.cc (reviews, links, person merges),
// queries.cc (reads and history).

#include "services/identity/core/identity_manager.h"

#include <algorithm>

#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/identity/core/key_locks.h"
#include "services/identity/store/observing_txn.h"

namespace hie::identity {

namespace {

// Added to a cache entry's life when waiting for it to expire: the entry's PX is counted from
// when Redis receives the fill, a little after the lookup that bounds it.
constexpr absl::Duration kCacheExpiryMargin = absl::Seconds(1);

}  // namespace

IdentityManager::IdentityManager(IdentityStore* store, Matcher* matcher, const Clock* clock,
                                 ResolveCache* cache, SurvivorshipPolicy survivorship)
    : store_(store),
      matcher_(matcher),
      clock_(clock),
      cache_(cache),
      survivorship_(std::move(survivorship)),
      key_locks_(std::make_unique<KeyLocks>()) {}

IdentityManager::~IdentityManager() = default;

absl::Status IdentityManager::Write(absl::Time deadline, const std::vector<std::string>& lock_keys,
                                    const IdentityStore::TxnFn& fn) {
  ChangeSet changes;
  std::vector<SourceId> stale;  // cached resolve answers the write makes stale
  absl::Status status = store_->Transact(deadline, lock_keys, [&](IdentityTxn& txn) {
    changes = ChangeSet();  // the store may run fn again
    stale.clear();
    ObservingTxn observed(txn, &changes);
    absl::Status s = fn(observed);
    if (!s.ok() || cache_ == nullptr) return s;
    // Every record of every person the write touched, as the write leaves them.
    stale = changes.records;
    HIE_ASSIGN_OR_RETURN(std::vector<std::vector<v1::Link>> links,
                         txn.LinksOfPersons(std::vector<std::string>(changes.persons.begin(),
                                                                     changes.persons.end())));
    for (const std::vector<v1::Link>& of_person : links) {
      for (const v1::Link& link : of_person) stale.push_back(link.source_id());
    }
    return absl::OkStatus();
  });
  if (status.ok() && cache_ != nullptr) {
    if (!stale.empty()) SettleCache(stale, deadline);
    status = WaitUntilCacheSettled(deadline);
  }
  // Only a write whose caller is told OK updates the match index itself; committed events of a
  // write answered otherwise (DEADLINE_EXCEEDED while the cache settles) stay unapplied, and the
  // next catch-up reads them from the store like another replica's.
  if (status.ok()) MarkApplied(changes.sequences);
  return status;
}

// After a commit: invalidates the cached answers the write made stale. When the cache will not
// take the invalidation (it refuses writes, times out), every stale entry is gone ttl() after
// the commit anyway (resolve_cache.h): until then this replica answers Resolve from the
// database, retries the invalidation, and acknowledges no write (WaitUntilCacheSettled).
void IdentityManager::SettleCache(const std::vector<SourceId>& stale, absl::Time deadline) {
  const absl::Time expired_by = absl::Now() + cache_->ttl() + kCacheExpiryMargin;
  if (cache_->Invalidate(stale).ok()) return;
  if (cache_->Unreachable()) return;  // nobody can read it: nothing stale can be served
  Log(LogLevel::kWarning, "resolve_cache_invalidation_failed",
      {{"records", static_cast<uint64_t>(stale.size())}});
  {
    std::lock_guard lock(cache_mu_);
    cache_unsettled_until_ = std::max(cache_unsettled_until_, expired_by);
  }
  // Retried meanwhile, so that Redis holds no stale entry for longer than needed.
  while (absl::Now() < std::min(expired_by, deadline)) {
    absl::SleepFor(std::min(absl::Milliseconds(100), std::min(expired_by, deadline) - absl::Now()));
    if (cache_->Invalidate(stale).ok() || cache_->Unreachable()) return;
  }
}

absl::Status IdentityManager::WaitUntilCacheSettled(absl::Time deadline) {
  absl::Time until;
  {
    std::lock_guard lock(cache_mu_);
    until = cache_unsettled_until_;
  }
  if (absl::Now() >= until) return absl::OkStatus();
  if (deadline < until) {  // answered now: waiting would only hold the caller's key locks
    return absl::DeadlineExceededError(
        "the change is committed, but cached answers it made stale have not expired yet; retry "
        "with the same idempotency key");
  }
  absl::SleepFor(until - absl::Now());
  return absl::OkStatus();
}

bool IdentityManager::CacheSettled() {
  std::lock_guard lock(cache_mu_);
  return absl::Now() >= cache_unsettled_until_;
}

constexpr int kCatchUpBatch = 5000;
// Events re-read after a restart, in case some committed out of order around the scan.
constexpr int64_t kRebuildLookback = 10000;

void IdentityManager::MarkApplied(const std::vector<int64_t>& sequences) {
  std::lock_guard lock(sync_mu_);
  const absl::Time now = clock_->Now();
  for (int64_t seq : sequences) follower_.Note(seq, now);
  follower_.Advance(now);
}

absl::Status IdentityManager::CatchUpIndex(IdentityTxn& txn) {
  std::lock_guard lock(sync_mu_);
  for (;;) {
    // What is new since the last event seen, and the gaps below it that have filled meanwhile:
    // the events already applied are not read again.
    HIE_ASSIGN_OR_RETURN(std::vector<v1::IdentityEvent> events,
                         txn.EventsSince(follower_.seen_through(), kCatchUpBatch,
                                         follower_.OpenGaps(kCatchUpBatch)));
    const absl::Time now = clock_->Now();
    for (const v1::IdentityEvent& e : events) {
      if (!follower_.IsNew(e.sequence())) continue;
      bool changes_records = e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_CREATED ||
                             e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_UPDATED ||
                             e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED;
      for (const SourceId& id : e.source_ids()) {
        if (!changes_records) break;
        HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> record, txn.GetRecord(id));
        HIE_RETURN_IF_ERROR(record.has_value() && record->state() == v1::RECORD_STATE_ACTIVE
                                ? matcher_->Upsert(id, record->demographics())
                                : matcher_->Remove(id));
      }
      follower_.Note(e.sequence(), now);  // once applied: an error leaves it to be read again
    }
    follower_.Advance(now);
    if (static_cast<int>(events.size()) < kCatchUpBatch) return absl::OkStatus();
  }
}

absl::Status IdentityManager::RestoreIndex(std::vector<IndexedChange>* indexed) {
  absl::Status first_failure;
  for (auto it = indexed->rbegin(); it != indexed->rend(); ++it) {
    first_failure.Update(it->change.before.has_value()
                             ? matcher_->Upsert(it->id, *it->change.before)
                             : matcher_->Remove(it->id));
  }
  indexed->clear();
  return first_failure;
}

absl::Status IdentityManager::SyncIndex(absl::Time deadline) {
  return store_->Transact(deadline, {}, [&](IdentityTxn& txn) { return CatchUpIndex(txn); });
}

absl::StatusOr<int64_t> IdentityManager::PurgeIdempotencyKeys(absl::Duration retention,
                                                              absl::Time deadline) {
  constexpr int kPurgeBatch = 10000;  // one short transaction each
  const absl::Time before = clock_->Now() - retention;
  int64_t purged = 0;
  for (;;) {
    int64_t n = 0;
    absl::Status status = store_->Transact(deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
      HIE_ASSIGN_OR_RETURN(int64_t deleted, txn.PurgeIdempotentBefore(before, kPurgeBatch));
      n = deleted;
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    purged += n;
    if (n < kPurgeBatch) return purged;
  }
}

absl::StatusOr<size_t> IdentityManager::RebuildIndex(absl::Time deadline) {
  absl::Status position = store_->Transact(deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(int64_t last, txn.LastEventSequence());
    std::lock_guard lock(sync_mu_);
    follower_.Reset(std::max<int64_t>(0, last - kRebuildLookback));
    return absl::OkStatus();
  });
  if (!position.ok()) return position;
  absl::Status upsert_status;
  size_t count = 0;
  absl::Status status = store_->ScanActiveRecords(deadline, [&](const v1::SourceRecord& record) {
    if (!upsert_status.ok()) return;
    upsert_status = matcher_->Upsert(record.source_id(), record.demographics());
    ++count;
  });
  if (!status.ok()) return status;
  if (!upsert_status.ok()) return upsert_status;
  return count;
}

}  // namespace hie::identity
