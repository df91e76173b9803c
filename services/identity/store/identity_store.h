#pragma once

// The identity service's storage port. One owner: only the identity service uses it, and only
// through this interface; InMemoryIdentityStore (unit tests) and PgIdentityStore (production)
// implement it and must both pass the contract suite in identity_store_contract.h.
//
// Data model (ids only in keys; demographics only inside SourceRecord versions):
//   source records   every version of every (org, local_id), never deleted; one is current
//   links            record -> person, exactly one per record that has been registered
//   persons          enterprise ids; state ACTIVE / MERGED / RETIRED; ids never reused
//   events           append-only identity history with a strictly increasing sequence
//   review tasks, not-a-match decisions, idempotency results
//
// Domain objects are the hie.identity.v1 protobuf messages (plain data, no RPC code): the API's
// resources are the stored resources, so the service has one model, not two.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/identity/v1/identity.pb.h"

namespace hie::identity {

using ::hie::common::v1::SourceId;

// "org\x1flocal_id": a map/lock key for a source record (never logged: local ids are MRNs).
std::string RecordKey(const SourceId& id);

struct TaskFilter {
  v1::ReviewTaskState state = v1::REVIEW_TASK_STATE_OPEN;
  std::string org;                   // either record at this org; empty = any
  std::string person_id;             // either side's person at creation; empty = any
  bool order_by_score_desc = false;  // else oldest first
  int limit = 50;
  int offset = 0;
};

struct LinkedRecord {
  v1::Link link;
  v1::SourceRecord record;
};

struct StoredIdempotentResult {
  std::string request_fingerprint;
  std::string response;  // serialized response message
  absl::Time stored_at;  // when the operation ran (PurgeIdempotentBefore compares it)
};

// Reads and writes inside one transaction. All methods may fail with the store's errors
// (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED...), in which case the transaction is rolled back.
class IdentityTxn {
 public:
  virtual ~IdentityTxn() = default;

  // Takes an exclusive lock on `key` held until the transaction ends (re-entrant). Used to
  // serialise changes to one person ("person:<id>") across transactions and processes; read
  // the locked object again after taking the lock.
  virtual absl::Status LockKey(const std::string& key) = 0;

  // --- source records
  // The current version (version == 0) or the given version; person_id is filled from the
  // record's link (empty if none). nullopt when unknown.
  virtual absl::StatusOr<std::optional<v1::SourceRecord>> GetRecord(const SourceId& id,
                                                                    int64_t version = 0) = 0;
  // GetRecord (current version) for many records at once: answer i is that of ids[i]. The
  // default asks one by one; stores override it with one round trip.
  virtual absl::StatusOr<std::vector<std::optional<v1::SourceRecord>>> GetRecords(
      const std::vector<SourceId>& ids);
  // Stores a new version and answers its number: the next one when record.version is 0;
  // otherwise record.version must be the next version number, else FAILED_PRECONDITION. With
  // make_current the version becomes the current one and the record's state becomes
  // record.state; otherwise it only goes into history.
  virtual absl::StatusOr<int64_t> PutRecordVersion(const v1::SourceRecord& record,
                                                   bool make_current) = 0;
  // Stores version 1 of records that have no version yet, each made current with its
  // record.state: PutRecordVersion(record with version 1, make_current) for many records at
  // once. ALREADY_EXISTS when one of them already has a version (the transaction must then be
  // rolled back). The records must be distinct. The default stores them one by one.
  virtual absl::Status PutFirstVersions(const std::vector<v1::SourceRecord>& records);
  // Changes the current state (and superseded_by) of an existing record; NOT_FOUND if unknown.
  virtual absl::Status SetRecordState(const SourceId& id, v1::RecordState state,
                                      const SourceId& superseded_by) = 0;
  // Every version, oldest first.
  virtual absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) = 0;

  // --- persons (Person.links is not stored; GetPerson fills it from the links)
  virtual absl::StatusOr<std::string> NewPersonId() = 0;
  virtual absl::StatusOr<std::optional<v1::Person>> GetPerson(const std::string& person_id) = 0;
  // Inserts or replaces person_id's state, merged_into, etag and times.
  virtual absl::Status PutPerson(const v1::Person& person) = 0;
  // PutPerson for many distinct persons at once (default: one by one).
  virtual absl::Status PutPersons(const std::vector<v1::Person>& persons);

