#pragma once

// gRPC adapter of the consent service: authenticates and authorises the caller from its
// certificate (core/authorization.h), builds the CallContext, runs the operation and maps
// absl::Status to grpc::Status. No consent rules here.
//
// Decide and BatchDecide read only memory (the view) and, for a break-glass grant, identity
// with a short deadline: they run on the worker pool like everything else, so a callback thread
// never blocks. Every call gets at most ConsentServiceOptions::default_timeout (or the client's
// shorter deadline); a full worker queue answers RESOURCE_EXHAUSTED at once.

#include "hie/consent/v1/consent.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/consent/core/consent_manager.h"

namespace hie::consent {

struct ConsentServiceOptions {
  absl::Duration default_timeout = absl::Seconds(10);
  AuthorizationPolicy authorization;
};

class ConsentServiceImpl final : public v1::ConsentService::CallbackService {
 public:
  // `manager` and `workers` must outlive the service.
  ConsentServiceImpl(ConsentManager* manager, WorkerPool* workers,
                     ConsentServiceOptions options = {});

  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* ctx, const v1::DecideRequest* r,
                                   v1::Decision* out) override;
  grpc::ServerUnaryReactor* BatchDecide(grpc::CallbackServerContext* ctx,
                                        const v1::BatchDecideRequest* r,
                                        v1::BatchDecideResponse* out) override;
  grpc::ServerUnaryReactor* CreateDirective(grpc::CallbackServerContext* ctx,
                                            const v1::CreateDirectiveRequest* r,
                                            v1::ConsentDirective* out) override;
  grpc::ServerUnaryReactor* GetDirective(grpc::CallbackServerContext* ctx,
                                         const v1::GetDirectiveRequest* r,
                                         v1::ConsentDirective* out) override;
  grpc::ServerUnaryReactor* ListDirectives(grpc::CallbackServerContext* ctx,
                                           const v1::ListDirectivesRequest* r,
                                           v1::ListDirectivesResponse* out) override;
  grpc::ServerUnaryReactor* UpdateDirective(grpc::CallbackServerContext* ctx,
                                            const v1::UpdateDirectiveRequest* r,
                                            v1::ConsentDirective* out) override;
  grpc::ServerUnaryReactor* RevokeDirective(grpc::CallbackServerContext* ctx,
                                            const v1::RevokeDirectiveRequest* r,
                                            v1::ConsentDirective* out) override;
  grpc::ServerUnaryReactor* BreakGlass(grpc::CallbackServerContext* ctx,
                                       const v1::BreakGlassRequest* r,
                                       v1::BreakGlassGrant* out) override;
  grpc::ServerUnaryReactor* EndBreakGlass(grpc::CallbackServerContext* ctx,
                                          const v1::EndBreakGlassRequest* r,
                                          v1::BreakGlassGrant* out) override;
  grpc::ServerUnaryReactor* ListBreakGlassGrants(grpc::CallbackServerContext* ctx,
                                                 const v1::ListBreakGlassGrantsRequest* r,
                                                 v1::ListBreakGlassGrantsResponse* out) override;
  grpc::ServerUnaryReactor* ReviewBreakGlass(grpc::CallbackServerContext* ctx,
                                             const v1::ReviewBreakGlassRequest* r,
                                             v1::BreakGlassGrant* out) override;
  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* ctx,
                                      const v1::GetPolicyRequest* r,
                                      v1::ConsentPolicy* out) override;

 private:
  // Authorises `op`, then runs `work(call)` on the worker pool and finishes with its result.
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, Operation op, Work work);

  ConsentManager* manager_;
  WorkerPool* workers_;
  const ConsentServiceOptions options_;
};

}  // namespace hie::consent
