#include "services/locator/store/pg_locator_store.h"

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/row>
#include <pqxx/transaction>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/common/logging.h"
#include "services/common/pg/sql_text.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace hie::locator {
namespace {

using pqxx::transaction_base;

constexpr char kColumns[] =
    "org, local_id, listed, admin_asserted, registry_documents, reported_documents, removed_at, "
    "location";

std::string Bytes(transaction_base& t, const std::string& s) {
  return t.quote_raw(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

std::string Read(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

// "((org, local), ...)" for a row-value IN list: never empty. Ids are checked ASCII.
std::string KeyList(transaction_base& t, const std::vector<HoldingKey>& keys) {
  std::vector<std::string> rows;
  for (const auto& [org, local] : keys) {
    rows.push_back(absl::StrCat("(", t.quote(org), ", ", t.quote(local), ")"));
  }
  if (rows.empty()) rows.push_back("('', '')");
  return absl::StrCat("(", absl::StrJoin(rows, ", "), ")");
}

constexpr char kGetStatement[] = "locator_get_holdings";

// "<identity seq> <registry version> <registry entry uuid>", or "" before any removal.
std::string EncodeRemovedAt(const Holding& h) {
  if (!h.location.has_removal()) return "";
  return absl::StrCat(h.removed_at_identity, " ", h.removed_at_registry.first, " ",
                      h.removed_at_registry.second);
}

bool DecodeRemovedAt(const std::string& s, Holding* h) {
  if (s.empty()) return true;
  std::vector<std::string> parts = absl::StrSplit(s, absl::MaxSplits(' ', 2));
  return parts.size() == 3 && absl::SimpleAtoi(parts[0], &h->removed_at_identity) &&
         absl::SimpleAtoi(parts[1], &h->removed_at_registry.first) &&
         (h->removed_at_registry.second = parts[2], true);
}

// A row of kColumns, or nullopt when it does not parse (logged by org and row, skipped).
std::optional<Holding> Decode(const pqxx::row& row) {
  Holding h;
  if (!h.location.ParseFromString(Read(row[7])) || !DecodeRemovedAt(row[6].c_str(), &h)) {
    // The local id may identify a patient: the org and the row's physical position only.
    Log(LogLevel::kWarning, "unreadable_holding", {{"org", row[0].c_str()}});
    return std::nullopt;
  }
  h.listed = row[2].as<bool>();
  h.admin_asserted = row[3].as<bool>();
  h.registry_documents = row[4].as<int64_t>();
  h.reported_documents = row[5].as<int64_t>();
  return h;
}

std::vector<Holding> DecodeAll(const pqxx::result& r) {
  std::vector<Holding> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    if (auto h = Decode(row)) out.push_back(*std::move(h));
  }
  return out;
}

// The key every advisory lock of this store is taken on.
std::string LockKey(transaction_base& t, const std::string& name) {
  return absl::StrCat("hashtextextended(", t.quote(name), ", 0)");
}

class PgTxn : public LocatorTxn {
 public:
  explicit PgTxn(pqxx::work& w) : w_(w) {}

  absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) override {
    w_.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", LockKey(w_, "idem|" + key), ")"));
    pqxx::result r = w_.exec(absl::StrCat(
        "SELECT fingerprint, response FROM locator.idempotency WHERE key = ", w_.quote(key)));
    if (r.empty()) return std::nullopt;
    return StoredResponse{Read(r[0][0]), Read(r[0][1])};
  }
  absl::Status PutIdempotent(const std::string& key, const StoredResponse& v) override {
    w_.exec(absl::StrCat("INSERT INTO locator.idempotency (key, fingerprint, response) VALUES (",
                         w_.quote(key), ", ", Bytes(w_, v.fingerprint), ", ", Bytes(w_, v.response),
                         ")"));
    return absl::OkStatus();
  }
  absl::StatusOr<LockedHoldings> LockHoldings(const std::vector<HoldingKey>& keys) override {
    LockedHoldings out;
    if (keys.empty()) return out;
    std::vector<std::string> names;
    for (const auto& [org, local] : keys) {
      names.push_back(w_.quote(absl::StrCat("holding|", org, "|", local)));
    }
    w_.exec(absl::StrCat(
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(n, 0) AS h FROM "
        "unnest(ARRAY[",
        absl::StrJoin(names, ", "), "]::text[]) n) locks ORDER BY h"));
    pqxx::result r = w_.exec(absl::StrCat("SELECT ", kColumns,
                                          " FROM locator.holdings WHERE (org, local_id) IN ",
                                          KeyList(w_, keys)));
    for (const auto& row : r) {
      HoldingKey key(row[0].c_str(), row[1].c_str());
      if (std::optional<Holding> h = Decode(row)) {
        out.holdings.emplace(std::move(key), *std::move(h));
      } else {
        out.unreadable.insert(std::move(key));
      }
    }
    return out;
  }
  absl::Status PutHoldings(const std::vector<Holding>& holdings) override {
    if (holdings.empty()) return absl::OkStatus();
    std::vector<std::string> rows;
    for (const Holding& h : holdings) {
      const auto& id = h.location.source_id();
      rows.push_back(absl::StrCat(
          "(", w_.quote(id.org()), ", ", w_.quote(id.local_id()), ", ",
          UnixNanosOf(h.location.last_activity_time()), ", ", h.listed ? "true" : "false", ", ",
          h.location.has_removal() ? "true" : "false", ", ", h.admin_asserted ? "true" : "false",
          ", ", h.registry_documents, ", ", h.reported_documents, ", ",
          w_.quote(EncodeRemovedAt(h)), ", ", Bytes(w_, h.location.SerializeAsString()), ")"));
    }
    w_.exec(absl::StrCat(
        "INSERT INTO locator.holdings (org, local_id, activity_ns, listed, removed, "
        "admin_asserted, registry_documents, reported_documents, removed_at, location) VALUES ",
        absl::StrJoin(rows, ", "),
        " ON CONFLICT (org, local_id) DO UPDATE SET activity_ns = EXCLUDED.activity_ns, listed = "
        "EXCLUDED.listed, removed = EXCLUDED.removed, admin_asserted = EXCLUDED.admin_asserted, "
        "registry_documents = EXCLUDED.registry_documents, reported_documents = "
        "EXCLUDED.reported_documents, removed_at = EXCLUDED.removed_at, location = "
        "EXCLUDED.location"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, bool>> DocumentMarks(
      const std::vector<std::string>& uuids) override {
    std::map<std::string, bool> out;
    if (uuids.empty()) return out;
    std::vector<std::string> quoted;
    for (const std::string& id : uuids) quoted.push_back(w_.quote(id));
    pqxx::result r = w_.exec(
        absl::StrCat("SELECT entry_uuid, counted FROM locator.document_marks WHERE entry_uuid IN (",
                     absl::StrJoin(quoted, ", "), ")"));
    for (const auto& row : r) out[row[0].c_str()] = row[1].as<bool>();
    return out;
  }
  absl::Status PutDocumentMarks(const std::map<std::string, bool>& marks) override {
    if (marks.empty()) return absl::OkStatus();
    std::vector<std::string> rows;
    for (const auto& [id, counted] : marks) {
      rows.push_back(absl::StrCat("(", w_.quote(id), ", ", counted ? "true" : "false", ")"));
    }
    w_.exec(absl::StrCat("INSERT INTO locator.document_marks (entry_uuid, counted) VALUES ",
                         absl::StrJoin(rows, ", "),
                         " ON CONFLICT (entry_uuid) DO UPDATE SET counted = EXCLUDED.counted"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> LockFeedPosition(const std::string& feed) override {
    w_.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", LockKey(w_, "feed|" + feed), ")"));
    pqxx::result r = w_.exec(
        absl::StrCat("SELECT position FROM locator.feed_positions WHERE feed = ", w_.quote(feed)));
    return r.empty() ? "" : r[0][0].c_str();
  }
  absl::Status PutFeedPosition(const std::string& feed, const std::string& position) override {
    w_.exec(absl::StrCat("INSERT INTO locator.feed_positions (feed, position) VALUES (",
                         w_.quote(feed), ", ", w_.quote(position),
                         ") ON CONFLICT (feed) DO UPDATE SET position = EXCLUDED.position"));
    return absl::OkStatus();
  }

 private:
  pqxx::work& w_;
};

}  // namespace

absl::Status PgLocatorStore::Transact(absl::Time deadline, const TxnFn& fn) {
  return pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    PgTxn txn(w);
    absl::Status status = fn(txn);
    if (!status.ok()) {
      w.abort();
      return status;
    }
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Holding>> PgLocatorStore::Get(absl::Time deadline,
                                                         const std::vector<HoldingKey>& keys) {
  std::vector<Holding> out;
  if (keys.empty()) return out;
  const std::set<HoldingKey> distinct(keys.begin(), keys.end());
  std::vector<std::string> orgs, locals;
  for (const auto& [org, local] : distinct) {
    orgs.push_back(org);
    locals.push_back(local);
  }
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    // Prepared (once per connection; pqxx re-prepares after a reconnect): Locate's one query
    // costs a third as much without planning.
    c.prepare(kGetStatement,
              "SELECT h.org, h.local_id, h.listed, h.admin_asserted, h.registry_documents, "
              "h.reported_documents, h.removed_at, h.location FROM unnest($1::text[], $2::text[]) "
              "AS k(org, "
              "local_id) JOIN locator.holdings h ON h.org = k.org AND h.local_id = k.local_id");
    // PostgreSQL re-plans a prepared statement on every call while a custom plan (knowing the
    // array has 5 elements) looks cheaper than the generic one, and planning this join cost
    // more than running it (40% of the server's time per Locate, measured with perf). The
    // generic plan, a nested loop over the primary key, is right for every size Locate accepts.
    // pqxx remembers the setting locally (no round trip after the first) and restores it after
    // a reconnect; nothing else on the locator's connections is a parameterised prepared
    // statement.
    if (c.get_variable("plan_cache_mode") != "force_generic_plan") {
      c.set_variable("plan_cache_mode", "force_generic_plan");
    }
    pqxx::nontransaction t(c);
    out = DecodeAll(t.exec_prepared(kGetStatement, pg::TextArray(orgs), pg::TextArray(locals)));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<Holding>> PgLocatorStore::List(absl::Time deadline, const ListQuery& q) {
  std::vector<Holding> out;
  if (q.limit == 0) return out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    std::string where = absl::StrCat(
        "org = ", t.quote(q.org), q.include_removed ? " AND (listed OR removed)" : " AND listed");
    if (q.active_from) {
      absl::StrAppend(&where, " AND activity_ns >= ", absl::ToUnixNanos(*q.active_from));
    }
    if (q.active_before) {
      absl::StrAppend(&where, " AND activity_ns < ", absl::ToUnixNanos(*q.active_before));
    }
    if (q.after) {
      absl::StrAppend(&where, " AND (activity_ns, local_id) < (", q.after->first, ", ",
                      t.quote(q.after->second), ")");
    }
    out = DecodeAll(
        t.exec(absl::StrCat("SELECT ", kColumns, " FROM locator.holdings WHERE ", where,
                            " ORDER BY activity_ns DESC, local_id DESC LIMIT ", q.limit)));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::string> PgLocatorStore::FeedPosition(absl::Time deadline,
                                                         const std::string& feed) {
  std::string out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    pqxx::result r = t.exec(
        absl::StrCat("SELECT position FROM locator.feed_positions WHERE feed = ", t.quote(feed)));
    out = r.empty() ? "" : r[0][0].c_str();
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace hie::locator
