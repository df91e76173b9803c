// About 890 lines: the one adapter of the AuditStore port, kept whole so that every SQL statement
// it sends (append, scan, search, retention) can be reviewed in one file; the pieces are
// separated by banners (literals, row reading, partitions, append, transaction, search, scanning
// the chain, store).

#include "services/audit/store/pg_audit_store.h"

#include <array>
#include <exception>
#include <limits>
#include <optional>
#include <pqxx/binarystring>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/stream_to>
#include <pqxx/transaction>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "services/common/logging.h"
#include "services/common/pg/binary_copy.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

// The transaction-scoped advisory lock under which partitions are created and dropped.
constexpr int64_t kPartitionLock = 0x6175646974706172;  // "auditpar"

// ---------------------------------------------------------------------------------------------
// Literals. Statements travel as simple-protocol text so that several share one round trip;
// values are quoted by libpq (text) or are digits / hex digits formatted here.
// ---------------------------------------------------------------------------------------------

constexpr char kHexDigits[] = "0123456789abcdef";

std::string Hex(absl::string_view bytes) {
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHexDigits[b >> 4];
    out[2 * i + 1] = kHexDigits[b & 15];
  }
  return out;
}

// A bytea value as an SQL expression.
std::string ByteaLiteral(absl::string_view bytes) {
  return absl::StrCat("decode('", Hex(bytes), "', 'hex')");
}

// A text[] literal: elements quoted for the array syntax, the whole quoted by libpq.
std::string TextArray(const pqxx::transaction_base& tx, const std::vector<std::string>& items) {
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
  return absl::StrCat(tx.quote(out), "::text[]");
}

