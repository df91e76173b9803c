#include "services/audit/api/identity_client.h"

#include <set>

#include "services/audit/core/identity_events.h"
#include "services/common/logging.h"
#include "services/common/random_id.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

namespace idv1 = ::hie::identity::v1;

void SetContext(hie::common::v1::RequestContext* context) {
  context->set_request_id(RandomId("audit"));
  context->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
}

}  // namespace

GrpcPatientResolver::GrpcPatientResolver(std::shared_ptr<grpc::Channel> channel)
    : stub_(idv1::IdentityService::NewStub(std::move(channel))) {}

absl::StatusOr<std::vector<SourceId>> GrpcPatientResolver::LinkedRecords(const SourceId& id,
                                                                         absl::Time deadline) {
  idv1::ResolveRequest request;
  SetContext(request.mutable_context());
  *request.mutable_source_id() = id;
  request.set_include_inactive(true);
  idv1::ResolveResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  HIE_RETURN_IF_ERROR(FromGrpcStatus(stub_->Resolve(&ctx, request, &response)));
  std::vector<SourceId> out;
  for (const auto& x : response.cross_references()) out.push_back(x.source_id());
  return out;
}

absl::StatusOr<std::vector<SourceId>> GrpcPatientResolver::RecordsOfPerson(
    const std::string& person_id, absl::Time deadline) {
  std::string id = person_id;
  for (int hop = 0; hop < 8; ++hop) {  // a merged person's records are its survivor's
    idv1::GetPersonRequest request;
    SetContext(request.mutable_context());
    request.set_person_id(id);
    request.set_view(idv1::PERSON_VIEW_BASIC);
    idv1::Person person;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    HIE_RETURN_IF_ERROR(FromGrpcStatus(stub_->GetPerson(&ctx, request, &person)));
    if (person.state() == idv1::PERSON_STATE_MERGED && !person.merged_into_person_id().empty()) {
      id = person.merged_into_person_id();
      continue;
    }
    std::vector<SourceId> out;
    for (const auto& link : person.links()) out.push_back(link.source_id());
    return out;
  }
  return absl::FailedPreconditionError("person_id: merge chain longer than 8");
}

absl::StatusOr<int64_t> AuditIdentitySink::Position(absl::Time deadline) {
  return log_->FeedPosition(kIdentityFeed, deadline);
}

absl::Status AuditIdentitySink::Record(const std::vector<idv1::IdentityEvent>& batch,
                                       absl::Time deadline) {
  if (batch.empty()) return absl::OkStatus();
  std::vector<v1::AuditEvent> events;
  events.reserve(batch.size());
  for (const auto& e : batch) events.push_back(AuditEventOf(e));
  return log_->AppendFromFeed(kIdentityFeed, batch.back().sequence(), std::move(events), deadline);
}

}  // namespace hie::audit
