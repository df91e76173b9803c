#include "services/consent/core/decision.h"

#include <algorithm>

#include "services/consent/core/time_proto.h"

namespace hie::consent {
namespace {

using google::protobuf::RepeatedPtrField;
using hie::common::v1::Coding;

bool Contains(const RepeatedPtrField<Coding>& list, const Coding& c) {
  return std::any_of(list.begin(), list.end(), [&](const Coding& x) { return SameCoding(x, c); });
}
bool Contains(const std::vector<Coding>& list, const Coding& c) {
  return std::any_of(list.begin(), list.end(), [&](const Coding& x) { return SameCoding(x, c); });
}

template <typename List, typename T>
bool EmptyOrHas(const List& list, const T& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

bool Matches(const v1::ConsentDirective& d, const DecisionRequest& r) {
  return d.state() == v1::DIRECTIVE_STATE_ACTIVE && PeriodContains(d.effective_period(), r.at) &&
         EmptyOrHas(d.actor_orgs(), r.actor.org()) &&
         EmptyOrHas(d.custodian_orgs(), r.custodian_org) &&
         (d.purposes().empty() ||
          std::find(d.purposes().begin(), d.purposes().end(), r.purpose) != d.purposes().end());
}

bool Scoped(const v1::ConsentDirective& d) {
  return !d.data_categories().empty() || !d.sensitivity_labels().empty();
}

// A scoped PERMIT covers the request only when the request names its data and all of it lies
// within the permit's scope.
bool Covers(const v1::ConsentDirective& permit, const DecisionRequest& r) {
  if (!Scoped(permit)) return true;
  if (r.data_categories.empty() && r.sensitivity_labels.empty()) return false;
  auto within = [](const std::vector<Coding>& asked, const RepeatedPtrField<Coding>& scope) {
    if (scope.empty()) return true;
    if (asked.empty()) return false;
    return std::all_of(asked.begin(), asked.end(),
                       [&](const Coding& c) { return Contains(scope, c); });
  };
  return within(r.data_categories, permit.data_categories()) &&
         within(r.sensitivity_labels, permit.sensitivity_labels());
}

// The codes of `codes` the request's data can carry (all of them when it names none).
std::vector<Coding> Relevant(const RepeatedPtrField<Coding>& codes,
                             const std::vector<Coding>& asked) {
  std::vector<Coding> out;
  for (const Coding& c : codes) {
    if ((asked.empty() || Contains(asked, c)) && !Contains(out, c)) out.push_back(c);
  }
  return out;
}

void AddObligation(v1::Decision& decision, v1::Obligation::Type type,
                   const std::vector<Coding>& codes, const std::string& directive_id) {
  if (codes.empty() && type != v1::Obligation::TYPE_AUDIT_AS_BREAK_GLASS) return;
  v1::Obligation* o = decision.add_obligations();
  o->set_type(type);
  for (const Coding& c : codes) *o->add_codes() = c;
  o->set_directive_id(directive_id);
}

// Newest first by create_time, then by id: the directive reported as deciding.
const v1::ConsentDirective* Newest(const std::vector<const v1::ConsentDirective*>& ds) {
  const v1::ConsentDirective* best = nullptr;
  for (const v1::ConsentDirective* d : ds) {
    if (best == nullptr) {
      best = d;
      continue;
    }
    const int64_t a = UnixNanos(d->create_time()), b = UnixNanos(best->create_time());
    if (a > b || (a == b && d->directive_id() > best->directive_id())) best = d;
  }
  return best;
}

// Protected labels: redacted unless `released` says otherwise; released ones get
// NO_REDISCLOSURE. `redacted_already` are labels a directive already redacts.
void ApplyProtectedLabels(v1::Decision& decision, const v1::ConsentPolicy& policy,
                          const DecisionRequest& r,
                          const std::vector<const v1::ConsentDirective*>& permits, bool reveal_all,
                          const std::vector<Coding>& redacted_already) {
  std::vector<Coding> redact, released;
  for (const Coding& label : Relevant(policy.protected_labels(), r.sensitivity_labels)) {
    if (Contains(redacted_already, label)) continue;
    // A permit releases a protected label only for data it covers: it names the label, and
    // either limits no categories or covers every category asked for (a request naming no
    // category asks for all data, which a category-limited permit does not cover).
    const bool named = std::any_of(permits.begin(), permits.end(), [&](const auto* p) {
      if (!Contains(p->sensitivity_labels(), label)) return false;
      if (p->data_categories().empty()) return true;
      return !r.data_categories.empty() &&
             std::all_of(r.data_categories.begin(), r.data_categories.end(),
                         [&](const Coding& c) { return Contains(p->data_categories(), c); });
    });
    (reveal_all || named ? released : redact).push_back(label);
  }
  AddObligation(decision, v1::Obligation::TYPE_REDACT_SENSITIVITY_LABELS, redact, "");
  AddObligation(decision, v1::Obligation::TYPE_NO_REDISCLOSURE, released, "");
}

v1::BreakGlassCheck CheckGrant(const DecisionRequest& r, const BreakGlassFact* fact) {
  if (fact == nullptr) return v1::BREAK_GLASS_CHECK_NO_GRANT;
  const v1::BreakGlassGrant& g = fact->grant;
  if (!GrantInForce(g, r.at) || g.actor().org() != r.actor.org() ||
      g.actor().user_id() != r.actor.user_id()) {
    return v1::BREAK_GLASS_CHECK_NOT_IN_FORCE;
  }
  switch (fact->coverage) {
    case BreakGlassFact::Coverage::kCovered:
      return v1::BREAK_GLASS_CHECK_APPLIED;
    case BreakGlassFact::Coverage::kUnavailable:
      return v1::BREAK_GLASS_CHECK_IDENTITY_UNAVAILABLE;
    case BreakGlassFact::Coverage::kNotCovered:
      break;
  }
  return v1::BREAK_GLASS_CHECK_NOT_COVERED;
}

void DecideBreakGlass(v1::Decision& decision, const DecisionRequest& r, const DecisionFacts& f) {
  const v1::BreakGlassGrant& g = f.break_glass->grant;
  decision.set_effect(v1::EFFECT_PERMIT);
  decision.set_basis(v1::DECISION_BASIS_BREAK_GLASS);
  decision.set_break_glass_id(g.grant_id());
  AddObligation(decision, v1::Obligation::TYPE_AUDIT_AS_BREAK_GLASS, {}, "");
  ApplyProtectedLabels(decision, *f.policy, r, {}, f.policy->break_glass_reveals_protected(), {});
  absl::Time until = FromProto(g.expire_time());
  if (g.has_end_time()) until = std::min(until, FromProto(g.end_time()));
  *decision.mutable_cache_ttl() =
      ToProtoDuration(std::clamp(until - r.at, absl::ZeroDuration(), kMaxCacheTtl));
}

// Rules 2 to 4 over the matching directives.
void DecideByDirectives(v1::Decision& decision, const DecisionRequest& r, const DecisionFacts& f) {
  std::vector<const v1::ConsentDirective*> full_denies, scoped_denies, permits, covering;
  for (const v1::ConsentDirective* d : f.directives) {
    if (d == nullptr || !Matches(*d, r)) continue;
    if (d->effect() == v1::EFFECT_DENY) {
      (Scoped(*d) ? scoped_denies : full_denies).push_back(d);
    } else if (d->effect() == v1::EFFECT_PERMIT) {
      permits.push_back(d);
      if (Covers(*d, r)) covering.push_back(d);
    }
  }
  if (!full_denies.empty()) {
    decision.set_effect(v1::EFFECT_DENY);
    decision.set_basis(v1::DECISION_BASIS_DIRECTIVE);
    decision.set_directive_id(Newest(full_denies)->directive_id());
    return;
  }
  if (covering.empty() && f.policy->default_mode() != v1::DEFAULT_MODE_OPT_OUT) {
    decision.set_effect(v1::EFFECT_DENY);
    decision.set_basis(v1::DECISION_BASIS_DEFAULT_POLICY);
    return;
  }
  decision.set_effect(v1::EFFECT_PERMIT);
  if (!covering.empty()) {
    decision.set_basis(v1::DECISION_BASIS_DIRECTIVE);
    decision.set_directive_id(Newest(covering)->directive_id());
  } else {
    decision.set_basis(v1::DECISION_BASIS_DEFAULT_POLICY);
  }
  std::vector<Coding> redacted_labels;
  for (const v1::ConsentDirective* d : scoped_denies) {
    AddObligation(decision, v1::Obligation::TYPE_REDACT_DATA_CATEGORIES,
                  Relevant(d->data_categories(), r.data_categories), d->directive_id());
    std::vector<Coding> labels = Relevant(d->sensitivity_labels(), r.sensitivity_labels);
    AddObligation(decision, v1::Obligation::TYPE_REDACT_SENSITIVITY_LABELS, labels,
                  d->directive_id());
    redacted_labels.insert(redacted_labels.end(), labels.begin(), labels.end());
  }
  ApplyProtectedLabels(decision, *f.policy, r, permits, false, redacted_labels);
}

}  // namespace

bool SameCoding(const Coding& a, const Coding& b) {
  return a.system() == b.system() && a.code() == b.code();
}

bool PeriodContains(const hie::common::v1::TimeRange& period, absl::Time at) {
  if (period.has_start() && at < FromProto(period.start())) return false;
  if (period.has_end() && at >= FromProto(period.end())) return false;
  return true;
}

bool GrantInForce(const v1::BreakGlassGrant& grant, absl::Time at) {
  if (at < FromProto(grant.start_time()) || at >= FromProto(grant.expire_time())) return false;
  return !grant.has_end_time() || at < FromProto(grant.end_time());
}

v1::Decision Decide(const DecisionRequest& r, const DecisionFacts& f,
                    const std::string& decision_id) {
  v1::Decision decision;
  decision.set_decision_id(decision_id);
  *decision.mutable_decide_time() = ToProto(r.at);
  decision.set_policy_version(f.policy->policy_version());
  decision.set_view_version(f.view_version);
  if (!f.view_fresh) {
    decision.set_effect(v1::EFFECT_DENY);
    decision.set_basis(v1::DECISION_BASIS_CONSENT_UNAVAILABLE);
    *decision.mutable_cache_ttl() = ToProtoDuration(absl::ZeroDuration());
    return decision;
  }
  *decision.mutable_cache_ttl() = ToProtoDuration(kMaxCacheTtl);
  const auto& exempt = f.policy->purposes_exempt_from_consent();
  if (std::find(exempt.begin(), exempt.end(), r.purpose) != exempt.end()) {
    decision.set_effect(v1::EFFECT_PERMIT);
    decision.set_basis(v1::DECISION_BASIS_EXEMPT_PURPOSE);
    ApplyProtectedLabels(decision, *f.policy, r, {}, false, {});
    return decision;
  }
  if (r.purpose == hie::common::v1::PURPOSE_OF_USE_EMERGENCY) {
    decision.set_break_glass_check(CheckGrant(r, f.break_glass));
    if (decision.break_glass_check() == v1::BREAK_GLASS_CHECK_APPLIED) {
      DecideBreakGlass(decision, r, f);
    } else {
      // Emergency treatment (ETREAT) is honoured only under a grant that applies now
      // (common.proto); without one the purpose is refused, never treated as ordinary care.
      decision.set_effect(v1::EFFECT_DENY);
      decision.set_basis(v1::DECISION_BASIS_BREAK_GLASS);
    }
    return decision;
  }
  DecideByDirectives(decision, r, f);
  return decision;
}

}  // namespace hie::consent
