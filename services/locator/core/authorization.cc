#include "services/locator/core/authorization.h"

namespace hie::locator {
namespace {

using common::v1::Role;

absl::StatusOr<Actor> AsItself(const PeerIdentity& caller, const common::v1::Actor& claimed,
                               Role role) {
  const bool names_other =
      (!claimed.org().empty() && claimed.org() != caller.org) ||
      (!claimed.user_id().empty() && claimed.user_id() != caller.common_name) ||
      (claimed.role() != common::v1::ROLE_UNSPECIFIED && claimed.role() != role);
  if (names_other) {
    return absl::PermissionDeniedError(
        "context.actor must not name another actor than the "
        "certificate");
  }
  return Actor{caller.org, role, caller.common_name};
}

}  // namespace

bool IsMemberRole(Role role) {
  return role == common::v1::ROLE_CLINICIAN || role == common::v1::ROLE_CLINICAL_STAFF ||
         role == common::v1::ROLE_ADMINISTRATIVE_STAFF || role == common::v1::ROLE_MEMBER_SYSTEM;
}

absl::StatusOr<Actor> ActorForCall(const PeerIdentity& caller, const common::v1::Actor& claimed,
                                   Access access, const AuthorizationPolicy& policy) {
  if (caller.role == "service" && policy.delegating_services.contains(caller.common_name)) {
    if (claimed.org().empty()) return absl::InvalidArgumentError("context.actor.org is required");
    if (claimed.role() == common::v1::ROLE_UNSPECIFIED) {
      return absl::InvalidArgumentError("context.actor.role is required");
    }
    if (access != Access::kRead && !IsMemberRole(claimed.role())) {
      return absl::PermissionDeniedError("only member actors report or remove locations");
    }
    return Actor{claimed.org(), claimed.role(), claimed.user_id()};
  }
  if (caller.role == "service") {
    if (access != Access::kRead) {
      return absl::PermissionDeniedError("hub services read locations; feeds write them");
    }
    return AsItself(caller, claimed, common::v1::ROLE_HUB_SERVICE);
  }
  if (caller.role == "operator") {
    return AsItself(caller, claimed, common::v1::ROLE_HIE_OPERATOR);
  }
  if (caller.role == "auditor") {
    if (access == Access::kReport) {
      return absl::PermissionDeniedError("privacy officers read and remove locations only");
    }
    return AsItself(caller, claimed, common::v1::ROLE_PRIVACY_OFFICER);
  }
  if (caller.role == "member") {
    return absl::PermissionDeniedError("members reach the locator through the gateway");
  }
  return absl::PermissionDeniedError("unknown caller role");
}

}  // namespace hie::locator
