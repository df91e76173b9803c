#include "services/gateway/core/member_consent.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/gateway/core/member_writes.h"

namespace hie::gateway {
namespace {

constexpr size_t kMaxReasonBytes = 1024;

common::v1::SourceId OwnRecord(const common::v1::RequestContext& context,
                               const std::string& local_id) {
  common::v1::SourceId id;
  id.set_org(context.actor().org());
  id.set_local_id(local_id);
  return id;
}

}  // namespace

absl::StatusOr<common::v1::RequestContext> BreakGlassContext(
    const PeerIdentity& caller, const common::v1::ClientContext& client,
    const std::string& hub_request_id, absl::Time now) {
  if (caller.role != "member") {
    return absl::PermissionDeniedError("only member systems break the glass for their clinicians");
  }
  if (client.purpose_of_use() == common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
    return InvalidField("context.purpose_of_use", "is required");
  }
  HIE_RETURN_IF_ERROR(CheckPurpose(client.purpose_of_use(), "context.purpose_of_use", true));
  if (client.purpose_of_use() != common::v1::PURPOSE_OF_USE_EMERGENCY) {
    return absl::PermissionDeniedError(
        "context.purpose_of_use: breaking the glass is for PURPOSE_OF_USE_EMERGENCY only");
  }
  if (!client.break_glass_id().empty()) {
    return InvalidField("context.break_glass_id", "is the grant being asked for: leave it empty");
  }
  if (client.user_role() != common::v1::ROLE_CLINICIAN) {
    return absl::PermissionDeniedError("context.user_role: only a clinician breaks the glass");
  }
  HIE_RETURN_IF_ERROR(CheckId(client.user_id(), "context.user_id"));
  HIE_RETURN_IF_ERROR(CheckOptionalText(client.request_id(), "context.request_id", kMaxIdBytes));
  common::v1::RequestContext out;
  out.set_request_id(hub_request_id);
  out.set_client_request_id(client.request_id());
  out.set_purpose_of_use(common::v1::PURPOSE_OF_USE_EMERGENCY);
  out.mutable_actor()->set_org(caller.org);
  out.mutable_actor()->set_user_id(client.user_id());
  out.mutable_actor()->set_role(common::v1::ROLE_CLINICIAN);
  *out.mutable_start_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  return out;
}

absl::StatusOr<consent::v1::CreateDirectiveRequest> DirectiveCreationOf(
    const common::v1::RequestContext& context, const v1::CreateConsentDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  HIE_RETURN_IF_ERROR(CheckId(r.directive().patient().local_id(), "directive.patient.local_id"));
  consent::v1::CreateDirectiveRequest out;
  *out.mutable_context() = context;
  *out.mutable_directive() = r.directive();
  HIE_RETURN_IF_ERROR(ClaimOwnOrg(out.mutable_directive()->mutable_patient()->mutable_org(),
                                  context.actor().org(), "directive.patient.org"));
  out.set_idempotency_key(r.idempotency_key());
  return out;
}

absl::StatusOr<consent::v1::ListDirectivesRequest> DirectiveListingOf(
    const common::v1::RequestContext& context, const v1::ListConsentDirectivesRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.local_id(), "local_id"));
  consent::v1::ListDirectivesRequest out;
  *out.mutable_context() = context;
  *out.add_patients() = OwnRecord(context, r.local_id());
  out.set_page_size(r.page_size());
  out.set_page_token(r.page_token());
  return out;
}

absl::StatusOr<consent::v1::ListDirectivesResponse> ListOwnDirectives(
    const common::v1::RequestContext& context, const v1::ListConsentDirectivesRequest& r,
    HubConsent& consent, HubServices& hub, std::string event_id, absl::Time now,
    absl::Time deadline) {
  HIE_ASSIGN_OR_RETURN(consent::v1::ListDirectivesRequest listing, DirectiveListingOf(context, r));
  HIE_ASSIGN_OR_RETURN(consent::v1::ListDirectivesResponse found,
                       consent.ListDirectives(listing, deadline));
  audit::v1::AuditEvent read =
      GatewayAuditEvent(context, ResolvedPatient{"", {OwnRecord(context, r.local_id())}},
                        "gateway.ListConsentDirectives", audit::v1::EVENT_TYPE_QUERY,
                        audit::v1::OUTCOME_SUCCESS, std::move(event_id), now);
  (*read.mutable_details())["directives"] = absl::StrCat(found.directives_size());
  if (absl::Status recorded = hub.Record({std::move(read)}, deadline); !recorded.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit unavailable: nothing released (", recorded.message(), ")"));
  }
  return found;
}

