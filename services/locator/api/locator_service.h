#pragma once

// gRPC adapter of the locator (hie.locator.v1.RecordLocator): the caller from its verified
// certificate (core/authorization.h decides the actor), the operation (core/
// locator_operations.h) on the worker pool, absl::Status mapped to gRPC. Nothing else.

#include "hie/locator/v1/locator.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/locator/core/authorization.h"
#include "services/locator/core/locator_operations.h"

namespace hie::locator {

struct LocatorServiceOptions {
  absl::Duration timeout = absl::Seconds(10);
  AuthorizationPolicy authorization;
};

class LocatorServiceImpl final : public v1::RecordLocator::CallbackService {
 public:
  LocatorServiceImpl(LocatorOperations* operations, WorkerPool* workers,
                     LocatorServiceOptions options = {});

  grpc::ServerUnaryReactor* Locate(grpc::CallbackServerContext* ctx,
                                   const v1::LocateRequest* request,
                                   v1::LocateResponse* response) override;
  grpc::ServerUnaryReactor* ReportActivity(grpc::CallbackServerContext* ctx,
                                           const v1::ReportActivityRequest* request,
                                           v1::RecordLocation* response) override;
  grpc::ServerUnaryReactor* DeleteLocation(grpc::CallbackServerContext* ctx,
                                           const v1::DeleteLocationRequest* request,
                                           v1::DeleteLocationResponse* response) override;
  grpc::ServerUnaryReactor* ListLocations(grpc::CallbackServerContext* ctx,
                                          const v1::ListLocationsRequest* request,
                                          v1::ListLocationsResponse* response) override;

 private:
  // Authorises the call for `access`, then runs `work(actor, deadline)`.
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, Access access, Work work);

  LocatorOperations* const operations_;
  WorkerPool* const workers_;
  const LocatorServiceOptions options_;
};

}  // namespace hie::locator
