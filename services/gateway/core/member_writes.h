#pragma once

// The member's writes through the gateway (hie.gateway.v1.MemberGateway FeedPatient,
// MergeLocalPatients, PublishDocuments, DeprecateDocument) as requests to the hub's services.
// Pure: the adapter hands in the verified certificate and sends what these build.
//
// Who may write:
//   - the certificate's role (OU) is "member"; its organisation (O) is the only org the call may
//     write for. A patient, document location or entry naming another org is PERMISSION_DENIED
//     (naming the field); an empty org is the caller's.
//   - context.purpose_of_use is OPERATIONS or TREATMENT (required); context.user_role a member
//     role (CLINICIAN, CLINICAL_STAFF, ADMINISTRATIVE_STAFF, MEMBER_SYSTEM). A person
//     (every role but MEMBER_SYSTEM) is named by context.user_id; a member system acts as its
//     certificate's CN when user_id is empty.
//   - idempotency_key is required (1..128 printable ASCII): a retry is answered from the
//     service's record, never applied twice.
// The downstream services (identity, registry) check the same ownership again for the actor
// the gateway names (their authorization.h): two locks, one key.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "hie/identity/v1/identity.pb.h"
#include "hie/registry/v1/registry.pb.h"
#include "services/common/peer_identity.h"

namespace hie::gateway {

// The hub context of a member's write (see above).
absl::StatusOr<common::v1::RequestContext> MemberWriteContext(
    const PeerIdentity& caller, const common::v1::ClientContext& client,
    const std::string& hub_request_id, absl::Time now);

// An org field of a member's request: empty becomes the caller's; another org is
// PERMISSION_DENIED naming `field`.
absl::Status ClaimOwnOrg(std::string* org, const std::string& caller_org, const std::string& field);

// FeedPatient -> identity RegisterSourceRecord of {context.actor.org, local_id}. Demographics
// are checked by identity (its errors name the field).
absl::StatusOr<identity::v1::RegisterSourceRecordRequest> RegistrationOf(
    const common::v1::RequestContext& context, const v1::FeedPatientRequest& r);
v1::FeedPatientResponse FeedAnswerOf(const identity::v1::RegisterSourceRecordResponse& r);

// MergeLocalPatients -> identity MergeSourceRecords of two of the caller's records (they differ).
absl::StatusOr<identity::v1::MergeSourceRecordsRequest> LocalMergeOf(
    const common::v1::RequestContext& context, const v1::MergeLocalPatientsRequest& r);

// PublishDocuments -> registry RegisterSubmissionSet, every entry's patient.org and
// location.member_org the caller's (filled in when empty). The registry checks the rest.
absl::StatusOr<registry::v1::RegisterSubmissionSetRequest> PublicationOf(
    const common::v1::RequestContext& context, const v1::PublishDocumentsRequest& r);

// DeprecateDocument -> registry DeprecateDocument (the registry refuses another org's entry).
absl::StatusOr<registry::v1::DeprecateDocumentRequest> DeprecationOf(
    const common::v1::RequestContext& context, const v1::DeprecateDocumentRequest& r);

// The hub's services as the member writes' port (api/hub_services.h over gRPC). Each call
// answers the service's status (its message names the field); nothing is retried here.
class HubWrites {
 public:
  virtual ~HubWrites() = default;
  virtual absl::StatusOr<identity::v1::RegisterSourceRecordResponse> Register(
      const identity::v1::RegisterSourceRecordRequest& r, absl::Time deadline) = 0;
  virtual absl::Status MergeRecords(const identity::v1::MergeSourceRecordsRequest& r,
                                    absl::Time deadline) = 0;
  // NOT_FOUND naming the entry when one of the entries' patients was never fed; else the
  // registry's answer.
  virtual absl::StatusOr<registry::v1::RegisterSubmissionSetResponse> Publish(
      const registry::v1::RegisterSubmissionSetRequest& r, absl::Time deadline) = 0;
  virtual absl::StatusOr<registry::v1::DocumentEntry> Deprecate(
      const registry::v1::DeprecateDocumentRequest& r, absl::Time deadline) = 0;
};

}  // namespace hie::gateway
