#include "services/gateway/core/federation.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/util/time_util.h"

namespace hie::gateway {
namespace {

using registry::v1::DocumentEntry;

google::protobuf::Duration DurationOf(absl::Duration d) {
  return google::protobuf::util::TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

int64_t CreationNanos(const DocumentEntry& e) {
  return e.creation_time().seconds() * 1'000'000'000 + e.creation_time().nanos();
}

const char* NotActiveDetail(v1::MemberState state) {
  switch (state) {
    case v1::MEMBER_STATE_SUSPENDED:
      return "MEMBER_SUSPENDED";
    case v1::MEMBER_STATE_DECOMMISSIONED:
      return "MEMBER_DECOMMISSIONED";
    default:
      return "MEMBER_NOT_ACTIVE";
  }
}

// Whether `e` belongs to this member and to one of the person's local ids there.
bool Belongs(const DocumentEntry& e, const Target& target) {
  if (e.patient().org() != target.org) return false;
  if (e.has_location() && !e.location().member_org().empty() &&
      e.location().member_org() != target.org) {
    return false;
  }
  return std::find(target.local_ids.begin(), target.local_ids.end(), e.patient().local_id()) !=
         target.local_ids.end();
}

}  // namespace

FanOutPlan PlanFanOut(const FanOutQuery& query, const std::vector<Holder>& holders,
                      const std::map<std::string, DirectoryEntry>& directory,
                      const std::map<std::string, Verdict>& verdicts) {
  const int wanted = query.max_results_per_member <= 0
                         ? kDefaultMaxResultsPerMember
                         : std::min(query.max_results_per_member, kMaxResultsPerMember);
  const std::set<std::string> only(query.member_orgs.begin(), query.member_orgs.end());
  // One holder per org, its local ids merged and sorted (the locator and identity may each
  // name some).
  std::map<std::string, std::set<std::string>> by_org;
  for (const Holder& h : holders) {
    if (h.org == query.caller_org || (!only.empty() && !only.contains(h.org))) continue;
    by_org[h.org].insert(h.local_ids.begin(), h.local_ids.end());
  }
  FanOutPlan plan;
  for (const auto& [org, local_ids] : by_org) {
    Target target;
    target.org = org;
    target.local_ids.assign(local_ids.begin(), local_ids.end());
    auto member = directory.find(org);
    target.display_name = member == directory.end() ? org : member->second.display_name;
    auto verdict = verdicts.find(org);
    if (verdict == verdicts.end() || !verdict->second.permit) {
      v1::MemberResult denied;
      denied.set_member_org(org);
      denied.set_member_display_name(target.display_name);
      denied.set_status(v1::MEMBER_STATUS_DENIED_BY_CONSENT);
      if (verdict == verdicts.end()) denied.set_detail("NO_DECISION");
      plan.denied.push_back(std::move(denied));
      continue;
    }
    target.obligations = verdict->second.obligations;
    target.decision_id = verdict->second.decision_id;
    if (member == directory.end()) {
      plan.not_callable.emplace_back(std::move(target), "NOT_IN_DIRECTORY");
      continue;
    }
    target.max_results =
        member->second.max_results > 0 ? std::min(wanted, member->second.max_results) : wanted;
    target.supports_time_filters = member->second.supports_time_filters;
    if (member->second.state != v1::MEMBER_STATE_ACTIVE) {
      plan.not_callable.emplace_back(std::move(target), NotActiveDetail(member->second.state));
      continue;
    }
    plan.contact.push_back(std::move(target));
  }
  return plan;
}

BuiltResult ResultOf(const Target& target, MemberAnswer answer,
                     std::vector<DocumentEntry> registry_entries, const Forbids& forbids) {
  BuiltResult built;
  v1::MemberResult& r = built.result;
  r.set_member_org(target.org);
  r.set_member_display_name(target.display_name);
  for (const auto& o : target.obligations) *r.add_obligations() = o;
  *r.mutable_latency() = DurationOf(answer.latency);

  const bool answered = answer.kind == MemberAnswer::Kind::kCalled && answer.status.ok();
  // By unique_id: the entry and where it came from.
  std::map<std::string, std::pair<DocumentEntry, v1::EntrySource>> merged;
  for (DocumentEntry& e : registry_entries) {
    if (!Belongs(e, target)) {
      ++built.dropped;
      continue;
    }
    std::string key = e.unique_id();
    merged.emplace(std::move(key), std::make_pair(std::move(e), v1::ENTRY_SOURCE_REGISTRY));
  }
  if (answered) {
    for (DocumentEntry& e : answer.entries) {
      if (!Belongs(e, target)) {
        ++built.dropped;
        continue;
      }
      auto it = merged.find(e.unique_id());
      if (it == merged.end()) {
        std::string key = e.unique_id();
        merged.emplace(std::move(key), std::make_pair(std::move(e), v1::ENTRY_SOURCE_MEMBER));
        continue;
      }
      if (e.entry_uuid().empty()) e.set_entry_uuid(it->second.first.entry_uuid());
      it->second = {std::move(e), v1::ENTRY_SOURCE_REGISTRY_AND_MEMBER};
    }
  }
  std::vector<std::pair<DocumentEntry, v1::EntrySource>> kept;
  for (auto& [unique_id, entry] : merged) {
    if (forbids && forbids(entry.first)) continue;  // redacted by the hub itself
    entry.first.mutable_patient()->clear_local_id();
    kept.push_back(std::move(entry));
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    const int64_t x = CreationNanos(a.first), y = CreationNanos(b.first);
    if (x != y) return x > y;
    return a.first.unique_id() < b.first.unique_id();
  });
  const size_t limit = static_cast<size_t>(std::max(target.max_results, 0));
  r.set_truncated((answered && answer.truncated) || kept.size() > limit);
  if (kept.size() > limit) kept.resize(limit);
  for (auto& [entry, source] : kept) {
    *r.add_entries() = std::move(entry);
    r.add_entry_sources(source);
  }

