#include "services/identity/store/pg_identity_store.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <limits>
#include <pqxx/binarystring>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <type_traits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/common/logging.h"
#include "services/common/pg/sql_text.h"
#include "services/common/status_macros.h"

namespace hie::identity {
namespace {

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

// A timestamptz from a bigint expression holding unix microseconds (0 = unset = NULL).
std::string TsOf(const std::string& micros) {
  return absl::StrCat("(timestamptz 'epoch' + NULLIF(", micros, ", 0) * interval '1 microsecond')");
}
// The same for statement parameter $param.
std::string Ts(int param) { return TsOf(absl::StrCat("$", param, "::bigint")); }

constexpr char kGetRecord[] = "id_get_record";
constexpr char kGetRecords[] = "id_get_records";
constexpr char kPutRecordVersion[] = "id_put_record_version";
constexpr char kSetRecordState[] = "id_set_record_state";
constexpr char kRecordVersions[] = "id_record_versions";
constexpr char kNextPerson[] = "id_next_person";
constexpr char kGetPerson[] = "id_get_person";
constexpr char kPutPerson[] = "id_put_person";
constexpr char kGetLink[] = "id_get_link";
constexpr char kGetLinks[] = "id_get_links";
constexpr char kLinkedRecordsOf[] = "id_linked_records_of";
constexpr char kLinkedRecordsWith[] = "id_linked_records_with";
constexpr char kPutLink[] = "id_put_link";
constexpr char kLinksOf[] = "id_links_of";
constexpr char kLinksOfPersons[] = "id_links_of_persons";
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
constexpr char kNotAMatchesOfRecords[] = "id_not_a_matches_of_records";
constexpr char kGetIdempotent[] = "id_get_idempotent";
constexpr char kGetIdempotents[] = "id_get_idempotents";
constexpr char kPutIdempotent[] = "id_put_idempotent";
constexpr char kPurgeIdempotent[] = "id_purge_idempotent";
constexpr char kPutFirstVersions[] = "id_put_first_versions";
constexpr char kPutPersons[] = "id_put_persons";
constexpr char kPutLinks[] = "id_put_links";
constexpr char kAppendEvents[] = "id_append_events";
constexpr char kPutIdempotents[] = "id_put_idempotents";
constexpr char kScanFirst[] = "id_scan_first";
constexpr char kScanNext[] = "id_scan_next";

// The ids of a batch read ($1 orgs, $2 local ids) with their 1-based positions. Batch reads
// look each one up in a LATERAL subquery: a join would let the planner hash whole tables.
constexpr char kUnnestIds[] = "unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(org, lid, i)";

// ListTasks / CountTasks variants: one statement per (order, org filter, person filter), so
// each has a plan that uses the matching index. Every variant takes the same parameters
// ($1 state, $2 org, $3 person_id[, $4 limit, $5 offset]); an unused filter's parameter is ''
// and appears only in a constant condition (evaluated once).
std::string ListTasksName(bool by_score, bool org, bool person) {
  return absl::StrCat("id_list_tasks_", by_score ? "s" : "t", org ? "o" : "x", person ? "p" : "x");
}
std::string CountTasksName(bool org, bool person) {
  return absl::StrCat("id_count_tasks_", org ? "o" : "x", person ? "p" : "x");
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
        {kGetRecord,
         "SELECT v.record, v.version = r.current_version, r.state, r.superseded_org,"
         " r.superseded_local_id, l.person_id, v.version"
         " FROM identity.records r"
         " JOIN identity.record_versions v ON v.org = r.org AND v.local_id = r.local_id"
         "  AND v.version = CASE WHEN $3::bigint = 0 THEN r.current_version ELSE $3 END"
         " LEFT JOIN identity.links l ON l.org = r.org AND l.local_id = r.local_id"
         " WHERE r.org = $1 AND r.local_id = $2"},
        // Position (1-based) first, then the columns of id_get_record.
        {kGetRecords,
         absl::StrCat("SELECT k.i, x.* FROM ", kUnnestIds, " CROSS JOIN LATERAL (",
                      "SELECT v.record, true, r.state, r.superseded_org, r.superseded_local_id,"
                      " l.person_id, v.version"
                      " FROM identity.records r"
                      " JOIN identity.record_versions v ON v.org = r.org"
                      "  AND v.local_id = r.local_id AND v.version = r.current_version"
                      " LEFT JOIN identity.links l ON l.org = r.org AND l.local_id = r.local_id"
                      " WHERE r.org = k.org COLLATE \"C\" AND r.local_id = k.lid COLLATE \"C\") x")},
        // The version rule and both writes in one statement; answers the version stored (no
        // row: $3 was not 0 and not the next version). FOR UPDATE makes a concurrent writer of
        // the same record (one that skipped the advisory lock) wait and then see the new
        // latest_version; for a first version, ON CONFLICT DO NOTHING does the same.
        {kPutRecordVersion,
         absl::StrCat(
             "WITH prev AS (SELECT latest_version FROM identity.records"
             "  WHERE org = $1 AND local_id = $2 FOR UPDATE),"
             " next AS (SELECT COALESCE((SELECT latest_version FROM prev), 0) + 1 AS version),"
             " ins AS (INSERT INTO identity.record_versions"
             "  (org, local_id, version, source_event_time, record_time, record)"
             "  SELECT $1, $2, next.version, ", Ts(5), ", ", Ts(6), ", $4 FROM next"
             "  WHERE $3::bigint IN (0, next.version)"
             "  ON CONFLICT DO NOTHING RETURNING version),"
             " up AS (INSERT INTO identity.records AS r (org, local_id, current_version,"
             "  latest_version, state, superseded_org, superseded_local_id)"
             "  SELECT $1, $2, ins.version, ins.version, $7, $8, $9 FROM ins"
             "  ON CONFLICT (org, local_id) DO UPDATE SET latest_version = EXCLUDED.latest_version,"
             "  current_version = CASE WHEN $10::boolean THEN EXCLUDED.current_version"
             "   ELSE r.current_version END,"
             "  state = CASE WHEN $10::boolean THEN EXCLUDED.state ELSE r.state END,"
             "  superseded_org = CASE WHEN $10::boolean THEN EXCLUDED.superseded_org"
             "   ELSE r.superseded_org END,"
             "  superseded_local_id = CASE WHEN $10::boolean THEN EXCLUDED.superseded_local_id"
             "   ELSE r.superseded_local_id END)"
             " SELECT version FROM ins")},
        {kSetRecordState,
         "UPDATE identity.records SET state = $3, superseded_org = $4, superseded_local_id = $5"
         " WHERE org = $1 AND local_id = $2"},
        {kRecordVersions,
         "SELECT version, record FROM identity.record_versions WHERE org = $1 AND local_id = $2"
         " ORDER BY version"},
        {kNextPerson, "SELECT nextval('identity.person_seq') FROM generate_series(1, $1)"},
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
        // $1 orgs and $2 local ids, pairwise; answers (position from 1, link) of those linked.
        {kGetLinks,
         absl::StrCat("SELECT k.i, x.link FROM ", kUnnestIds,
                      " CROSS JOIN LATERAL (SELECT l.link FROM identity.links l"
                      " WHERE l.org = k.org COLLATE \"C\" AND l.local_id = k.lid COLLATE \"C\") x")},
        {kLinkedRecordsOf,
         "SELECT l.link, v.version, v.record, r.state, r.superseded_org, r.superseded_local_id"
         " FROM identity.links l"
         " JOIN identity.records r ON r.org = l.org AND r.local_id = l.local_id"
         " JOIN identity.record_versions v ON v.org = r.org AND v.local_id = r.local_id"
         "  AND v.version = r.current_version"
         " WHERE l.person_id = $1 ORDER BY l.org, l.local_id"},
        // The same for the person of record ($1, $2).
        {kLinkedRecordsWith,
         "SELECT l.link, v.version, v.record, r.state, r.superseded_org, r.superseded_local_id"
         " FROM identity.links me"
         " JOIN identity.links l ON l.person_id = me.person_id"
         " JOIN identity.records r ON r.org = l.org AND r.local_id = l.local_id"
         " JOIN identity.record_versions v ON v.org = r.org AND v.local_id = r.local_id"
         "  AND v.version = r.current_version"
         " WHERE me.org = $1 AND me.local_id = $2 ORDER BY l.org, l.local_id"},
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
        {kLinksOfPersons,
         "SELECT k.i, x.link FROM unnest($1::text[]) WITH ORDINALITY AS k(person_id, i)"
         " CROSS JOIN LATERAL (SELECT org, local_id, link FROM identity.links"
         " WHERE person_id = k.person_id COLLATE \"C\") x ORDER BY k.i, x.org, x.local_id"},
        // Sequence, event and subjects in one round trip.
        {kAppendEvent,
         "WITH s AS (SELECT nextval('identity.event_seq') AS seq),"
         " e AS (INSERT INTO identity.events (sequence, type, event_time_ns, event)"
         "  SELECT seq, $1, $2, $3 FROM s),"
         " j AS (INSERT INTO identity.event_subjects (subject, sequence)"
         "  SELECT subject, seq FROM s, unnest($4::text[]) AS subject)"
         " SELECT seq FROM s"},
        {kGetEvent, "SELECT event FROM identity.events WHERE sequence = $1"},
        // $3: sequences at or below $1 still missing (a primary-key probe each). Two branches,
        // so that each keeps its own index plan.
        {kEventsSince,
         "(SELECT sequence, event FROM identity.events WHERE sequence = ANY($3::bigint[])"
         "  AND sequence <= $1)"
         " UNION ALL (SELECT sequence, event FROM identity.events WHERE sequence > $1"
         "  ORDER BY sequence LIMIT $2)"
         " ORDER BY sequence LIMIT $2"},
        {kLastEvent, "SELECT coalesce(max(sequence), 0) FROM identity.events"},
        {kEventsAbout,
         "SELECT e.sequence, e.event FROM identity.event_subjects s"
         " JOIN identity.events e ON e.sequence = s.sequence"
         " WHERE s.subject = $1 AND s.sequence > $3 AND e.event_time_ns <= $2"
         " ORDER BY s.sequence LIMIT $4"},
        {kNextTask, "SELECT nextval('identity.task_seq') FROM generate_series(1, $1)"},
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
        // Ordered as id_not_a_matches_of within a position.
        {kNotAMatchesOfRecords,
         absl::StrCat("SELECT k.i, x.decision FROM ", kUnnestIds,
                      " CROSS JOIN LATERAL (SELECT decision FROM identity.not_a_matches"
                      " WHERE (a_org = k.org COLLATE \"C\" AND a_local_id = k.lid COLLATE \"C\")"
                      " OR (b_org = k.org COLLATE \"C\" AND b_local_id = k.lid COLLATE \"C\")"
                      " ORDER BY a_org, a_local_id, b_org, b_local_id) x ORDER BY k.i")},
        {kGetIdempotent,
         "SELECT fingerprint, response, (extract(epoch FROM create_time) * 1000000)::bigint"
         " FROM identity.idempotency WHERE key = $1"},
        {kGetIdempotents,
         "SELECT k.i, x.* FROM unnest($1::text[]) WITH ORDINALITY AS k(key, i)"
         " CROSS JOIN LATERAL (SELECT fingerprint, response,"
         " (extract(epoch FROM create_time) * 1000000)::bigint FROM identity.idempotency"
         " WHERE key = k.key COLLATE \"C\") x"},
        {kPutIdempotent,
         absl::StrCat("INSERT INTO identity.idempotency (key, fingerprint, response, create_time)"
                      " VALUES ($1, $2, $3, COALESCE(", Ts(4), ", now()))"
                      " ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
                      " response = EXCLUDED.response, create_time = EXCLUDED.create_time")},
        // Oldest first, through idempotency_create_time_idx.
        {kPurgeIdempotent,
         absl::StrCat("WITH old AS (SELECT key FROM identity.idempotency WHERE create_time < ",
                      Ts(1), " ORDER BY create_time LIMIT $2),"
                      " gone AS (DELETE FROM identity.idempotency i USING old"
                      "  WHERE i.key = old.key RETURNING 1)"
                      " SELECT count(*) FROM gone")},
        // Batch writes: one array parameter per column, one row per position; bytes as hex
        // text (decode). The rows of one call are distinct (ON CONFLICT cannot update a row
        // twice in one statement).
        {kPutFirstVersions,
         absl::StrCat(
             "WITH v AS (INSERT INTO identity.record_versions"
             "  (org, local_id, version, source_event_time, record_time, record)"
             "  SELECT org, lid, 1, ", TsOf("st"), ", ", TsOf("rt"), ", decode(rec, 'hex')"
             "  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])"
             "  AS t(org, lid, st, rt, rec))"
             " INSERT INTO identity.records (org, local_id, current_version, latest_version,"
             "  state, superseded_org, superseded_local_id)"
             " SELECT org, lid, 1, 1, state, so, sl"
             " FROM unnest($1::text[], $2::text[], $6::smallint[], $7::text[], $8::text[])"
             " AS t(org, lid, state, so, sl)")},
        {kPutPersons,
         absl::StrCat(
             "INSERT INTO identity.persons AS p (person_id, state, merged_into, etag, create_time,"
             " update_time, person)"
             " SELECT id, state, merged, etag, ", TsOf("ct"), ", ", TsOf("ut"), ", decode(b, 'hex')"
             " FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::bigint[],"
             "  $6::bigint[], $7::text[]) AS t(id, state, merged, etag, ct, ut, b)"
             " ON CONFLICT (person_id) DO UPDATE SET state = EXCLUDED.state,"
             " merged_into = EXCLUDED.merged_into, etag = EXCLUDED.etag,"
             " create_time = EXCLUDED.create_time, update_time = EXCLUDED.update_time,"
             " person = EXCLUDED.person")},
        {kPutLinks,
         absl::StrCat(
             "INSERT INTO identity.links (org, local_id, person_id, method, score, grade,"
             " create_time, event_id, link)"
             " SELECT org, lid, pid, method, score, grade, ", TsOf("ct"), ", eid, decode(b, 'hex')"
             " FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[],"
             "  $5::double precision[], $6::smallint[], $7::bigint[], $8::text[], $9::text[])"
             "  AS t(org, lid, pid, method, score, grade, ct, eid, b)"
             " ON CONFLICT (org, local_id) DO UPDATE SET person_id = EXCLUDED.person_id,"
             " method = EXCLUDED.method, score = EXCLUDED.score, grade = EXCLUDED.grade,"
             " create_time = EXCLUDED.create_time, event_id = EXCLUDED.event_id,"
             " link = EXCLUDED.link")},
        // Sequences are drawn in the order of the positions (the function scan emits them in
        // order, and the CTE is evaluated once); answers (position, sequence). $4/$5: every
        // event's subjects, with the position of the event each belongs to.
        {kAppendEvents,
         "WITH e AS (SELECT nextval('identity.event_seq') AS seq, i, type, t, ev"
         "  FROM unnest($1::smallint[], $2::bigint[], $3::text[]) WITH ORDINALITY"
         "  AS x(type, t, ev, i)),"
         " ins AS (INSERT INTO identity.events (sequence, type, event_time_ns, event)"
         "  SELECT seq, type, t, decode(ev, 'hex') FROM e),"
         " subj AS (INSERT INTO identity.event_subjects (subject, sequence)"
         "  SELECT s.subject, e.seq FROM unnest($4::text[], $5::bigint[]) AS s(subject, i)"
         "  JOIN e ON e.i = s.i)"
         " SELECT i, seq FROM e ORDER BY i"},
        {kPutIdempotents,
         absl::StrCat("INSERT INTO identity.idempotency (key, fingerprint, response, create_time)"
                      " SELECT k, f, decode(r, 'hex'), COALESCE(", TsOf("t"), ", now())"
                      " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                      " AS x(k, f, r, t)"
                      " ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
                      " response = EXCLUDED.response, create_time = EXCLUDED.create_time")},
    };
    // Keyset scan of ACTIVE records in (org, local_id) order (the records primary key). The
    // version and link are scalar subqueries, i.e. primary-key probes for the rows returned
    // only: a join would let the planner merge-join whole tables from their start every batch.
    const std::string scan =
        "SELECT r.org, r.local_id,"
        " (SELECT v.record FROM identity.record_versions v WHERE v.org = r.org"
        "   AND v.local_id = r.local_id AND v.version = r.current_version),"
        " (SELECT l.person_id FROM identity.links l WHERE l.org = r.org"
        "   AND l.local_id = r.local_id),"
        " r.current_version"
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

std::string Text(const pqxx::field& field) { return std::string(field.c_str(), field.size()); }

std::atomic<int64_t> corrupt_rows{0};

// Parses a serialized message stored in a bytea column. DATA_LOSS when it does not parse (a row
// written before text was checked, or damaged on disk); the message names the type only.
absl::Status Parse(const pqxx::field& field, google::protobuf::MessageLite* message) {
  pqxx::binarystring bytes(field);
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("stored ", message->GetTypeName(), " cannot be read (corrupt row)"));
  }
  return absl::OkStatus();
}