// PostgreSQL text cannot hold a NUL byte (and libpq would cut the statement there).
absl::Status CheckText(std::initializer_list<absl::string_view> values) {
  for (absl::string_view v : values) {
    if (v.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError("audit store: a text field holds a NUL byte");
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Reading rows
// ---------------------------------------------------------------------------------------------

constexpr std::array<int8_t, 256> kNibbles = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(i);
  for (int i = 0; i < 6; ++i) t['a' + i] = t['A' + i] = static_cast<int8_t>(10 + i);
  return t;
}();

// A bytea field's value (hex output, or libpq's unescaping for the old escape format); false
// when NULL or malformed.
bool ReadBytes(const pqxx::field& field, std::string* out) {
  if (field.is_null()) return false;
  const char* p = field.c_str();
  size_t n = field.size();
  if (n >= 2 && p[0] == '\\' && p[1] == 'x') {
    if (n % 2 != 0) return false;
    out->resize((n - 2) / 2);
    for (size_t i = 0; i < out->size(); ++i) {
      int hi = kNibbles[static_cast<unsigned char>(p[2 + 2 * i])];
      int lo = kNibbles[static_cast<unsigned char>(p[3 + 2 * i])];
      if (hi < 0 || lo < 0) return false;
      (*out)[i] = static_cast<char>((hi << 4) | lo);
    }
    return true;
  }
  pqxx::binarystring bytes(field);
  out->assign(bytes.str());
  return true;
}

bool ReadInt(const pqxx::field& field, int64_t* out) {
  return !field.is_null() && absl::SimpleAtoi(absl::string_view(field.c_str(), field.size()), out);
}

std::string Text(const pqxx::field& field) { return std::string(field.c_str(), field.size()); }

absl::Status Unreadable(absl::string_view what, int64_t sequence) {
  return absl::DataLossError(
      absl::StrCat("audit store: stored ", what, " at sequence ", sequence, " cannot be read"));
}

google::protobuf::Timestamp TimestampOf(int64_t nanos) {
  google::protobuf::Timestamp t;
  int64_t seconds = nanos / 1'000'000'000;
  int64_t rest = nanos % 1'000'000'000;
  if (rest < 0) rest += 1'000'000'000, --seconds;
  t.set_seconds(seconds);
  t.set_nanos(static_cast<int32_t>(rest));
  return t;
}

absl::Time TimeOf(int64_t nanos) { return absl::FromUnixNanos(nanos); }

// Columns: sequence, hash, record_time_ns.
absl::StatusOr<ChainHead> ReadHead(const pqxx::result& r) {
  if (r.size() != 1) return absl::DataLossError("audit store: the head row is missing");
  ChainHead head;
  int64_t record_time_ns = 0;
  if (!ReadInt(r[0][0], &head.sequence) || !ReadBytes(r[0][1], &head.hash) ||
      !ReadInt(r[0][2], &record_time_ns)) {
    return absl::DataLossError("audit store: the head row cannot be read");
  }
  head.record_time = TimeOf(record_time_ns);
  return head;
}

// Columns: sequence, encoding, hash, previous_hash (from column `first`).
absl::Status ReadChainRow(const pqxx::row& row, int first, ChainRow* out) {
  if (!ReadInt(row[first], &out->sequence)) return Unreadable("event", -1);
  if (!ReadBytes(row[first + 1], &out->encoding) || !ReadBytes(row[first + 2], &out->hash) ||
      !ReadBytes(row[first + 3], &out->previous_hash)) {
    return Unreadable("event", out->sequence);
  }
  return absl::OkStatus();
}

bool ReadBinaryBytes(const std::optional<absl::string_view>& field, std::string* out) {
  if (!field) return false;
  out->assign(field->data(), field->size());
  return true;
}

// Binary COPY fields (sequence, encoding, hash, previous_hash, record_time_ns). The sequence is
// set first when readable (else -1), so that an error can name it.
bool ReadBinaryRow(const pg::CopyFields& f, ChainRow* row, int64_t* record_time_ns) {
  row->sequence = -1;
  if (f.size() != 5 || !pg::CopyBigint(f[0], &row->sequence)) return false;
  return ReadBinaryBytes(f[1], &row->encoding) && ReadBinaryBytes(f[2], &row->hash) &&
         ReadBinaryBytes(f[3], &row->previous_hash) && pg::CopyBigint(f[4], record_time_ns);
}

// Columns: checkpoint, sequence.
absl::StatusOr<std::vector<v1::Checkpoint>> ReadCheckpoints(const pqxx::result& r) {
  std::vector<v1::Checkpoint> out;
  out.reserve(r.size());
  std::string bytes;
  for (const pqxx::row& row : r) {
    int64_t sequence = -1;
    ReadInt(row[1], &sequence);
    v1::Checkpoint checkpoint;
    if (!ReadBytes(row[0], &bytes) || !checkpoint.ParseFromString(bytes)) {
      return Unreadable("checkpoint", sequence);
    }
    out.push_back(std::move(checkpoint));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Partitions
// ---------------------------------------------------------------------------------------------

int64_t MonthOf(int64_t nanos) { return absl::ToUnixNanos(MonthStart(TimeOf(nanos))); }
int64_t NextMonth(int64_t month) {
  return absl::ToUnixNanos(MonthStart(TimeOf(month) + absl::Hours(24 * 32)));
}
std::string MonthSuffix(int64_t month) {
  return absl::FormatTime("%Y%m", TimeOf(month), absl::UTCTimeZone());
}

// Takes the partition lock and creates the partitions of `months` that do not exist.
std::string CreatePartitionsSql(const std::set<int64_t>& months) {
  std::string sql = absl::StrCat("SET LOCAL client_min_messages = warning; ",
                                 "SELECT pg_advisory_xact_lock(", kPartitionLock, ")");
  for (int64_t month : months) {
    for (const char* table : {"events", "event_patients"}) {
      absl::StrAppend(&sql, "; CREATE TABLE IF NOT EXISTS audit.", table, "_", MonthSuffix(month),
                      " PARTITION OF audit.", table, " FOR VALUES FROM (", month, ") TO (",
                      NextMonth(month), ")");
    }
  }
  return sql;
}

// The month start of a partition named events_YYYYMM, if the name is one.
std::optional<int64_t> MonthOfPartition(absl::string_view name) {
  int year = 0, month = 0;
  if (name.size() != 13 || name.substr(0, 7) != "events_" ||
      !absl::SimpleAtoi(name.substr(7, 4), &year) ||
      !absl::SimpleAtoi(name.substr(11, 2), &month) || month < 1 || month > 12) {
    return std::nullopt;
  }
  return absl::ToUnixNanos(absl::FromCivil(absl::CivilMonth(year, month), absl::UTCTimeZone()));
}

// ---------------------------------------------------------------------------------------------
// Append
// ---------------------------------------------------------------------------------------------

// The rows of a batch as COPY FROM STDIN sends them (libpqxx's stream_to escapes each field of a
// tuple for the text format; a bytea goes as its hex input form "\\x..."): cheaper for the
// server than one INSERT of unnested arrays, which it had to parse, unnest and buffer first.
std::string HexBytea(absl::string_view bytes) { return absl::StrCat("\\x", Hex(bytes)); }

// Checks what goes into text columns, then copies the batch into events, event_ids and
// event_patients (one COPY each).
absl::Status CopyBatch(pqxx::work& tx, const std::vector<NewEvent>& events) {
  for (const NewEvent& n : events) {
    const v1::AuditEvent& e = n.event;
    HIE_RETURN_IF_ERROR(CheckText(
        {e.event_id(), e.actor().org(), e.actor().user_id(), e.custodian_org(), e.request_id()}));
    for (const SourceId& p : e.patients()) HIE_RETURN_IF_ERROR(CheckText({p.org(), p.local_id()}));
  }
  {
    pqxx::stream_to copy(
        tx, "audit.events",
        std::vector<std::string>{"sequence", "event_id", "record_time_ns", "event_time_ns", "type",
                                 "outcome", "purpose", "actor_org", "actor_user_id",
                                 "custodian_org", "request_id", "break_glass", "encoding", "hash",
                                 "previous_hash", "fingerprint"});
    for (const NewEvent& n : events) {
      const v1::AuditEvent& e = n.event;
      copy << std::make_tuple(
          absl::StrCat(e.sequence()), e.event_id(), absl::StrCat(TimestampNanos(e.record_time())),
          absl::StrCat(TimestampNanos(e.event_time())), absl::StrCat(static_cast<int>(e.type())),
          absl::StrCat(static_cast<int>(e.outcome())),
          absl::StrCat(static_cast<int>(e.purpose_of_use())), e.actor().org(), e.actor().user_id(),
          e.custodian_org(), e.request_id(), e.break_glass_id().empty() ? "f" : "t",
          HexBytea(n.encoding), HexBytea(e.hash()), HexBytea(e.previous_hash()),
          HexBytea(n.fingerprint));
    }
    copy.complete();
  }
  {
    pqxx::stream_to copy(
        tx, "audit.event_ids",
        std::vector<std::string>{"event_id", "sequence", "hash", "record_time_ns", "fingerprint"});
    for (const NewEvent& n : events) {
      const v1::AuditEvent& e = n.event;
      copy << std::make_tuple(e.event_id(), absl::StrCat(e.sequence()), HexBytea(e.hash()),
                              absl::StrCat(TimestampNanos(e.record_time())),
                              HexBytea(n.fingerprint));
    }
    copy.complete();
  }
  {
    pqxx::stream_to copy(
        tx, "audit.event_patients",
        std::vector<std::string>{"org", "local_id", "event_time_ns", "sequence", "record_time_ns"});
    for (const NewEvent& n : events) {
      const v1::AuditEvent& e = n.event;
      for (const SourceId& p : e.patients()) {
        copy << std::make_tuple(p.org(), p.local_id(), absl::StrCat(TimestampNanos(e.event_time())),
                                absl::StrCat(e.sequence()),
                                absl::StrCat(TimestampNanos(e.record_time())));
      }
    }
    copy.complete();
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The transaction
// ---------------------------------------------------------------------------------------------

class PgTxn : public AuditTxn {
 public:
  // `known_months`: partitions known to exist when the transaction began.
  PgTxn(pqxx::work& tx, int64_t timeout_ms, std::set<int64_t> known_months)
      : tx_(tx),
        prefix_(absl::StrCat("SET LOCAL statement_timeout = ", timeout_ms)),
        known_months_(std::move(known_months)) {}

  // The first database exception, if any (the transaction is then unusable).
  std::exception_ptr failure() const { return failure_; }
  // Months whose partitions this transaction created (known once it commits).
  const std::set<int64_t>& created_months() const { return created_months_; }

  absl::StatusOr<ChainHead> LockHead() override {
    HIE_ASSIGN_OR_RETURN(pqxx::result r,
                         Exec("SELECT sequence, hash, record_time_ns FROM audit.head FOR UPDATE"));
    HIE_ASSIGN_OR_RETURN(ChainHead head, ReadHead(r));
    head_ = head;
    return head;
  }

  absl::StatusOr<std::map<std::string, ExistingEvent>> FindEvents(
      const std::vector<std::string>& event_ids) override {
    std::map<std::string, ExistingEvent> found;
    if (event_ids.empty()) return found;
    for (const std::string& id : event_ids) HIE_RETURN_IF_ERROR(CheckText({id}));
    // One probe of the primary key per id, always (LIMIT 1 keeps the subquery a parameterised
    // index scan). `event_id = ANY(ids)` left the choice to the planner, which took a group of a
    // few thousand ids against a log of up to about a million events for a parallel sequential
    // scan of the whole table, with workers forked per group, inside the commit's serial part:
    // 70-86 ms against 5-10 ms for 4,000 ids in 600,000 events.
    HIE_ASSIGN_OR_RETURN(
        pqxx::result r,
        Exec(absl::StrCat("SELECT e.event_id, e.sequence, e.hash, e.record_time_ns, e.fingerprint"
                          " FROM unnest(",
                          TextArray(tx_, event_ids),
                          ") AS i(id) CROSS JOIN LATERAL (SELECT * FROM audit.event_ids"
                          " WHERE event_id = i.id LIMIT 1) e")));
    for (const pqxx::row& row : r) {
      ExistingEvent e;
      int64_t record_time_ns = 0;
      if (!ReadInt(row[1], &e.sequence) || !ReadBytes(row[2], &e.hash) ||
          !ReadInt(row[3], &record_time_ns) || !ReadBytes(row[4], &e.fingerprint)) {
        return Unreadable("event id", e.sequence);
      }
      e.record_time = TimeOf(record_time_ns);
      found.emplace(Text(row[0]), std::move(e));
    }
    return found;
  }

  absl::Status Append(const std::vector<NewEvent>& events) override {
    if (events.empty()) return absl::OkStatus();
    if (!head_) HIE_RETURN_IF_ERROR(LockHead().status());
    HIE_RETURN_IF_ERROR(CheckContinues(*head_, events));
    HIE_RETURN_IF_ERROR(WriteRows(events));
    return MoveHead(events.back().event);
  }

  absl::Status AppendExpecting(const ChainHead& expected, const std::vector<NewEvent>& events,
                               const std::function<void()>& written,
                               const std::function<void()>& locked) override {
    if (events.empty()) return absl::OkStatus();
    HIE_RETURN_IF_ERROR(CheckContinues(expected, events));
    if (!prefix_.empty()) HIE_RETURN_IF_ERROR(Exec("SELECT 1").status());  // the timeout first
    HIE_RETURN_IF_ERROR(WriteRows(events));
    written();
    const std::optional<ChainHead> held = head_;
    HIE_ASSIGN_OR_RETURN(ChainHead head, held ? *held : LockHead());
    locked();
    if (head.sequence != expected.sequence || head.hash != expected.hash) {
      return absl::AbortedError("the head is not the one expected");
    }
    return MoveHead(events.back().event);
  }

  absl::StatusOr<int64_t> GetPosition(const std::string& feed) override {
    HIE_RETURN_IF_ERROR(CheckText({feed}));
    HIE_ASSIGN_OR_RETURN(
        pqxx::result r,
        Exec(absl::StrCat("SELECT position FROM audit.positions WHERE feed = ", tx_.quote(feed))));
    int64_t position = 0;
    if (!r.empty() && !ReadInt(r[0][0], &position)) {
      return absl::DataLossError("audit store: a stored position cannot be read");
    }
    return position;
  }

  absl::Status SetPosition(const std::string& feed, int64_t position) override {
    HIE_RETURN_IF_ERROR(CheckText({feed}));
    return Exec(absl::StrCat("INSERT INTO audit.positions (feed, position) VALUES (",
                             tx_.quote(feed), ", ", position,
                             ") ON CONFLICT (feed) DO UPDATE SET position = EXCLUDED.position"))
        .status();
  }

 private:
  // Sends `sql` (with the statement timeout when it is the first); a database error poisons
  // the transaction: this and every later call answer it.
  absl::StatusOr<pqxx::result> Exec(const std::string& sql) {
    pqxx::result r;
    HIE_RETURN_IF_ERROR(Guard([&] {
      r = prefix_.empty() ? tx_.exec(sql)
                          : tx_.exec(absl::StrCat(std::exchange(prefix_, ""), "; ", sql));
      return absl::OkStatus();
    }));
    return r;
  }
  // Runs `work` on the transaction unless it already failed; a database exception poisons it.
  absl::Status Guard(const std::function<absl::Status()>& work) {
    if (failure_ != nullptr) return failure_status_;
    try {
      return work();
    } catch (...) {
      failure_ = std::current_exception();
      failure_status_ = pg::StatusFromCurrentException();
      return failure_status_;
    }
  }

  static absl::Status CheckContinues(const ChainHead& head, const std::vector<NewEvent>& events) {
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].event.sequence() != head.sequence + 1 + static_cast<int64_t>(i)) {
        return absl::FailedPreconditionError("append does not continue the head");
      }
    }
    return absl::OkStatus();
  }

  // The rows of `events` (creating the partitions of months not seen yet).
  absl::Status WriteRows(const std::vector<NewEvent>& events) {
    std::set<int64_t> new_months;
    for (const NewEvent& n : events) {
      const int64_t month = MonthOf(TimestampNanos(n.event.record_time()));
      if (!known_months_.count(month)) new_months.insert(month);
    }
    if (!new_months.empty()) HIE_RETURN_IF_ERROR(Exec(CreatePartitionsSql(new_months)).status());
    HIE_RETURN_IF_ERROR(Guard([&] { return CopyBatch(tx_, events); }));
    known_months_.insert(new_months.begin(), new_months.end());
    created_months_.insert(new_months.begin(), new_months.end());
    return absl::OkStatus();
  }

  // Moves the (locked) head to `last`.
  absl::Status MoveHead(const v1::AuditEvent& last) {
    const int64_t record_time = TimestampNanos(last.record_time());
    HIE_RETURN_IF_ERROR(Exec(absl::StrCat("UPDATE audit.head SET sequence = ", last.sequence(),
                                          ", hash = ", ByteaLiteral(last.hash()),
                                          ", record_time_ns = ", record_time))
                            .status());
    head_ = ChainHead{last.sequence(), last.hash(), TimeOf(record_time)};
    return absl::OkStatus();
  }

  pqxx::work& tx_;
  std::string prefix_;
  std::set<int64_t> known_months_;
  std::set<int64_t> created_months_;
  std::optional<ChainHead> head_;
  std::exception_ptr failure_;
  absl::Status failure_status_;
};

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

template <typename T>
std::string InList(const std::vector<T>& values) {
  std::vector<int> numbers(values.begin(), values.end());
  return absl::StrCat(" IN (", absl::StrJoin(numbers, ","), ")");
}

// The conditions on audit.events `e` other than patients and times.
std::string EventFilters(const pqxx::transaction_base& tx, const EventQuery& q) {
  std::string sql;
  if (!q.actor_org.empty()) absl::StrAppend(&sql, " AND e.actor_org = ", tx.quote(q.actor_org));
  if (!q.actor_user_id.empty()) {
    absl::StrAppend(&sql, " AND e.actor_user_id = ", tx.quote(q.actor_user_id));
  }
  if (!q.custodian_org.empty()) {
    absl::StrAppend(&sql, " AND e.custodian_org = ", tx.quote(q.custodian_org));
  }
  if (!q.request_id.empty()) absl::StrAppend(&sql, " AND e.request_id = ", tx.quote(q.request_id));
  if (!q.types.empty()) absl::StrAppend(&sql, " AND e.type", InList(q.types));
  if (!q.outcomes.empty()) absl::StrAppend(&sql, " AND e.outcome", InList(q.outcomes));
  if (!q.purposes.empty()) absl::StrAppend(&sql, " AND e.purpose", InList(q.purposes));
  if (q.break_glass_only) sql += " AND e.break_glass";
  return sql;
}

// Event time range and paging position on table alias `a`.
std::string TimeFilters(const EventQuery& q, absl::string_view a) {
  std::string sql =
      absl::StrCat(a, ".event_time_ns >= ", absl::ToUnixNanos(q.event_time_start), " AND ", a,
                   ".event_time_ns < ", absl::ToUnixNanos(q.event_time_end));
  if (q.before) {
    absl::StrAppend(&sql, " AND (", a, ".event_time_ns, ", a, ".sequence) < (", q.before->first,
                    ", ", q.before->second, ")");
  }
  return sql;
}

std::string SearchStatement(const pqxx::transaction_base& tx, const EventQuery& q) {
  const std::string order =
      absl::StrCat(" ORDER BY e.event_time_ns DESC, e.sequence DESC LIMIT ", std::max(0, q.limit));
  const char* columns = "SELECT e.sequence, e.encoding, e.hash, e.previous_hash";
  if (q.patients.empty()) {
    return absl::StrCat(columns, " FROM audit.events e WHERE ", TimeFilters(q, "e"),
                        EventFilters(tx, q), order);
  }
  // The person's events through event_patients (an event naming two of its source ids once).
  std::string keys;
  for (const SourceId& p : q.patients) {
    absl::StrAppend(&keys, keys.empty() ? "(" : ", (", tx.quote(p.org()), ", ",
                    tx.quote(p.local_id()), ")");
  }
  return absl::StrCat(columns,
                      " FROM (SELECT DISTINCT p.sequence, p.record_time_ns"
                      " FROM audit.event_patients p WHERE (p.org, p.local_id) IN (",
                      keys, ") AND ", TimeFilters(q, "p"),
                      ") p JOIN audit.events e ON e.sequence = p.sequence"
                      " AND e.record_time_ns = p.record_time_ns WHERE true",
                      EventFilters(tx, q), order);
}

absl::Status CheckQueryText(const EventQuery& q) {
  HIE_RETURN_IF_ERROR(CheckText({q.actor_org, q.actor_user_id, q.custodian_org, q.request_id}));
  for (const SourceId& p : q.patients) HIE_RETURN_IF_ERROR(CheckText({p.org(), p.local_id()}));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Scanning the chain
// ---------------------------------------------------------------------------------------------

absl::Status InReadTransaction(pg::CopyOutConnection& conn, absl::Time deadline,
                               const std::function<absl::Status()>& work) {
  int64_t timeout_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  if (timeout_ms < 1) return absl::DeadlineExceededError("audit store: deadline passed");
  if (timeout_ms > std::numeric_limits<int32_t>::max()) timeout_ms = 0;  // none (as the pool)
  // A chunk's estimated cost would trigger JIT compilation, costlier than the chunk.
  HIE_RETURN_IF_ERROR(conn.Exec(absl::StrCat(
      "BEGIN READ ONLY; SET LOCAL statement_timeout = ", timeout_ms, "; SET LOCAL jit = off")));
  absl::Status status = work();
  absl::Status end = conn.Exec(status.ok() ? "COMMIT" : "ROLLBACK");
  return status.ok() ? end : status;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PgAuditStore>> PgAuditStore::Create(pg::PgPool* pool, absl::Time now,
                                                                   absl::Time deadline,
                                                                   PgAuditStoreOptions options) {
  if (pool == nullptr) return absl::InvalidArgumentError("pool is required");
  if (options.scan_chunk_rows < 1) {
    return absl::InvalidArgumentError("scan_chunk_rows must be at least 1");
  }
  auto store = std::unique_ptr<PgAuditStore>(new PgAuditStore(pool, options));
  HIE_RETURN_IF_ERROR(store->EnsureMonths({now, MonthStart(now) + absl::Hours(24 * 32)}, deadline));
  return store;
}

absl::Status PgAuditStore::EnsureMonths(const std::vector<absl::Time>& times, absl::Time deadline) {
  std::set<int64_t> months;
  {
    std::lock_guard lock(mu_);
    for (absl::Time t : times) {
      int64_t month = absl::ToUnixNanos(MonthStart(t));
      if (!known_months_.count(month)) months.insert(month);
    }
  }
  if (months.empty()) return absl::OkStatus();
  HIE_RETURN_IF_ERROR(
      pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) -> absl::Status {
        pqxx::work tx(conn);
        tx.exec(absl::StrCat("SET LOCAL statement_timeout = ", timeout_ms, "; ",
                             CreatePartitionsSql(months)));
        tx.commit();
        return absl::OkStatus();
      }));
  std::lock_guard lock(mu_);
  known_months_.insert(months.begin(), months.end());
  return absl::OkStatus();
}

absl::Status PgAuditStore::Transact(absl::Time deadline,
                                    const std::function<absl::Status(AuditTxn&)>& work) {
  for (int attempt = 0;; ++attempt) {
    bool database_error = false;  // as opposed to a status work returned on its own
    std::set<int64_t> created;
    std::set<int64_t> known;
    {
      std::lock_guard lock(mu_);
      known = known_months_;
    }
    absl::Status status =
        pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) -> absl::Status {
          database_error = true;  // until work runs: BEGIN failing is the database's
          pqxx::work tx(conn);
          PgTxn txn(tx, timeout_ms, known);
          database_error = false;
          absl::Status s = work(txn);
          if (txn.failure() != nullptr) {
            database_error = true;
            std::rethrow_exception(txn.failure());  // the pool maps it (and the txn aborts)
          }
          if (!s.ok()) return s;  // ~work rolls back
          database_error = true;
          tx.commit();
          created = txn.created_months();
          return absl::OkStatus();
        });
    if (status.ok()) {
      std::lock_guard lock(mu_);
      known_months_.insert(created.begin(), created.end());
    }
    if (status.code() != absl::StatusCode::kAborted || !database_error ||
        attempt >= options_.max_retries || absl::Now() >= deadline) {
      return status;
    }
    Log(LogLevel::kInfo, "audit_txn_retry", {{"attempt", attempt + 1}});
    absl::SleepFor(std::min(absl::Milliseconds(2 << attempt), deadline - absl::Now()));
  }
}

absl::Status PgAuditStore::Query(absl::Time deadline, const std::string& sql,
                                 const std::function<absl::Status(const pqxx::result&)>& read) {
  return pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) {
    // One query in an implicit transaction, so SET LOCAL applies to it alone.
    pqxx::nontransaction tx(conn);
    return read(tx.exec(absl::StrCat("SET LOCAL statement_timeout = ", timeout_ms, "; ", sql)));
  });
}

