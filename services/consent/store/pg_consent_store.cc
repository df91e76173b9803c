#include "services/consent/store/pg_consent_store.h"

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/row>
#include <pqxx/transaction>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/status_macros.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/store/migrations.h"

namespace hie::consent {
namespace {

using pqxx::transaction_base;

std::string Bytes(transaction_base& t, const std::string& s) {
  return t.quote_raw(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

std::string Read(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

template <typename Message>
bool Parse(const pqxx::field& f, Message* m) {
  return m->ParseFromString(Read(f));
}

// "(org = 'a' AND local_id = 'b') OR ..." for the given patients; `prefix` qualifies columns.
std::string PatientsClause(transaction_base& t,
                           const std::vector<hie::common::v1::SourceId>& patients,
                           const std::string& prefix) {
  std::vector<std::string> parts;
  for (const auto& p : patients) {
    parts.push_back(absl::StrCat("(", prefix, "org = ", t.quote(p.org()), " AND ", prefix,
                                 "local_id = ", t.quote(p.local_id()), ")"));
  }
  return absl::StrCat("(", absl::StrJoin(parts, " OR "), ")");
}

class PgTxn : public ConsentTxn {
 public:
  explicit PgTxn(pqxx::work& w) : w_(w) {}

  absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) override {
    w_.exec(absl::StrCat("SELECT pg_advisory_xact_lock(hashtextextended(", w_.quote(key), ", 0))"));
    pqxx::result r = w_.exec(absl::StrCat(
        "SELECT fingerprint, response FROM consent.idempotency WHERE key = ", w_.quote(key)));
    if (r.empty()) return std::nullopt;
    return StoredResponse{Read(r[0][0]), Read(r[0][1])};
  }
  absl::Status PutIdempotent(const std::string& key, const StoredResponse& v) override {
    w_.exec(absl::StrCat("INSERT INTO consent.idempotency (key, fingerprint, response) VALUES (",
                         w_.quote(key), ", ", Bytes(w_, v.fingerprint), ", ", Bytes(w_, v.response),
                         ")"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::ConsentDirective>> GetDirectiveForUpdate(
      const std::string& id) override {
    pqxx::result r = w_.exec(
        absl::StrCat("SELECT directive FROM consent.directives WHERE directive_id = ", w_.quote(id),
                     " FOR UPDATE"));
    if (r.empty()) return std::nullopt;
    v1::ConsentDirective d;
    if (!Parse(r[0][0], &d)) return absl::DataLossError("stored directive is unreadable");
    return d;
  }
  absl::StatusOr<std::optional<v1::BreakGlassGrant>> GetGrantForUpdate(
      const std::string& id) override {
    pqxx::result r = w_.exec(absl::StrCat(
        "SELECT grant_row FROM consent.grants WHERE grant_id = ", w_.quote(id), " FOR UPDATE"));
    if (r.empty()) return std::nullopt;
    v1::BreakGlassGrant g;
    if (!Parse(r[0][0], &g)) return absl::DataLossError("stored grant is unreadable");
    return g;
  }
  absl::Status PutDirective(const v1::ConsentDirective& d) override {
    HIE_ASSIGN_OR_RETURN(int64_t v, Version());
    const std::string id = w_.quote(d.directive_id());
    w_.exec(absl::StrCat(
        "INSERT INTO consent.directive_history (directive_id, version, directive) "
        "SELECT directive_id, version, directive FROM consent.directives WHERE directive_id = ",
        id));
    w_.exec(absl::StrCat(
        "INSERT INTO consent.directives (directive_id, org, local_id, state, create_ns, version, "
        "etag, directive) VALUES (",
        id, ", ", w_.quote(d.patient().org()), ", ", w_.quote(d.patient().local_id()), ", ",
        static_cast<int>(d.state()), ", ", UnixNanos(d.create_time()), ", ", v, ", ",
        w_.quote(d.etag()), ", ", Bytes(w_, d.SerializeAsString()),
        ") ON CONFLICT (directive_id) DO UPDATE SET state = EXCLUDED.state, version = "
        "EXCLUDED.version, etag = EXCLUDED.etag, directive = EXCLUDED.directive"));
    return absl::OkStatus();
  }
  absl::Status PutGrant(const v1::BreakGlassGrant& g) override {
    HIE_ASSIGN_OR_RETURN(int64_t v, Version());
    const std::string id = w_.quote(g.grant_id());
    pqxx::result r = w_.exec(absl::StrCat(
        "INSERT INTO consent.grants (grant_id, actor_org, review_state, start_ns, expire_ns, "
        "ended, version, grant_row) VALUES (",
        id, ", ", w_.quote(g.actor().org()), ", ", static_cast<int>(g.review_state()), ", ",
        UnixNanos(g.start_time()), ", ", UnixNanos(g.expire_time()), ", ",
        g.has_end_time() ? "true" : "false", ", ", v, ", ", Bytes(w_, g.SerializeAsString()),
        ") ON CONFLICT (grant_id) DO UPDATE SET review_state = EXCLUDED.review_state, ended = "
        "EXCLUDED.ended, version = EXCLUDED.version, grant_row = EXCLUDED.grant_row "
        "RETURNING (xmax = 0)"));
    if (r[0][0].as<bool>()) {  // inserted: index its patients (they never change)
      for (const auto& p : g.patients()) {
        w_.exec(absl::StrCat("INSERT INTO consent.grant_patients VALUES (", w_.quote(p.org()), ", ",
                             w_.quote(p.local_id()), ", ", id, ") ON CONFLICT DO NOTHING"));
      }
    }
    return absl::OkStatus();
  }
  absl::Status AppendOutbox(const hie::audit::v1::AuditEvent& e) override {
    HIE_RETURN_IF_ERROR(Version().status());  // the counter's lock first: sequence order
    w_.exec(absl::StrCat("INSERT INTO consent.outbox (event_id, event) VALUES (",
                         w_.quote(e.event_id()), ", ", Bytes(w_, e.SerializeAsString()), ")"));
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> Version() override {
    if (version_ != 0) return version_;
    pqxx::result r =
        w_.exec("UPDATE consent.state SET version = version + 1 WHERE id = 1 RETURNING version");
    version_ = r[0][0].as<int64_t>();
    w_.exec(absl::StrCat("SELECT pg_notify(", w_.quote(kChangeChannel), ", ",
                         w_.quote(std::to_string(version_)), ")"));
    return version_;
  }

 private:
  pqxx::work& w_;
  int64_t version_ = 0;
};

}  // namespace

absl::Status PgConsentStore::Transact(absl::Time deadline, const TxnFn& fn) {
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

absl::StatusOr<std::optional<v1::ConsentDirective>> PgConsentStore::GetDirective(
    absl::Time deadline, const std::string& id) {
  std::optional<v1::ConsentDirective> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    pqxx::result r = t.exec(absl::StrCat(
        "SELECT directive FROM consent.directives WHERE directive_id = ", t.quote(id)));
    if (r.empty()) return absl::OkStatus();
    out.emplace();
    if (!Parse(r[0][0], &*out)) return absl::DataLossError("stored directive is unreadable");
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::ConsentDirective>> PgConsentStore::DirectiveHistory(
    absl::Time deadline, const std::string& id) {
  std::vector<v1::ConsentDirective> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    pqxx::result r = t.exec(absl::StrCat(
        "SELECT directive FROM consent.directive_history WHERE directive_id = ", t.quote(id),
        " ORDER BY version"));
    for (const auto& row : r) {
      if (!Parse(row[0], &out.emplace_back())) {
        return absl::DataLossError("stored directive version is unreadable");
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::ConsentDirective>> PgConsentStore::ListDirectives(
    absl::Time deadline, const DirectiveFilter& f) {
  std::vector<v1::ConsentDirective> out;
  if (f.patients.empty()) return out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    std::string sql = absl::StrCat("SELECT directive, directive_id FROM consent.directives WHERE ",
                                   PatientsClause(t, f.patients, ""));
    if (!f.states.empty()) {
      std::vector<int> states(f.states.begin(), f.states.end());
      absl::StrAppend(&sql, " AND state IN (", absl::StrJoin(states, ","), ")");
    }
    if (f.after) {
      absl::StrAppend(&sql, " AND (create_ns, directive_id) < (", f.after->first, ", ",
                      t.quote(f.after->second), ")");
    }
    absl::StrAppend(&sql, " ORDER BY create_ns DESC, directive_id DESC LIMIT ", f.limit);
    for (const auto& row : t.exec(sql)) {
      v1::ConsentDirective d;
      if (!Parse(row[0], &d)) {
        return absl::DataLossError(
            absl::StrCat("stored directive ", row[1].as<std::string>(), " is unreadable"));
      }
      out.push_back(std::move(d));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<v1::BreakGlassGrant>> PgConsentStore::GetGrant(absl::Time deadline,
                                                                            const std::string& id) {
  std::optional<v1::BreakGlassGrant> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    pqxx::result r =
        t.exec(absl::StrCat("SELECT grant_row FROM consent.grants WHERE grant_id = ", t.quote(id)));
    if (r.empty()) return absl::OkStatus();
    out.emplace();
    if (!Parse(r[0][0], &*out)) return absl::DataLossError("stored grant is unreadable");
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::BreakGlassGrant>> PgConsentStore::ListGrants(absl::Time deadline,
                                                                            const GrantFilter& f) {
  std::vector<v1::BreakGlassGrant> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    std::string sql = "SELECT g.grant_row, g.grant_id FROM consent.grants g WHERE true";
    if (!f.review_states.empty()) {
      std::vector<int> states(f.review_states.begin(), f.review_states.end());
      absl::StrAppend(&sql, " AND g.review_state IN (", absl::StrJoin(states, ","), ")");
    }
    if (!f.actor_org.empty()) absl::StrAppend(&sql, " AND g.actor_org = ", t.quote(f.actor_org));
    if (!f.patients.empty()) {
      absl::StrAppend(&sql, " AND EXISTS (SELECT 1 FROM consent.grant_patients p WHERE ",
                      "p.grant_id = g.grant_id AND ", PatientsClause(t, f.patients, "p."), ")");
    }
    if (f.start_from)
      absl::StrAppend(&sql, " AND g.start_ns >= ", absl::ToUnixNanos(*f.start_from));
    if (f.start_before) {
      absl::StrAppend(&sql, " AND g.start_ns < ", absl::ToUnixNanos(*f.start_before));
    }
    if (f.after) {
      absl::StrAppend(&sql, " AND (g.start_ns, g.grant_id) < (", f.after->first, ", ",
                      t.quote(f.after->second), ")");
    }
    absl::StrAppend(&sql, " ORDER BY g.start_ns DESC, g.grant_id DESC LIMIT ", f.limit);
    for (const auto& row : t.exec(sql)) {
      v1::BreakGlassGrant g;
      if (!Parse(row[0], &g)) {
        return absl::DataLossError(
            absl::StrCat("stored grant ", row[1].as<std::string>(), " is unreadable"));
      }
      out.push_back(std::move(g));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ChangeSet> PgConsentStore::ChangesSince(absl::Time deadline, int64_t after,
                                                       bool in_force_only, absl::Time now) {
  ChangeSet out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    out = ChangeSet{};
    pqxx::work t(c);
    t.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
    out.version = t.exec("SELECT version FROM consent.state WHERE id = 1")[0][0].as<int64_t>();
    if (out.version == after) return absl::OkStatus();  // nothing changed: one round trip
    std::string where = absl::StrCat(" WHERE version > ", after);
    for (const auto& row :
         t.exec(absl::StrCat("SELECT directive_id, directive FROM consent.directives", where,
                             in_force_only ? " AND state = 1" : ""))) {
      v1::ConsentDirective d;
      if (!Parse(row[1], &d) || d.directive_id() != row[0].as<std::string>()) {
        out.unreadable_ids.push_back(row[0].as<std::string>());
        continue;
      }
      out.directives.push_back(std::move(d));
    }
    for (const auto& row : t.exec(absl::StrCat(
             "SELECT grant_id, grant_row FROM consent.grants", where,
             in_force_only ? absl::StrCat(" AND NOT ended AND expire_ns > ", absl::ToUnixNanos(now))
                           : ""))) {
      v1::BreakGlassGrant g;
      if (!Parse(row[1], &g) || g.grant_id() != row[0].as<std::string>()) {
        out.unreadable_ids.push_back(row[0].as<std::string>());
        continue;
      }
      out.grants.push_back(std::move(g));
    }
    t.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<size_t> PgConsentStore::DeliverOutbox(absl::Time deadline, size_t limit,
                                                     const SendFn& send) {
  size_t marked = 0;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    marked = 0;
    pqxx::work t(c);
    if (!t.exec(absl::StrCat("SELECT pg_try_advisory_xact_lock(", kOutboxLockKey, ")"))[0][0]
             .as<bool>()) {
      return absl::OkStatus();  // another replica is delivering
    }
    std::vector<OutboxRow> rows;
    for (const auto& row : t.exec(absl::StrCat(
             "SELECT sequence, event_id, event FROM consent.outbox WHERE delivered_time IS NULL "
             "ORDER BY sequence LIMIT ",
             limit))) {
      rows.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), Read(row[2])});
    }
    if (rows.empty()) return absl::OkStatus();
    HIE_RETURN_IF_ERROR(send(rows));
    t.exec(absl::StrCat(
        "UPDATE consent.outbox SET delivered_time = now() WHERE delivered_time IS NULL AND "
        "sequence BETWEEN ",
        rows.front().sequence, " AND ", rows.back().sequence));
    t.commit();
    marked = rows.size();
    return absl::OkStatus();
  }));
  return marked;
}

absl::StatusOr<int64_t> PgConsentStore::OutboxBacklog(absl::Time deadline) {
  int64_t n = 0;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    n = t.exec("SELECT count(*) FROM consent.outbox WHERE delivered_time IS NULL")[0][0]
            .as<int64_t>();
    return absl::OkStatus();
  }));
  return n;
}

}  // namespace hie::consent
