#pragma once

// Who may do what in the registry. Pure: the adapter hands in the verified certificate
// (services/common/peer_identity.h) and the request's context.actor.
//
// Callers, by certificate role (subject OU):
//   service   named in AuthorizationPolicy::delegating_services (by CN; the gateway by
//             default): acts for the user or system context.actor names (org and role
//             required). A member actor (clinician, clinical or administrative staff, member
//             system) may publish and deprecate its own org's documents and read; any other
//             actor may only read. Every other service reads as itself {cert O, CN,
//             ROLE_HUB_SERVICE} and may not name another actor.
//   operator  reads as {cert O, CN, ROLE_HIE_OPERATOR}; auditor as {.., ROLE_PRIVACY_OFFICER};
//             context.actor may repeat the certificate, never name someone else.
//   member    PERMISSION_DENIED: members reach the registry through the gateway.
// Anything else: PERMISSION_DENIED. Errors name the reason, never a value.

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"
#include "services/common/peer_identity.h"
#include "services/registry/core/registry_operations.h"

namespace hie::registry {

enum class Access { kRead, kPublish };  // kPublish: RegisterSubmissionSet, DeprecateDocument

struct AuthorizationPolicy {
  std::set<std::string> delegating_services = {"gateway"};
};

absl::StatusOr<Actor> ActorForCall(const PeerIdentity& caller, const common::v1::Actor& claimed,
                                   Access access, const AuthorizationPolicy& policy);

}  // namespace hie::registry