absl::StatusOr<ChainHead> PgAuditStore::Head(absl::Time deadline) {
  absl::StatusOr<ChainHead> head;
  HIE_RETURN_IF_ERROR(Query(deadline, "SELECT sequence, hash, record_time_ns FROM audit.head",
                            [&](const pqxx::result& r) {
                              head = ReadHead(r);
                              return absl::OkStatus();
                            }));
  return head;
}

absl::Status PgAuditStore::ScanChain(int64_t from, int64_t to, absl::Time deadline,
                                     const std::function<absl::Status(const ChainRow&)>& visit) {
  if (from > to) return absl::OkStatus();
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<pg::CopyOutConnection> conn, TakeScanConnection());
  std::optional<std::pair<int64_t, int64_t>> last;  // (sequence, record_time_ns) read last
  ChainRow row;  // reused: its strings keep their capacity from row to row
  for (;;) {
    size_t fetched = 0;
    std::optional<int64_t> unreadable;  // the sequence of a row that cannot be read
    absl::Status visited;               // visit's first error
    const std::string where =
        last ? absl::StrCat("(sequence, record_time_ns) > (", last->first, ", ", last->second, ")")
             : absl::StrCat("sequence >= ", from);
    absl::Status read = InReadTransaction(*conn, deadline, [&] {
      return conn->CopyOut(
          absl::StrCat("COPY (SELECT sequence, encoding, hash, previous_hash, record_time_ns"
                       " FROM audit.events WHERE ",
                       where, " AND sequence <= ", to, " ORDER BY sequence, record_time_ns LIMIT ",
                       options_.scan_chunk_rows, ") TO STDOUT (FORMAT binary)"),
          [&](const pg::CopyFields& f) {
            ++fetched;
            int64_t record_time_ns = 0;
            if (!ReadBinaryRow(f, &row, &record_time_ns)) {
              unreadable = row.sequence;  // the rows before it were visited
              return absl::CancelledError("unreadable row");
            }
            last = {row.sequence, record_time_ns};
            visited = visit(row);
            return visited;
          });
    });
    if (unreadable) return Unreadable("event", *unreadable);
    if (!visited.ok()) return visited;
    if (!read.ok()) return read;  // the connection is dropped
    if (fetched < static_cast<size_t>(options_.scan_chunk_rows)) {
      ReturnScanConnection(std::move(conn));  // read to the end cleanly
      return absl::OkStatus();
    }
  }
}

