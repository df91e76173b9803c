#include "services/gateway/core/member_access.h"

#include "google/protobuf/util/time_util.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/gateway/core/federation.h"
#include "services/registry/core/validation.h"

namespace hie::gateway {

absl::StatusOr<common::v1::RequestContext> MemberQueryContext(
    const PeerIdentity& caller, const common::v1::ClientContext& client,
    const std::string& hub_request_id, absl::Time now) {
  if (caller.role != "member") {
    return absl::PermissionDeniedError("only member systems query for outside records");
  }
  if (client.purpose_of_use() == common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
    return InvalidField("context.purpose_of_use", "is required");
  }
  HIE_RETURN_IF_ERROR(CheckPurpose(client.purpose_of_use(), "context.purpose_of_use", true));
  const bool emergency = client.purpose_of_use() == common::v1::PURPOSE_OF_USE_EMERGENCY;
  if (client.purpose_of_use() != common::v1::PURPOSE_OF_USE_TREATMENT && !emergency) {
    return absl::PermissionDeniedError(
        "context.purpose_of_use: members query for treatment (or emergency) only");
  }
  if (emergency) {
    HIE_RETURN_IF_ERROR(CheckId(client.break_glass_id(), "context.break_glass_id"));
  } else if (!client.break_glass_id().empty()) {
    return InvalidField("context.break_glass_id", "is only for PURPOSE_OF_USE_EMERGENCY");
  }
  HIE_RETURN_IF_ERROR(CheckId(client.user_id(), "context.user_id"));
  if (client.user_role() != common::v1::ROLE_CLINICIAN &&
      client.user_role() != common::v1::ROLE_CLINICAL_STAFF) {
    return absl::PermissionDeniedError(
        "context.user_role: outside records are disclosed to clinicians and clinical staff only");
  }
  HIE_RETURN_IF_ERROR(CheckOptionalText(client.request_id(), "context.request_id", 128));
  common::v1::RequestContext out;
  out.set_request_id(hub_request_id);
  out.set_client_request_id(client.request_id());
  out.set_purpose_of_use(client.purpose_of_use());
  out.set_break_glass_id(client.break_glass_id());
  out.mutable_actor()->set_org(caller.org);
  out.mutable_actor()->set_user_id(client.user_id());
  out.mutable_actor()->set_role(client.user_role());
  *out.mutable_start_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  return out;
}

absl::Status ValidateFindOutsideRecords(const v1::FindOutsideRecordsRequest& r) {
  if (r.has_demographics()) {
    // Checked field by field by identity's search (its errors name the query's fields).
    if (!r.local_id().empty()) {
      return InvalidField("demographics", "is for a patient without local_id: set only one");
    }
  } else {
    HIE_RETURN_IF_ERROR(CheckId(r.local_id(), "local_id"));
  }
  HIE_RETURN_IF_ERROR(CheckOrgs(r.member_orgs(), "member_orgs", 0, 100));
  if (r.max_results_per_member() < 0 || r.max_results_per_member() > kMaxResultsPerMember) {
    return InvalidField("max_results_per_member", "is not from 0 to 1000");
  }
  // The registry's own checks of a DocumentQuery, on a request that differs only in the query.
  registry::v1::FindDocumentsRequest as_registry;
  as_registry.mutable_context()->set_request_id("check");
  as_registry.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  as_registry.mutable_context()->mutable_actor()->set_org("check");
  as_registry.mutable_context()->mutable_actor()->set_role(common::v1::ROLE_CLINICIAN);
  common::v1::SourceId* patient = as_registry.add_patients();
  patient->set_org("check");
  patient->set_local_id(r.local_id().empty() ? "check" : r.local_id());
  *as_registry.mutable_query() = r.query();
  return registry::ValidateFind(as_registry);
}

}  // namespace hie::gateway
