#include "services/consent/api/consent_service.h"

#include "services/common/random_id.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/tls.h"

namespace hie::consent {
namespace {

std::string NewRequestId() { return RandomId("cs"); }

absl::StatusOr<hie::common::v1::Actor> AuthorisedActor(
    const grpc::CallbackServerContext& ctx, const hie::common::v1::RequestContext& context,
    Operation op, const AuthorizationPolicy& policy) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no client certificate");
  absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth);
  if (!peer.ok()) return peer.status();
  return ActorForCall({peer->org, peer->role, peer->common_name}, context.actor(), op, policy);
}

}  // namespace

ConsentServiceImpl::ConsentServiceImpl(ConsentManager* manager, WorkerPool* workers,
                                       ConsentServiceOptions options)
    : manager_(manager), workers_(workers), options_(std::move(options)) {}

template <typename Request, typename Response, typename Work>
grpc::ServerUnaryReactor* ConsentServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                  const Request* request, Response* response,
                                                  Operation op, Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<hie::common::v1::Actor> actor =
      AuthorisedActor(*ctx, request->context(), op, options_.authorization);
  if (!actor.ok()) {
    reactor->Finish(ToGrpcStatus(actor.status()));
    return reactor;
  }
  CallContext call;
  call.actor = *std::move(actor);
  call.request_id = request->context().request_id();
  if (call.request_id.empty()) call.request_id = RequestIdOf(*ctx);
  if (call.request_id.empty()) call.request_id = NewRequestId();
  call.deadline =
      std::min(absl::FromChrono(ctx->deadline()), absl::Now() + options_.default_timeout);
  bool queued = workers_->TrySubmit([reactor, response, call, work]() {
    absl::StatusOr<Response> result = work(call);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "consent service is at capacity; retry with backoff"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* ConsentServiceImpl::Decide(grpc::CallbackServerContext* ctx,
                                                     const v1::DecideRequest* r,
                                                     v1::Decision* out) {
  return Run(ctx, r, out, Operation::kDecide,
             [this, r](const CallContext& call) { return manager_->Decide(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::BatchDecide(grpc::CallbackServerContext* ctx,
                                                          const v1::BatchDecideRequest* r,
                                                          v1::BatchDecideResponse* out) {
  return Run(ctx, r, out, Operation::kDecide,
             [this, r](const CallContext& call) { return manager_->BatchDecide(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::CreateDirective(grpc::CallbackServerContext* ctx,
                                                              const v1::CreateDirectiveRequest* r,
                                                              v1::ConsentDirective* out) {
  return Run(ctx, r, out, Operation::kWriteDirective,
             [this, r](const CallContext& call) { return manager_->CreateDirective(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::GetDirective(grpc::CallbackServerContext* ctx,
                                                           const v1::GetDirectiveRequest* r,
                                                           v1::ConsentDirective* out) {
  return Run(ctx, r, out, Operation::kReadDirective,
             [this, r](const CallContext& call) { return manager_->GetDirective(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::ListDirectives(grpc::CallbackServerContext* ctx,
                                                             const v1::ListDirectivesRequest* r,
                                                             v1::ListDirectivesResponse* out) {
  return Run(ctx, r, out, Operation::kReadDirective,
             [this, r](const CallContext& call) { return manager_->ListDirectives(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::UpdateDirective(grpc::CallbackServerContext* ctx,
                                                              const v1::UpdateDirectiveRequest* r,
                                                              v1::ConsentDirective* out) {
  return Run(ctx, r, out, Operation::kWriteDirective,
             [this, r](const CallContext& call) { return manager_->UpdateDirective(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::RevokeDirective(grpc::CallbackServerContext* ctx,
                                                              const v1::RevokeDirectiveRequest* r,
                                                              v1::ConsentDirective* out) {
  return Run(ctx, r, out, Operation::kWriteDirective,
             [this, r](const CallContext& call) { return manager_->RevokeDirective(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::BreakGlass(grpc::CallbackServerContext* ctx,
                                                         const v1::BreakGlassRequest* r,
                                                         v1::BreakGlassGrant* out) {
  return Run(ctx, r, out, Operation::kBreakGlass,
             [this, r](const CallContext& call) { return manager_->BreakGlass(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::EndBreakGlass(grpc::CallbackServerContext* ctx,
                                                            const v1::EndBreakGlassRequest* r,
                                                            v1::BreakGlassGrant* out) {
  return Run(ctx, r, out, Operation::kEndBreakGlass,
             [this, r](const CallContext& call) { return manager_->EndBreakGlass(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::ListBreakGlassGrants(
    grpc::CallbackServerContext* ctx, const v1::ListBreakGlassGrantsRequest* r,
    v1::ListBreakGlassGrantsResponse* out) {
  return Run(ctx, r, out, Operation::kListGrants, [this, r](const CallContext& call) {
    return manager_->ListBreakGlassGrants(call, *r);
  });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::ReviewBreakGlass(grpc::CallbackServerContext* ctx,
                                                               const v1::ReviewBreakGlassRequest* r,
                                                               v1::BreakGlassGrant* out) {
  return Run(ctx, r, out, Operation::kReviewGrant,
             [this, r](const CallContext& call) { return manager_->ReviewBreakGlass(call, *r); });
}

grpc::ServerUnaryReactor* ConsentServiceImpl::GetPolicy(grpc::CallbackServerContext* ctx,
                                                        const v1::GetPolicyRequest* r,
                                                        v1::ConsentPolicy* out) {
  return Run(ctx, r, out, Operation::kGetPolicy,
             [this, r](const CallContext& call) { return manager_->GetPolicy(call, *r); });
}

}  // namespace hie::consent
