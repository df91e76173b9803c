#include "services/identity/core/authorization.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::identity {
namespace {

using ::hie::common::v1::Actor;
using ::hie::common::v1::Role;

bool IsStaffRead(Operation op) {
  switch (op) {
    case Operation::kReadRecord:
    case Operation::kSearch:
    case Operation::kReadPerson:
    case Operation::kReadReview:
    case Operation::kReadHistory:
    case Operation::kWatchEvents:
      return true;
    default:
      return false;
  }
}

bool IsMemberOperation(Operation op) {
  switch (op) {
    case Operation::kRegister:
    case Operation::kMergeSourceRecords:
    case Operation::kReadRecord:
    case Operation::kSearch:
    case Operation::kUnlink:
      return true;
    default:
      return false;
  }
}

absl::Status Denied(const char* why) { return absl::PermissionDeniedError(why); }

// A staff certificate's actor; context.actor may only repeat what the certificate says.
absl::StatusOr<Actor> StaffActor(const Caller& caller, const Actor& claimed, Role role) {
  if (!claimed.org().empty() && claimed.org() != caller.org) {
    return Denied("context.actor.org must be the certificate's organisation");
  }
  if (!claimed.user_id().empty() && claimed.user_id() != caller.common_name) {
    return Denied(
        "context.actor.user_id comes from the certificate (its CN); it may not be set "
        "to another user");
  }
  if (claimed.role() != hie::common::v1::ROLE_UNSPECIFIED && claimed.role() != role) {
    return Denied("context.actor.role does not match the certificate's role");
  }
  Actor actor;
  actor.set_org(caller.org);
  actor.set_user_id(caller.common_name);
  actor.set_role(role);
  return actor;
}

// The actor a delegating service vouches for: checked for shape, not trusted for more than the
// role it names allows.
absl::StatusOr<Actor> DelegatedActor(const Actor& claimed) {
  HIE_RETURN_IF_ERROR(CheckText(claimed.org(), "context.actor.org", 64));
  if (!claimed.user_id().empty()) {
    HIE_RETURN_IF_ERROR(CheckText(claimed.user_id(), "context.actor.user_id", 128));
  }
  if (claimed.role() == hie::common::v1::ROLE_UNSPECIFIED) {
    return absl::InvalidArgumentError("context.actor.role is required from hub services");
  }
  if (!hie::common::v1::Role_IsValid(claimed.role()) ||
      claimed.role() == hie::common::v1::ROLE_PATIENT) {
    return Denied("context.actor.role may not call the identity service");
  }
  return claimed;
}

// What a (possibly delegated) actor's role may do, before the core's own-organisation check.
absl::Status RoleMay(Role role, Operation op) {
  switch (role) {
    case hie::common::v1::ROLE_HIE_OPERATOR:
      return absl::OkStatus();
    case hie::common::v1::ROLE_PRIVACY_OFFICER:
    case hie::common::v1::ROLE_HIE_ADMIN:
    case hie::common::v1::ROLE_HUB_SERVICE:
      if (IsStaffRead(op)) return absl::OkStatus();
      return Denied("this role may only read identities");
    default:
      if (IsMemberRole(role) && IsMemberOperation(op)) return absl::OkStatus();
      return Denied("this role may not perform this operation");
  }
}

}  // namespace

bool IsWrite(Operation op) {
  switch (op) {
    case Operation::kRegister:
    case Operation::kMergeSourceRecords:
    case Operation::kResolveReview:
    case Operation::kLink:
    case Operation::kUnlink:
    case Operation::kMergePersons:
    case Operation::kUnmergePersons:
      return true;
    default:
      return false;
  }
}

bool IsMemberRole(Role role) {
  return role == hie::common::v1::ROLE_CLINICIAN || role == hie::common::v1::ROLE_CLINICAL_STAFF ||
         role == hie::common::v1::ROLE_ADMINISTRATIVE_STAFF ||
         role == hie::common::v1::ROLE_MEMBER_SYSTEM;
}

absl::StatusOr<AuthorizationPolicy> ParseDelegatingServices(std::string_view csv) {
  AuthorizationPolicy policy;
  policy.delegating_services.clear();
  for (absl::string_view name :
       absl::StrSplit(absl::string_view(csv.data(), csv.size()), ',', absl::SkipWhitespace())) {
    name = absl::StripAsciiWhitespace(name);
    HIE_RETURN_IF_ERROR(
        CheckText(std::string_view(name.data(), name.size()), "delegating service name", 64));
    policy.delegating_services.insert(std::string(name));
  }
  return policy;
}

absl::StatusOr<Actor> ActorForCall(const Caller& caller, const Actor& claimed, Channel channel,
                                   Operation op, const AuthorizationPolicy& policy) {
  absl::StatusOr<Actor> actor;
  if (caller.role == "member") {
    if (channel != Channel::kHl7) {
      return Denied("member systems call the hub through the gateway (or feed HL7)");
    }
    Actor member;
    member.set_org(caller.org);
    member.set_role(hie::common::v1::ROLE_MEMBER_SYSTEM);
    actor = member;
  } else if (channel == Channel::kHl7) {
    return Denied("only member organisations may send ADT feeds");
  } else if (caller.role == "service") {
    if (policy.delegating_services.count(caller.common_name) > 0) {
      actor = DelegatedActor(claimed);
    } else {
      if (!claimed.org().empty() || !claimed.user_id().empty() ||
          (claimed.role() != hie::common::v1::ROLE_UNSPECIFIED &&
           claimed.role() != hie::common::v1::ROLE_HUB_SERVICE)) {
        return Denied(
            "only a delegating hub service (the gateway) may act on behalf of "
            "another actor");
      }
      Actor service;
      service.set_org(caller.org);
      service.set_user_id(caller.common_name);
      service.set_role(hie::common::v1::ROLE_HUB_SERVICE);
      actor = service;
    }
  } else if (caller.role == "operator") {
    actor = StaffActor(caller, claimed, hie::common::v1::ROLE_HIE_OPERATOR);
  } else if (caller.role == "auditor") {
    actor = StaffActor(caller, claimed, hie::common::v1::ROLE_PRIVACY_OFFICER);
  } else {
    return Denied("this certificate's role may not call the identity service");
  }
  if (!actor.ok()) return actor.status();
  HIE_RETURN_IF_ERROR(RoleMay(actor->role(), op));
  return actor;
}

absl::Status CheckActorScope(const Actor& actor, Operation op,
                             const std::vector<NamedSource>& sources) {
  if (!IsMemberRole(actor.role())) return absl::OkStatus();
  if (!IsMemberOperation(op)) return Denied("member actors may not perform this operation");
  for (const NamedSource& source : sources) {
    if (source.id->org() != actor.org()) {
      return absl::PermissionDeniedError(
          absl::StrCat(absl::string_view(source.field.data(), source.field.size()),
                       ".org must be the acting member's own organisation"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hie::identity