// Logs and counts a stored record that cannot be read and is left out of an answer. The local
// id is a medical record number (PHI; a hash of a short number is reversible), so the log names
// the record by its organisation, the person it is linked to and its version: an operator finds
// it with SELECT local_id FROM identity.links WHERE org = ... AND person_id = ....
void ReportCorruptRecord(std::string_view org, std::string_view person_id, int64_t version,
                         std::string_view where) {
  corrupt_rows.fetch_add(1);
  Log(LogLevel::kError, "corrupt_record_skipped",
      {{"org", std::string(org)},
       {"person_id", std::string(person_id)},
       {"version", version},
       {"where", std::string(where)}});
}

using pg::NumberArray;
using pg::TextArray;

// A float8[] literal that keeps every bit of each value.
std::string DoubleArray(const std::vector<double>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? "," : "", absl::StrFormat("%.17g", items[i]));
  }
  return out + "}";
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
// Statements as text: EXECUTE with literal parameters
// ---------------------------------------------------------------------------------------------

// (services/common/pg/sql_text.h)
using pg::Bytea;
using pg::Sql;

// A stable 64-bit hash of a lock key (FNV-1a): every process and version must map a key to
// the same advisory lock.
int64_t LockId(const std::string& key) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h);
}

// Opens a transaction: BEGIN, the statement timeout, and the advisory locks of `lock_keys`,
// distinct and in ascending order (a global order: no cycle of waits between callers).
std::string BeginSql(int64_t statement_timeout_ms, const std::vector<std::string>& lock_keys) {
  std::string sql = absl::StrCat("BEGIN; SET LOCAL statement_timeout = ", statement_timeout_ms);
  if (lock_keys.empty()) return sql;
  std::vector<int64_t> ids;
  for (const std::string& key : lock_keys) ids.push_back(LockId(key));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  absl::StrAppend(&sql, "; SELECT pg_advisory_xact_lock(id) FROM unnest('{",
                  absl::StrJoin(ids, ","), "}'::bigint[]) AS id");
  return sql;
}

