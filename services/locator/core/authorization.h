#pragma once

// Who may do what in the locator. Pure: the adapter hands in the verified certificate
// (services/common/peer_identity.h) and the request's context.actor.
//
// Callers, by certificate role (subject OU):
//   service   named in AuthorizationPolicy::delegating_services (by CN; the gateway by
//             default): acts for the user or system context.actor names (org and role
//             required); a member actor (clinician, clinical or administrative staff, member
//             system) may also report activity for and remove its own org's records (the core
//             checks the org); any other actor only reads. Every other service reads as itself
//             {cert O, CN, ROLE_HUB_SERVICE} (the locator learns from feeds, not from services'
//             reports) and may not name another actor.
//   operator  reads, reports and removes as {cert O, CN, ROLE_HIE_OPERATOR}, for any org.
//   auditor   reads as {.., ROLE_PRIVACY_OFFICER}, and removes at a patient's request.
//             For operators and auditors context.actor may repeat the certificate, never name
//             someone else.
//   member    PERMISSION_DENIED: members reach the locator through the gateway.
// Anything else: PERMISSION_DENIED. Errors name the reason, never a value.

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"
#include "services/common/peer_identity.h"
#include "services/locator/core/locator_operations.h"

namespace hie::locator {

enum class Access { kRead, kReport, kRemove };

struct AuthorizationPolicy {
  std::set<std::string> delegating_services = {"gateway"};
};

absl::StatusOr<Actor> ActorForCall(const PeerIdentity& caller, const common::v1::Actor& claimed,
                                   Access access, const AuthorizationPolicy& policy);

}  // namespace hie::locator
