#pragma once

// gRPC adapter of the audit service: takes the caller from its verified certificate, runs the
// operation (core/operations.h: authorisation, validation, AUDIT_ACCESS) and maps absl::Status to
// grpc::Status. Reads run on the worker pool. Appends (Record, RecordBatch) are checked on the
// gRPC thread and queued for the log's group commit without holding any thread: the log's
// committer finishes the call once its group is durable.

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
  // The caller, request id and deadline of a call; UNAUTHENTICATED without a certificate.
  template <typename Request>
  absl::StatusOr<Call> BeginCall(grpc::CallbackServerContext* ctx, const Request* request,
                                 absl::Duration timeout);
  // Runs `work(call)` on the worker pool and finishes with its result.
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, absl::Duration timeout, Work work);
  // Calls `start(call, done)`, which must not block; `done(result)` finishes the call.
  template <typename Request, typename Response, typename Start>
  grpc::ServerUnaryReactor* RunAppend(grpc::CallbackServerContext* ctx, const Request* request,
                                      Response* response, Start start);

  AuditOperations* const operations_;
  WorkerPool* const workers_;
  const AuditServiceOptions options_;
};

}  // namespace hie::audit