bool IsMissingPreparedStatement(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const pqxx::sql_error& error) {
    return error.sqlstate() == "26000";  // invalid_sql_statement_name
  } catch (...) {
    return false;
  }
}

}  // namespace

// Person and task ids reserved from their sequences in blocks, so that a new person or task
// rarely costs a round trip. Ids stay unique across replicas and are never reused; a restart
// leaves a gap (as a rolled-back transaction does).
struct IdBlocks {
  static constexpr int kBlock = 64;

  class Reserve {
   public:
    std::optional<int64_t> Take() {
      std::lock_guard lock(mu_);
      if (ids_.empty()) return std::nullopt;
      int64_t id = ids_.front();
      ids_.pop_front();
      return id;
    }
    void Add(const std::vector<int64_t>& ids) {
      std::lock_guard lock(mu_);
      ids_.insert(ids_.end(), ids.begin(), ids.end());
    }

   private:
    std::mutex mu_;
    std::deque<int64_t> ids_;
  };

  Reserve persons;
  Reserve tasks;
};

namespace {

// ---------------------------------------------------------------------------------------------
// The transaction
// ---------------------------------------------------------------------------------------------

// Statements are sent lazily to save round trips: BEGIN (with the timeout and the locks) goes
// with the first statement, and writes that answer nothing (Put*, RemoveNotAMatch, LockKey)
// wait and go with the next statement that answers something, or with the COMMIT. PostgreSQL
// runs the statements of one query in order and stops at the first error, so the outcome is the
// same as sending them one by one; only the error of a waiting write surfaces at that later call.
class PgTxn : public IdentityTxn {
 public:
  // A transaction opened by `begin` (sent with the first statement).
  PgTxn(pqxx::connection& conn, std::string begin, IdBlocks& ids)
      : tx_(conn), sql_(conn), ids_(ids), pending_(std::move(begin)) {}

