#include "services/consent/api/grpc_clients.h"

#include <grpcpp/create_channel.h>

#include "services/common/channel.h"
#include "services/common/random_id.h"
#include "services/common/status.h"

namespace hie::consent {
namespace {

void SetDeadline(grpc::ClientContext& ctx, absl::Time deadline) {
  if (deadline != absl::InfiniteFuture()) ctx.set_deadline(absl::ToChronoTime(deadline));
}

}  // namespace

std::vector<hie::common::v1::SourceId> LinkedRecordsFromResolve(
    const hie::identity::v1::ResolveResponse& response, const hie::common::v1::SourceId& asked) {
  std::vector<hie::common::v1::SourceId> out;
  bool has_asked = false;
  for (const auto& x : response.cross_references()) {
    out.push_back(x.source_id());
    has_asked = has_asked || (x.source_id().org() == asked.org() &&
                              x.source_id().local_id() == asked.local_id());
  }
  if (!has_asked) out.push_back(asked);
  return out;
}

absl::StatusOr<std::unique_ptr<GrpcPersonResolver>> GrpcPersonResolver::Create(
    const std::string& address, const TlsFiles& tls) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeTlsChannelCredentials(tls);
  if (!creds.ok()) return creds.status();
  return std::unique_ptr<GrpcPersonResolver>(new GrpcPersonResolver(
      hie::identity::v1::IdentityService::NewStub(ServiceChannel(address, *creds))));
}

absl::StatusOr<std::vector<hie::common::v1::SourceId>> GrpcPersonResolver::LinkedRecords(
    const hie::common::v1::SourceId& source_id, hie::common::v1::PurposeOfUse purpose,
    absl::Time deadline) {
  hie::identity::v1::ResolveRequest request;
  request.mutable_context()->set_request_id(RandomId("consent-bg"));
  request.mutable_context()->set_purpose_of_use(purpose);
  *request.mutable_source_id() = source_id;
  hie::identity::v1::ResolveResponse response;
  grpc::ClientContext ctx;
  SetDeadline(ctx, deadline);
  grpc::Status status = stub_->Resolve(&ctx, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return LinkedRecordsFromResolve(response, source_id);
}

absl::StatusOr<std::unique_ptr<GrpcAuditSink>> GrpcAuditSink::Create(const std::string& address,
                                                                     const TlsFiles& tls) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeTlsChannelCredentials(tls);
  if (!creds.ok()) return creds.status();
  return std::unique_ptr<GrpcAuditSink>(
      new GrpcAuditSink(hie::audit::v1::AuditLog::NewStub(ServiceChannel(address, *creds))));
}

absl::Status GrpcAuditSink::RecordBatch(const std::vector<hie::audit::v1::AuditEvent>& events,
                                        absl::Time deadline) {
  for (size_t from = 0; from < events.size(); from += 1000) {
    hie::audit::v1::RecordBatchRequest request;
    request.mutable_context()->set_request_id(RandomId("consent-outbox"));
    request.mutable_context()->set_purpose_of_use(
        hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
    for (size_t i = from; i < events.size() && i < from + 1000; ++i) {
      *request.add_events() = events[i];
    }
    hie::audit::v1::RecordBatchResponse response;
    grpc::ClientContext ctx;
    SetDeadline(ctx, deadline);
    grpc::Status status = stub_->RecordBatch(&ctx, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
  }
  return absl::OkStatus();
}

}  // namespace hie::consent
