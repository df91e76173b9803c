#pragma once

// A member's consent work through the gateway (hie.gateway.v1.MemberGateway
// CreateConsentDirective, ListConsentDirectives, RevokeConsentDirective, BreakGlass) as
// requests to the consent service, and the two flows that need more than one call. Pure over
// ports: the adapter hands in the verified certificate's context and the hub's services.
//
// Who may:
//   - directives: as a member's writes (core/member_writes.h MemberWriteContext: certificate
//     role "member", purpose OPERATIONS or TREATMENT, a member role, the user). A directive is
//     recorded against one of the caller's own records only: directive.patient.org empty (the
//     caller's) or the caller's, else PERMISSION_DENIED naming the field. A directive may be
//     recorded before the patient is fed (the patient's choice must not wait for the ADT feed);
//     the consent service applies it once identity links the record. Listing shows the
//     directives recorded against the caller's record (the read is audited before it answers);
//     revoking another organisation's patient's directive is NOT_FOUND (deliberately the same
//     answer as an unknown id), and one the HIE's privacy office recorded for the caller's
//     patient is PERMISSION_DENIED (theirs to revoke).
//   - break the glass: BreakGlassContext below (a clinician, by name, purpose EMERGENCY), for a
//     patient the caller fed (NOT_FOUND otherwise); the grant covers the person behind the
//     caller's record (the consent service resolves it), is time-boxed by policy and queued for
//     the privacy officer's review. The consent service records it and audits it.
// The consent service checks the same ownership again for the actor the gateway names.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "services/common/peer_identity.h"
#include "services/gateway/core/federated_query.h"

namespace hie::gateway {

// The hub context of BreakGlass: certificate role "member" (else PERMISSION_DENIED);
// context.purpose_of_use EMERGENCY (INVALID_ARGUMENT when missing; another purpose
// PERMISSION_DENIED); context.break_glass_id empty (INVALID_ARGUMENT: a grant is being asked
// for); context.user_role CLINICIAN (else PERMISSION_DENIED); context.user_id the clinician
// (INVALID_ARGUMENT when missing or not an id).
absl::StatusOr<common::v1::RequestContext> BreakGlassContext(
    const PeerIdentity& caller, const common::v1::ClientContext& client,
    const std::string& hub_request_id, absl::Time now);

// CreateConsentDirective -> consent CreateDirective for {caller org, directive.patient.local_id}.
// The consent service checks the directive itself (effect, period, codes; errors name fields).
absl::StatusOr<consent::v1::CreateDirectiveRequest> DirectiveCreationOf(
    const common::v1::RequestContext& context, const v1::CreateConsentDirectiveRequest& r);

// ListConsentDirectives -> consent ListDirectives of {caller org, local_id}, every state.
absl::StatusOr<consent::v1::ListDirectivesRequest> DirectiveListingOf(
    const common::v1::RequestContext& context, const v1::ListConsentDirectivesRequest& r);

// The consent service as the member's consent port (api/hub_services.h over gRPC). Each call
// answers the service's status; nothing is retried here.
class HubConsent {
 public:
  virtual ~HubConsent() = default;
  virtual absl::StatusOr<consent::v1::ConsentDirective> CreateDirective(
      const consent::v1::CreateDirectiveRequest& r, absl::Time deadline) = 0;
  virtual absl::StatusOr<consent::v1::ConsentDirective> GetDirective(
      const consent::v1::GetDirectiveRequest& r, absl::Time deadline) = 0;
  virtual absl::StatusOr<consent::v1::ListDirectivesResponse> ListDirectives(
      const consent::v1::ListDirectivesRequest& r, absl::Time deadline) = 0;
  virtual absl::StatusOr<consent::v1::ConsentDirective> RevokeDirective(
      const consent::v1::RevokeDirectiveRequest& r, absl::Time deadline) = 0;
  virtual absl::StatusOr<consent::v1::BreakGlassGrant> BreakGlass(
      const consent::v1::BreakGlassRequest& r, absl::Time deadline) = 0;
};

// ListConsentDirectives: DirectiveListingOf, consent ListDirectives, then a QUERY event (the
// caller's record, how many directives) recorded durably before the answer (`event_id`, `now`);
// audit unavailable: UNAVAILABLE, nothing answered.
absl::StatusOr<consent::v1::ListDirectivesResponse> ListOwnDirectives(
    const common::v1::RequestContext& context, const v1::ListConsentDirectivesRequest& r,
    HubConsent& consent, HubServices& hub, std::string event_id, absl::Time now,
    absl::Time deadline);

// RevokeConsentDirective: directive_id, reason (1..1024 bytes of text) and idempotency_key
// checked; the directive read first: unknown, or recorded against another organisation's
// patient (the consent service's PERMISSION_DENIED included), is NOT_FOUND; one recorded by
// another organisation for the caller's patient is PERMISSION_DENIED; then revoked
// (the consent service's answer: FAILED_PRECONDITION if already revoked).
absl::StatusOr<consent::v1::ConsentDirective> RevokeOwnDirective(
    const common::v1::RequestContext& context, const v1::RevokeConsentDirectiveRequest& r,
    HubConsent& consent, absl::Time deadline);

// BreakGlass (context from BreakGlassContext): local_id, reason (1..1024 bytes), reason_code
// (a known, specified code), requested_duration (positive when set) and idempotency_key
// checked; the record must be known to identity (HubServices::Resolve: NOT_FOUND otherwise);
// then consent BreakGlass for {caller org, local_id}.
absl::StatusOr<v1::BreakGlassResponse> OpenBreakGlass(const common::v1::RequestContext& context,
                                                      const v1::BreakGlassRequest& r,
                                                      HubServices& hub, HubConsent& consent,
                                                      absl::Time deadline);

}  // namespace hie::gateway