  // No transaction: every read is a query of its own, prefixed by `read_prefix`; writes are
  // refused.
  struct ReadOnly {
    std::string read_prefix;
  };
  PgTxn(pqxx::connection& conn, ReadOnly read_only, IdBlocks& ids)
      : tx_(conn), sql_(conn), ids_(ids), read_prefix_(std::move(read_only.read_prefix)) {}

  // The first database exception, if any (the transaction is then unusable).
  std::exception_ptr failure() const { return failure_; }

  // Sends what is pending and COMMIT. A connection lost meanwhile leaves the outcome unknown
  // (pqxx::in_doubt_error). Does nothing when nothing was sent or written.
  void Commit() {
    if (!begun_ && !wrote_) {  // only BEGIN is pending: nothing to commit
      done_ = true;
      return;
    }
    std::string batch = TakePending();
    batch += batch.empty() ? "COMMIT" : "; COMMIT";
    try {
      tx_.exec(batch);
      done_ = true;
    } catch (const pqxx::broken_connection&) {
      done_ = true;
      throw pqxx::in_doubt_error("connection lost during COMMIT");
    } catch (...) {
      Rollback();  // a pending write failed before COMMIT: the transaction is still open
      throw;
    }
  }

  // Ends the transaction if it was begun. Never throws (a broken connection is dropped).
  void Rollback() noexcept {
    if (done_) return;
    done_ = true;
    if (!begun_ || !tx_.conn().is_open()) return;
    try {
      tx_.exec("ROLLBACK");
    } catch (...) {
    }
  }

  ~PgTxn() override {
    if (!done_) Rollback();
  }

  absl::Status LockKey(const std::string& key) override {
    // Advisory locks are re-entrant within a session. Taken out of the global order, so two
    // transactions can deadlock here: PostgreSQL detects it, and Transact retries the victim.
    return Write(absl::StrCat("SELECT pg_advisory_xact_lock(", LockId(key), ")"));
  }

  absl::StatusOr<std::optional<v1::SourceRecord>> GetRecord(const SourceId& id,
                                                            int64_t version) override {
    using Result = absl::StatusOr<std::optional<v1::SourceRecord>>;
    return Read(sql_.Execute(kGetRecord, id.org(), id.local_id(), version),
                [&](const pqxx::result& r) -> Result {
                  if (r.empty()) return std::optional<v1::SourceRecord>();
                  return ParseRecordRow(r[0], 0, version == 0);
                });
  }

  absl::StatusOr<std::vector<std::optional<v1::SourceRecord>>> GetRecords(
      const std::vector<SourceId>& ids) override {
    using Result = absl::StatusOr<std::vector<std::optional<v1::SourceRecord>>>;
    if (ids.empty()) return std::vector<std::optional<v1::SourceRecord>>();
    auto [orgs, local_ids] = OrgsAndLocalIds(ids);
    return Read(sql_.Execute(kGetRecords, TextArray(orgs), TextArray(local_ids)),
                [&](const pqxx::result& r) -> Result {
                  return ByPosition<std::optional<v1::SourceRecord>>(
                      r, ids.size(), [](const pqxx::row& row, auto& slot) -> absl::Status {
                        absl::StatusOr<v1::SourceRecord> record = ParseRecordRow(row, 1, true);
                        if (!record.ok()) return record.status();
                        slot = *std::move(record);
                        return absl::OkStatus();
                      });
                });
  }

  absl::StatusOr<int64_t> PutRecordVersion(const v1::SourceRecord& record,
                                           bool make_current) override {
    const std::string bytes = StoredRecord(record);
    return Read(
        sql_.Execute(kPutRecordVersion, record.source_id().org(), record.source_id().local_id(),
                     record.version(), Bytea{bytes}, Micros(record.source_event_time()),
                     Micros(record.record_time()), static_cast<int>(StateOf(record)),
                     record.superseded_by().org(), record.superseded_by().local_id(), make_current),
        [](const pqxx::result& r) -> absl::StatusOr<int64_t> {
          if (r.empty()) {
            return absl::FailedPreconditionError("record version is not the next version");
          }
          return r[0][0].as<int64_t>();
        });
  }

  absl::Status PutFirstVersions(const std::vector<v1::SourceRecord>& records) override {
    if (records.empty()) return absl::OkStatus();
    std::vector<std::string> orgs, local_ids, bytes, superseded_orgs, superseded_local_ids;
    std::vector<int64_t> event_times, record_times;
    std::vector<int> states;
    for (const v1::SourceRecord& record : records) {
      orgs.push_back(record.source_id().org());
      local_ids.push_back(record.source_id().local_id());
      event_times.push_back(Micros(record.source_event_time()));
      record_times.push_back(Micros(record.record_time()));
      bytes.push_back(absl::BytesToHexString(StoredRecord(record)));
      states.push_back(static_cast<int>(StateOf(record)));
      superseded_orgs.push_back(record.superseded_by().org());
      superseded_local_ids.push_back(record.superseded_by().local_id());
    }
    return Write(sql_.Execute(kPutFirstVersions, TextArray(orgs), TextArray(local_ids),
                              NumberArray(event_times), NumberArray(record_times), TextArray(bytes),
                              NumberArray(states), TextArray(superseded_orgs),
                              TextArray(superseded_local_ids)));
  }

  absl::Status SetRecordState(const SourceId& id, v1::RecordState state,
                              const SourceId& superseded_by) override {
    return Read(sql_.Execute(kSetRecordState, id.org(), id.local_id(), static_cast<int>(state),
                             superseded_by.org(), superseded_by.local_id()),
                [](const pqxx::result& r) -> absl::Status {
                  if (r.affected_rows() == 0) return absl::NotFoundError("source record not found");
                  return absl::OkStatus();
                });
  }

  absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) override {
    return Read(sql_.Execute(kRecordVersions, id.org(), id.local_id()),
                [](const pqxx::result& r) -> absl::StatusOr<std::vector<v1::SourceRecord>> {
                  std::vector<v1::SourceRecord> out(r.size());
                  for (size_t i = 0; i < r.size(); ++i) {
                    HIE_RETURN_IF_ERROR(Parse(r[i][1], &out[i]));
                    out[i].set_version(r[i][0].as<int64_t>());
                  }
                  return out;
                });
  }

  absl::StatusOr<std::string> NewPersonId() override {
    absl::StatusOr<int64_t> n = NextId(ids_.persons, kNextPerson);
    if (!n.ok()) return n.status();
    return absl::StrFormat("P%08d", *n);
  }

  absl::StatusOr<std::optional<v1::Person>> GetPerson(const std::string& person_id) override {
    using Result = absl::StatusOr<std::optional<v1::Person>>;
    return Read(sql_.Execute(kGetPerson, person_id), [](const pqxx::result& r) -> Result {
      if (r.empty()) return std::optional<v1::Person>();
      v1::Person person;
      HIE_RETURN_IF_ERROR(Parse(r[0][0], &person));
      for (const pqxx::row& row : r) {
        if (row[1].is_null()) continue;
        HIE_RETURN_IF_ERROR(Parse(row[1], person.add_links()));
      }
      return std::optional<v1::Person>(std::move(person));
    });
  }

