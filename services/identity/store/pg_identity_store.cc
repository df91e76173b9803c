#include "services/identity/store/pg_identity_store.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/logging.h"

namespace hie::identity {
namespace {

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

// A timestamptz from a bigint parameter holding unix microseconds (0 = unset = NULL).
std::string Ts(int param) {
  return absl::StrCat("(timestamptz 'epoch' + NULLIF($", param,
                      "::bigint, 0) * interval '1 microsecond')");
}

constexpr char kLock[] = "id_lock";
constexpr char kLockOne[] = "id_lock_one";
constexpr char kGetRecord[] = "id_get_record";
constexpr char kPutRecordVersion[] = "id_put_record_version";
constexpr char kSetRecordState[] = "id_set_record_state";
constexpr char kRecordVersions[] = "id_record_versions";
constexpr char kNextPerson[] = "id_next_person";
constexpr char kGetPerson[] = "id_get_person";
constexpr char kPutPerson[] = "id_put_person";
constexpr char kGetLink[] = "id_get_link";
constexpr char kPutLink[] = "id_put_link";
constexpr char kLinksOf[] = "id_links_of";
constexpr char kAppendEvent[] = "id_append_event";
constexpr char kGetEvent[] = "id_get_event";
constexpr char kEventsSince[] = "id_events_since";
constexpr char kLastEvent[] = "id_last_event";
constexpr char kEventsAbout[] = "id_events_about";
constexpr char kNextTask[] = "id_next_task";
constexpr char kPutTask[] = "id_put_task";
constexpr char kGetTask[] = "id_get_task";
constexpr char kOpenTasksWith[] = "id_open_tasks_with";
constexpr char kPutNotAMatch[] = "id_put_not_a_match";
constexpr char kRemoveNotAMatch[] = "id_remove_not_a_match";
constexpr char kNotAMatchesOf[] = "id_not_a_matches_of";
constexpr char kGetIdempotent[] = "id_get_idempotent";
constexpr char kPutIdempotent[] = "id_put_idempotent";
constexpr char kScanFirst[] = "id_scan_first";
constexpr char kScanNext[] = "id_scan_next";

// ListTasks / CountTasks variants: one statement per (order, org filter, person filter), so
// each has a plan that uses the matching index. Every variant takes the same parameters
// ($1 state, $2 org, $3 person_id[, $4 limit, $5 offset]); an unused filter's parameter is ''
// and appears only in a constant condition (evaluated once).
std::string ListTasksName(bool by_score, bool org, bool person) {
  return absl::StrCat("id_list_tasks_", by_score ? "s" : "t", org ? "o" : "-", person ? "p" : "-");
}
std::string CountTasksName(bool org, bool person) {
  return absl::StrCat("id_count_tasks_", org ? "o" : "-", person ? "p" : "-");
}
std::string TaskFilterSql(bool org, bool person) {
  return absl::StrCat(
      " WHERE state = $1", org ? " AND (left_org = $2 OR right_org = $2)" : " AND $2::text = ''",
      person ? " AND (left_person_id = $3 OR right_person_id = $3)" : " AND $3::text = ''");
}

// The SQL reads better as written:
// clang-format off
const std::vector<std::pair<std::string, std::string>>& Statements() {
  static const auto* const kStatements = [] {
    auto* s = new std::vector<std::pair<std::string, std::string>>{
        // Distinct keys, hashed, locked in ascending hash order (deadlock-free across callers).
        {kLock,
         "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
         " FROM unnest($1::text[]) AS k ORDER BY 1) AS keys"},
        {kLockOne, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"},
        {kGetRecord,
         "SELECT v.record, v.version = r.current_version, r.state, r.superseded_org,"
         " r.superseded_local_id, l.person_id"
         " FROM identity.records r"
         " JOIN identity.record_versions v ON v.org = r.org AND v.local_id = r.local_id"
         "  AND v.version = CASE WHEN $3::bigint = 0 THEN r.current_version ELSE $3 END"
         " LEFT JOIN identity.links l ON l.org = r.org AND l.local_id = r.local_id"
         " WHERE r.org = $1 AND r.local_id = $2"},
        // The version rule and both writes in one statement. FOR UPDATE makes a concurrent
        // writer of the same record (one that skipped the advisory lock) wait and then see the
        // new latest_version; for a first version, ON CONFLICT DO NOTHING does the same.
        {kPutRecordVersion,
         absl::StrCat(
             "WITH prev AS (SELECT latest_version FROM identity.records"
             "  WHERE org = $1 AND local_id = $2 FOR UPDATE),"
             " ok AS (SELECT 1 WHERE $3::bigint = COALESCE((SELECT latest_version FROM prev), 0)"
             "  + 1),"
             " ins AS (INSERT INTO identity.record_versions"
             "  (org, local_id, version, source_event_time, record_time, record)"
             "  SELECT $1, $2, $3, ", Ts(5), ", ", Ts(6), ", $4 FROM ok"
             "  ON CONFLICT DO NOTHING RETURNING 1),"
             " up AS (INSERT INTO identity.records AS r (org, local_id, current_version,"
             "  latest_version, state, superseded_org, superseded_local_id)"
             "  SELECT $1, $2, $3, $3, $7, $8, $9 FROM ins"
             "  ON CONFLICT (org, local_id) DO UPDATE SET latest_version = EXCLUDED.latest_version,"
             "  current_version = CASE WHEN $10::boolean THEN EXCLUDED.current_version"
             "   ELSE r.current_version END,"
             "  state = CASE WHEN $10::boolean THEN EXCLUDED.state ELSE r.state END,"
             "  superseded_org = CASE WHEN $10::boolean THEN EXCLUDED.superseded_org"
             "   ELSE r.superseded_org END,"
             "  superseded_local_id = CASE WHEN $10::boolean THEN EXCLUDED.superseded_local_id"
             "   ELSE r.superseded_local_id END)"
             " SELECT count(*) FROM ins")},
        {kSetRecordState,
         "UPDATE identity.records SET state = $3, superseded_org = $4, superseded_local_id = $5"
         " WHERE org = $1 AND local_id = $2"},
        {kRecordVersions,
         "SELECT record FROM identity.record_versions WHERE org = $1 AND local_id = $2"
         " ORDER BY version"},
        {kNextPerson, "SELECT nextval('identity.person_seq')"},
        // The person and its links in one round trip (no links: one row with a NULL link).
        {kGetPerson,
         "SELECT p.person, l.link FROM identity.persons p"
         " LEFT JOIN identity.links l ON l.person_id = p.person_id"
         " WHERE p.person_id = $1 ORDER BY l.org, l.local_id"},
        {kPutPerson,
         absl::StrCat(
             "INSERT INTO identity.persons AS p (person_id, state, merged_into, etag, create_time,"
             " update_time, person) VALUES ($1, $2, $3, $4, ", Ts(5), ", ", Ts(6), ", $7)"
             " ON CONFLICT (person_id) DO UPDATE SET state = EXCLUDED.state,"
             " merged_into = EXCLUDED.merged_into, etag = EXCLUDED.etag,"
             " create_time = EXCLUDED.create_time, update_time = EXCLUDED.update_time,"
             " person = EXCLUDED.person")},
        {kGetLink, "SELECT link FROM identity.links WHERE org = $1 AND local_id = $2"},
        {kPutLink,
         absl::StrCat(
             "INSERT INTO identity.links (org, local_id, person_id, method, score, grade,"
             " create_time, event_id, link) VALUES ($1, $2, $3, $4, $5, $6, ", Ts(7), ", $8, $9)"
             " ON CONFLICT (org, local_id) DO UPDATE SET person_id = EXCLUDED.person_id,"
             " method = EXCLUDED.method, score = EXCLUDED.score, grade = EXCLUDED.grade,"
             " create_time = EXCLUDED.create_time, event_id = EXCLUDED.event_id,"
             " link = EXCLUDED.link")},
        {kLinksOf,
         "SELECT link FROM identity.links WHERE person_id = $1 ORDER BY org, local_id"},
        // Sequence, event and subjects in one round trip.
        {kAppendEvent,
         "WITH s AS (SELECT nextval('identity.event_seq') AS seq),"
         " e AS (INSERT INTO identity.events (sequence, type, event_time_ns, event)"
         "  SELECT seq, $1, $2, $3 FROM s),"
         " j AS (INSERT INTO identity.event_subjects (subject, sequence)"
         "  SELECT subject, seq FROM s, unnest($4::text[]) AS subject)"
         " SELECT seq FROM s"},
        {kGetEvent, "SELECT event FROM identity.events WHERE sequence = $1"},
        {kEventsSince,
         "SELECT sequence, event FROM identity.events WHERE sequence > $1"
         " ORDER BY sequence LIMIT $2"},
        {kLastEvent, "SELECT coalesce(max(sequence), 0) FROM identity.events"},
        {kEventsAbout,
         "SELECT e.sequence, e.event FROM identity.event_subjects s"
         " JOIN identity.events e ON e.sequence = s.sequence"
         " WHERE s.subject = $1 AND e.event_time_ns <= $2 ORDER BY s.sequence"},
        {kNextTask, "SELECT nextval('identity.task_seq')"},
        {kPutTask,
         "INSERT INTO identity.review_tasks (task_id, state, left_org, left_local_id, right_org,"
         " right_local_id, left_person_id, right_person_id, score, create_time_ns, task)"
         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
         " ON CONFLICT (task_id) DO UPDATE SET state = EXCLUDED.state,"
         " left_org = EXCLUDED.left_org, left_local_id = EXCLUDED.left_local_id,"
         " right_org = EXCLUDED.right_org, right_local_id = EXCLUDED.right_local_id,"
         " left_person_id = EXCLUDED.left_person_id, right_person_id = EXCLUDED.right_person_id,"
         " score = EXCLUDED.score, create_time_ns = EXCLUDED.create_time_ns,"
         " task = EXCLUDED.task"},
        {kGetTask, "SELECT task FROM identity.review_tasks WHERE task_id = $1"},
        {kOpenTasksWith,
         "SELECT task FROM identity.review_tasks WHERE state = 1 AND"
         " ((left_org = $1 AND left_local_id = $2) OR (right_org = $1 AND right_local_id = $2))"
         " ORDER BY task_id"},
        {kPutNotAMatch,
         absl::StrCat(
             "INSERT INTO identity.not_a_matches (a_org, a_local_id, b_org, b_local_id,"
             " create_time, decision) VALUES ($1, $2, $3, $4, ", Ts(5), ", $6)"
             " ON CONFLICT (a_org, a_local_id, b_org, b_local_id) DO UPDATE SET"
             " create_time = EXCLUDED.create_time, decision = EXCLUDED.decision")},
        {kRemoveNotAMatch,
         "DELETE FROM identity.not_a_matches"
         " WHERE a_org = $1 AND a_local_id = $2 AND b_org = $3 AND b_local_id = $4"},
        {kNotAMatchesOf,
         "SELECT decision FROM identity.not_a_matches"
         " WHERE (a_org = $1 AND a_local_id = $2) OR (b_org = $1 AND b_local_id = $2)"
         " ORDER BY a_org, a_local_id, b_org, b_local_id"},
        {kGetIdempotent, "SELECT fingerprint, response FROM identity.idempotency WHERE key = $1"},
        {kPutIdempotent,
         "INSERT INTO identity.idempotency (key, fingerprint, response) VALUES ($1, $2, $3)"
         " ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
         " response = EXCLUDED.response, create_time = now()"},
    };
    // Keyset scan of ACTIVE records in (org, local_id) order (the records primary key). The
    // version and link are scalar subqueries, i.e. primary-key probes for the rows returned
    // only: a join would let the planner merge-join whole tables from their start every batch.
    const std::string scan =
        "SELECT r.org, r.local_id,"
        " (SELECT v.record FROM identity.record_versions v WHERE v.org = r.org"
        "   AND v.local_id = r.local_id AND v.version = r.current_version),"
        " (SELECT l.person_id FROM identity.links l WHERE l.org = r.org"
        "   AND l.local_id = r.local_id)"
        " FROM identity.records r WHERE r.state = 1";
    s->emplace_back(kScanFirst, absl::StrCat(scan, " ORDER BY r.org, r.local_id LIMIT $1"));
    s->emplace_back(kScanNext, absl::StrCat(scan, " AND (r.org, r.local_id) > ($1, $2)"
                                                  " ORDER BY r.org, r.local_id LIMIT $3"));
    for (bool org : {false, true}) {
      for (bool person : {false, true}) {
        for (bool by_score : {false, true}) {
          s->emplace_back(
              ListTasksName(by_score, org, person),
              absl::StrCat("SELECT task FROM identity.review_tasks", TaskFilterSql(org, person),
                           by_score ? " ORDER BY state, score DESC, create_time_ns, task_id"
                                    : " ORDER BY state, create_time_ns, task_id",
                           " LIMIT $4 OFFSET $5"));
        }
        s->emplace_back(CountTasksName(org, person),
                        absl::StrCat("SELECT count(*) FROM identity.review_tasks",
                                     TaskFilterSql(org, person)));
      }
    }
    return s;
  }();
  return *kStatements;
}
// clang-format on

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

using google::protobuf::Timestamp;

constexpr int64_t kMaxNanos = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinNanos = std::numeric_limits<int64_t>::min();

// Exact unix nanoseconds, saturated to the int64 range (years 1677..2262).
int64_t Nanos(const Timestamp& t) {
  if (t.seconds() >= kMaxNanos / 1'000'000'000) return kMaxNanos;
  if (t.seconds() <= kMinNanos / 1'000'000'000) return kMinNanos;
  return t.seconds() * 1'000'000'000 + t.nanos();
}

int64_t Nanos(absl::Time t) {
  if (t == absl::InfiniteFuture()) return kMaxNanos;
  if (t == absl::InfinitePast()) return kMinNanos;
  return absl::ToUnixNanos(t);
}

// Unix microseconds for a timestamptz column (0 = unset, stored as NULL).
int64_t Micros(const Timestamp& t) { return t.seconds() * 1'000'000 + t.nanos() / 1000; }

pqxx::binarystring Bytes(const google::protobuf::MessageLite& message) {
  return pqxx::binarystring(message.SerializeAsString());
}

pqxx::binarystring Bytes(const std::string& bytes) { return pqxx::binarystring(bytes); }

std::string Text(const pqxx::field& field) { return std::string(field.c_str(), field.size()); }

// Parses a serialized message stored in a bytea column.
absl::Status Parse(const pqxx::field& field, google::protobuf::MessageLite* message) {
  pqxx::binarystring bytes(field);
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError(absl::StrCat("corrupt stored ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

// A text[] literal, bound as one parameter (the values are quoted, never part of the SQL).
std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string EventId(int64_t sequence) { return absl::StrFormat("E%010d", sequence); }

std::optional<int64_t> SequenceOfEventId(const std::string& id) {
  if (id.size() < 11 || id[0] != 'E') return std::nullopt;
  int64_t sequence = 0;
  if (!std::all_of(id.begin() + 1, id.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(absl::string_view(id).substr(1), &sequence) || EventId(sequence) != id) {
    return std::nullopt;
  }
  return sequence;
}

std::string PersonSubject(const std::string& person_id) { return absl::StrCat("p:", person_id); }
std::string RecordSubject(const SourceId& id) { return absl::StrCat("r:", RecordKey(id)); }

// ---------------------------------------------------------------------------------------------
// The transaction
// ---------------------------------------------------------------------------------------------

class PgTxn : public IdentityTxn {
 public:
  explicit PgTxn(pqxx::work& tx) : tx_(tx) {}

  // The first database exception, if any (the transaction is then unusable).
  std::exception_ptr failure() const { return failure_; }

  // Advisory locks are re-entrant within a session. Taken out of the global order, so two
  // transactions can deadlock here: PostgreSQL detects it, and Transact retries the victim.
  absl::Status LockKey(const std::string& key) override {
    return Guard([&]() -> absl::Status {
      tx_.exec_prepared(kLockOne, key);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<v1::SourceRecord>> GetRecord(const SourceId& id,
                                                            int64_t version) override {
    using Result = absl::StatusOr<std::optional<v1::SourceRecord>>;
    return Guard([&]() -> Result {
      pqxx::result r = tx_.exec_prepared(kGetRecord, id.org(), id.local_id(), version);
      if (r.empty()) return std::optional<v1::SourceRecord>();
      const pqxx::row& row = r[0];
      v1::SourceRecord record;
      if (absl::Status s = Parse(row[0], &record); !s.ok()) return s;
      if (version == 0 || row[1].as<bool>()) {
        record.set_state(static_cast<v1::RecordState>(row[2].as<int>()));
        record.mutable_superseded_by()->set_org(Text(row[3]));
        record.mutable_superseded_by()->set_local_id(Text(row[4]));
      }
      if (!row[5].is_null()) record.set_person_id(Text(row[5]));
      return std::optional<v1::SourceRecord>(std::move(record));
    });
  }

  absl::Status PutRecordVersion(const v1::SourceRecord& record, bool make_current) override {
    return Guard([&]() -> absl::Status {
      v1::SourceRecord stored = record;
      stored.clear_person_id();
      v1::RecordState state =
          record.state() == v1::RECORD_STATE_UNSPECIFIED ? v1::RECORD_STATE_ACTIVE : record.state();
      pqxx::result r = tx_.exec_prepared(
          kPutRecordVersion, record.source_id().org(), record.source_id().local_id(),
          record.version(), Bytes(stored), Micros(record.source_event_time()),
          Micros(record.record_time()), static_cast<int>(state), record.superseded_by().org(),
          record.superseded_by().local_id(), make_current);
      if (r[0][0].as<int64_t>() != 1) {
        return absl::FailedPreconditionError("record version is not the next version");
      }
      return absl::OkStatus();
    });
  }

  absl::Status SetRecordState(const SourceId& id, v1::RecordState state,
                              const SourceId& superseded_by) override {
    return Guard([&]() -> absl::Status {
      pqxx::result r =
          tx_.exec_prepared(kSetRecordState, id.org(), id.local_id(), static_cast<int>(state),
                            superseded_by.org(), superseded_by.local_id());
      if (r.affected_rows() == 0) return absl::NotFoundError("source record not found");
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) override {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::SourceRecord>> {
      return ParseAll<v1::SourceRecord>(
          tx_.exec_prepared(kRecordVersions, id.org(), id.local_id()));
    });
  }

  absl::StatusOr<std::string> NewPersonId() override {
    return Guard([&]() -> absl::StatusOr<std::string> {
      int64_t n = tx_.exec_prepared(kNextPerson)[0][0].as<int64_t>();
      return absl::StrFormat("P%08d", n);
    });
  }

  absl::StatusOr<std::optional<v1::Person>> GetPerson(const std::string& person_id) override {
    using Result = absl::StatusOr<std::optional<v1::Person>>;
    return Guard([&]() -> Result {
      pqxx::result r = tx_.exec_prepared(kGetPerson, person_id);
      if (r.empty()) return std::optional<v1::Person>();
      v1::Person person;
      if (absl::Status s = Parse(r[0][0], &person); !s.ok()) return s;
      for (const pqxx::row& row : r) {
        if (row[1].is_null()) continue;
        if (absl::Status s = Parse(row[1], person.add_links()); !s.ok()) return s;
      }
      return std::optional<v1::Person>(std::move(person));
    });
  }

  absl::Status PutPerson(const v1::Person& person) override {
    return Guard([&]() -> absl::Status {
      v1::Person stored = person;
      stored.clear_links();
      stored.clear_golden_record();
      tx_.exec_prepared(kPutPerson, person.person_id(), static_cast<int>(person.state()),
                        person.merged_into_person_id(), person.etag(), Micros(person.create_time()),
                        Micros(person.update_time()), Bytes(stored));
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    return Guard([&]() -> absl::StatusOr<std::optional<v1::Link>> {
      return ParseOne<v1::Link>(tx_.exec_prepared(kGetLink, id.org(), id.local_id()));
    });
  }

  absl::Status PutLink(const v1::Link& link) override {
    return Guard([&]() -> absl::Status {
      tx_.exec_prepared(kPutLink, link.source_id().org(), link.source_id().local_id(),
                        link.person_id(), static_cast<int>(link.method()), link.score(),
                        static_cast<int>(link.grade()), Micros(link.create_time()), link.event_id(),
                        Bytes(link));
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::Link>> {
      return ParseAll<v1::Link>(tx_.exec_prepared(kLinksOf, person_id));
    });
  }

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    return Guard([&]() -> absl::StatusOr<int64_t> {
      std::vector<std::string> subjects;
      for (const std::string* p : {&event->from_person_id(), &event->to_person_id()}) {
        if (!p->empty()) subjects.push_back(PersonSubject(*p));
      }
      for (const std::string& p : event->affected_person_ids()) {
        if (!p.empty()) subjects.push_back(PersonSubject(p));
      }
      for (const SourceId& id : event->source_ids()) subjects.push_back(RecordSubject(id));
      std::sort(subjects.begin(), subjects.end());
      subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());

      v1::IdentityEvent stored = *event;
      stored.clear_event_id();
      stored.clear_sequence();
      int64_t sequence =
          tx_.exec_prepared(kAppendEvent, static_cast<int>(event->type()),
                            Nanos(event->event_time()), Bytes(stored), TextArray(subjects))[0][0]
              .as<int64_t>();
      event->set_sequence(sequence);
      event->set_event_id(EventId(sequence));
      return sequence;
    });
  }

  absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) override {
    std::optional<int64_t> sequence = SequenceOfEventId(id);
    if (!sequence.has_value()) return std::optional<v1::IdentityEvent>();
    return Guard([&]() -> absl::StatusOr<std::optional<v1::IdentityEvent>> {
      pqxx::result r = tx_.exec_prepared(kGetEvent, *sequence);
      if (r.empty()) return std::optional<v1::IdentityEvent>();
      v1::IdentityEvent event;
      if (absl::Status s = Parse(r[0][0], &event); !s.ok()) return s;
      event.set_sequence(*sequence);
      event.set_event_id(id);
      return std::optional<v1::IdentityEvent>(std::move(event));
    });
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(const std::string& person_id,
                                                                   absl::Time as_of) override {
    return EventsAbout(PersonSubject(person_id), as_of);
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                   absl::Time as_of) override {
    return EventsAbout(RecordSubject(id), as_of);
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(int64_t after_sequence,
                                                             int limit) override {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::IdentityEvent>> {
      std::vector<v1::IdentityEvent> out;
      for (const auto& row : tx_.exec_prepared(kEventsSince, after_sequence, limit)) {
        v1::IdentityEvent event;
        if (absl::Status s = Parse(row[1], &event); !s.ok()) return s;
        int64_t sequence = row[0].as<int64_t>();
        event.set_sequence(sequence);
        event.set_event_id(EventId(sequence));
        out.push_back(std::move(event));
      }
      return out;
    });
  }

  absl::StatusOr<int64_t> LastEventSequence() override {
    return Guard([&]() -> absl::StatusOr<int64_t> {
      return tx_.exec_prepared(kLastEvent)[0][0].as<int64_t>();
    });
  }

  absl::StatusOr<std::string> NewTaskId() override {
    return Guard([&]() -> absl::StatusOr<std::string> {
      int64_t n = tx_.exec_prepared(kNextTask)[0][0].as<int64_t>();
      return absl::StrFormat("T%08d", n);
    });
  }

  absl::Status PutTask(const v1::ReviewTask& task) override {
    return Guard([&]() -> absl::Status {
      tx_.exec_prepared(kPutTask, task.task_id(), static_cast<int>(task.state()),
                        task.left().source_id().org(), task.left().source_id().local_id(),
                        task.right().source_id().org(), task.right().source_id().local_id(),
                        task.left_person_id(), task.right_person_id(),
                        task.explanation().total_score(), Nanos(task.create_time()), Bytes(task));
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<v1::ReviewTask>> GetTask(const std::string& task_id) override {
    return Guard([&]() -> absl::StatusOr<std::optional<v1::ReviewTask>> {
      return ParseOne<v1::ReviewTask>(tx_.exec_prepared(kGetTask, task_id));
    });
  }

  absl::StatusOr<std::vector<v1::ReviewTask>> ListTasks(const TaskFilter& filter) override {
    if (filter.limit <= 0) return std::vector<v1::ReviewTask>();
    return Guard([&]() -> absl::StatusOr<std::vector<v1::ReviewTask>> {
      return ParseAll<v1::ReviewTask>(tx_.exec_prepared(
          ListTasksName(filter.order_by_score_desc, !filter.org.empty(), !filter.person_id.empty()),
          static_cast<int>(filter.state), filter.org, filter.person_id, filter.limit,
          std::max(filter.offset, 0)));
    });
  }

  absl::StatusOr<int64_t> CountTasks(const TaskFilter& filter) override {
    return Guard([&]() -> absl::StatusOr<int64_t> {
      return tx_
          .exec_prepared(CountTasksName(!filter.org.empty(), !filter.person_id.empty()),
                         static_cast<int>(filter.state), filter.org, filter.person_id)[0][0]
          .as<int64_t>();
    });
  }

  absl::StatusOr<std::vector<v1::ReviewTask>> OpenTasksWith(const SourceId& id) override {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::ReviewTask>> {
      return ParseAll<v1::ReviewTask>(tx_.exec_prepared(kOpenTasksWith, id.org(), id.local_id()));
    });
  }

  absl::Status PutNotAMatch(const v1::NotAMatch& decision) override {
    return Guard([&]() -> absl::Status {
      auto [lo, hi] = Ordered(decision.a(), decision.b());
      tx_.exec_prepared(kPutNotAMatch, lo->org(), lo->local_id(), hi->org(), hi->local_id(),
                        Micros(decision.create_time()), Bytes(decision));
      return absl::OkStatus();
    });
  }

  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    return Guard([&]() -> absl::Status {
      auto [lo, hi] = Ordered(a, b);
      tx_.exec_prepared(kRemoveNotAMatch, lo->org(), lo->local_id(), hi->org(), hi->local_id());
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::NotAMatch>> {
      return ParseAll<v1::NotAMatch>(tx_.exec_prepared(kNotAMatchesOf, id.org(), id.local_id()));
    });
  }

  absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) override {
    using Result = absl::StatusOr<std::optional<StoredIdempotentResult>>;
    return Guard([&]() -> Result {
      pqxx::result r = tx_.exec_prepared(kGetIdempotent, key);
      if (r.empty()) return std::optional<StoredIdempotentResult>();
      pqxx::binarystring response(r[0][1]);
      return std::optional<StoredIdempotentResult>(
          StoredIdempotentResult{Text(r[0][0]), response.str()});
    });
  }

  absl::Status PutIdempotent(const std::string& key,
                             const StoredIdempotentResult& result) override {
    return Guard([&]() -> absl::Status {
      tx_.exec_prepared(kPutIdempotent, key, result.request_fingerprint, Bytes(result.response));
      return absl::OkStatus();
    });
  }

 private:
  // Runs one database call. A libpqxx exception aborts the PostgreSQL transaction, so the first
  // one is kept: this and every later call answer its status, and Transact rethrows it.
  template <typename F>
  auto Guard(F&& f) -> decltype(f()) {
    if (failure_) return failure_status_;
    try {
      return f();
    } catch (...) {
      failure_ = std::current_exception();
      failure_status_ = pg::StatusFromCurrentException();
      return failure_status_;
    }
  }

  template <typename M>
  static absl::StatusOr<std::vector<M>> ParseAll(const pqxx::result& r) {
    std::vector<M> out(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      if (absl::Status s = Parse(r[i][0], &out[i]); !s.ok()) return s;
    }
    return out;
  }

  template <typename M>
  static absl::StatusOr<std::optional<M>> ParseOne(const pqxx::result& r) {
    if (r.empty()) return std::optional<M>();
    M message;
    if (absl::Status s = Parse(r[0][0], &message); !s.ok()) return s;
    return std::optional<M>(std::move(message));
  }

  static std::pair<const SourceId*, const SourceId*> Ordered(const SourceId& a, const SourceId& b) {
    if (RecordKey(b) < RecordKey(a)) return {&b, &a};
    return {&a, &b};
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAbout(const std::string& subject,
                                                             absl::Time as_of) {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::IdentityEvent>> {
      pqxx::result r = tx_.exec_prepared(kEventsAbout, subject, Nanos(as_of));
      std::vector<v1::IdentityEvent> out(r.size());
      for (size_t i = 0; i < r.size(); ++i) {
        if (absl::Status s = Parse(r[i][1], &out[i]); !s.ok()) return s;
        int64_t sequence = r[i][0].as<int64_t>();
        out[i].set_sequence(sequence);
        out[i].set_event_id(EventId(sequence));
      }
      return out;
    });
  }

  pqxx::work& tx_;
  std::exception_ptr failure_;
  absl::Status failure_status_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PgIdentityStore>> PgIdentityStore::Create(
    pg::PgPool* pool, PgIdentityStoreOptions options) {
  if (pool == nullptr) return absl::InvalidArgumentError("pool is required");
  if (options.scan_batch_size < 1) {
    return absl::InvalidArgumentError("scan_batch_size must be at least 1");
  }
  return std::unique_ptr<PgIdentityStore>(new PgIdentityStore(pool, options));
}

void PgIdentityStore::PrepareStatements(pqxx::connection& conn) {
  for (const auto& [name, sql] : Statements()) conn.prepare(name, sql);
}

absl::Status PgIdentityStore::Transact(absl::Time deadline,
                                       const std::vector<std::string>& lock_keys, const TxnFn& fn) {
  const std::string keys = lock_keys.empty() ? "" : TextArray(lock_keys);
  for (int attempt = 0;; ++attempt) {
    bool database_error = false;  // as opposed to a status fn returned on its own
    absl::Status status = pool_->Run(deadline, [&](pqxx::connection& conn) -> absl::Status {
      database_error = false;
      PrepareStatements(conn);
      try {
        pqxx::work tx(conn);
        if (!lock_keys.empty()) tx.exec_prepared(kLock, keys);
        PgTxn txn(tx);
        absl::Status s = fn(txn);
        if (txn.failure()) std::rethrow_exception(txn.failure());
        if (!s.ok()) return s;  // ~work rolls back
        tx.commit();
        return absl::OkStatus();
      } catch (...) {
        database_error = true;
        throw;  // the pool maps it (and replaces a broken connection)
      }
    });
    if (status.code() != absl::StatusCode::kAborted || !database_error ||
        attempt >= options_.max_retries || absl::Now() >= deadline) {
      return status;
    }
    Log(LogLevel::kInfo, "identity_txn_retry", {{"attempt", attempt + 1}});
    // A short pause lets the transaction that won the conflict finish before the retry
    // competes with it again.
    absl::SleepFor(std::min(absl::Milliseconds(2 << attempt), deadline - absl::Now()));
  }
}

absl::Status PgIdentityStore::ScanActiveRecords(
    absl::Time deadline, const std::function<void(const v1::SourceRecord&)>& fn) {
  std::string last_org, last_local_id;
  std::vector<v1::SourceRecord> batch;
  for (bool first = true;; first = false) {
    batch.clear();
    absl::Status status = pool_->Run(deadline, [&](pqxx::connection& conn) -> absl::Status {
      batch.clear();
      PrepareStatements(conn);
      // A batch's estimated cost (LIMIT over a large table) would trigger JIT compilation,
      // which costs more than the batch itself; it is turned off for this transaction only.
      pqxx::read_transaction tx(conn);
      tx.exec("SET LOCAL jit = off");
      pqxx::result r =
          first ? tx.exec_prepared(kScanFirst, options_.scan_batch_size)
                : tx.exec_prepared(kScanNext, last_org, last_local_id, options_.scan_batch_size);
      batch.resize(r.size());
      for (size_t i = 0; i < r.size(); ++i) {
        if (r[i][2].is_null()) return absl::InternalError("current record version missing");
        if (absl::Status s = Parse(r[i][2], &batch[i]); !s.ok()) return s;
        batch[i].set_state(v1::RECORD_STATE_ACTIVE);
        if (!r[i][3].is_null()) batch[i].set_person_id(Text(r[i][3]));
      }
      if (!r.empty()) {
        last_org = Text(r[r.size() - 1][0]);
        last_local_id = Text(r[r.size() - 1][1]);
      }
      tx.commit();
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    for (const v1::SourceRecord& record : batch) fn(record);
    if (static_cast<int>(batch.size()) < options_.scan_batch_size) return absl::OkStatus();
  }
}

}  // namespace hie::identity
