#include "services/locator/api/locator_service.h"

#include "services/common/unary_call.h"

namespace hie::locator {

LocatorServiceImpl::LocatorServiceImpl(LocatorOperations* operations, WorkerPool* workers,
                                       LocatorServiceOptions options)
    : operations_(operations), workers_(workers), options_(std::move(options)) {}

template <typename Request, typename Response, typename Work>
grpc::ServerUnaryReactor* LocatorServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                  const Request* request, Response* response,
                                                  Access access, Work work) {
  return RunUnary(ctx, request->context().request_id(), response, options_.timeout, workers_, "lc",
                  [this, request, access, work](const UnaryCall& call) -> absl::StatusOr<Response> {
                    absl::StatusOr<Actor> actor = ActorForCall(
                        call.peer, request->context().actor(), access, options_.authorization);
                    if (!actor.ok()) return actor.status();
                    return work(*actor, call.deadline);
                  });
}

grpc::ServerUnaryReactor* LocatorServiceImpl::Locate(grpc::CallbackServerContext* ctx,
                                                     const v1::LocateRequest* r,
                                                     v1::LocateResponse* out) {
  return Run(ctx, r, out, Access::kRead, [this, r](const Actor&, absl::Time deadline) {
    return operations_->Locate(*r, deadline);
  });
}

grpc::ServerUnaryReactor* LocatorServiceImpl::ReportActivity(grpc::CallbackServerContext* ctx,
                                                             const v1::ReportActivityRequest* r,
                                                             v1::RecordLocation* out) {
  return Run(ctx, r, out, Access::kReport, [this, r](const Actor& actor, absl::Time deadline) {
    return operations_->Report(actor, *r, deadline);
  });
}

grpc::ServerUnaryReactor* LocatorServiceImpl::DeleteLocation(grpc::CallbackServerContext* ctx,
                                                             const v1::DeleteLocationRequest* r,
                                                             v1::DeleteLocationResponse* out) {
  return Run(ctx, r, out, Access::kRemove, [this, r](const Actor& actor, absl::Time deadline) {
    return operations_->Remove(actor, *r, deadline);
  });
}

grpc::ServerUnaryReactor* LocatorServiceImpl::ListLocations(grpc::CallbackServerContext* ctx,
                                                            const v1::ListLocationsRequest* r,
                                                            v1::ListLocationsResponse* out) {
  return Run(ctx, r, out, Access::kRead, [this, r](const Actor& actor, absl::Time deadline) {
    return operations_->List(actor, *r, deadline);
  });
}

}  // namespace hie::locator
