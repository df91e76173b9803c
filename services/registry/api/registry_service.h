#pragma once

// gRPC adapter of the registry (hie.registry.v1.DocumentRegistry): the caller from its verified
// certificate (core/authorization.h decides the actor), the operation (core/
// registry_operations.h) on the worker pool, absl::Status mapped to gRPC. Nothing else.

#include "hie/registry/v1/registry.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/registry/core/authorization.h"
#include "services/registry/core/registry_operations.h"

namespace hie::registry {

struct RegistryServiceOptions {
  absl::Duration timeout = absl::Seconds(10);
  AuthorizationPolicy authorization;
};

class RegistryServiceImpl final : public v1::DocumentRegistry::CallbackService {
 public:
  RegistryServiceImpl(RegistryOperations* operations, WorkerPool* workers,
                      RegistryServiceOptions options = {});

  grpc::ServerUnaryReactor* RegisterSubmissionSet(
      grpc::CallbackServerContext* ctx, const v1::RegisterSubmissionSetRequest* request,
      v1::RegisterSubmissionSetResponse* response) override;
  grpc::ServerUnaryReactor* FindDocuments(grpc::CallbackServerContext* ctx,
                                          const v1::FindDocumentsRequest* request,
                                          v1::FindDocumentsResponse* response) override;
  grpc::ServerUnaryReactor* GetDocuments(grpc::CallbackServerContext* ctx,
                                         const v1::GetDocumentsRequest* request,
                                         v1::GetDocumentsResponse* response) override;
  grpc::ServerUnaryReactor* GetRelatedDocuments(grpc::CallbackServerContext* ctx,
                                                const v1::GetRelatedDocumentsRequest* request,
                                                v1::GetRelatedDocumentsResponse* response) override;
  grpc::ServerUnaryReactor* DeprecateDocument(grpc::CallbackServerContext* ctx,
                                              const v1::DeprecateDocumentRequest* request,
                                              v1::DocumentEntry* response) override;
  grpc::ServerUnaryReactor* ListChanges(grpc::CallbackServerContext* ctx,
                                        const v1::ListChangesRequest* request,
                                        v1::ListChangesResponse* response) override;

 private:
  // Authorises the call for `access`, then runs `work(actor, deadline)`.
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, Access access, Work work);

  RegistryOperations* const operations_;
  WorkerPool* const workers_;
  const RegistryServiceOptions options_;
};

}  // namespace hie::registry
