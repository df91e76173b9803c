#include "services/registry/core/authorization.h"

namespace hie::registry {
namespace {

using common::v1::Role;

bool IsMemberRole(Role role) {
  return role == common::v1::ROLE_CLINICIAN || role == common::v1::ROLE_CLINICAL_STAFF ||
         role == common::v1::ROLE_ADMINISTRATIVE_STAFF || role == common::v1::ROLE_MEMBER_SYSTEM;
}

absl::StatusOr<Actor> AsItself(const PeerIdentity& caller, const common::v1::Actor& claimed,
                               Role role, Access access) {
  const bool names_other =
      (!claimed.org().empty() && claimed.org() != caller.org) ||
      (!claimed.user_id().empty() && claimed.user_id() != caller.common_name) ||
      (claimed.role() != common::v1::ROLE_UNSPECIFIED && claimed.role() != role);
  if (names_other) {
    return absl::PermissionDeniedError(
        "context.actor must not name another actor than the "
        "certificate");
  }
  if (access != Access::kRead) {
    return absl::PermissionDeniedError("only member actors, through the gateway, publish");
  }
  return Actor{caller.org, role, caller.common_name};
}

}  // namespace

absl::StatusOr<Actor> ActorForCall(const PeerIdentity& caller, const common::v1::Actor& claimed,
                                   Access access, const AuthorizationPolicy& policy) {
  if (access == Access::kFeed) {
    if (caller.role != "service" || !policy.feed_readers.contains(caller.common_name)) {
      return absl::PermissionDeniedError(
          "only the services named by --feed-readers read the change feed");
    }
    return AsItself(caller, claimed, common::v1::ROLE_HUB_SERVICE, Access::kRead);
  }
  if (caller.role == "service" && policy.delegating_services.contains(caller.common_name)) {
    if (claimed.org().empty()) return absl::InvalidArgumentError("context.actor.org is required");
    if (claimed.role() == common::v1::ROLE_UNSPECIFIED) {
      return absl::InvalidArgumentError("context.actor.role is required");
    }
    if (access == Access::kPublish && !IsMemberRole(claimed.role())) {
      return absl::PermissionDeniedError("only member actors publish or deprecate documents");
    }
    return Actor{claimed.org(), claimed.role(), claimed.user_id()};
  }
  if (caller.role == "service") {
    return AsItself(caller, claimed, common::v1::ROLE_HUB_SERVICE, access);
  }
  if (caller.role == "operator") {
    return AsItself(caller, claimed, common::v1::ROLE_HIE_OPERATOR, access);
  }
  if (caller.role == "auditor") {
    return AsItself(caller, claimed, common::v1::ROLE_PRIVACY_OFFICER, access);
  }
  if (caller.role == "member") {
    return absl::PermissionDeniedError("members reach the registry through the gateway");
  }
  return absl::PermissionDeniedError("unknown caller role");
}

}  // namespace hie::registry