  // --- links
  virtual absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) = 0;
  // GetLink for many records at once: answer i is the link of ids[i].
  virtual absl::StatusOr<std::vector<std::optional<v1::Link>>> GetLinks(
      const std::vector<SourceId>& ids) = 0;
  // Inserts or replaces the link of link.source_id (a record has exactly one link).
  virtual absl::Status PutLink(const v1::Link& link) = 0;
  // PutLink for the links of many distinct records at once (default: one by one).
  virtual absl::Status PutLinks(const std::vector<v1::Link>& links);
  virtual absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) = 0;
  // LinksOf for many persons at once: answer i is that of person_ids[i] (default: one by one).
  virtual absl::StatusOr<std::vector<std::vector<v1::Link>>> LinksOfPersons(
      const std::vector<std::string>& person_ids);
  // The links of person_id with their records' current versions (as GetRecord answers them),
  // ordered by (org, local_id).
  virtual absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsOf(
      const std::string& person_id) = 0;
  // LinkedRecordsOf the person `id` is linked to (empty when the record is unknown or unlinked).
  virtual absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsWith(const SourceId& id) = 0;

  // --- events
  // Assigns event_id and sequence (strictly increasing) and appends; returns the sequence.
  virtual absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) = 0;
  // AppendEvent for each of `events`, in order (their sequences increase in that order).
  // The default appends them one by one.
  virtual absl::Status AppendEvents(const std::vector<v1::IdentityEvent*>& events);
  virtual absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) = 0;
  // Events naming the person (from/to/affected) or the record (source_ids), ascending sequence,
  // with event_time <= as_of and sequence > after_sequence, at most `limit` (a page: callers
  // read long histories page by page, never whole).
  virtual absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(
      const std::string& person_id, absl::Time as_of, int64_t after_sequence, int limit) = 0;
  virtual absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                           absl::Time as_of,
                                                                           int64_t after_sequence,
                                                                           int limit) = 0;

  // Events with sequence > after_sequence, ascending, at most `limit`. Sequences are assigned
  // when an event is appended, not when it commits: a lower sequence can become visible after
  // a higher one, and rolled-back transactions leave gaps. Followers must allow for both: they
  // pass the sequences at or below after_sequence they have not seen yet as `missing`, and
  // those of them that exist by now come first (a point read each, not a re-read of the range).
  virtual absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(
      int64_t after_sequence, int limit, const std::vector<int64_t>& missing) = 0;
  // The highest committed sequence (0 when there is none).
  virtual absl::StatusOr<int64_t> LastEventSequence() = 0;

  // --- review tasks
  virtual absl::StatusOr<std::string> NewTaskId() = 0;
  virtual absl::Status PutTask(const v1::ReviewTask& task) = 0;  // insert or replace
  virtual absl::StatusOr<std::optional<v1::ReviewTask>> GetTask(const std::string& task_id) = 0;
  virtual absl::StatusOr<std::vector<v1::ReviewTask>> ListTasks(const TaskFilter& filter) = 0;
  virtual absl::StatusOr<int64_t> CountTasks(const TaskFilter& filter) = 0;
  // OPEN tasks with the record on either side.
  virtual absl::StatusOr<std::vector<v1::ReviewTask>> OpenTasksWith(const SourceId& id) = 0;

  // --- not-a-match decisions (unordered pairs: (a, b) and (b, a) are the same decision)
  virtual absl::Status PutNotAMatch(const v1::NotAMatch& decision) = 0;
  virtual absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) = 0;
  virtual absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) = 0;

  // NotAMatchesOf for many records at once: answer i is that of ids[i] (default: one by one).
  virtual absl::StatusOr<std::vector<std::vector<v1::NotAMatch>>> NotAMatchesOfRecords(
      const std::vector<SourceId>& ids);

  // --- idempotency
  virtual absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) = 0;
  // GetIdempotent for many keys at once: answer i is that of keys[i] (default: one by one).
  virtual absl::StatusOr<std::vector<std::optional<StoredIdempotentResult>>> GetIdempotents(
      const std::vector<std::string>& keys);
  virtual absl::Status PutIdempotent(const std::string& key,
                                     const StoredIdempotentResult& result) = 0;
  // PutIdempotent for many distinct keys at once (default: one by one).
  virtual absl::Status PutIdempotents(
      const std::vector<std::pair<std::string, StoredIdempotentResult>>& results);
  // Forgets at most `limit` results stored before `before`, oldest first; answers how many.
  virtual absl::StatusOr<int64_t> PurgeIdempotentBefore(absl::Time before, int limit) = 0;
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  using TxnFn = std::function<absl::Status(IdentityTxn&)>;

  // Runs `fn` in one transaction: committed when fn returns OK, rolled back otherwise (fn's
  // status is returned). `lock_keys` are taken first as exclusive locks held until the end of
  // the transaction, serialising writers that touch the same keys, across processes for the
  // PostgreSQL store. `fn` may run more than once (retry after a serialization failure), so it
  // must not have effects outside the transaction.
  [[nodiscard]] virtual absl::Status Transact(absl::Time deadline,
                                              const std::vector<std::string>& lock_keys,
                                              const TxnFn& fn) = 0;

  // Runs `fn`, which must only read, without a transaction: each read sees what was committed
  // before it started, but two reads can see different states. Cheaper than Transact (no
  // BEGIN / COMMIT). A write fails with FAILED_PRECONDITION (PostgreSQL store).
  [[nodiscard]] virtual absl::Status Read(absl::Time deadline, const TxnFn& fn) = 0;

  // Calls `fn` for the current version of every ACTIVE source record (person_id set), in no
  // particular order. Used to rebuild the match index at start. A stored record that cannot be
  // read is reported and skipped, never fatal.
  [[nodiscard]] virtual absl::Status ScanActiveRecords(
      absl::Time deadline, const std::function<void(const v1::SourceRecord&)>& fn) = 0;
};

}  // namespace hie::identity
