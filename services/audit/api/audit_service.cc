#include "services/audit/api/audit_service.h"

#include "services/common/random_id.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/tls.h"

namespace hie::audit {
namespace {

std::string NewRequestId() { return RandomId("au"); }

}  // namespace

AuditServiceImpl::AuditServiceImpl(AuditOperations* operations, WorkerPool* workers,
                                   AuditServiceOptions options)
    : operations_(operations), workers_(workers), options_(options) {}

template <typename Request>
absl::StatusOr<Call> AuditServiceImpl::BeginCall(grpc::CallbackServerContext* ctx,
                                                 const Request* request, absl::Duration timeout) {
  auto auth = ctx->auth_context();
  absl::StatusOr<PeerIdentity> peer =
      auth == nullptr ? absl::UnauthenticatedError("no client certificate") : PeerIdentityOf(*auth);
  if (!peer.ok()) return peer.status();
  Call call;
  call.caller = Caller{peer->org, peer->role, peer->common_name};
  call.request_id = request->context().request_id();
  if (call.request_id.empty()) call.request_id = RequestIdOf(*ctx);
  if (call.request_id.empty()) call.request_id = NewRequestId();
  call.deadline = std::min(absl::FromChrono(ctx->deadline()), absl::Now() + timeout);
  call.peer_address = ctx->peer();
  call.claimed_actor = request->context().actor();
  return call;
}

template <typename Request, typename Response, typename Work>
grpc::ServerUnaryReactor* AuditServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                const Request* request, Response* response,
                                                absl::Duration timeout, Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Call> call = BeginCall(ctx, request, timeout);
  if (!call.ok()) {
    reactor->Finish(ToGrpcStatus(call.status()));
    return reactor;
  }
  bool queued = workers_->TrySubmit([reactor, response, call = *std::move(call), work]() {
    absl::StatusOr<Response> result = work(call);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "audit service is at capacity; retry with backoff"));
  }
  return reactor;
}

template <typename Request, typename Response, typename Start>
grpc::ServerUnaryReactor* AuditServiceImpl::RunAppend(grpc::CallbackServerContext* ctx,
                                                      const Request* request, Response* response,
                                                      Start start) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Call> call = BeginCall(ctx, request, options_.default_timeout);
  if (!call.ok()) {
    reactor->Finish(ToGrpcStatus(call.status()));
    return reactor;
  }
  start(*call, [reactor, response](absl::StatusOr<Response> result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuditServiceImpl::Record(grpc::CallbackServerContext* ctx,
                                                   const v1::RecordRequest* request,
                                                   v1::RecordResponse* response) {
  return RunAppend(ctx, request, response, [this, request](const Call& call, auto done) {
    operations_->RecordAsync(call, *request, std::move(done));
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::RecordBatch(grpc::CallbackServerContext* ctx,
                                                        const v1::RecordBatchRequest* request,
                                                        v1::RecordBatchResponse* response) {
  return RunAppend(ctx, request, response, [this, request](const Call& call, auto done) {
    operations_->RecordBatchAsync(call, *request, std::move(done));
  });
}

#define HIE_AUDIT_RPC(Method, Request, Response, timeout)                                          \
  grpc::ServerUnaryReactor* AuditServiceImpl::Method(                                              \
      grpc::CallbackServerContext* ctx, const v1::Request* request, v1::Response* response) {      \
    return Run(ctx, request, response, options_.timeout,                                           \
               [this, request](const Call& call) { return operations_->Method(call, *request); }); \
  }

HIE_AUDIT_RPC(SearchEvents, SearchEventsRequest, SearchEventsResponse, default_timeout)
HIE_AUDIT_RPC(Verify, VerifyRequest, VerifyResult, verify_timeout)
HIE_AUDIT_RPC(GetAccountingOfDisclosures, GetAccountingOfDisclosuresRequest,
              GetAccountingOfDisclosuresResponse, default_timeout)
HIE_AUDIT_RPC(CreateCheckpoint, CreateCheckpointRequest, Checkpoint, default_timeout)
HIE_AUDIT_RPC(ListCheckpoints, ListCheckpointsRequest, ListCheckpointsResponse, default_timeout)
HIE_AUDIT_RPC(ListSigningKeys, ListSigningKeysRequest, ListSigningKeysResponse, default_timeout)

#undef HIE_AUDIT_RPC

}  // namespace hie::audit
