#include "services/registry/store/pg_registry_store.h"

#include <algorithm>
#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/row>
#include <pqxx/transaction>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"
#include "services/common/pg/sql_text.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"
#include "services/registry/store/document_filter.h"

namespace hie::registry {
namespace {

using pqxx::transaction_base;

constexpr size_t kFindChunk = 500;  // rows read per round while filtering in process

std::string ReadBytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

// "('a', 'b', ...)": never empty (a list of none is ('')). Ids are checked ASCII.
std::string List(transaction_base& t, const std::vector<std::string>& ids) {
  std::vector<std::string> quoted;
  for (const std::string& id : ids) quoted.push_back(t.quote(id));
  if (quoted.empty()) quoted.push_back("''");
  return absl::StrCat("(", absl::StrJoin(quoted, ", "), ")");
}

// The entry in `f` (column `entry`, with `id` naming it in the log), or nullopt when it does
// not parse (logged by id, skipped).
std::optional<v1::DocumentEntry> Decode(const pqxx::field& f, const std::string& id) {
  v1::DocumentEntry e;
  if (!e.ParseFromString(ReadBytes(f))) {
    Log(LogLevel::kWarning, "unreadable_entry", {{"entry_uuid", id}});
    return std::nullopt;
  }
  return e;
}

std::map<std::string, v1::DocumentEntry> EntriesBy(transaction_base& t, const std::string& column,
                                                   const std::vector<std::string>& ids,
                                                   const char* suffix) {
  std::map<std::string, v1::DocumentEntry> out;
  if (ids.empty()) return out;
  pqxx::result r = t.exec(absl::StrCat("SELECT ", column,
                                       ", entry_uuid, entry FROM "
                                       "registry.entries WHERE ",
                                       column, " IN ", List(t, ids), suffix));
  for (const auto& row : r) {
    if (auto e = Decode(row[2], row[1].c_str())) out[row[0].c_str()] = *std::move(e);
  }
  return out;
}

// The statements of a publication or deprecation (PgTxn), prepared on every connection by
// PrepareStatements and run as `EXECUTE name(literals)` (services/common/pg/sql_text.h): no
// parse analysis or planning per call, which cost PostgreSQL more than running these small
// writes and keyed reads (a sixth of the machine under publication load); several still share
// one round trip. Sets of rows travel as arrays (unnest), so a statement serves any set size.
constexpr char kLockKey[] = "registry_lock_key";
constexpr char kGetIdempotent[] = "registry_get_idempotent";
constexpr char kPutIdempotent[] = "registry_put_idempotent";
constexpr char kEntriesByUniqueId[] = "registry_entries_by_unique_id";
constexpr char kLockEntries[] = "registry_lock_entries";
constexpr char kAssociationsFrom[] = "registry_associations_from";
constexpr char kInsertSet[] = "registry_insert_set";
constexpr char kInsertEntries[] = "registry_insert_entries";
constexpr char kInsertAssociations[] = "registry_insert_associations";
constexpr char kDeprecate[] = "registry_deprecate";

const pg::StatementList& Statements() {
  static const auto* const kStatements = new pg::StatementList{
      {kLockKey, "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))"},
      {kGetIdempotent, "SELECT fingerprint, response FROM registry.idempotency WHERE key = $1"},
      {kPutIdempotent,
       "INSERT INTO registry.idempotency (key, fingerprint, response) VALUES ($1, $2, $3)"},
      // (key, entry_uuid, entry), as EntriesBy.
      {kEntriesByUniqueId,
       "SELECT unique_id, entry_uuid, entry FROM registry.entries WHERE unique_id = "
       "ANY($1::text[])"},
      {kLockEntries,
       "SELECT entry_uuid, entry_uuid, entry FROM registry.entries WHERE entry_uuid = "
       "ANY($1::text[]) ORDER BY entry_uuid FOR UPDATE"},
      {kAssociationsFrom,
       "SELECT type, source, target FROM registry.associations WHERE source = ANY($1::text[])"},
      {kInsertSet,
       "INSERT INTO registry.submission_sets (id, unique_id, source_org, submission_ns, "
       "submission_set) VALUES ($1, $2, $3, $4, $5)"},
      {kInsertEntries,
       "INSERT INTO registry.entries (entry_uuid, unique_id, org, local_id, status, creation_ns, "
       "member_org, repository_unique_id, retrieve_key, entry) SELECT * FROM unnest($1::text[], "
       "$2::text[], $3::text[], $4::text[], $5::smallint[], $6::bigint[], $7::text[], $8::text[], "
       "$9::text[], $10::bytea[])"},
      {kInsertAssociations,
       "INSERT INTO registry.associations (id, type, source, target) SELECT * FROM "
       "unnest($1::text[], $2::smallint[], $3::text[], $4::text[])"},
      {kDeprecate,
       "UPDATE registry.entries SET status = $2, version = NULL, entry = $3 WHERE entry_uuid = "
       "$1"},
  };
  return *kStatements;
}

// Round trips: the writes (Insert, Deprecate's UPDATE, PutIdempotent) are not sent when called
// but kept and sent together, as one multi-statement query, before the next read or the commit
// (Flush); a publication is then BEGIN, the idempotency lock and read (one query), the reads of
// the plan, the writes (one query) and COMMIT. A write's error (a unique violation) surfaces at
// that flush, inside the same transaction, as it would have at the statement.
class PgTxn : public RegistryTxn {
 public:
  explicit PgTxn(pqxx::work& w) : w_(w), sql_(w.conn()) {}

