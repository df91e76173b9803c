#include "services/gateway/store/pg_member_store.h"

#include <algorithm>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/row>
#include <pqxx/transaction>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/common/logging.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"

namespace hie::gateway {
namespace {

using pqxx::transaction_base;

constexpr char kColumns[] =
    "org, display_name, endpoint, state, max_results, supports_time_filters, "
    "certificate_subjects, version, update_ns";

const char* StateText(v1::MemberState state) {
  switch (state) {
    case v1::MEMBER_STATE_ACTIVE:
      return "active";
    case v1::MEMBER_STATE_SUSPENDED:
      return "suspended";
    case v1::MEMBER_STATE_DECOMMISSIONED:
      return "decommissioned";
    default:
      return "";
  }
}

v1::MemberState StateFrom(std::string_view s) {
  if (s == "active") return v1::MEMBER_STATE_ACTIVE;
  if (s == "suspended") return v1::MEMBER_STATE_SUSPENDED;
  if (s == "decommissioned") return v1::MEMBER_STATE_DECOMMISSIONED;
  return v1::MEMBER_STATE_UNSPECIFIED;
}

// A row of kColumns, or nullopt when its fields break the directory's rules (logged by org).
std::optional<MemberRecord> Decode(const pqxx::row& row) {
  MemberRecord r;
  DirectoryMember& m = r.member;
  m.entry.org = row[0].c_str();
  m.entry.display_name = row[1].c_str();
  m.endpoint = row[2].c_str();
  m.entry.state = StateFrom(row[3].c_str());
  m.entry.max_results = row[4].as<int>();
  m.supports_time_filters = row[5].as<bool>();
  const std::string subjects = row[6].c_str();
  if (!subjects.empty()) m.certificate_subjects = absl::StrSplit(subjects, '\n');
  r.version = row[7].as<int64_t>();
  r.update_time = absl::FromUnixNanos(row[8].as<int64_t>());
  if (absl::Status s = CheckDirectoryMember(m); !s.ok() || r.version < 1) {
    // The org only: the row's other fields are not for logs.
    Log(LogLevel::kWarning, "unreadable_member",
        {{"org", CheckId(m.entry.org, "org").ok() ? m.entry.org : std::string("?")},
         {"problem", std::string(s.message())}});
    return std::nullopt;
  }
  return r;
}

// "(org, display_name, ..., version, update_ns)" of one member, for INSERT.
std::string Values(transaction_base& t, const DirectoryMember& m, int64_t version, absl::Time now) {
  return absl::StrCat("(", t.quote(m.entry.org), ", ", t.quote(m.entry.display_name), ", ",
                      t.quote(m.endpoint), ", ", t.quote(StateText(m.entry.state)), ", ",
                      m.entry.max_results, ", ", m.supports_time_filters ? "true" : "false", ", ",
                      t.quote(absl::StrJoin(m.certificate_subjects, "\n")), ", ", version, ", ",
                      absl::ToUnixNanos(now), ")");
}

}  // namespace

absl::StatusOr<MemberRecord> PgMemberStore::Update(absl::Time deadline, const std::string& org,
                                                   absl::Time now, const Decide& decide) {
  MemberRecord out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    w.exec(absl::StrCat("SELECT pg_advisory_xact_lock(hashtextextended(",
                        w.quote(absl::StrCat("member|", org)), ", 0))"));
    pqxx::result r = w.exec(
        absl::StrCat("SELECT ", kColumns, " FROM gateway.members WHERE org = ", w.quote(org)));
    std::optional<MemberRecord> current;
    if (!r.empty()) current = Decode(r[0]);
    absl::StatusOr<std::optional<DirectoryMember>> next = decide(current);
    if (!next.ok() || !next->has_value()) {
      w.abort();
      if (!next.ok()) return next.status();
      if (!current) return absl::NotFoundError("org is not a member of the HIE");
      out = *current;
      return absl::OkStatus();
    }
    const DirectoryMember& m = **next;
    if (m.entry.org != org) return absl::InvalidArgumentError("member.org is not the org updated");
    HIE_RETURN_IF_ERROR(CheckDirectoryMember(m, "member."));
    pqxx::result written = w.exec(absl::StrCat(
        "INSERT INTO gateway.members (", kColumns, ") VALUES ", Values(w, m, 1, now),
        " ON CONFLICT (org) DO UPDATE SET display_name = EXCLUDED.display_name, endpoint = "
        "EXCLUDED.endpoint, state = EXCLUDED.state, max_results = EXCLUDED.max_results, "
        "supports_time_filters = EXCLUDED.supports_time_filters, certificate_subjects = "
        "EXCLUDED.certificate_subjects, version = gateway.members.version + 1, update_ns = "
        "EXCLUDED.update_ns RETURNING version"));
    w.commit();
    out = MemberRecord{.member = m, .version = written[0][0].as<int64_t>(), .update_time = now};
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<std::string>> PgMemberStore::InsertAbsent(
    absl::Time deadline, const std::vector<DirectoryMember>& members, absl::Time now) {
  std::set<std::string> orgs;
  for (const DirectoryMember& m : members) {
    HIE_RETURN_IF_ERROR(CheckDirectoryMember(m, "member."));
    if (!orgs.insert(m.entry.org).second) {
      return absl::InvalidArgumentError("member.org is repeated");
    }
  }
  std::vector<std::string> inserted;
  if (members.empty()) return inserted;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    inserted.clear();
    pqxx::work w(c);
    std::vector<std::string> rows;
    rows.reserve(members.size());
    for (const DirectoryMember& m : members) rows.push_back(Values(w, m, 1, now));
    pqxx::result r = w.exec(absl::StrCat("INSERT INTO gateway.members (", kColumns, ") VALUES ",
                                         absl::StrJoin(rows, ", "),
                                         " ON CONFLICT (org) DO NOTHING RETURNING org"));
    w.commit();
    for (const auto& row : r) inserted.push_back(row[0].c_str());
    return absl::OkStatus();
  }));
  std::sort(inserted.begin(), inserted.end());
  return inserted;
}

absl::StatusOr<std::optional<MemberRecord>> PgMemberStore::Get(absl::Time deadline,
                                                               const std::string& org) {
  std::optional<MemberRecord> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    pqxx::nontransaction t(c);
    pqxx::result r = t.exec(
        absl::StrCat("SELECT ", kColumns, " FROM gateway.members WHERE org = ", t.quote(org)));
    out = r.empty() ? std::nullopt : Decode(r[0]);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<MemberRecord>> PgMemberStore::List(absl::Time deadline) {
  std::vector<MemberRecord> out;
  HIE_RETURN_IF_ERROR(pool_->Run(deadline, [&](pqxx::connection& c) -> absl::Status {
    out.clear();
    pqxx::nontransaction t(c);
    pqxx::result r =
        t.exec(absl::StrCat("SELECT ", kColumns, " FROM gateway.members ORDER BY org"));
    out.reserve(r.size());
    for (const auto& row : r) {
      if (std::optional<MemberRecord> m = Decode(row)) out.push_back(*std::move(m));
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace hie::gateway
