#pragma once

// Who may use the member-facing API for what, and the request checks of FindOutsideRecords.
// Pure: the adapter hands in the verified certificate (services/common/peer_identity.h).
//
// A federated query discloses patient data to a person, so:
//   - the caller's certificate role (OU) is "member": its organisation (O) is the actor's org,
//     never a request field; any other role is PERMISSION_DENIED (operators and auditors have
//     their own APIs and cannot read documents);
//   - context.user_id names the end user (an id, required) and context.user_role is a clinical
//     role (CLINICIAN or CLINICAL_STAFF), else PERMISSION_DENIED;
//   - context.purpose_of_use is TREATMENT, or EMERGENCY with a break_glass_id (required:
//     INVALID_ARGUMENT when missing; another purpose is PERMISSION_DENIED for members).
// The hub's RequestContext then carries the hub's request id, the caller's own request id, the
// actor {org, user, role}, the purpose and the break-glass grant.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "services/common/peer_identity.h"

namespace hie::gateway {

absl::StatusOr<common::v1::RequestContext> MemberQueryContext(
    const PeerIdentity& caller, const common::v1::ClientContext& client,
    const std::string& hub_request_id, absl::Time now);

// INVALID_ARGUMENT naming the field: local_id (an id) or demographics (not both), member_orgs (ids,
// at most 100), max_results_per_member (0..1000), query (the registry's rules for DocumentQuery).
absl::Status ValidateFindOutsideRecords(const v1::FindOutsideRecordsRequest& r);

}  // namespace hie::gateway