  // Sends the writes kept so far. Called before every read and before the commit.
  void Flush() {
    if (writes_.empty()) return;
    w_.exec(writes_);
    writes_.clear();
  }

  absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) override {
    // One round trip for both: the lock, then the read (the result of the last statement, a
    // statement of its own so that it reads what was committed before the lock was granted).
    pqxx::result r =
        Read(absl::StrCat(sql_.Execute(kLockKey, key), "; ", sql_.Execute(kGetIdempotent, key)));
    if (r.empty()) return std::nullopt;
    return StoredResponse{ReadBytes(r[0][0]), ReadBytes(r[0][1])};
  }
  absl::Status PutIdempotent(const std::string& key, const StoredResponse& v) override {
    Write(sql_.Execute(kPutIdempotent, key, pg::Bytea{v.fingerprint}, pg::Bytea{v.response}));
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, v1::DocumentEntry>> EntriesByUniqueId(
      const std::vector<std::string>& unique_ids) override {
    if (unique_ids.empty()) return std::map<std::string, v1::DocumentEntry>();
    return DecodeEntries(Read(sql_.Execute(kEntriesByUniqueId, pg::TextArray(unique_ids))));
  }
  absl::StatusOr<std::map<std::string, v1::DocumentEntry>> LockEntries(
      const std::vector<std::string>& uuids) override {
    if (uuids.empty()) return std::map<std::string, v1::DocumentEntry>();
    return DecodeEntries(Read(sql_.Execute(kLockEntries, pg::TextArray(uuids))));
  }
  absl::StatusOr<std::set<std::tuple<int, std::string, std::string>>> AssociationsFrom(
      const std::vector<std::string>& uuids) override {
    std::set<std::tuple<int, std::string, std::string>> out;
    if (uuids.empty()) return out;
    for (const auto& row : Read(sql_.Execute(kAssociationsFrom, pg::TextArray(uuids)))) {
      out.insert({row[0].as<int>(), row[1].c_str(), row[2].c_str()});
    }
    return out;
  }
  absl::Status Insert(const v1::SubmissionSet& set, const std::vector<v1::DocumentEntry>& entries,
                      const std::vector<v1::Association>& associations) override {
    Write(sql_.Execute(kInsertSet, set.id(), set.unique_id(), set.source_org(),
                       UnixNanosOf(set.submission_time()), pg::Bytea{set.SerializeAsString()}));
    if (!entries.empty()) {
      std::vector<std::string> uuids, unique_ids, orgs, local_ids, member_orgs, repositories,
          retrieve_keys, serialized;
      std::vector<int> statuses;
      std::vector<int64_t> creation_ns;
      for (const v1::DocumentEntry& e : entries) {
        uuids.push_back(e.entry_uuid());
        unique_ids.push_back(e.unique_id());
        orgs.push_back(e.patient().org());
        local_ids.push_back(e.patient().local_id());
        statuses.push_back(static_cast<int>(e.status()));
        creation_ns.push_back(UnixNanosOf(e.creation_time()));
        member_orgs.push_back(e.location().member_org());
        repositories.push_back(e.location().repository_unique_id());
        retrieve_keys.push_back(RetrieveKeyOf(e));
        serialized.push_back(e.SerializeAsString());
      }
      Write(sql_.Execute(kInsertEntries, pg::TextArray(uuids), pg::TextArray(unique_ids),
                         pg::TextArray(orgs), pg::TextArray(local_ids), pg::NumberArray(statuses),
                         pg::NumberArray(creation_ns), pg::TextArray(member_orgs),
                         pg::TextArray(repositories), pg::TextArray(retrieve_keys),
                         pg::ByteaArray(serialized)));
    }
    if (!associations.empty()) {
      std::vector<std::string> ids, sources, targets;
      std::vector<int> types;
      for (const v1::Association& a : associations) {
        ids.push_back(a.id());
        types.push_back(static_cast<int>(a.type()));
        sources.push_back(a.source());
        targets.push_back(a.target_entry_uuid());
      }
      Write(sql_.Execute(kInsertAssociations, pg::TextArray(ids), pg::NumberArray(types),
                         pg::TextArray(sources), pg::TextArray(targets)));
    }
    return absl::OkStatus();
  }
  absl::Status Deprecate(const std::string& uuid, absl::Time at,
                         const std::string& replaced_by) override {
    std::map<std::string, v1::DocumentEntry> found =
        DecodeEntries(Read(sql_.Execute(kLockEntries, pg::TextArray({uuid}))));
    if (found.empty()) return absl::NotFoundError("entry not registered");
    v1::DocumentEntry& e = found.begin()->second;
    e.set_status(v1::AVAILABILITY_STATUS_DEPRECATED);
    SetTimestamp(at, e.mutable_deprecate_time());
    e.set_replaced_by_entry_uuid(replaced_by);
    Write(sql_.Execute(kDeprecate, uuid, static_cast<int>(e.status()),
                       pg::Bytea{e.SerializeAsString()}));
    return absl::OkStatus();
  }

 private:
  // A statement text, or the quoting error that spoiled it (rethrown: the pool maps it).
  std::string Checked(std::string statement) {
    if (std::exception_ptr error = sql_.TakeError()) std::rethrow_exception(error);
    return statement;
  }
  // Sends the kept writes and then `statement` in one round trip; the result is the last
  // statement's.
  pqxx::result Read(const std::string& statement) {
    std::string batch = std::exchange(writes_, "");
    absl::StrAppend(&batch, batch.empty() ? "" : "; ", Checked(statement));
    return w_.exec(batch);
  }
  void Write(const std::string& statement) {
    absl::StrAppend(&writes_, writes_.empty() ? "" : "; ", Checked(statement));
  }
  // Rows of (key, entry_uuid, entry) by key; rows that do not parse are logged and skipped.
  static std::map<std::string, v1::DocumentEntry> DecodeEntries(const pqxx::result& r) {
    std::map<std::string, v1::DocumentEntry> out;
    for (const auto& row : r) {
      if (auto e = Decode(row[2], row[1].c_str())) out[row[0].c_str()] = *std::move(e);
    }
    return out;
  }

  pqxx::work& w_;
  pg::Sql sql_;
  std::string writes_;  // statements not yet sent, separated by "; "
};

// Whether FindQuery alone decides the filter (no code, service time or author filter).
bool SqlDecidesAll(const DocumentFilter& f) {
  return f.class_codes.empty() && f.type_codes.empty() && f.format_codes.empty() &&
         f.confidentiality_codes.empty() && f.event_codes.empty() &&
         f.practice_setting_codes.empty() && f.facility_type_codes.empty() &&
         !f.service_start_from && !f.service_start_before && !f.service_stop_from &&
         !f.service_stop_before && f.author_institution.empty();
}

// One round of FindDocuments in SQL: per patient, its entries in status, creation range and
// past the position, newest first, through entries_patient_idx in index order (at most `chunk`
// each), merged, the first `chunk`. Per-patient branches keep every read in index order: an OR
// of patients would be a bitmap scan reading all of each patient's entries, then a sort.
std::string FindQuery(transaction_base& t, const DocumentFilter& f,
                      const std::optional<std::pair<int64_t, std::string>>& after, size_t chunk) {
  std::vector<std::string> statuses;
  for (auto s : f.statuses) statuses.push_back(std::to_string(static_cast<int>(s)));
  if (statuses.empty()) statuses.push_back(std::to_string(v1::AVAILABILITY_STATUS_APPROVED));
  std::string common = absl::StrCat(" AND status IN (", absl::StrJoin(statuses, ", "), ")");
  if (f.creation_from) {
    absl::StrAppend(&common, " AND creation_ns >= ", absl::ToUnixNanos(*f.creation_from));
  }
  if (f.creation_before) {
    absl::StrAppend(&common, " AND creation_ns < ", absl::ToUnixNanos(*f.creation_before));
  }
  if (after) {
    absl::StrAppend(&common, " AND (creation_ns, entry_uuid) < (", after->first, ", ",
                    t.quote(after->second), ")");
  }
  const std::string order =
      absl::StrCat(" ORDER BY creation_ns DESC, entry_uuid DESC LIMIT ", chunk);
  std::vector<std::string> branches;
  for (const auto& p : f.patients) {
    branches.push_back(absl::StrCat(
        "(SELECT creation_ns, entry_uuid, entry FROM registry.entries WHERE org = ",
        t.quote(p.org()), " AND local_id = ", t.quote(p.local_id()), common, order, ")"));
  }
  return absl::StrCat("SELECT * FROM (", absl::StrJoin(branches, " UNION ALL "), ") found", order);
}

}  // namespace

void PgRegistryStore::PrepareStatements(pqxx::connection& conn) {
  // The generic plan of each (keyed reads and writes: the same plan for any argument) from the
  // first call on, instead of five custom plans before PostgreSQL compares. That plan is made
  // at the first call on the connection, perhaps while the tables are still empty (a new
  // registry), where a sequential scan looks cheapest, and kept until an ANALYZE invalidates
  // it: a registry loaded from empty then scanned its whole table per publication until
  // autovacuum came by (measured: 2,000 entries/s instead of 8,000 over the first 100,000).
  // Every statement of the registry is keyed, so its connections never scan sequentially
  // (every method of the store prepares the connection it is given first).
  pg::PrepareStatements(conn, "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off",
                        Statements());
}

void PgRegistryStore::EnsurePrepared(pqxx::connection& conn) {
  prepared_.Ensure(conn, &PrepareStatements);
}

absl::Status PgRegistryStore::Transact(absl::Time deadline, const TxnFn& fn) {
  return pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    EnsurePrepared(c);
    for (bool prepared_again = false;; prepared_again = true) {
      try {
        pqxx::work w(c);
        PgTxn txn(w);
        absl::Status status = fn(txn);
        if (!status.ok()) {
          w.abort();
          return status;
        }
        txn.Flush();
        w.commit();
        return absl::OkStatus();
      } catch (const pqxx::sql_error& e) {
        // A connection without the statements (it should not happen: a new connection is a new
        // backend): prepare them and run fn again, once. Nothing was written.
        if (prepared_again || e.sqlstate() != "26000") throw;  // the pool maps it
        PrepareStatements(c);
      }
    }
  });
}

