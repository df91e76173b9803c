#include "services/identity/api/identity_service.h"

#include <random>

#include "absl/strings/str_format.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/tls.h"

namespace hie::identity {
namespace {

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("id-%016x", rng());
}

// The caller's actor and permission, from its verified certificate.
absl::StatusOr<hie::common::v1::Actor> AuthorisedActor(
    const grpc::CallbackServerContext& ctx, const hie::common::v1::RequestContext& context,
    bool write) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no client certificate");
  absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth);
  if (!peer.ok()) return peer.status();
  hie::common::v1::Actor actor;
  if (peer->role == "service") {
    if (context.actor().org().empty()) {
      return absl::InvalidArgumentError("context.actor.org is required from hub services");
    }
    return context.actor();
  }
  if (peer->role == "operator" || (peer->role == "auditor" && !write)) {
    actor.set_org(peer->org);
    actor.set_user_id(context.actor().user_id().empty() ? peer->common_name
                                                        : context.actor().user_id());
    actor.set_role(peer->role == "operator" ? hie::common::v1::ROLE_HIE_OPERATOR
                                            : hie::common::v1::ROLE_PRIVACY_OFFICER);
    return actor;
  }
  return absl::PermissionDeniedError(
      absl::StrCat("role '", peer->role, "' may not ", write ? "change" : "read",
                   " identities directly; use the gateway"));
}

}  // namespace

IdentityServiceImpl::IdentityServiceImpl(IdentityManager* manager, WorkerPool* workers,
                                         absl::Duration default_timeout)
    : manager_(manager), workers_(workers), default_timeout_(default_timeout) {}

template <typename Request, typename Response, typename Operation>
grpc::ServerUnaryReactor* IdentityServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                   const Request* request, Response* response,
                                                   Access access, Operation operation) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<hie::common::v1::Actor> actor =
      AuthorisedActor(*ctx, request->context(), access == Access::kWrite);
  if (!actor.ok()) {
    reactor->Finish(ToGrpcStatus(actor.status()));
    return reactor;
  }
  CallContext call;
  call.actor = *std::move(actor);
  call.request_id = request->context().request_id();
  if (call.request_id.empty()) call.request_id = RequestIdOf(*ctx);
  if (call.request_id.empty()) call.request_id = NewRequestId();
  absl::Time client_deadline = absl::FromChrono(ctx->deadline());
  call.deadline = std::min(client_deadline, absl::Now() + default_timeout_);
  bool queued = workers_->TrySubmit([this, reactor, response, call, operation]() {
    absl::StatusOr<Response> result = operation(call);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "identity service is at capacity; retry with backoff"));
  }
  return reactor;
}

#define HIE_IDENTITY_RPC(Method, Request, Response, access, ManagerMethod)                   \
  grpc::ServerUnaryReactor* IdentityServiceImpl::Method(                                     \
      grpc::CallbackServerContext* ctx, const Request* request, Response* response) {        \
    return Run(ctx, request, response, access,                                              \
               [this, request](const CallContext& call) {                                   \
                 return manager_->ManagerMethod(call, *request);                            \
               });                                                                          \
  }

HIE_IDENTITY_RPC(RegisterSourceRecord, v1::RegisterSourceRecordRequest,
                 v1::RegisterSourceRecordResponse, Access::kWrite, Register)
HIE_IDENTITY_RPC(MergeSourceRecords, v1::MergeSourceRecordsRequest,
                 v1::MergeSourceRecordsResponse, Access::kWrite, MergeSourceRecords)
HIE_IDENTITY_RPC(GetSourceRecord, v1::GetSourceRecordRequest, v1::SourceRecord, Access::kRead,
                 GetSourceRecord)
HIE_IDENTITY_RPC(Resolve, v1::ResolveRequest, v1::ResolveResponse, Access::kRead, Resolve)
HIE_IDENTITY_RPC(SearchPersons, v1::SearchPersonsRequest, v1::SearchPersonsResponse,
                 Access::kRead, SearchPersons)
HIE_IDENTITY_RPC(GetPerson, v1::GetPersonRequest, v1::Person, Access::kRead, GetPerson)
HIE_IDENTITY_RPC(ListReviewTasks, v1::ListReviewTasksRequest, v1::ListReviewTasksResponse,
                 Access::kRead, ListReviewTasks)
HIE_IDENTITY_RPC(GetReviewTask, v1::GetReviewTaskRequest, v1::ReviewTask, Access::kRead,
                 GetReviewTask)
HIE_IDENTITY_RPC(ResolveReviewTask, v1::ResolveReviewTaskRequest, v1::ResolveReviewTaskResponse,
                 Access::kWrite, ResolveReviewTask)
HIE_IDENTITY_RPC(LinkRecord, v1::LinkRecordRequest, v1::LinkRecordResponse, Access::kWrite,
                 LinkRecord)
HIE_IDENTITY_RPC(UnlinkRecord, v1::UnlinkRecordRequest, v1::UnlinkRecordResponse,
                 Access::kWrite, UnlinkRecord)
HIE_IDENTITY_RPC(MergePersons, v1::MergePersonsRequest, v1::MergePersonsResponse,
                 Access::kWrite, MergePersons)
HIE_IDENTITY_RPC(UnmergePersons, v1::UnmergePersonsRequest, v1::UnmergePersonsResponse,
                 Access::kWrite, UnmergePersons)
HIE_IDENTITY_RPC(GetHistory, v1::GetHistoryRequest, v1::GetHistoryResponse, Access::kRead,
                 GetHistory)
HIE_IDENTITY_RPC(ListNotAMatches, v1::ListNotAMatchesRequest, v1::ListNotAMatchesResponse,
                 Access::kRead, ListNotAMatches)

#undef HIE_IDENTITY_RPC

}  // namespace hie::identity
