#pragma once

// ConsentStore on PostgreSQL (schema `consent`, store/migrations.h), over a PgPool.
//
// Transactions are READ COMMITTED. Locks: a write transaction takes a transaction-scoped
// advisory lock on its idempotency key (GetIdempotent), row locks (FOR UPDATE) on the directive
// or grant it changes, and, from Version() on, the row lock of consent.state (the version
// counter), held until commit: writers serialise there, which is what makes versions (and
// outbox sequences, taken after it) commit in order. Version() also queues
// NOTIFY consent_changes '<version>', delivered at commit (PgChangeListener).
// No retries here: ABORTED (serialization, deadlock) goes to the caller; UNKNOWN after a lost
// COMMIT means reconcile by idempotency key. ChangesSince reads in one REPEATABLE READ
// snapshot. DeliverOutbox holds pg_try_advisory_xact_lock(kOutboxLockKey) for the batch, so one
// replica delivers at a time and the others return 0 at once.
// Ids: directive "cd-<16 hex>", grant "bg-<16 hex>" (assigned by the core).
// Thread-safe (the pool is).

#include <memory>

#include "services/common/pg/pool.h"
#include "services/consent/store/consent_store.h"

namespace hie::consent {

inline constexpr int64_t kOutboxLockKey = 0x636f6e73656e74;  // "consent"

class PgConsentStore : public ConsentStore {
 public:
  // `pool` must outlive the store; the schema must be migrated.
  explicit PgConsentStore(pg::PgPool* pool) : pool_(pool) {}

  absl::Status Transact(absl::Time deadline, const TxnFn& fn) override;
  absl::StatusOr<std::optional<v1::ConsentDirective>> GetDirective(
      absl::Time deadline, const std::string& directive_id) override;
  absl::StatusOr<std::vector<v1::ConsentDirective>> DirectiveHistory(
      absl::Time deadline, const std::string& directive_id) override;
  absl::StatusOr<std::vector<v1::ConsentDirective>> ListDirectives(
      absl::Time deadline, const DirectiveFilter& filter) override;
  absl::StatusOr<std::optional<v1::BreakGlassGrant>> GetGrant(absl::Time deadline,
                                                              const std::string& grant_id) override;
  absl::StatusOr<std::vector<v1::BreakGlassGrant>> ListGrants(absl::Time deadline,
                                                              const GrantFilter& filter) override;
  absl::StatusOr<ChangeSet> ChangesSince(absl::Time deadline, int64_t after_version,
                                         bool in_force_only, absl::Time now) override;
  absl::StatusOr<size_t> DeliverOutbox(absl::Time deadline, size_t limit,
                                       const SendFn& send) override;
  absl::StatusOr<int64_t> OutboxBacklog(absl::Time deadline) override;

 private:
  pg::PgPool* pool_;
};

}  // namespace hie::consent