absl::StatusOr<std::vector<v1::DocumentEntry>> PgRegistryStore::FindDocuments(
    absl::Time deadline, const DocumentFilter& filter) {
  std::vector<v1::DocumentEntry> out;
  if (filter.patients.empty() || filter.limit == 0) return out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    EnsurePrepared(c);
    out.clear();
    // One round trip per round: no BEGIN / COMMIT (each round is one statement, and keyset
    // paging needs no snapshot shared between rounds), and the setting travels in the same
    // query string, whose statements PostgreSQL runs as one implicit transaction (so SET LOCAL
    // ends with it). The planner would otherwise pick a bitmap scan and a sort whenever it
    // underestimates a patient's entries (most patients have few; the one asked about may have
    // thousands).
    pqxx::nontransaction t(c);
    std::optional<std::pair<int64_t, std::string>> after = filter.after;
    size_t scanned = 0;
    while (out.size() < filter.limit) {
      // Without filters beyond SQL's, every row read is answered: read no more than needed.
      const size_t wanted = SqlDecidesAll(filter) ? filter.limit - out.size() : kFindChunk;
      const size_t chunk = std::min({wanted, kFindChunk, filter.max_scanned + 1 - scanned});
      pqxx::result r = t.exec(
          absl::StrCat("SET LOCAL enable_bitmapscan = off; ", FindQuery(t, filter, after, chunk)));
      for (const auto& row : r) {
        if (out.size() == filter.limit) break;
        if (++scanned > filter.max_scanned) return absl::ResourceExhaustedError(kTooManyResults);
        after.emplace(row[0].as<int64_t>(), row[1].c_str());
        std::optional<v1::DocumentEntry> e = Decode(row[2], row[1].c_str());
        if (e && MatchesFilter(*e, filter)) out.push_back(*std::move(e));
      }
      if (r.size() < chunk) break;
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::DocumentEntry>> PgRegistryStore::GetDocuments(
    absl::Time deadline, const DocumentKeys& keys) {
  std::vector<v1::DocumentEntry> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    EnsurePrepared(c);
    out.clear();
    pqxx::nontransaction t(c);
    std::string where = absl::StrCat("entry_uuid IN ", List(t, keys.entry_uuids),
                                     " OR unique_id IN ", List(t, keys.unique_ids));
    if (!keys.locations.empty()) {
      std::vector<std::string> rows;
      for (const v1::DocumentLocation& l : keys.locations) {
        rows.push_back(absl::StrCat("(", t.quote(l.member_org()), ", ",
                                    t.quote(l.repository_unique_id()), ", ",
                                    t.quote(l.retrieve_key()), ")"));
      }
      absl::StrAppend(&where, " OR (member_org, repository_unique_id, retrieve_key) IN (",
                      absl::StrJoin(rows, ", "), ")");
    }
    pqxx::result r =
        t.exec(absl::StrCat("SELECT entry_uuid, entry FROM registry.entries WHERE ", where));
    for (const auto& row : r) {
      if (auto e = Decode(row[1], row[0].c_str())) out.push_back(*std::move(e));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Related> PgRegistryStore::GetRelated(absl::Time deadline, const std::string& uuid) {
  Related out;
  bool known = false;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    EnsurePrepared(c);
    out = {};
    pqxx::work t(c);  // one snapshot: REPEATABLE READ below
    t.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    const std::string id = t.quote(uuid);
    known = !t.exec(absl::StrCat("SELECT 1 FROM registry.entries WHERE entry_uuid = ", id)).empty();
    if (!known) return absl::OkStatus();
    pqxx::result r = t.exec(absl::StrCat(
        "SELECT id, type, source, target FROM registry.associations WHERE source = ", id,
        " OR target = ", id, " ORDER BY seq"));
    std::vector<std::string> others;
    for (const auto& row : r) {
      v1::Association a;
      a.set_id(row[0].c_str());
      a.set_type(static_cast<v1::AssociationType>(row[1].as<int>()));
      a.set_source(row[2].c_str());
      a.set_target_entry_uuid(row[3].c_str());
      others.push_back(a.source() == uuid ? a.target_entry_uuid() : a.source());
      out.associations.push_back(std::move(a));
    }
    for (auto& [other, e] : EntriesBy(t, "entry_uuid", others, "")) {
      out.entries.push_back(std::move(e));
    }
    t.commit();
    return absl::OkStatus();
  }));
  if (!known) return absl::NotFoundError("entry not registered");
  return out;
}

absl::Status PgRegistryStore::StampChanges(absl::Time deadline) {
  return pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    EnsurePrepared(c);
    pqxx::work w(c);
    if (!w.exec1(absl::StrCat("SELECT pg_try_advisory_xact_lock(", kStampLockKey, ")"))[0]
             .as<bool>()) {
      return absl::OkStatus();  // another caller is stamping: its changes show next time
    }
    // Values in entry_uuid order within the batch (nextval runs after the sort): a join's
    // order (a hash aggregate's, say) would make the feed's order within a batch arbitrary.
    // The unstamped rows are read from entries_feed_idx in its order, (version, entry_uuid)
    // with version NULL, so that the LIMIT stops the scan (no sort of every unstamped row).
    w.exec(
        absl::StrCat("UPDATE registry.entries e SET version = s.version FROM (SELECT entry_uuid, "
                     "nextval('registry.feed_version') AS version FROM (SELECT entry_uuid FROM "
                     "registry.entries WHERE version IS NULL ORDER BY version, entry_uuid LIMIT ",
                     kStampBatch,
                     " FOR UPDATE SKIP LOCKED) picked ORDER BY entry_uuid) s WHERE e.entry_uuid = "
                     "s.entry_uuid"));
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<EntryChange>> PgRegistryStore::ChangesSince(absl::Time deadline,
                                                                       const FeedPosition& after,
                                                                       size_t limit) {
  HIE_RETURN_IF_ERROR(StampChanges(deadline));
  std::vector<EntryChange> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    EnsurePrepared(c);
    out.clear();
    pqxx::nontransaction t(c);
    pqxx::result r = t.exec(absl::StrCat(
        "SELECT version, entry_uuid, entry FROM registry.entries WHERE (version, entry_uuid) > (",
        after.version, ", ", t.quote(after.entry_uuid), ") ORDER BY version, entry_uuid LIMIT ",
        limit));
    for (const auto& row : r) {
      EntryChange change{{row[0].as<int64_t>(), row[1].c_str()}, {}};
      if (auto e = Decode(row[2], row[1].c_str())) {
        change.entry = *std::move(e);
      } else {
        change.unreadable = true;
      }
      out.push_back(std::move(change));
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace hie::registry
