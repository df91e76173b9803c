#include "services/consent/store/in_memory_consent_store.h"

#include <algorithm>
#include <set>

#include "services/common/status_macros.h"
#include "services/consent/core/time_proto.h"

namespace hie::consent {
namespace {

class InMemoryTxn : public ConsentTxn {
 public:
  explicit InMemoryTxn(InMemoryConsentStore::State* state) : s_(state) {}

  absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) override {
    auto it = s_->idempotency.find(key);
    if (it == s_->idempotency.end()) return std::nullopt;
    return it->second;
  }
  absl::Status PutIdempotent(const std::string& key, const StoredResponse& value) override {
    if (!s_->idempotency.emplace(key, value).second) {
      return absl::AlreadyExistsError("idempotency key already recorded");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::ConsentDirective>> GetDirectiveForUpdate(
      const std::string& id) override {
    auto it = s_->directives.find(id);
    if (it == s_->directives.end()) return std::nullopt;
    return it->second.second;
  }
  absl::StatusOr<std::optional<v1::BreakGlassGrant>> GetGrantForUpdate(
      const std::string& id) override {
    auto it = s_->grants.find(id);
    if (it == s_->grants.end()) return std::nullopt;
    return it->second.second;
  }
  absl::Status PutDirective(const v1::ConsentDirective& d) override {
    HIE_ASSIGN_OR_RETURN(int64_t v, Version());
    auto it = s_->directives.find(d.directive_id());
    if (it != s_->directives.end()) s_->history[d.directive_id()].push_back(it->second.second);
    s_->directives[d.directive_id()] = {v, d};
    return absl::OkStatus();
  }
  absl::Status PutGrant(const v1::BreakGlassGrant& g) override {
    HIE_ASSIGN_OR_RETURN(int64_t v, Version());
    s_->grants[g.grant_id()] = {v, g};
    return absl::OkStatus();
  }
  absl::Status AppendOutbox(const hie::audit::v1::AuditEvent& event) override {
    for (const OutboxRow& row : s_->outbox) {
      if (row.event_id == event.event_id()) return absl::AlreadyExistsError("event_id exists");
    }
    OutboxRow row;
    row.sequence = static_cast<int64_t>(s_->outbox.size()) + 1;
    row.event_id = event.event_id();
    row.event = event.SerializeAsString();
    s_->outbox.push_back(std::move(row));
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> Version() override {
    if (version_ == 0) version_ = ++s_->version;
    return version_;
  }

 private:
  InMemoryConsentStore::State* s_;
  int64_t version_ = 0;
};

bool HasPatient(const std::vector<hie::common::v1::SourceId>& ids,
                const hie::common::v1::SourceId& p) {
  return std::any_of(ids.begin(), ids.end(), [&](const auto& x) {
    return x.org() == p.org() && x.local_id() == p.local_id();
  });
}

template <typename Row>
bool Before(const std::optional<std::pair<int64_t, std::string>>& after, int64_t ns,
            const std::string& id) {
  if (!after) return true;
  return ns < after->first || (ns == after->first && id < after->second);
}

}  // namespace

void InMemoryConsentStore::SetFailure(absl::Status failure) {
  std::lock_guard lock(mu_);
  failure_ = std::move(failure);
}

absl::Status InMemoryConsentStore::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

absl::Status InMemoryConsentStore::Transact(absl::Time deadline, const TxnFn& fn) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard txn_lock(txn_mu_);
  State copy;
  {
    std::lock_guard lock(mu_);
    copy = state_;
  }
  InMemoryTxn txn(&copy);
  HIE_RETURN_IF_ERROR(fn(txn));
  std::lock_guard lock(mu_);
  state_ = std::move(copy);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::ConsentDirective>> InMemoryConsentStore::GetDirective(
    absl::Time, const std::string& id) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  auto it = state_.directives.find(id);
  if (it == state_.directives.end()) return std::nullopt;
  return it->second.second;
}

absl::StatusOr<std::vector<v1::ConsentDirective>> InMemoryConsentStore::DirectiveHistory(
    absl::Time, const std::string& id) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  auto it = state_.history.find(id);
  if (it == state_.history.end()) return std::vector<v1::ConsentDirective>{};
  return it->second;
}

absl::StatusOr<std::vector<v1::ConsentDirective>> InMemoryConsentStore::ListDirectives(
    absl::Time, const DirectiveFilter& f) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  std::vector<v1::ConsentDirective> out;
  for (const auto& [id, row] : state_.directives) {
    const v1::ConsentDirective& d = row.second;
    if (!HasPatient(f.patients, d.patient())) continue;
    if (!f.states.empty() &&
        std::find(f.states.begin(), f.states.end(), d.state()) == f.states.end()) {
      continue;
    }
    if (!Before<v1::ConsentDirective>(f.after, UnixNanos(d.create_time()), id)) continue;
    out.push_back(d);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const int64_t x = UnixNanos(a.create_time()), y = UnixNanos(b.create_time());
    return x != y ? x > y : a.directive_id() > b.directive_id();
  });
  if (out.size() > f.limit) out.resize(f.limit);
  return out;
}

