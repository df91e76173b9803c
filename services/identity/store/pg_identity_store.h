#pragma once

// IdentityStore on PostgreSQL (schema `identity`, see migrations.cc). Passes the contract suite
// in identity_store_contract.h.
//
// pg_identity_store.cc is long (about 1,450 lines) for a reason: it is the one adapter of a port
// of some forty methods, each a prepared statement and its row mapping, and Statements() (about
// 270 lines) is the table of every SQL statement the store runs, kept in one place so that the
// SQL can be read and reviewed as a whole.
//
// Transactions. Transact() runs `fn` in one READ COMMITTED transaction on one pooled connection:
//   1. BEGIN, `SET LOCAL statement_timeout` (the time left until the deadline) and, when
//      lock_keys is not empty, pg_advisory_xact_lock for every distinct key (a stable 64-bit
//      hash of it), in ascending order: a global order, so two transactions never wait on each
//      other's keys in a cycle. These go in one round trip WITH fn's first statement: everything
//      fn does in the database happens under the locks, but a fn that sends nothing takes none.
//      The locks are held until COMMIT/ROLLBACK, and they work across processes: two replicas
//      (two pools) writing under the same key are serialised.
//   2. fn runs against the transaction; COMMIT when fn returns OK, ROLLBACK otherwise.
//      Writes that answer nothing (PutPerson, PutLink, PutTask, PutNotAMatch, RemoveNotAMatch,
//      PutIdempotent, LockKey) are not sent at once but with the next call that reads, or with
//      the COMMIT, in the same round trip. PostgreSQL runs them in order and stops at the first
//      error, so the effect is that of sending them one by one, except that a write's error is
//      answered by that later call (and by Transact).
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
// allows. A connection lost before COMMIT is retried once by the pool; a connection lost during
// the COMMIT answers UNKNOWN (outcome unknown). After any database error inside fn, later calls
// on the txn return that same error and the transaction is rolled back even if fn returns OK
// (Transact then returns it).
//
// Statements. Every statement is a server-side prepared statement, run as `EXECUTE name(...)`
// with its parameters as literals quoted by libpq (never spliced unquoted), so that several of
// them can share one round trip. PrepareStatements() prepares them all on a connection in one
// round trip; Transact and ScanActiveRecords call it on a connection's first use (and, should a
// connection lack them anyway, when a statement is refused for that reason, then run fn again).
// Passing it as the pool's on_connect is allowed. The store owns the prepared statements of its
// pool's connections (PrepareStatements deallocates others).
//
// Ids. Person ids "P%08d", review task ids "T%08d" and event ids "E%010d" (the event's sequence)
// come from PostgreSQL sequences: unique across replicas, never reused, gaps possible (rolled-back
// transactions; person and task ids are reserved 64 at a time per store, so a restart leaves a
// gap too, and ids of two replicas interleave). Event ids are not stored: GetEvent parses the id
// back into the sequence. Event sequences are drawn when the event is appended, but transactions
// commit in any order: a reader polling `sequence > n` can see n + 2 committed before n + 1
// (WatchEvents must allow for in-flight gaps, e.g. by re-reading below the oldest running
// transaction's sequences).
//
// Thread-safety: thread-safe (each call borrows its own pooled connection).

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "services/common/pg/pool.h"
#include "services/common/pg/sql_text.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {

struct PgIdentityStoreOptions {
  // Records fetched per round trip (and held in memory at once) by ScanActiveRecords.
  int scan_batch_size = 2000;
  // Retries of a transaction after a serialization failure or deadlock.
  int max_retries = 3;
};

struct IdBlocks;

class PgIdentityStore : public IdentityStore {
 public:
  ~PgIdentityStore() override;

  // `pool` is not owned and must outlive the store. The schema must already be migrated:
  // ApplyMigrations(*pool, kSchema, Migrations(), deadline).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PgIdentityStore>> Create(
      pg::PgPool* pool, PgIdentityStoreOptions options = {});

  // (Re-)prepares this store's statements on `conn`, in one round trip.
  static void PrepareStatements(pqxx::connection& conn);

  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override;

  absl::Status Read(absl::Time deadline, const TxnFn& fn) override;

  // Reads the ACTIVE records in keyset batches of scan_batch_size ordered by (org, local_id),
  // each batch one short read-only transaction of its own (one query), and calls fn between
  // batches with no connection held; memory holds one batch. Not a snapshot: each record is
  // seen as it was when its batch was read; keys never change, so every record that stays ACTIVE
  // during the scan is seen exactly once.
  // A row that cannot be read (DATA_LOSS elsewhere) is reported (log event
  // corrupt_record_skipped with the org, the linked person id and the version, never the local
  // id, which is an MRN) and
  // left out, so one bad row cannot stop the service from starting.
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override;

  // Stored records found unreadable since the process started: left out of scans, kept without
  // demographics in multi-record reads (Resolve: the link still places them); single reads
  // answer DATA_LOSS. For a metric.
  static int64_t CorruptRowsSeen();

 private:
  PgIdentityStore(pg::PgPool* pool, PgIdentityStoreOptions options);

  // Prepares the statements on a connection not seen before.
  void EnsurePrepared(pqxx::connection& conn);

  pg::PgPool* const pool_;
  const PgIdentityStoreOptions options_;
  pg::PreparedConnections prepared_;  // connections known to have the statements
  std::unique_ptr<IdBlocks> ids_;
};

}  // namespace hie::identity
