#pragma once

// AuditStore on PostgreSQL (schema `audit`, tables and partitioning described in migrations.cc).
// Passes the contract suite in audit_store_contract.h.
//
// Transactions. Transact() runs `work` in one READ COMMITTED transaction (pqxx::work) on one
// pooled connection. `SET LOCAL statement_timeout` (the time left until the deadline) travels
// with the first statement. LockHead() is `SELECT ... FROM audit.head FOR UPDATE`: appends of
// every replica serialise on that row, which is what keeps the chain gap-free (Append locks the
// head itself when work did not). Append sends a batch as three `COPY ... FROM STDIN` (text
// format, bytes as hex) into events, event_ids and event_patients, then the head update;
// AppendExpecting writes the same rows first and locks the head after (the head lock is then
// what orders it behind a transaction still in flight; an event id both write, or a partition
// one creates, may also make one wait on the other). Its errors: FAILED_PRECONDITION (sequences do
// not continue the head: checked before anything is sent), ALREADY_EXISTS (an event id already
// stored, or twice in the batch: the primary key of event_ids), INVALID_ARGUMENT (a searchable
// text field holding a NUL byte, which PostgreSQL text cannot store).
// After a database error inside work, later calls on the txn return the same error and the
// transaction is rolled back even if work returns OK (Transact then returns that error).
// Retries: a serialization failure or deadlock (ABORTED from the database, not one work
// returns) reruns the whole transaction, work included, up to max_retries times while the
// deadline allows; a connection lost before COMMIT is retried once by the pool; one lost during
// COMMIT answers UNKNOWN (the batch may be stored: reconcile with FindEvents by event id).
//
// Partitions. Create() makes sure the months of `now` and of the month after exist; Append
// creates the month of an event whose month this store has not seen (in the same transaction,
// under an advisory lock, CREATE TABLE IF NOT EXISTS). The months known to exist are cached per
// store; DropBefore forgets the months it drops. Caveat: a month dropped by ANOTHER replica stays
// cached here, and an append into it would fail (FAILED_PRECONDITION, no partition): retention
// only drops months that ended before the cutoff, which appends (record time = now) never reach.
//
// ScanChain reads in chunks of scan_chunk_rows ordered by (sequence, record_time_ns) (the primary
// key, unique), each chunk one short read-only transaction streaming `COPY (SELECT ...) TO
// STDOUT (FORMAT binary)` on connections outside the pool (binary COPY needs libpq itself:
// services/common/pg/binary_copy.h; the bytes travel as they are, not as hex), one per running
// scan, kept open between scans (at most 4 idle). `visit` runs as the rows arrive (it holds that
// connection and its read transaction, never a pooled one: keep it quick). Every stored row in
// the range is seen once, as stored
// (duplicates and gaps included). Not a snapshot: rows appended meanwhile appear if they fall in
// the range.
//
// Rows that cannot be read (NULL or undecodable bytes, an unparsable checkpoint) answer
// DATA_LOSS naming the sequence, never the content.
//
// Thread-safety: thread-safe (each call borrows its own pooled connection).

#include <memory>
#include <mutex>
#include <pqxx/result>
#include <pqxx/transaction_base>
#include <set>

#include "absl/status/statusor.h"
#include "services/audit/store/audit_store.h"
#include "services/common/pg/binary_copy.h"
#include "services/common/pg/pool.h"

namespace hie::audit {

struct PgAuditStoreOptions {
  // Sequences per ScanChain query (their rows are held in memory at once).
  int scan_chunk_rows = 20000;
  // Reruns of a transaction after a serialization failure or deadlock.
  int max_retries = 3;
};

class PgAuditStore : public AuditStore {
 public:
  // `pool` is not owned and must outlive the store. The schema must already be migrated:
  // ApplyMigrations(*pool, kSchema, Migrations(), deadline). Creates the partitions of the month
  // of `now` and of the next month.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PgAuditStore>> Create(
      pg::PgPool* pool, absl::Time now, absl::Time deadline, PgAuditStoreOptions options = {});

  absl::Status Transact(absl::Time deadline,
                        const std::function<absl::Status(AuditTxn&)>& work) override;
  absl::StatusOr<ChainHead> Head(absl::Time deadline) override;
  absl::Status ScanChain(int64_t from, int64_t to, absl::Time deadline,
                         const std::function<absl::Status(const ChainRow&)>& visit) override;
  absl::StatusOr<std::vector<ChainRow>> Search(const EventQuery& query,
                                               absl::Time deadline) override;
  absl::Status PutCheckpoint(const v1::Checkpoint& checkpoint, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(
      absl::Time start, absl::Time end, std::optional<int64_t> before_sequence, int limit,
      absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::Checkpoint>> CheckpointsIn(int64_t from, int64_t to,
                                                            absl::Time deadline) override;
  absl::Status AddSigningKey(const v1::SigningKey& key, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::SigningKey>> ListSigningKeys(absl::Time deadline) override;
  absl::StatusOr<RetentionHorizon> Horizon(absl::Time deadline) override;
  // Holds the head lock while it drops (appends wait), then the partition lock.
  absl::StatusOr<int64_t> DropBefore(absl::Time cutoff, int64_t covered_sequence,
                                     absl::Time deadline) override;

  // The statement Search runs for `query` (for EXPLAIN in tests).
  static std::string SearchSql(const pqxx::transaction_base& tx, const EventQuery& query);

  // Creates the partitions of the months of `times` that do not exist yet.
  absl::Status EnsureMonths(const std::vector<absl::Time>& times, absl::Time deadline);

 private:
  PgAuditStore(pg::PgPool* pool, PgAuditStoreOptions options) : pool_(pool), options_(options) {}

  // Runs a read-only query (with the statement timeout) and hands its result to `read`.
  absl::Status Query(absl::Time deadline, const std::string& sql,
                     const std::function<absl::Status(const pqxx::result&)>& read);

  // A scan connection: an idle one, or a new one.
  absl::StatusOr<std::unique_ptr<pg::CopyOutConnection>> TakeScanConnection();
  // Keeps a connection that finished its scan cleanly (at most kIdleScanConnections).
  void ReturnScanConnection(std::unique_ptr<pg::CopyOutConnection> conn);

  pg::PgPool* const pool_;
  const PgAuditStoreOptions options_;
  std::mutex mu_;
  std::set<int64_t> known_months_;  // month starts (unix nanos) whose partitions exist
  // ScanChain's connections stay open between scans: a new backend pays a page fault for every
  // shared buffer it touches, which tripled the cost of a scan on the benchmark machine.
  static constexpr size_t kIdleScanConnections = 4;
  std::vector<std::unique_ptr<pg::CopyOutConnection>> idle_scan_connections_;  // under mu_
};

}  // namespace hie::audit
