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
//
// The change feed (Access::kFeed, ListChanges) holds every entry of every patient: only the
// services named in AuthorizationPolicy::feed_readers (by CN; the locator by default) read it,
// as themselves {cert O, CN, ROLE_HUB_SERVICE}. Everyone else is PERMISSION_DENIED: members,
// operators, auditors, the gateway (whatever actor it names) and other services.

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"
#include "services/common/peer_identity.h"
#include "services/registry/core/registry_operations.h"

namespace hie::registry {

// kPublish: RegisterSubmissionSet, DeprecateDocument; kFeed: ListChanges.
enum class Access { kRead, kPublish, kFeed };

struct AuthorizationPolicy {
  std::set<std::string> delegating_services = {"gateway"};
  std::set<std::string> feed_readers = {"locator"};
};

absl::StatusOr<Actor> ActorForCall(const PeerIdentity& caller, const common::v1::Actor& claimed,
                                   Access access, const AuthorizationPolicy& policy);

}  // namespace hie::registry