  switch (answer.kind) {
    case MemberAnswer::Kind::kCircuitOpen:
      r.set_status(v1::MEMBER_STATUS_CIRCUIT_OPEN);
      r.set_detail("CIRCUIT_OPEN");
      break;
    case MemberAnswer::Kind::kNotCalled:
      r.set_status(v1::MEMBER_STATUS_UNAVAILABLE);
      r.set_detail(answer.detail);
      break;
    case MemberAnswer::Kind::kCalled:
      if (answer.status.ok()) {
        r.set_status(r.entries().empty() ? v1::MEMBER_STATUS_NO_DATA : v1::MEMBER_STATUS_OK);
      } else if (absl::IsDeadlineExceeded(answer.status)) {
        r.set_status(v1::MEMBER_STATUS_TIMEOUT);
        r.set_detail("DEADLINE_EXCEEDED");
      } else {
        r.set_status(v1::MEMBER_STATUS_UNAVAILABLE);
        r.set_detail(absl::StatusCodeToString(answer.status.code()));  // "UNAVAILABLE"...
      }
      break;
  }
  return built;
}

namespace {

// Within one TimeRange: a set range needs the time; [start, end), either end open.
bool WithinRange(bool filtered, const common::v1::TimeRange& range, bool present,
                 const google::protobuf::Timestamp& t) {
  if (!filtered || (!range.has_start() && !range.has_end())) return true;
  if (!present) return false;
  const auto nanos = [](const google::protobuf::Timestamp& x) {
    return static_cast<__int128>(x.seconds()) * 1'000'000'000 + x.nanos();
  };
  if (range.has_start() && nanos(t) < nanos(range.start())) return false;
  if (range.has_end() && nanos(t) >= nanos(range.end())) return false;
  return true;
}

}  // namespace

bool WithinTimeRanges(const DocumentEntry& e, const registry::v1::DocumentQuery& q) {
  return WithinRange(q.has_creation_time(), q.creation_time(), e.has_creation_time(),
                     e.creation_time()) &&
         WithinRange(q.has_service_start_time(), q.service_start_time(), e.has_service_start_time(),
                     e.service_start_time()) &&
         WithinRange(q.has_service_stop_time(), q.service_stop_time(), e.has_service_stop_time(),
                     e.service_stop_time());
}

registry::v1::DocumentQuery WithoutTimeRanges(registry::v1::DocumentQuery query) {
  query.clear_creation_time();
  query.clear_service_start_time();
  query.clear_service_stop_time();
  return query;
}

v1::MemberSummary SummaryRowOf(const v1::MemberResult& result) {
  v1::MemberSummary row;
  row.set_member_org(result.member_org());
  row.set_status(result.status());
  row.set_entries(result.entries_size());
  *row.mutable_latency() = result.latency();
  row.set_detail(result.detail());
  return row;
}

v1::QuerySummary Summarize(const std::string& request_id, std::vector<v1::MemberSummary> rows,
                           absl::Duration elapsed) {
  v1::QuerySummary s;
  s.set_request_id(request_id);
  s.set_members_total(static_cast<int32_t>(rows.size()));
  int32_t entries = 0;
  for (v1::MemberSummary& row : rows) {
    entries += row.entries();
    switch (row.status()) {
      case v1::MEMBER_STATUS_OK:
        s.set_members_ok(s.members_ok() + 1);
        break;
      case v1::MEMBER_STATUS_NO_DATA:
        s.set_members_no_data(s.members_no_data() + 1);
        break;
      case v1::MEMBER_STATUS_TIMEOUT:
        s.set_members_timeout(s.members_timeout() + 1);
        s.set_partial(true);
        break;
      case v1::MEMBER_STATUS_CIRCUIT_OPEN:
        s.set_members_circuit_open(s.members_circuit_open() + 1);
        s.set_partial(true);
        break;
      case v1::MEMBER_STATUS_DENIED_BY_CONSENT:
        s.set_members_denied(s.members_denied() + 1);
        break;
      default:
        s.set_members_unavailable(s.members_unavailable() + 1);
        s.set_partial(true);
        break;
    }
    *s.add_members() = std::move(row);
  }
  s.set_entries_total(entries);
  *s.mutable_elapsed() = DurationOf(elapsed);
  return s;
}

}  // namespace hie::gateway