  absl::Status PutPerson(const v1::Person& person) override {
    const std::string bytes = StoredPerson(person);
    return Write(sql_.Execute(kPutPerson, person.person_id(), static_cast<int>(person.state()),
                              person.merged_into_person_id(), person.etag(),
                              Micros(person.create_time()), Micros(person.update_time()),
                              Bytea{bytes}));
  }

  absl::Status PutPersons(const std::vector<v1::Person>& persons) override {
    if (persons.empty()) return absl::OkStatus();
    std::vector<std::string> ids, merged_into, etags, bytes;
    std::vector<int> states;
    std::vector<int64_t> create_times, update_times;
    for (const v1::Person& person : persons) {
      ids.push_back(person.person_id());
      states.push_back(static_cast<int>(person.state()));
      merged_into.push_back(person.merged_into_person_id());
      etags.push_back(person.etag());
      create_times.push_back(Micros(person.create_time()));
      update_times.push_back(Micros(person.update_time()));
      bytes.push_back(absl::BytesToHexString(StoredPerson(person)));
    }
    return Write(sql_.Execute(kPutPersons, TextArray(ids), NumberArray(states),
                              TextArray(merged_into), TextArray(etags), NumberArray(create_times),
                              NumberArray(update_times), TextArray(bytes)));
  }

  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    return Read(sql_.Execute(kGetLink, id.org(), id.local_id()), ParseOne<v1::Link>);
  }

  absl::StatusOr<std::vector<std::optional<v1::Link>>> GetLinks(
      const std::vector<SourceId>& ids) override {
    using Result = absl::StatusOr<std::vector<std::optional<v1::Link>>>;
    if (ids.empty()) return std::vector<std::optional<v1::Link>>();
    auto [orgs, local_ids] = OrgsAndLocalIds(ids);
    return Read(sql_.Execute(kGetLinks, TextArray(orgs), TextArray(local_ids)),
                [&](const pqxx::result& r) -> Result {
                  return ByPosition<std::optional<v1::Link>>(
                      r, ids.size(), [](const pqxx::row& row, auto& slot) {
                        return Parse(row[1], &slot.emplace());
                      });
                });
  }

  absl::Status PutLink(const v1::Link& link) override {
    const std::string bytes = link.SerializeAsString();
    return Write(sql_.Execute(kPutLink, link.source_id().org(), link.source_id().local_id(),
                              link.person_id(), static_cast<int>(link.method()), link.score(),
                              static_cast<int>(link.grade()), Micros(link.create_time()),
                              link.event_id(), Bytea{bytes}));
  }

  absl::Status PutLinks(const std::vector<v1::Link>& links) override {
    if (links.empty()) return absl::OkStatus();
    std::vector<std::string> orgs, local_ids, person_ids, event_ids, bytes;
    std::vector<int> methods, grades;
    std::vector<double> scores;
    std::vector<int64_t> create_times;
    for (const v1::Link& link : links) {
      orgs.push_back(link.source_id().org());
      local_ids.push_back(link.source_id().local_id());
      person_ids.push_back(link.person_id());
      methods.push_back(static_cast<int>(link.method()));
      scores.push_back(link.score());
      grades.push_back(static_cast<int>(link.grade()));
      create_times.push_back(Micros(link.create_time()));
      event_ids.push_back(link.event_id());
      bytes.push_back(absl::BytesToHexString(link.SerializeAsString()));
    }
    return Write(sql_.Execute(kPutLinks, TextArray(orgs), TextArray(local_ids),
                              TextArray(person_ids), NumberArray(methods), DoubleArray(scores),
                              NumberArray(grades), NumberArray(create_times), TextArray(event_ids),
                              TextArray(bytes)));
  }

  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    return Read(sql_.Execute(kLinksOf, person_id), ParseAll<v1::Link>);
  }

  absl::StatusOr<std::vector<std::vector<v1::Link>>> LinksOfPersons(
      const std::vector<std::string>& person_ids) override {
    using Result = absl::StatusOr<std::vector<std::vector<v1::Link>>>;
    if (person_ids.empty()) return std::vector<std::vector<v1::Link>>();
    return Read(
        sql_.Execute(kLinksOfPersons, TextArray(person_ids)), [&](const pqxx::result& r) -> Result {
          return ByPosition<std::vector<v1::Link>>(
              r, person_ids.size(),
              [](const pqxx::row& row, auto& slot) { return Parse(row[1], &slot.emplace_back()); });
        });
  }

  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsOf(const std::string& person_id) override {
    return Read(sql_.Execute(kLinkedRecordsOf, person_id), ParseLinkedRecords);
  }

  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsWith(const SourceId& id) override {
    return Read(sql_.Execute(kLinkedRecordsWith, id.org(), id.local_id()), ParseLinkedRecords);
  }

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    const std::string bytes = StoredEvent(*event);
    absl::StatusOr<int64_t> sequence = Read(
        sql_.Execute(kAppendEvent, static_cast<int>(event->type()), Nanos(event->event_time()),
                     Bytea{bytes}, TextArray(EventSubjects(*event))),
        [](const pqxx::result& r) -> absl::StatusOr<int64_t> { return r[0][0].as<int64_t>(); });
    if (sequence.ok()) {
      event->set_sequence(*sequence);
      event->set_event_id(EventId(*sequence));
    }
    return sequence;
  }

  absl::Status AppendEvents(const std::vector<v1::IdentityEvent*>& events) override {
    if (events.empty()) return absl::OkStatus();
    std::vector<int> types;
    std::vector<int64_t> times, subject_positions;
    std::vector<std::string> bytes, subjects;
    for (size_t i = 0; i < events.size(); ++i) {
      types.push_back(static_cast<int>(events[i]->type()));
      times.push_back(Nanos(events[i]->event_time()));
      bytes.push_back(absl::BytesToHexString(StoredEvent(*events[i])));
      for (std::string& subject : EventSubjects(*events[i])) {
        subjects.push_back(std::move(subject));
        subject_positions.push_back(static_cast<int64_t>(i) + 1);
      }
    }
    return Read(sql_.Execute(kAppendEvents, NumberArray(types), NumberArray(times),
                             TextArray(bytes), TextArray(subjects), NumberArray(subject_positions)),
                [&](const pqxx::result& r) -> absl::Status {
                  if (r.size() != events.size()) return absl::InternalError("events not appended");
                  for (const pqxx::row& row : r) {
                    const size_t i = row[0].as<size_t>() - 1;
                    if (i >= events.size()) return absl::InternalError("event position");
                    events[i]->set_sequence(row[1].as<int64_t>());
                    events[i]->set_event_id(EventId(events[i]->sequence()));
                  }
                  return absl::OkStatus();
                });
  }

  absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) override {
    using Result = absl::StatusOr<std::optional<v1::IdentityEvent>>;
    std::optional<int64_t> sequence = SequenceOfEventId(id);
    if (!sequence.has_value()) return std::optional<v1::IdentityEvent>();
    return Read(sql_.Execute(kGetEvent, *sequence), [&](const pqxx::result& r) -> Result {
      if (r.empty()) return std::optional<v1::IdentityEvent>();
      v1::IdentityEvent event;
      HIE_RETURN_IF_ERROR(Parse(r[0][0], &event));
      event.set_sequence(*sequence);
      event.set_event_id(id);
      return std::optional<v1::IdentityEvent>(std::move(event));
    });
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(const std::string& person_id,
                                                                   absl::Time as_of,
                                                                   int64_t after_sequence,
                                                                   int limit) override {
    return Read(
        sql_.Execute(kEventsAbout, PersonSubject(person_id), Nanos(as_of), after_sequence, limit),
        ParseEvents);
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                   absl::Time as_of,
                                                                   int64_t after_sequence,
                                                                   int limit) override {
    return Read(sql_.Execute(kEventsAbout, RecordSubject(id), Nanos(as_of), after_sequence, limit),
                ParseEvents);
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(
      int64_t after_sequence, int limit, const std::vector<int64_t>& missing) override {
    return Read(sql_.Execute(kEventsSince, after_sequence, limit,
                             absl::StrCat("{", absl::StrJoin(missing, ","), "}")),
                ParseEvents);
  }

  absl::StatusOr<int64_t> LastEventSequence() override {
    return Read(sql_.Execute(kLastEvent), [](const pqxx::result& r) -> absl::StatusOr<int64_t> {
      return r[0][0].as<int64_t>();
    });
  }

  absl::StatusOr<std::string> NewTaskId() override {
    absl::StatusOr<int64_t> n = NextId(ids_.tasks, kNextTask);
    if (!n.ok()) return n.status();
    return absl::StrFormat("T%08d", *n);
  }

  absl::Status PutTask(const v1::ReviewTask& task) override {
    const std::string bytes = task.SerializeAsString();
    return Write(sql_.Execute(
        kPutTask, task.task_id(), static_cast<int>(task.state()), task.left().source_id().org(),
        task.left().source_id().local_id(), task.right().source_id().org(),
        task.right().source_id().local_id(), task.left_person_id(), task.right_person_id(),
        task.explanation().total_score(), Nanos(task.create_time()), Bytea{bytes}));
  }

  absl::StatusOr<std::optional<v1::ReviewTask>> GetTask(const std::string& task_id) override {
    return Read(sql_.Execute(kGetTask, task_id), ParseOne<v1::ReviewTask>);
  }

  absl::StatusOr<std::vector<v1::ReviewTask>> ListTasks(const TaskFilter& filter) override {
    if (filter.limit <= 0) return std::vector<v1::ReviewTask>();
    const std::string name =
        ListTasksName(filter.order_by_score_desc, !filter.org.empty(), !filter.person_id.empty());
    return Read(sql_.Execute(name.c_str(), static_cast<int>(filter.state), filter.org,
                             filter.person_id, filter.limit, std::max(filter.offset, 0)),
                ParseAll<v1::ReviewTask>);
  }

  absl::StatusOr<int64_t> CountTasks(const TaskFilter& filter) override {
    const std::string name = CountTasksName(!filter.org.empty(), !filter.person_id.empty());
    return Read(
        sql_.Execute(name.c_str(), static_cast<int>(filter.state), filter.org, filter.person_id),
        [](const pqxx::result& r) -> absl::StatusOr<int64_t> { return r[0][0].as<int64_t>(); });
  }

  absl::StatusOr<std::vector<v1::ReviewTask>> OpenTasksWith(const SourceId& id) override {
    return Read(sql_.Execute(kOpenTasksWith, id.org(), id.local_id()), ParseAll<v1::ReviewTask>);
  }

  absl::Status PutNotAMatch(const v1::NotAMatch& decision) override {
    auto [lo, hi] = Ordered(decision.a(), decision.b());
    const std::string bytes = decision.SerializeAsString();
    return Write(sql_.Execute(kPutNotAMatch, lo->org(), lo->local_id(), hi->org(), hi->local_id(),
                              Micros(decision.create_time()), Bytea{bytes}));
  }

  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    auto [lo, hi] = Ordered(a, b);
    return Write(
        sql_.Execute(kRemoveNotAMatch, lo->org(), lo->local_id(), hi->org(), hi->local_id()));
  }

  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    return Read(sql_.Execute(kNotAMatchesOf, id.org(), id.local_id()), ParseAll<v1::NotAMatch>);
  }

  absl::StatusOr<std::vector<std::vector<v1::NotAMatch>>> NotAMatchesOfRecords(
      const std::vector<SourceId>& ids) override {
    using Result = absl::StatusOr<std::vector<std::vector<v1::NotAMatch>>>;
    if (ids.empty()) return std::vector<std::vector<v1::NotAMatch>>();
    auto [orgs, local_ids] = OrgsAndLocalIds(ids);
    return Read(sql_.Execute(kNotAMatchesOfRecords, TextArray(orgs), TextArray(local_ids)),
                [&](const pqxx::result& r) -> Result {
                  return ByPosition<std::vector<v1::NotAMatch>>(
                      r, ids.size(), [](const pqxx::row& row, auto& slot) {
                        return Parse(row[1], &slot.emplace_back());
                      });
                });
  }

  absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) override {
    using Result = absl::StatusOr<std::optional<StoredIdempotentResult>>;
    return Read(sql_.Execute(kGetIdempotent, key), [](const pqxx::result& r) -> Result {
      if (r.empty()) return std::optional<StoredIdempotentResult>();
      return std::optional<StoredIdempotentResult>(IdempotentOf(r[0], 0));
    });
  }

  absl::StatusOr<std::vector<std::optional<StoredIdempotentResult>>> GetIdempotents(
      const std::vector<std::string>& keys) override {
    using Result = absl::StatusOr<std::vector<std::optional<StoredIdempotentResult>>>;
    if (keys.empty()) return std::vector<std::optional<StoredIdempotentResult>>();
    return Read(sql_.Execute(kGetIdempotents, TextArray(keys)),
                [&](const pqxx::result& r) -> Result {
                  return ByPosition<std::optional<StoredIdempotentResult>>(
                      r, keys.size(), [](const pqxx::row& row, auto& slot) {
                        slot = IdempotentOf(row, 1);
                        return absl::OkStatus();
                      });
                });
  }

  absl::Status PutIdempotent(const std::string& key,
                             const StoredIdempotentResult& result) override {
    return Write(sql_.Execute(kPutIdempotent, key, result.request_fingerprint,
                              Bytea{result.response}, absl::ToUnixMicros(result.stored_at)));
  }

  absl::Status PutIdempotents(
      const std::vector<std::pair<std::string, StoredIdempotentResult>>& results) override {
    if (results.empty()) return absl::OkStatus();
    std::vector<std::string> keys, fingerprints, responses;
    std::vector<int64_t> times;
    for (const auto& [key, result] : results) {
      keys.push_back(key);
      fingerprints.push_back(result.request_fingerprint);
      responses.push_back(absl::BytesToHexString(result.response));
      times.push_back(absl::ToUnixMicros(result.stored_at));
    }
    return Write(sql_.Execute(kPutIdempotents, TextArray(keys), TextArray(fingerprints),
                              TextArray(responses), NumberArray(times)));
  }

  absl::StatusOr<int64_t> PurgeIdempotentBefore(absl::Time before, int limit) override {
    return Read(
        sql_.Execute(kPurgeIdempotent, absl::ToUnixMicros(before), limit),
        [](const pqxx::result& r) -> absl::StatusOr<int64_t> { return r[0][0].as<int64_t>(); });
  }

 private:
  // The next id of a sequence, from the ids reserved by this store; reserves a block when none
  // is left (sequences are not transactional: a reserved id is never handed out twice).
  absl::StatusOr<int64_t> NextId(IdBlocks::Reserve& reserve, const char* statement) {
    if (std::optional<int64_t> id = reserve.Take()) return *id;
    return Read(sql_.Execute(statement, IdBlocks::kBlock),
                [&](const pqxx::result& r) -> absl::StatusOr<int64_t> {
                  std::vector<int64_t> ids;
                  for (const pqxx::row& row : r) ids.push_back(row[0].as<int64_t>());
                  if (ids.empty()) return absl::InternalError("no id reserved");
                  int64_t first = ids.front();
                  reserve.Add(std::vector<int64_t>(ids.begin() + 1, ids.end()));
                  return first;
                });
  }

  std::string TakePending() {
    std::string batch = std::move(pending_);
    pending_.clear();
    return batch;
  }

  // Queues a statement whose answer is not needed.
  absl::Status Write(std::string sql) {
    if (failure_) return failure_status_;
    if (!read_prefix_.empty()) {
      return absl::FailedPreconditionError("write in a read-only store call");
    }
    if (std::exception_ptr error = sql_.TakeError()) return Fail(error);
    absl::StrAppend(&pending_, pending_.empty() ? "" : "; ", sql);
    wrote_ = true;
    return absl::OkStatus();
  }

  // Sends what is pending followed by `sql` (one round trip) and hands sql's result to `parse`.
  // A libpqxx exception aborts the PostgreSQL transaction, so the first one is kept: this and
  // every later call answer its status, and Transact rethrows it.
  template <typename Parse>
  auto Read(const std::string& sql, Parse&& parse) -> decltype(parse(pqxx::result())) {
    if (failure_) return failure_status_;
    if (std::exception_ptr error = sql_.TakeError()) return Fail(error);
    try {
      if (!read_prefix_.empty()) return parse(tx_.exec(absl::StrCat(read_prefix_, "; ", sql)));
      std::string batch = TakePending();
      absl::StrAppend(&batch, batch.empty() ? "" : "; ", sql);
      begun_ = true;
      return parse(tx_.exec(batch));
    } catch (...) {
      return Fail(std::current_exception());
    }
  }

  absl::Status Fail(std::exception_ptr error) {
    failure_ = error;
    try {
      std::rethrow_exception(error);
    } catch (...) {
      failure_status_ = pg::StatusFromCurrentException();
    }
    return failure_status_;
  }

  // What is stored of a record version, a person and an event (the columns hold the rest).
  static std::string StoredRecord(const v1::SourceRecord& record) {
    v1::SourceRecord stored = record;
    stored.clear_person_id();
    stored.clear_version();  // the version column is authoritative
    return stored.SerializeAsString();
  }
  static v1::RecordState StateOf(const v1::SourceRecord& record) {
    return record.state() == v1::RECORD_STATE_UNSPECIFIED ? v1::RECORD_STATE_ACTIVE
                                                          : record.state();
  }
  static std::string StoredPerson(const v1::Person& person) {
    v1::Person stored = person;
    stored.clear_links();
    stored.clear_golden_record();
    return stored.SerializeAsString();
  }
  static std::string StoredEvent(const v1::IdentityEvent& event) {
    v1::IdentityEvent stored = event;
    stored.clear_event_id();
    stored.clear_sequence();
    return stored.SerializeAsString();
  }
  // What an event is about, distinct and sorted (see migrations.cc, event_subjects).
  static std::vector<std::string> EventSubjects(const v1::IdentityEvent& event) {
    std::vector<std::string> subjects;
    for (const std::string* p : {&event.from_person_id(), &event.to_person_id()}) {
      if (!p->empty()) subjects.push_back(PersonSubject(*p));
    }
    for (const std::string& p : event.affected_person_ids()) {
      if (!p.empty()) subjects.push_back(PersonSubject(p));
    }
    for (const SourceId& id : event.source_ids()) subjects.push_back(RecordSubject(id));
    std::sort(subjects.begin(), subjects.end());
    subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
    return subjects;
  }

  // state, superseded_org, superseded_local_id in row[first..first+2].
  // A row of id_get_record whose columns start at `first`; `current` when the current version
  // was asked for (its state is the record's current state).
  static absl::StatusOr<v1::SourceRecord> ParseRecordRow(const pqxx::row& row, int first,
                                                         bool current) {
    v1::SourceRecord record;
    HIE_RETURN_IF_ERROR(Parse(row[first], &record));
    record.set_version(row[first + 6].as<int64_t>());
    if (current || row[first + 1].as<bool>()) SetCurrentState(row, first + 2, &record);
    if (!row[first + 5].is_null()) record.set_person_id(Text(row[first + 5]));
    return record;
  }

  static StoredIdempotentResult IdempotentOf(const pqxx::row& row, int first) {
    pqxx::binarystring response(row[first + 1]);
    return StoredIdempotentResult{Text(row[first]), response.str(),
                                  absl::FromUnixMicros(row[first + 2].as<int64_t>())};
  }

  // The answers of a batch read of `size` positions: each row starts with its position (the
  // WITH ORDINALITY column, 1-based), and `add(row, slot)` puts the row into that position's
  // answer.
  template <typename T, typename Add>
  static absl::StatusOr<std::vector<T>> ByPosition(const pqxx::result& r, size_t size, Add add) {
    std::vector<T> out(size);
    for (const pqxx::row& row : r) {
      const size_t i = row[0].as<size_t>() - 1;
      if (i >= size) return absl::InternalError("batch answer position out of range");
      HIE_RETURN_IF_ERROR(add(row, out[i]));
    }
    return out;
  }

  static std::pair<std::vector<std::string>, std::vector<std::string>> OrgsAndLocalIds(
      const std::vector<SourceId>& ids) {
    std::vector<std::string> orgs, local_ids;
    orgs.reserve(ids.size());
    local_ids.reserve(ids.size());
    for (const SourceId& id : ids) {
      orgs.push_back(id.org());
      local_ids.push_back(id.local_id());
    }
    return {std::move(orgs), std::move(local_ids)};
  }

  static void SetCurrentState(const pqxx::row& row, int first, v1::SourceRecord* record) {
    record->set_state(static_cast<v1::RecordState>(row[first].as<int>()));
    record->mutable_superseded_by()->set_org(Text(row[first + 1]));
    record->mutable_superseded_by()->set_local_id(Text(row[first + 2]));
  }

  template <typename M>
  static absl::StatusOr<std::vector<M>> ParseAll(const pqxx::result& r) {
    std::vector<M> out(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      HIE_RETURN_IF_ERROR(Parse(r[i][0], &out[i]));
    }
    return out;
  }

  template <typename M>
  static absl::StatusOr<std::optional<M>> ParseOne(const pqxx::result& r) {
    if (r.empty()) return std::optional<M>();
    M message;
    HIE_RETURN_IF_ERROR(Parse(r[0][0], &message));
    return std::optional<M>(std::move(message));
  }

  // Rows of (link, version, record, state, superseded_org, superseded_local_id).
  static absl::StatusOr<std::vector<LinkedRecord>> ParseLinkedRecords(const pqxx::result& r) {
    std::vector<LinkedRecord> out(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      HIE_RETURN_IF_ERROR(Parse(r[i][0], &out[i].link));
      if (!Parse(r[i][2], &out[i].record).ok()) {
        // The link still says where the record belongs: answer with what the columns hold.
        ReportCorruptRecord(out[i].link.source_id().org(), out[i].link.person_id(),
                            r[i][1].as<int64_t>(), "linked_records");
        out[i].record.Clear();
        *out[i].record.mutable_source_id() = out[i].link.source_id();
      }
      out[i].record.set_version(r[i][1].as<int64_t>());
      SetCurrentState(r[i], 3, &out[i].record);
      out[i].record.set_person_id(out[i].link.person_id());
    }
    return out;
  }

  // Rows of (sequence, event).
  static absl::StatusOr<std::vector<v1::IdentityEvent>> ParseEvents(const pqxx::result& r) {
    std::vector<v1::IdentityEvent> out(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      HIE_RETURN_IF_ERROR(Parse(r[i][1], &out[i]));
      int64_t sequence = r[i][0].as<int64_t>();
      out[i].set_sequence(sequence);
      out[i].set_event_id(EventId(sequence));
    }
    return out;
  }

  static std::pair<const SourceId*, const SourceId*> Ordered(const SourceId& a, const SourceId& b) {
    if (RecordKey(b) < RecordKey(a)) return {&b, &a};
    return {&a, &b};
  }

  pqxx::nontransaction tx_;  // statements only; BEGIN / COMMIT are sent explicitly
  Sql sql_;
  IdBlocks& ids_;
  const std::string read_prefix_;  // read-only: sent before every read
  std::string pending_;            // statements not sent yet, separated by "; "
  bool begun_ = false;             // BEGIN was sent
  bool wrote_ = false;             // a write was queued
  bool done_ = false;              // COMMIT or ROLLBACK was sent (or nothing needed to be)
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