absl::StatusOr<std::optional<v1::BreakGlassGrant>> InMemoryConsentStore::GetGrant(
    absl::Time, const std::string& id) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  auto it = state_.grants.find(id);
  if (it == state_.grants.end()) return std::nullopt;
  return it->second.second;
}

absl::StatusOr<std::vector<v1::BreakGlassGrant>> InMemoryConsentStore::ListGrants(
    absl::Time, const GrantFilter& f) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  std::vector<v1::BreakGlassGrant> out;
  for (const auto& [id, row] : state_.grants) {
    const v1::BreakGlassGrant& g = row.second;
    const absl::Time start = FromProto(g.start_time());
    if (!f.review_states.empty() && std::find(f.review_states.begin(), f.review_states.end(),
                                              g.review_state()) == f.review_states.end()) {
      continue;
    }
    if (!f.actor_org.empty() && g.actor().org() != f.actor_org) continue;
    if (!f.patients.empty() &&
        std::none_of(g.patients().begin(), g.patients().end(),
                     [&](const auto& p) { return HasPatient(f.patients, p); })) {
      continue;
    }
    if ((f.start_from && start < *f.start_from) || (f.start_before && start >= *f.start_before)) {
      continue;
    }
    if (!Before<v1::BreakGlassGrant>(f.after, UnixNanos(g.start_time()), id)) continue;
    out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const int64_t x = UnixNanos(a.start_time()), y = UnixNanos(b.start_time());
    return x != y ? x > y : a.grant_id() > b.grant_id();
  });
  if (out.size() > f.limit) out.resize(f.limit);
  return out;
}

absl::StatusOr<ChangeSet> InMemoryConsentStore::ChangesSince(absl::Time, int64_t after,
                                                             bool in_force_only, absl::Time now) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  ChangeSet out;
  out.version = state_.version;
  for (const auto& [id, row] : state_.directives) {
    if (row.first <= after) continue;
    if (in_force_only && row.second.state() != v1::DIRECTIVE_STATE_ACTIVE) continue;
    out.directives.push_back(row.second);
  }
  for (const auto& [id, row] : state_.grants) {
    if (row.first <= after) continue;
    const v1::BreakGlassGrant& g = row.second;
    if (in_force_only && (g.has_end_time() || FromProto(g.expire_time()) <= now)) continue;
    out.grants.push_back(g);
  }
  return out;
}

absl::StatusOr<size_t> InMemoryConsentStore::DeliverOutbox(absl::Time, size_t limit,
                                                           const SendFn& send) {
  HIE_RETURN_IF_ERROR(Failure());
  std::unique_lock deliver(deliver_mu_, std::try_to_lock);
  if (!deliver.owns_lock()) return 0;
  std::vector<OutboxRow> rows;
  {
    std::lock_guard lock(mu_);
    for (const OutboxRow& row : state_.outbox) {
      if (rows.size() >= limit) break;
      if (!state_.delivered[row.sequence]) rows.push_back(row);
    }
  }
  if (rows.empty()) return 0;
  HIE_RETURN_IF_ERROR(send(rows));
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  for (const OutboxRow& row : rows) state_.delivered[row.sequence] = true;
  return rows.size();
}

absl::StatusOr<int64_t> InMemoryConsentStore::OutboxBacklog(absl::Time) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (const OutboxRow& row : state_.outbox) n += state_.delivered[row.sequence] ? 0 : 1;
  return n;
}

}  // namespace hie::consent
