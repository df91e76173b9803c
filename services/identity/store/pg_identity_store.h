#pragma once

// IdentityStore on PostgreSQL (schema `identity`, see migrations.cc). Passes the contract suite
// in identity_store_contract.h.
//
// Transactions. Transact() runs `fn` in one READ COMMITTED transaction on one pooled connection:
//   1. BEGIN; then, when lock_keys is not empty, one statement takes
//      pg_advisory_xact_lock(hashtextextended(key, 0)) for every distinct key, in ascending hash
//      order (a global order, so two transactions never wait on each other's keys in a cycle).
//      The locks are held until COMMIT/ROLLBACK, and they work across processes: two replicas
//      (two pools) writing under the same key are serialised.
//   2. fn runs against the transaction; COMMIT when fn returns OK, ROLLBACK otherwise.
//      IdentityTxn::LockKey takes the same kind of lock (re-entrant) in the middle of fn; taken
//      out of the global order, two such transactions can deadlock: PostgreSQL detects it
//      (after deadlock_timeout, 1 s by default) and one of them is retried (below).
// What this guarantees: atomicity (all of fn's writes or none); every statement sees the data
// committed before it started (READ COMMITTED); and a transaction holding key K sees every write
// committed by earlier holders of K, and no other holder of K commits until it ends, so a
// read-modify-write of data guarded by K is never lost. It does NOT protect data read under a
// key from writers that do not take that key (there is no snapshot across statements): callers
// must lock every key whose data they read and then write. Writes are upserts, so two writers
// inserting the same row do not fail with a unique violation for lack of a lock; the version
// rule of PutRecordVersion is checked in the same statement as the insert.
//
// Retries. If a statement or the COMMIT fails with a serialization failure or a deadlock
// (ABORTED from PostgreSQL, not an ABORTED that fn returns on its own, e.g. a stale etag), the
// whole transaction, fn included, is retried up to 3 times (after 2, 4, 8 ms) while the deadline
// allows. A connection lost before COMMIT is retried once by the pool; an unknown commit outcome
// answers UNKNOWN. After any database error inside fn, later calls on the txn return that same
// error and the transaction is rolled back even if fn returns OK (Transact then returns it).
//
// Prepared statements. Every statement is a named prepared statement; PrepareStatements()
// declares them on a connection. libpqxx 6 declares them client-side only and sends PREPARE on
// first use, and re-declaring an identical definition is a no-op, so Transact and
// ScanActiveRecords call it on each use of a connection (no round trip, no per-connection state
// to track). Passing it as the pool's on_connect is allowed but not needed. Values are always
// bound as parameters.
//
// Ids. Person ids "P%08d", review task ids "T%08d" and event ids "E%010d" (the event's sequence)
// come from PostgreSQL sequences: unique across replicas, never reused, gaps possible (rolled-back
// transactions). Event ids are not stored: GetEvent parses the id back into the sequence.
// Event sequences are drawn when the event is appended, but transactions commit in any order: a
// reader polling `sequence > n` can see n + 2 committed before n + 1 (WatchEvents must allow for
// in-flight gaps, e.g. by re-reading below the oldest running transaction's sequences).
//
// Thread-safety: thread-safe (each call borrows its own pooled connection).

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/pg/pool.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {

struct PgIdentityStoreOptions {
  // Records fetched per round trip (and held in memory at once) by ScanActiveRecords.
  int scan_batch_size = 2000;
  // Retries of a transaction after a serialization failure or deadlock.
  int max_retries = 3;
};

class PgIdentityStore : public IdentityStore {
 public:
  // `pool` is not owned and must outlive the store. The schema must already be migrated:
  // ApplyMigrations(*pool, kSchema, Migrations(), deadline).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PgIdentityStore>> Create(
      pg::PgPool* pool, PgIdentityStoreOptions options = {});

  // Declares this store's prepared statements on `conn` (idempotent; no round trip).
  static void PrepareStatements(pqxx::connection& conn);

  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override;

  // Reads the ACTIVE records in keyset batches of scan_batch_size ordered by (org, local_id),
  // each batch one short read-only transaction of its own (one query), and calls fn between
  // batches with no connection held; memory holds one batch. Not a snapshot: each record is
  // seen as it was when its batch was read; keys never change, so every record that stays ACTIVE
  // during the scan is seen exactly once.
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override;

 private:
  PgIdentityStore(pg::PgPool* pool, PgIdentityStoreOptions options)
      : pool_(pool), options_(options) {}

  pg::PgPool* const pool_;
  const PgIdentityStoreOptions options_;
};

}  // namespace hie::identity
