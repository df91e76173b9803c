#pragma once

// gRPC adapter of the audit service: takes the caller from its verified certificate, runs the
// operation (core/operations.h: authorisation, validation, AUDIT_ACCESS) on the worker pool and
// maps absl::Status to grpc::Status. Appends wait there for their group's commit, so the pool's
// size bounds how many callers one group can hold (hie-audit sizes it for 64 and more).

#include "hie/audit/v1/audit.grpc.pb.h"
#include "services/audit/core/operations.h"
#include "services/common/worker_pool.h"

namespace hie::audit {

struct AuditServiceOptions {
  absl::Duration default_timeout = absl::Seconds(10);
  // Verify of a long range may take longer than other calls.
  absl::Duration verify_timeout = absl::Seconds(300);
};

class AuditServiceImpl final : public v1::AuditLog::CallbackService {
 public:
  AuditServiceImpl(AuditOperations* operations, WorkerPool* workers,
                   AuditServiceOptions options = {});

#define HIE_AUDIT_RPC_DECL(Method, Request, Response)                                            \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const v1::Request* request, \
                                   v1::Response* response) override;
  HIE_AUDIT_RPC_DECL(Record, RecordRequest, RecordResponse)
  HIE_AUDIT_RPC_DECL(RecordBatch, RecordBatchRequest, RecordBatchResponse)
  HIE_AUDIT_RPC_DECL(SearchEvents, SearchEventsRequest, SearchEventsResponse)
  HIE_AUDIT_RPC_DECL(Verify, VerifyRequest, VerifyResult)
  HIE_AUDIT_RPC_DECL(GetAccountingOfDisclosures, GetAccountingOfDisclosuresRequest,
                     GetAccountingOfDisclosuresResponse)
  HIE_AUDIT_RPC_DECL(CreateCheckpoint, CreateCheckpointRequest, Checkpoint)
  HIE_AUDIT_RPC_DECL(ListCheckpoints, ListCheckpointsRequest, ListCheckpointsResponse)
  HIE_AUDIT_RPC_DECL(ListSigningKeys, ListSigningKeysRequest, ListSigningKeysResponse)
#undef HIE_AUDIT_RPC_DECL

 private:
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, absl::Duration timeout, Work work);

  AuditOperations* const operations_;
  WorkerPool* const workers_;
  const AuditServiceOptions options_;
};

}  // namespace hie::audit
