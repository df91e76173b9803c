#include "services/registry/api/registry_service.h"

#include "services/common/unary_call.h"

namespace hie::registry {

RegistryServiceImpl::RegistryServiceImpl(RegistryOperations* operations, WorkerPool* workers,
                                         RegistryServiceOptions options)
    : operations_(operations), workers_(workers), options_(std::move(options)) {}

template <typename Request, typename Response, typename Work>
grpc::ServerUnaryReactor* RegistryServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                   const Request* request, Response* response,
                                                   Access access, Work work) {
  return RunUnary(ctx, request->context().request_id(), response, options_.timeout, workers_, "rg",
                  [this, request, access, work](const UnaryCall& call) -> absl::StatusOr<Response> {
                    absl::StatusOr<Actor> actor = ActorForCall(
                        call.peer, request->context().actor(), access, options_.authorization);
                    if (!actor.ok()) return actor.status();
                    return work(*actor, call.deadline);
                  });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::RegisterSubmissionSet(
    grpc::CallbackServerContext* ctx, const v1::RegisterSubmissionSetRequest* r,
    v1::RegisterSubmissionSetResponse* out) {
  return Run(ctx, r, out, Access::kPublish, [this, r](const Actor& actor, absl::Time deadline) {
    return operations_->Register(actor, *r, deadline);
  });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::FindDocuments(grpc::CallbackServerContext* ctx,
                                                             const v1::FindDocumentsRequest* r,
                                                             v1::FindDocumentsResponse* out) {
  return Run(ctx, r, out, Access::kRead, [this, r](const Actor&, absl::Time deadline) {
    return operations_->Find(*r, deadline);
  });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::GetDocuments(grpc::CallbackServerContext* ctx,
                                                            const v1::GetDocumentsRequest* r,
                                                            v1::GetDocumentsResponse* out) {
  return Run(ctx, r, out, Access::kRead, [this, r](const Actor&, absl::Time deadline) {
    return operations_->Get(*r, deadline);
  });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::GetRelatedDocuments(
    grpc::CallbackServerContext* ctx, const v1::GetRelatedDocumentsRequest* r,
    v1::GetRelatedDocumentsResponse* out) {
  return Run(ctx, r, out, Access::kRead, [this, r](const Actor&, absl::Time deadline) {
    return operations_->Related(*r, deadline);
  });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::DeprecateDocument(
    grpc::CallbackServerContext* ctx, const v1::DeprecateDocumentRequest* r,
    v1::DocumentEntry* out) {
  return Run(ctx, r, out, Access::kPublish, [this, r](const Actor& actor, absl::Time deadline) {
    return operations_->Deprecate(actor, *r, deadline);
  });
}

grpc::ServerUnaryReactor* RegistryServiceImpl::ListChanges(grpc::CallbackServerContext* ctx,
                                                           const v1::ListChangesRequest* r,
                                                           v1::ListChangesResponse* out) {
  return Run(ctx, r, out, Access::kFeed, [this, r](const Actor&, absl::Time deadline) {
    return operations_->Changes(*r, deadline);
  });
}

}  // namespace hie::registry
