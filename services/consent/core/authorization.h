#pragma once

// Who may do what in the consent service. Pure: no gRPC, no TLS; the adapter hands in what the
// verified client certificate says (services/common/tls.h PeerIdentityOf). Mirrors
// services/identity/core/authorization.h.
//
// Callers, by certificate role (subject OU), and the actor each call runs as:
//   service   a hub service. Those named in AuthorizationPolicy::delegating_services (by
//             certificate CN; the gateway by default) act on behalf of the user the request's
//             context.actor names (org and role required) and may call every operation that
//             actor may (below). Every other service acts as itself {cert O, cert CN,
//             ROLE_HUB_SERVICE}, may only decide and read the policy (Decide, BatchDecide,
//             GetPolicy), and may not name another actor.
//   auditor   a privacy officer {cert O, cert CN, ROLE_PRIVACY_OFFICER}: manages directives
//             (create, read, list, update, revoke), lists, ends and reviews break-glass grants,
//             decides, reads the policy. context.actor may repeat the certificate's org and CN,
//             never name someone else (PERMISSION_DENIED).
//   operator  {cert O, cert CN, ROLE_HIE_OPERATOR}: decides and reads the policy only.
//   member    PERMISSION_DENIED: members go through the gateway.
// Anything else: PERMISSION_DENIED.
//
// What a delegated actor may do (CheckActorScope, run by ConsentManager on every operation so
// that no entry point can forget it):
//   Decide, BatchDecide, GetPolicy: any actor (the actor is the recipient).
//   Create/Update/Revoke/GetDirective: a privacy officer, or a member actor (clinician, staff,
//     member system) of the directive's patient's org (directive.patient.org == actor.org).
//   ListDirectives: a privacy officer (everything), or a member actor (only its own org's
//     records are returned).
//   BreakGlass: ROLE_CLINICIAN with a user_id.
//   EndBreakGlass: the grant's own user (same org and user_id) or a privacy officer.
//   ListBreakGlassGrants, ReviewBreakGlass: a privacy officer.

#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"

namespace hie::consent {

enum class Operation {
  kDecide,  // Decide, BatchDecide
  kGetPolicy,
  kWriteDirective,  // CreateDirective, UpdateDirective, RevokeDirective
  kReadDirective,   // GetDirective, ListDirectives
  kBreakGlass,
  kEndBreakGlass,
  kListGrants,
  kReviewGrant,
};

// The verified certificate of a caller.
struct Caller {
  std::string org;          // subject O
  std::string role;         // subject OU
  std::string common_name;  // subject CN
};

struct AuthorizationPolicy {
  std::set<std::string> delegating_services = {"gateway"};
};

// Parses "gateway,other"; INVALID_ARGUMENT for an empty or malformed name.
absl::StatusOr<AuthorizationPolicy> ParseDelegatingServices(std::string_view csv);

// The actor a call by `caller` runs as, given the actor its request claims (may be empty), or
// PERMISSION_DENIED / INVALID_ARGUMENT naming the reason (never a value).
absl::StatusOr<hie::common::v1::Actor> ActorForCall(const Caller& caller,
                                                    const hie::common::v1::Actor& claimed,
                                                    Operation op,
                                                    const AuthorizationPolicy& policy);

bool IsMemberRole(hie::common::v1::Role role);
bool IsPrivacyOfficer(const hie::common::v1::Actor& actor);

// The core's check of what `actor` may do (see above). `patient_org` is the org of the
// directive's patient for directive operations, `grant_owner` the grant's actor for
// EndBreakGlass. An empty actor (in-process tools, tests) is refused: every call has one.
absl::Status CheckActorScope(const hie::common::v1::Actor& actor, Operation op,
                             std::string_view patient_org = {},
                             const hie::common::v1::Actor* grant_owner = nullptr);

}  // namespace hie::consent