absl::StatusOr<std::unique_ptr<pg::CopyOutConnection>> PgAuditStore::TakeScanConnection() {
  for (;;) {
    std::unique_ptr<pg::CopyOutConnection> conn;
    {
      std::lock_guard lock(mu_);
      if (idle_scan_connections_.empty()) break;
      conn = std::move(idle_scan_connections_.back());
      idle_scan_connections_.pop_back();
    }
    if (conn->Alive()) return conn;  // else dropped (the server restarted meanwhile)
  }
  return pg::CopyOutConnection::Open(pool_->dsn(), absl::Seconds(5));
}

void PgAuditStore::ReturnScanConnection(std::unique_ptr<pg::CopyOutConnection> conn) {
  std::lock_guard lock(mu_);
  if (idle_scan_connections_.size() < kIdleScanConnections) {
    idle_scan_connections_.push_back(std::move(conn));
  }
}

absl::StatusOr<std::vector<ChainRow>> PgAuditStore::Search(const EventQuery& query,
                                                           absl::Time deadline) {
  HIE_RETURN_IF_ERROR(CheckQueryText(query));
  std::vector<ChainRow> rows;
  HIE_RETURN_IF_ERROR(
      pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) -> absl::Status {
        pqxx::nontransaction tx(conn);
        pqxx::result r =
            tx.exec(absl::StrCat("SET LOCAL statement_timeout = ", timeout_ms,
                                 "; SET LOCAL jit = off; ", SearchStatement(tx, query)));
        rows.resize(r.size());
        for (size_t i = 0; i < r.size(); ++i) HIE_RETURN_IF_ERROR(ReadChainRow(r[i], 0, &rows[i]));
        return absl::OkStatus();
      }));
  return rows;
}

