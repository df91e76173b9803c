#include "services/consent/core/authorization.h"

#include "absl/strings/str_split.h"

namespace hie::consent {
namespace {

using hie::common::v1::Actor;
using hie::common::v1::Role;

absl::Status Denied(const char* why) { return absl::PermissionDeniedError(why); }

bool ServiceMayCallAsItself(Operation op) {
  return op == Operation::kDecide || op == Operation::kGetPolicy;
}

bool OperatorMay(Operation op) { return op == Operation::kDecide || op == Operation::kGetPolicy; }

// Staff certificates: context.actor may repeat the certificate, never name someone else.
absl::StatusOr<Actor> StaffActor(const Caller& caller, const Actor& claimed, Role role) {
  if ((!claimed.org().empty() && claimed.org() != caller.org) ||
      (!claimed.user_id().empty() && claimed.user_id() != caller.common_name) ||
      (claimed.role() != hie::common::v1::ROLE_UNSPECIFIED && claimed.role() != role)) {
    return Denied("context.actor must not name another actor than the certificate");
  }
  Actor actor;
  actor.set_org(caller.org);
  actor.set_user_id(caller.common_name);
  actor.set_role(role);
  return actor;
}

}  // namespace

absl::StatusOr<AuthorizationPolicy> ParseDelegatingServices(std::string_view csv) {
  AuthorizationPolicy policy;
  policy.delegating_services.clear();
  if (csv.empty()) return policy;
  for (absl::string_view name : absl::StrSplit(absl::string_view(csv.data(), csv.size()), ',')) {
    if (name.empty() || name.size() > 64) {
      return absl::InvalidArgumentError("--delegating-services has an empty or too long name");
    }
    for (char c : name) {
      if (c <= ' ' || c > '~') {
        return absl::InvalidArgumentError("--delegating-services names must be printable ASCII");
      }
    }
    policy.delegating_services.emplace(std::string(name));
  }
  return policy;
}

bool IsMemberRole(Role role) {
  return role == hie::common::v1::ROLE_CLINICIAN || role == hie::common::v1::ROLE_CLINICAL_STAFF ||
         role == hie::common::v1::ROLE_ADMINISTRATIVE_STAFF ||
         role == hie::common::v1::ROLE_MEMBER_SYSTEM;
}

bool IsPrivacyOfficer(const Actor& actor) {
  return actor.role() == hie::common::v1::ROLE_PRIVACY_OFFICER;
}

absl::StatusOr<Actor> ActorForCall(const Caller& caller, const Actor& claimed, Operation op,
                                   const AuthorizationPolicy& policy) {
  if (caller.role == "service") {
    if (policy.delegating_services.contains(caller.common_name)) {
      if (claimed.org().empty()) {
        return absl::InvalidArgumentError("context.actor.org is required");
      }
      if (claimed.role() == hie::common::v1::ROLE_UNSPECIFIED) {
        return absl::InvalidArgumentError("context.actor.role is required");
      }
      return claimed;
    }
    if (!claimed.org().empty() || !claimed.user_id().empty() ||
        claimed.role() != hie::common::v1::ROLE_UNSPECIFIED) {
      return Denied("this service may not act on behalf of another actor");
    }
    if (!ServiceMayCallAsItself(op)) return Denied("hub services may only decide");
    Actor actor;
    actor.set_org(caller.org);
    actor.set_user_id(caller.common_name);
    actor.set_role(hie::common::v1::ROLE_HUB_SERVICE);
    return actor;
  }
  if (caller.role == "auditor") {
    return StaffActor(caller, claimed, hie::common::v1::ROLE_PRIVACY_OFFICER);
  }
  if (caller.role == "operator") {
    if (!OperatorMay(op)) return Denied("operators may only decide and read the policy");
    return StaffActor(caller, claimed, hie::common::v1::ROLE_HIE_OPERATOR);
  }
  if (caller.role == "member") return Denied("members call the consent service via the gateway");
  return Denied("unknown certificate role");
}

absl::Status CheckActorScope(const Actor& actor, Operation op, std::string_view patient_org,
                             const Actor* grant_owner) {
  if (actor.org().empty() || actor.role() == hie::common::v1::ROLE_UNSPECIFIED) {
    return Denied("the call has no actor");
  }
  const bool officer = IsPrivacyOfficer(actor);
  const bool member = IsMemberRole(actor.role());
  switch (op) {
    case Operation::kDecide:
    case Operation::kGetPolicy:
      return absl::OkStatus();
    case Operation::kWriteDirective:
    case Operation::kReadDirective:
      if (officer) return absl::OkStatus();
      if (!member) return Denied("only the patient's organisation or a privacy officer");
      if (!patient_org.empty() && patient_org != actor.org()) {
        return Denied("only the patient's organisation or a privacy officer");
      }
      return absl::OkStatus();
    case Operation::kBreakGlass:
      if (actor.role() != hie::common::v1::ROLE_CLINICIAN) {
        return Denied("only clinicians may break the glass");
      }
      if (actor.user_id().empty()) return Denied("break-glass needs a named user");
      return absl::OkStatus();
    case Operation::kEndBreakGlass:
      if (officer) return absl::OkStatus();
      if (grant_owner != nullptr && member && grant_owner->org() == actor.org() &&
          !actor.user_id().empty() && grant_owner->user_id() == actor.user_id()) {
        return absl::OkStatus();
      }
      return Denied("only the grant's user or a privacy officer may end it");
    case Operation::kListGrants:
    case Operation::kReviewGrant:
      if (officer) return absl::OkStatus();
      return Denied("only a privacy officer");
  }
  return Denied("unknown operation");
}

}  // namespace hie::consent
