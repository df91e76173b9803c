#include "services/gateway/core/member_writes.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::gateway {
namespace {

bool IsMemberUserRole(common::v1::Role role) {
  return role == common::v1::ROLE_CLINICIAN || role == common::v1::ROLE_CLINICAL_STAFF ||
         role == common::v1::ROLE_ADMINISTRATIVE_STAFF || role == common::v1::ROLE_MEMBER_SYSTEM;
}

}  // namespace

absl::Status ClaimOwnOrg(std::string* org, const std::string& caller_org,
                         const std::string& field) {
  if (org->empty()) {
    *org = caller_org;
    return absl::OkStatus();
  }
  if (*org != caller_org) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": a member writes only its own organisation's records"));
  }
  return absl::OkStatus();
}

absl::StatusOr<common::v1::RequestContext> MemberWriteContext(
    const PeerIdentity& caller, const common::v1::ClientContext& client,
    const std::string& hub_request_id, absl::Time now) {
  if (caller.role != "member") {
    return absl::PermissionDeniedError("only member systems register and publish their records");
  }
  if (client.purpose_of_use() == common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
    return InvalidField("context.purpose_of_use", "is required");
  }
  HIE_RETURN_IF_ERROR(CheckPurpose(client.purpose_of_use(), "context.purpose_of_use", true));
  if (client.purpose_of_use() != common::v1::PURPOSE_OF_USE_OPERATIONS &&
      client.purpose_of_use() != common::v1::PURPOSE_OF_USE_TREATMENT) {
    return absl::PermissionDeniedError(
        "context.purpose_of_use: members write for operations or treatment only");
  }
  if (!client.break_glass_id().empty()) {
    return InvalidField("context.break_glass_id", "is only for a federated query");
  }
  if (!IsMemberUserRole(client.user_role())) {
    return absl::PermissionDeniedError("context.user_role: not a member organisation's role");
  }
  std::string user = client.user_id();
  if (user.empty() && client.user_role() == common::v1::ROLE_MEMBER_SYSTEM) {
    user = caller.common_name;
  }
  HIE_RETURN_IF_ERROR(CheckId(user, "context.user_id"));
  HIE_RETURN_IF_ERROR(CheckOptionalText(client.request_id(), "context.request_id", kMaxIdBytes));
  common::v1::RequestContext out;
  out.set_request_id(hub_request_id);
  out.set_client_request_id(client.request_id());
  out.set_purpose_of_use(client.purpose_of_use());
  out.mutable_actor()->set_org(caller.org);
  out.mutable_actor()->set_user_id(user);
  out.mutable_actor()->set_role(client.user_role());
  *out.mutable_start_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  return out;
}

absl::StatusOr<identity::v1::RegisterSourceRecordRequest> RegistrationOf(
    const common::v1::RequestContext& context, const v1::FeedPatientRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.local_id(), "local_id"));
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  identity::v1::RegisterSourceRecordRequest out;
  *out.mutable_context() = context;
  out.mutable_source_id()->set_org(context.actor().org());
  out.mutable_source_id()->set_local_id(r.local_id());
  *out.mutable_demographics() = r.demographics();
  if (r.has_source_event_time()) *out.mutable_source_event_time() = r.source_event_time();
  out.set_idempotency_key(r.idempotency_key());
  return out;
}

v1::FeedPatientResponse FeedAnswerOf(const identity::v1::RegisterSourceRecordResponse& r) {
  // Nothing about matching: a member cannot probe the index by registering demographics.
  v1::FeedPatientResponse out;
  out.set_local_id(r.record().source_id().local_id());
  out.set_version(r.record().version());
  out.set_created(r.created());
  out.set_stale(r.stale());
  return out;
}

absl::StatusOr<identity::v1::MergeSourceRecordsRequest> LocalMergeOf(
    const common::v1::RequestContext& context, const v1::MergeLocalPatientsRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.survivor_local_id(), "survivor_local_id"));
  HIE_RETURN_IF_ERROR(CheckId(r.superseded_local_id(), "superseded_local_id"));
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  if (r.survivor_local_id() == r.superseded_local_id()) {
    return InvalidField("superseded_local_id", "is the survivor itself");
  }
  identity::v1::MergeSourceRecordsRequest out;
  *out.mutable_context() = context;
  out.mutable_survivor()->set_org(context.actor().org());
  out.mutable_survivor()->set_local_id(r.survivor_local_id());
  out.mutable_superseded()->set_org(context.actor().org());
  out.mutable_superseded()->set_local_id(r.superseded_local_id());
  out.set_idempotency_key(r.idempotency_key());
  return out;
}

absl::StatusOr<registry::v1::RegisterSubmissionSetRequest> PublicationOf(
    const common::v1::RequestContext& context, const v1::PublishDocumentsRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  registry::v1::RegisterSubmissionSetRequest out;
  *out.mutable_context() = context;
  *out.mutable_submission_set() = r.submission_set();
  *out.mutable_entries() = r.entries();
  *out.mutable_associations() = r.associations();
  out.set_idempotency_key(r.idempotency_key());
  const std::string& org = context.actor().org();
  for (int i = 0; i < out.entries_size(); ++i) {
    registry::v1::DocumentEntry* e = out.mutable_entries(i);
    const std::string at = absl::StrCat("entries[", i, "]");
    HIE_RETURN_IF_ERROR(ClaimOwnOrg(e->mutable_patient()->mutable_org(), org, at + ".patient.org"));
    HIE_RETURN_IF_ERROR(
        ClaimOwnOrg(e->mutable_location()->mutable_member_org(), org, at + ".location.member_org"));
  }
  return out;
}

absl::StatusOr<registry::v1::DeprecateDocumentRequest> DeprecationOf(
    const common::v1::RequestContext& context, const v1::DeprecateDocumentRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.entry_uuid(), "entry_uuid"));
  HIE_RETURN_IF_ERROR(CheckId(r.idempotency_key(), "idempotency_key"));
  registry::v1::DeprecateDocumentRequest out;
  *out.mutable_context() = context;
  out.set_entry_uuid(r.entry_uuid());
  out.set_reason(r.reason());
  out.set_idempotency_key(r.idempotency_key());
  return out;
}

}  // namespace hie::gateway