PgIdentityStore::PgIdentityStore(pg::PgPool* pool, PgIdentityStoreOptions options)
    : pool_(pool), options_(options), ids_(std::make_unique<IdBlocks>()) {}

PgIdentityStore::~PgIdentityStore() = default;

void PgIdentityStore::PrepareStatements(pqxx::connection& conn) {
  pg::PrepareStatements(conn, "", Statements());
}

void PgIdentityStore::EnsurePrepared(pqxx::connection& conn) {
  prepared_.Ensure(conn, &PrepareStatements);
}

absl::Status PgIdentityStore::Transact(absl::Time deadline,
                                       const std::vector<std::string>& lock_keys, const TxnFn& fn) {
  for (int attempt = 0;; ++attempt) {
    bool database_error = false;  // as opposed to a status fn returned on its own
    absl::Status status =
        pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) -> absl::Status {
          EnsurePrepared(conn);
          for (bool prepared = false;; prepared = true) {
            database_error = false;
            absl::Status s;
            std::exception_ptr failure;
            {
              PgTxn txn(conn, BeginSql(timeout_ms, lock_keys), *ids_);
              s = fn(txn);
              failure = txn.failure();
              if (failure == nullptr && s.ok()) {
                try {
                  txn.Commit();
                } catch (...) {
                  database_error = true;
                  throw;  // the pool maps it
                }
                return absl::OkStatus();
              }
              txn.Rollback();
            }
            if (failure == nullptr) return s;
            // A connection's first use: prepare the statements and run fn again.
            if (!prepared && IsMissingPreparedStatement(failure)) {
              PrepareStatements(conn);
              continue;
            }
            database_error = true;
            std::rethrow_exception(failure);  // the pool maps it
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

absl::Status PgIdentityStore::Read(absl::Time deadline, const TxnFn& fn) {
  return pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) {
    EnsurePrepared(conn);
    // Statements are queries of their own, in implicit transactions, so SET LOCAL applies to
    // the one statement after it.
    PgTxn txn(conn, PgTxn::ReadOnly{absl::StrCat("SET LOCAL statement_timeout = ", timeout_ms)},
              *ids_);
    absl::Status s = fn(txn);
    if (txn.failure()) std::rethrow_exception(txn.failure());  // the pool maps it
    return s;
  });
}

int64_t PgIdentityStore::CorruptRowsSeen() { return corrupt_rows.load(); }

absl::Status PgIdentityStore::ScanActiveRecords(
    absl::Time deadline, const std::function<void(const v1::SourceRecord&)>& fn) {
  std::string last_org, last_local_id;
  std::vector<v1::SourceRecord> batch;
  for (bool first = true;; first = false) {
    batch.clear();
    size_t scanned = 0;
    absl::Status status =
        pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) -> absl::Status {
          batch.clear();
          EnsurePrepared(conn);
          Sql sql(conn);
          // One query, in an implicit transaction (so SET LOCAL applies to it). A batch's
          // estimated cost (LIMIT over a large table) would trigger JIT compilation, which costs
          // more than the batch itself: it is turned off for this query only.
          const std::string query = absl::StrCat(
              "SET LOCAL statement_timeout = ", timeout_ms, "; SET LOCAL jit = off; ",
              first ? sql.Execute(kScanFirst, options_.scan_batch_size)
                    : sql.Execute(kScanNext, last_org, last_local_id, options_.scan_batch_size));
          pqxx::result r;
          try {
            r = pqxx::nontransaction(conn).exec(query);
          } catch (const pqxx::sql_error& e) {
            if (e.sqlstate() != "26000") throw;
            PrepareStatements(conn);
            r = pqxx::nontransaction(conn).exec(query);
          }
          batch.reserve(r.size());
          for (size_t i = 0; i < r.size(); ++i) {
            // A row that cannot be read is reported and left out: the rest is served.
            v1::SourceRecord record;
            if (r[i][2].is_null() || !Parse(r[i][2], &record).ok()) {
              ReportCorruptRecord(Text(r[i][0]), r[i][3].is_null() ? "" : Text(r[i][3]),
                                  r[i][4].as<int64_t>(), "scan_active_records");
              continue;
            }
            record.set_version(r[i][4].as<int64_t>());
            record.set_state(v1::RECORD_STATE_ACTIVE);
            if (!r[i][3].is_null()) record.set_person_id(Text(r[i][3]));
            batch.push_back(std::move(record));
          }
          scanned = r.size();
          if (!r.empty()) {
            last_org = Text(r[r.size() - 1][0]);
            last_local_id = Text(r[r.size() - 1][1]);
          }
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
    for (const v1::SourceRecord& record : batch) fn(record);
    if (static_cast<int>(scanned) < options_.scan_batch_size) return absl::OkStatus();
  }
}

}  // namespace hie::identity