std::string PgAuditStore::SearchSql(const pqxx::transaction_base& tx, const EventQuery& query) {
  return SearchStatement(tx, query);
}

absl::Status PgAuditStore::PutCheckpoint(const v1::Checkpoint& checkpoint, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(CheckText({checkpoint.key_id(), checkpoint.signature_algorithm()}));
  return pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) {
    pqxx::nontransaction tx(conn);
    tx.exec(absl::StrCat(
        "SET LOCAL statement_timeout = ", timeout_ms,
        "; INSERT INTO audit.checkpoints (sequence, create_time_ns, key_id, algorithm, head_hash,"
        " signature, checkpoint) VALUES (",
        checkpoint.sequence(), ", ", TimestampNanos(checkpoint.create_time()), ", ",
        tx.quote(checkpoint.key_id()), ", ", tx.quote(checkpoint.signature_algorithm()), ", ",
        ByteaLiteral(checkpoint.head_hash()), ", ", ByteaLiteral(checkpoint.signature()), ", ",
        ByteaLiteral(checkpoint.SerializeAsString()), ") ON CONFLICT (sequence) DO NOTHING"));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::Checkpoint>> PgAuditStore::ListCheckpoints(
    absl::Time start, absl::Time end, std::optional<int64_t> before_sequence, int limit,
    absl::Time deadline) {
  absl::StatusOr<std::vector<v1::Checkpoint>> out;
  HIE_RETURN_IF_ERROR(Query(
      deadline,
      absl::StrCat("SELECT checkpoint, sequence FROM audit.checkpoints WHERE create_time_ns >= ",
                   absl::ToUnixNanos(start), " AND create_time_ns < ", absl::ToUnixNanos(end),
                   before_sequence ? absl::StrCat(" AND sequence < ", *before_sequence) : "",
                   " ORDER BY sequence DESC LIMIT ", std::max(0, limit)),
      [&](const pqxx::result& r) {
        out = ReadCheckpoints(r);
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<v1::Checkpoint>> PgAuditStore::CheckpointsIn(int64_t from, int64_t to,
                                                                        absl::Time deadline) {
  absl::StatusOr<std::vector<v1::Checkpoint>> out;
  HIE_RETURN_IF_ERROR(Query(deadline,
                            absl::StrCat("SELECT checkpoint, sequence FROM audit.checkpoints"
                                         " WHERE sequence >= ",
                                         from, " AND sequence <= ", to, " ORDER BY sequence"),
                            [&](const pqxx::result& r) {
                              out = ReadCheckpoints(r);
                              return absl::OkStatus();
                            }));
  return out;
}

absl::Status PgAuditStore::AddSigningKey(const v1::SigningKey& key, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(CheckText({key.key_id(), key.signature_algorithm(), key.public_key_pem()}));
  const int64_t valid_from = TimestampNanos(key.valid_from());
  // Insert and close the others in one statement (one implicit transaction); nothing when the
  // id is known.
  return pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) {
    pqxx::nontransaction tx(conn);
    tx.exec(absl::StrCat(
        "SET LOCAL statement_timeout = ", timeout_ms,
        "; WITH ins AS (INSERT INTO audit.signing_keys (key_id, algorithm, public_key_pem,"
        " valid_from_ns, valid_until_ns) VALUES (",
        tx.quote(key.key_id()), ", ", tx.quote(key.signature_algorithm()), ", ",
        tx.quote(key.public_key_pem()), ", ", valid_from, ", ",
        key.has_valid_until() ? absl::StrCat(TimestampNanos(key.valid_until())) : "NULL",
        ") ON CONFLICT (key_id) DO NOTHING RETURNING key_id)"
        " UPDATE audit.signing_keys SET valid_until_ns = ",
        valid_from, " WHERE valid_until_ns IS NULL AND EXISTS (SELECT 1 FROM ins)"));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::SigningKey>> PgAuditStore::ListSigningKeys(absl::Time deadline) {
  std::vector<v1::SigningKey> keys;
  HIE_RETURN_IF_ERROR(
      Query(deadline,
            "SELECT key_id, algorithm, public_key_pem, valid_from_ns, valid_until_ns"
            " FROM audit.signing_keys ORDER BY valid_from_ns, key_id",
            [&](const pqxx::result& r) -> absl::Status {
              for (const pqxx::row& row : r) {
                v1::SigningKey key;
                int64_t valid_from = 0, valid_until = 0;
                if (!ReadInt(row[3], &valid_from) ||
                    (!row[4].is_null() && !ReadInt(row[4], &valid_until))) {
                  return absl::DataLossError("audit store: a stored signing key cannot be read");
                }
                key.set_key_id(Text(row[0]));
                key.set_signature_algorithm(Text(row[1]));
                key.set_public_key_pem(Text(row[2]));
                *key.mutable_valid_from() = TimestampOf(valid_from);
                if (!row[4].is_null()) *key.mutable_valid_until() = TimestampOf(valid_until);
                keys.push_back(std::move(key));
              }
              return absl::OkStatus();
            }));
  return keys;
}

absl::StatusOr<RetentionHorizon> PgAuditStore::Horizon(absl::Time deadline) {
  RetentionHorizon horizon;
  HIE_RETURN_IF_ERROR(Query(deadline, "SELECT first_sequence, previous_hash FROM audit.horizon",
                            [&](const pqxx::result& r) -> absl::Status {
                              if (r.size() != 1 || !ReadInt(r[0][0], &horizon.first_sequence) ||
                                  !ReadBytes(r[0][1], &horizon.previous_hash)) {
                                return absl::DataLossError(
                                    "audit store: the horizon row cannot be read");
                              }
                              return absl::OkStatus();
                            }));
  return horizon;
}

absl::StatusOr<int64_t> PgAuditStore::DropBefore(absl::Time cutoff, int64_t covered_sequence,
                                                 absl::Time deadline) {
  int64_t dropped = 0;
  std::vector<int64_t> gone;
  HIE_RETURN_IF_ERROR(
      pool_->RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) -> absl::Status {
        dropped = 0;
        gone.clear();
        pqxx::work tx(conn);
        // The head lock first, as appends take it: appends wait, and lock order is the same.
        pqxx::result parts = tx.exec(absl::StrCat(
            "SET LOCAL statement_timeout = ", timeout_ms,
            "; SELECT sequence FROM audit.head FOR UPDATE; SELECT pg_advisory_xact_lock(",
            kPartitionLock,
            "); SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'audit.events'::regclass ORDER BY c.relname"));
        for (const pqxx::row& part : parts) {
          std::optional<int64_t> month = MonthOfPartition(Text(part[0]));
          if (!month) continue;
          if (TimeOf(NextMonth(*month)) > cutoff) break;
          const std::string suffix = MonthSuffix(*month);
          pqxx::result top = tx.exec(
              absl::StrCat("SELECT sequence, hash, (SELECT count(*) FROM audit.events_", suffix,
                           ") FROM audit.events_", suffix, " ORDER BY sequence DESC LIMIT 1"));
          // The month's event ids first (joined on the primary key of event_ids), then its tables.
          std::string drop =
              absl::StrCat("DELETE FROM audit.event_ids i USING audit.events_", suffix,
                           " e WHERE i.event_id = e.event_id; DROP TABLE audit.events_", suffix,
                           "; DROP TABLE IF EXISTS audit.event_patients_", suffix);
          if (!top.empty()) {
            int64_t max_sequence = 0, count = 0;
            std::string hash;
            if (!ReadInt(top[0][0], &max_sequence) || !ReadBytes(top[0][1], &hash) ||
                !ReadInt(top[0][2], &count)) {
              return Unreadable("event", max_sequence);
            }
            if (max_sequence > covered_sequence) break;
            absl::StrAppend(&drop, "; UPDATE audit.horizon SET first_sequence = ", max_sequence + 1,
                            ", previous_hash = ", ByteaLiteral(hash));
            dropped += count;
          }
          tx.exec(drop);
          gone.push_back(*month);
        }
        tx.commit();
        return absl::OkStatus();
      }));
  std::lock_guard lock(mu_);
  for (int64_t month : gone) known_months_.erase(month);
  return dropped;
}

}  // namespace hie::audit
