#include "services/consent/core/consent_view.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "services/consent/core/time_proto.h"

namespace hie::consent {

std::string ConsentView::PatientKey(const hie::common::v1::SourceId& id) {
  std::string key = id.org();
  key.push_back('\x1f');
  key += id.local_id();
  return key;
}

void ConsentView::RemoveDirective(const std::string& id) {
  auto it = directives_.find(id);
  if (it == directives_.end()) return;
  auto& ids = by_patient_[PatientKey(it->second->patient())];
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (ids.empty()) by_patient_.erase(PatientKey(it->second->patient()));
  directives_.erase(it);
}

void ConsentView::Apply(const ChangeSet& changes, absl::Time read_started) {
  std::unique_lock lock(mu_);
  for (const v1::ConsentDirective& d : changes.directives) {
    RemoveDirective(d.directive_id());
    if (d.state() != v1::DIRECTIVE_STATE_ACTIVE) continue;
    directives_[d.directive_id()] = std::make_shared<const v1::ConsentDirective>(d);
    by_patient_[PatientKey(d.patient())].push_back(d.directive_id());
  }
  for (const v1::BreakGlassGrant& g : changes.grants) {
    grants_.erase(g.grant_id());
    if (g.has_end_time()) continue;
    grants_[g.grant_id()] = std::make_shared<const v1::BreakGlassGrant>(g);
  }
  version_ = std::max(version_, changes.version);
  confirmed_at_ = std::max(confirmed_at_, read_started);
}

bool ConsentView::FreshAt(absl::Time now, absl::Duration max_age) const {
  std::shared_lock lock(mu_);
  return now - confirmed_at_ <= max_age;
}

int64_t ConsentView::version() const {
  std::shared_lock lock(mu_);
  return version_;
}

absl::Time ConsentView::confirmed_at() const {
  std::shared_lock lock(mu_);
  return confirmed_at_;
}

std::vector<DirectivePtr> ConsentView::DirectivesOf(
    const google::protobuf::RepeatedPtrField<hie::common::v1::SourceId>& patients) const {
  std::vector<DirectivePtr> out;
  std::set<std::string> seen;
  std::shared_lock lock(mu_);
  for (const auto& p : patients) {
    auto it = by_patient_.find(PatientKey(p));
    if (it == by_patient_.end()) continue;
    for (const std::string& id : it->second) {
      if (seen.insert(id).second) out.push_back(directives_.at(id));
    }
  }
  return out;
}

GrantPtr ConsentView::Grant(const std::string& grant_id) const {
  std::shared_lock lock(mu_);
  auto it = grants_.find(grant_id);
  return it == grants_.end() ? nullptr : it->second;
}

std::vector<GrantPtr> ConsentView::GrantsOf(const std::string& org,
                                            const std::string& user_id) const {
  std::vector<GrantPtr> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, g] : grants_) {
      if (g->actor().org() == org && g->actor().user_id() == user_id) out.push_back(g);
    }
  }
  std::sort(out.begin(), out.end(), [](const GrantPtr& a, const GrantPtr& b) {
    const int64_t x = UnixNanos(a->start_time()), y = UnixNanos(b->start_time());
    return x != y ? x > y : a->grant_id() > b->grant_id();
  });
  return out;
}

void ConsentView::Prune(absl::Time now) {
  std::unique_lock lock(mu_);
  for (auto it = grants_.begin(); it != grants_.end();) {
    it = FromProto(it->second->expire_time()) <= now ? grants_.erase(it) : std::next(it);
  }
}

size_t ConsentView::directive_count() const {
  std::shared_lock lock(mu_);
  return directives_.size();
}

size_t ConsentView::grant_count() const {
  std::shared_lock lock(mu_);
  return grants_.size();
}

}  // namespace hie::consent
