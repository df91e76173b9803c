#pragma once

// LocatorStore on PostgreSQL (schema `locator`, store/migrations.h), over a PgPool.
//
// Transactions are READ COMMITTED. Locks: GetIdempotent takes a transaction-scoped advisory lock
// on its key; LockHoldings takes one on each holding key (all in one statement, in hash order,
// so two transactions cannot deadlock on them), which also serialises two creators of one new
// holding; LockFeedPosition one on the feed's name, so two appliers of one feed serialise.
// No retries here: ABORTED (serialization, deadlock) goes to the
// caller. A stored holding that does not parse is logged by key (event "unreadable_holding")
// and skipped. Thread-safe (the pool is).

#include "services/common/pg/pool.h"
#include "services/locator/store/locator_store.h"

namespace hie::locator {

class PgLocatorStore : public LocatorStore {
 public:
  // `pool` must outlive the store; the schema must be migrated.
  explicit PgLocatorStore(pg::PgPool* pool) : pool_(pool) {}

  absl::Status Transact(absl::Time deadline, const TxnFn& fn) override;
  absl::StatusOr<std::vector<Holding>> Get(absl::Time deadline,
                                           const std::vector<HoldingKey>& keys) override;
  absl::StatusOr<std::vector<Holding>> List(absl::Time deadline, const ListQuery& query) override;
  absl::StatusOr<std::string> FeedPosition(absl::Time deadline, const std::string& feed) override;

 private:
  pg::PgPool* pool_;
};

}  // namespace hie::locator