absl::StatusOr<consent::v1::ConsentDirective> RevokeOwnDirective(
    const common::v1::RequestContext& context, const v1::RevokeConsentDirectiveRequest& r,
    HubConsent& consent, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(CheckId(r.directive_id(), "directive_id"));
  HIE_RETURN_IF_ERROR(CheckText(r.reason(), "reason", kMaxReasonBytes));
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  const auto not_found = [] { return absl::NotFoundError("directive_id: no such directive"); };
  consent::v1::GetDirectiveRequest get;
  *get.mutable_context() = context;
  get.set_directive_id(r.directive_id());
  absl::StatusOr<consent::v1::ConsentDirective> directive = consent.GetDirective(get, deadline);
  if (absl::IsPermissionDenied(directive.status()) || absl::IsNotFound(directive.status())) {
    return not_found();
  }
  if (!directive.ok()) return directive.status();
  if (directive->patient().org() != context.actor().org()) return not_found();
  if (directive->recorded_by().org() != context.actor().org()) {
    // The patient's choice recorded by the HIE's privacy office is theirs to revoke.
    return absl::PermissionDeniedError(
        "directive_id: recorded by another organisation (the HIE's privacy office); ask it to "
        "revoke the directive");
  }
  consent::v1::RevokeDirectiveRequest revoke;
  *revoke.mutable_context() = context;
  revoke.set_directive_id(r.directive_id());
  revoke.set_reason(r.reason());
  revoke.set_idempotency_key(r.idempotency_key());
  return consent.RevokeDirective(revoke, deadline);
}

absl::StatusOr<v1::BreakGlassResponse> OpenBreakGlass(const common::v1::RequestContext& context,
                                                      const v1::BreakGlassRequest& r,
                                                      HubServices& hub, HubConsent& consent,
                                                      absl::Time deadline) {
  HIE_RETURN_IF_ERROR(CheckId(r.local_id(), "local_id"));
  HIE_RETURN_IF_ERROR(CheckText(r.reason(), "reason", kMaxReasonBytes));
  if (r.reason_code() == consent::v1::BREAK_GLASS_REASON_UNSPECIFIED ||
      !consent::v1::BreakGlassReason_IsValid(r.reason_code())) {
    return InvalidField("reason_code", "is required (a BreakGlassReason)");
  }
  const google::protobuf::Duration& asked = r.requested_duration();
  if (r.has_requested_duration() &&
      (asked.seconds() < 0 || asked.nanos() < 0 || asked.nanos() > 999'999'999 ||
       (asked.seconds() == 0 && asked.nanos() == 0))) {
    return InvalidField("requested_duration", "must be positive when set");
  }
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  const common::v1::SourceId record = OwnRecord(context, r.local_id());
  absl::StatusOr<ResolvedPatient> patient = hub.Resolve(context, record, deadline);
  if (absl::IsNotFound(patient.status())) return absl::NotFoundError("local_id: never fed");
  if (!patient.ok()) return patient.status();
  consent::v1::BreakGlassRequest open;
  *open.mutable_context() = context;
  *open.add_patients() = record;
  open.set_reason(r.reason());
  if (r.has_requested_duration()) *open.mutable_requested_duration() = r.requested_duration();
  open.set_idempotency_key(r.idempotency_key());
  open.set_reason_code(r.reason_code());
  HIE_ASSIGN_OR_RETURN(consent::v1::BreakGlassGrant grant, consent.BreakGlass(open, deadline));
  v1::BreakGlassResponse out;
  out.set_grant_id(grant.grant_id());
  *out.mutable_expire_time() = grant.expire_time();
  return out;
}

}  // namespace hie::gateway
