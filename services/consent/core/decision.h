#pragma once

// The consent decision as a pure function: facts in, a Decision out. No I/O, no clock, no
// randomness (the caller supplies decision_id and the time); the rule table in
// decision_test.cc and the worked examples of services/consent/README.md are the same cases.
//
// The rule is the one in the header of proto/hie/consent/v1/consent.proto, evaluated at
// `request.at` over the directives given (ACTIVE directives of the request's patients; the
// function re-checks state, period and the actor/custodian/purpose lists itself):
//  -. view not confirmed fresh: DENY, basis CONSENT_UNAVAILABLE, cache_ttl 0.
//  0. purpose exempt by policy: PERMIT, basis EXEMPT_PURPOSE; protected labels redacted.
//  1. purpose EMERGENCY and a break-glass grant that applies (in force at `at`, the actor's own
//     grant, covering the request's patient as identity resolves it now; the caller resolved
//     that and says so in BreakGlassFact): PERMIT, basis BREAK_GLASS, obligation
//     AUDIT_AS_BREAK_GLASS; protected labels redacted unless the policy lets break-glass reveal
//     them (then NO_REDISCLOSURE for them). A grant that does not apply is reported in
//     break_glass_check and the rules go on.
//  2. a matching DENY without categories or labels: DENY, basis DIRECTIVE, the most recently
//     created such directive deciding.
//  3. a matching PERMIT that covers the request, or default OPT_OUT: PERMIT (basis DIRECTIVE,
//     the most recently created covering PERMIT; else DEFAULT_POLICY). A PERMIT without
//     categories or labels covers every request; one scoped to categories and/or labels covers
//     a request only when the request names its data and all of it lies within that scope (so
//     "share my lab results" never opens everything). Matching DENYs scoped to categories or
//     labels become REDACT obligations (the deny's directive_id). Protected labels are redacted
//     (policy obligation) unless a matching PERMIT names them; when released they carry
//     NO_REDISCLOSURE (42 CFR Part 2).
//  4. otherwise: DENY, basis DEFAULT_POLICY.
// "Matching": the directive is ACTIVE, `at` lies in its period [start, end), and each of its
// actor_orgs / custodian_orgs / purposes lists is empty or contains the request's value.
// Codes in obligations are limited to the request's data when it names it (a deny of category
// X is irrelevant to a document of category Y): with empty request lists every code counts.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hie/consent/v1/consent.pb.h"

namespace hie::consent {

// What the caller found out about the break-glass grant it considered (purpose EMERGENCY).
struct BreakGlassFact {
  enum class Coverage {
    kCovered,      // one person now, sharing a record with the request's patients
    kNotCovered,   // another person now, or several (e.g. after an unmerge), or unknown records
    kUnavailable,  // identity could not be asked
  };
  v1::BreakGlassGrant grant;
  Coverage coverage = Coverage::kNotCovered;
};

struct DecisionRequest {
  hie::common::v1::Actor actor;
  hie::common::v1::PurposeOfUse purpose = hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED;
  std::string custodian_org;
  std::vector<hie::common::v1::Coding> data_categories;
  std::vector<hie::common::v1::Coding> sensitivity_labels;
  absl::Time at;
};

struct DecisionFacts {
  // The policy in force.
  const v1::ConsentPolicy* policy = nullptr;
  // Candidate directives of the request's patients (any state; non-matching ones are ignored).
  std::vector<const v1::ConsentDirective*> directives;
  // Purpose EMERGENCY: the grant considered, if any (BREAK_GLASS_CHECK_NO_GRANT when none).
  const BreakGlassFact* break_glass = nullptr;
  // Whether the view was confirmed current within its freshness bound.
  bool view_fresh = true;
  int64_t view_version = 0;
};

// Longest a caller may reuse a decision.
inline constexpr absl::Duration kMaxCacheTtl = absl::Seconds(1);

// The decision; decision_id and decide_time are set from the arguments.
v1::Decision Decide(const DecisionRequest& request, const DecisionFacts& facts,
                    const std::string& decision_id);

// Helpers shared with the view and the service (pure).
bool SameCoding(const hie::common::v1::Coding& a, const hie::common::v1::Coding& b);
// True when `period` contains `at` ([start, end), unset bounds open).
bool PeriodContains(const hie::common::v1::TimeRange& period, absl::Time at);
// True when `grant` is in force at `at`: started, not expired, not ended.
bool GrantInForce(const v1::BreakGlassGrant& grant, absl::Time at);

}  // namespace hie::consent
