#pragma once

// RegistryStore on PostgreSQL (schema `registry`, store/migrations.h), over a PgPool.
//
// Transactions are READ COMMITTED; their statements are prepared on each connection
// (PrepareStatements) and run as EXECUTE, several per round trip. Locks: GetIdempotent takes a
// transaction-scoped advisory lock on its key; LockEntries row locks (FOR UPDATE) the entries it
// reads, so of two transactions replacing one entry the second waits and then reads it DEPRECATED.
// ABORTED (serialization, deadlock) goes to the caller; the one retry here is of a transaction
// that found its connection without the prepared statements (SQLSTATE 26000): prepared again,
// run again.
//
// The change feed without serialising writers: a transaction writes its entries (inserted or
// deprecated) with version NULL; StampChanges, run first by every ChangesSince, gives the
// unstamped committed rows the next values of registry.feed_version in one transaction, under
// pg_try_advisory_xact_lock(kStampLockKey) so stampers run one at a time and each one's values
// are above the last one's (within one stamping, in entry_uuid order). A row is in the feed
// once stamped; publications never wait on it.
// A stored entry that does not parse is logged by id (event "unreadable_entry") and skipped
// (ChangesSince returns its position, marked unreadable, so followers move past it).
// GetDocuments by location reads entries_location_idx: (member_org, repository_unique_id,
// retrieve_key) columns written with each entry, the key being RetrieveKeyOf(entry).
// Thread-safe (the pool is).

#include "services/common/pg/pool.h"
#include "services/common/pg/sql_text.h"
#include "services/registry/store/registry_store.h"

namespace hie::registry {

inline constexpr int64_t kStampLockKey = 0x7265676973747279;  // "registry"
inline constexpr int kStampBatch = 10000;                     // rows stamped per transaction

class PgRegistryStore : public RegistryStore {
 public:
  // `pool` must outlive the store; the schema must be migrated.
  explicit PgRegistryStore(pg::PgPool* pool) : pool_(pool) {}

  absl::Status Transact(absl::Time deadline, const TxnFn& fn) override;
  absl::StatusOr<std::vector<v1::DocumentEntry>> FindDocuments(
      absl::Time deadline, const DocumentFilter& filter) override;
  absl::StatusOr<std::vector<v1::DocumentEntry>> GetDocuments(absl::Time deadline,
                                                              const DocumentKeys& keys) override;
  absl::StatusOr<Related> GetRelated(absl::Time deadline, const std::string& entry_uuid) override;
  absl::StatusOr<std::vector<EntryChange>> ChangesSince(absl::Time deadline,
                                                        const FeedPosition& after,
                                                        size_t limit) override;

  // Stamps up to kStampBatch unstamped committed rows (no-op while another caller stamps).
  absl::Status StampChanges(absl::Time deadline);

  // Prepares the statements of Transact on `conn` and sets the session's planner settings
  // (plan_cache_mode = force_generic_plan, enable_seqscan = off: every statement is keyed), in
  // one round trip; deallocates any other prepared statements. Every method calls it on a
  // connection's first use.
  static void PrepareStatements(pqxx::connection& conn);

 private:
  void EnsurePrepared(pqxx::connection& conn);

  pg::PgPool* pool_;
  pg::PreparedConnections prepared_;
};

}  // namespace hie::registry
