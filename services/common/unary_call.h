#pragma once

// The shape every service's gRPC adapter shares, for a unary callback RPC: the caller's
// verified certificate, the request id (the request's context.request_id, else the client's
// x-request-id metadata, else a new "<prefix>-<16 hex>"), the deadline (the client's, capped
// by `timeout`), then `work(call)` on the worker pool; its absl::Status is mapped to gRPC
// (services/common/status.h). A full pool answers RESOURCE_EXHAUSTED ("retry with backoff"), a
// call without a client certificate UNAUTHENTICATED.
//
// Used by the registry; identity, consent and audit carry their own copies of this shape.

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/peer_identity.h"
#include "services/common/worker_pool.h"

namespace hie {

struct UnaryCall {
  PeerIdentity peer;
  std::string request_id;
  absl::Time deadline;
};

// Fills everything but the worker hand-off; UNAUTHENTICATED without a verified certificate.
absl::StatusOr<UnaryCall> BeginUnaryCall(const grpc::CallbackServerContext& ctx,
                                         const std::string& context_request_id,
                                         absl::Duration timeout, const char* id_prefix);

// Finishes `reactor` with `status` mapped to gRPC.
void FinishUnary(grpc::ServerUnaryReactor* reactor, const absl::Status& status);

template <typename Response, typename Work>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx,
                                   const std::string& context_request_id, Response* response,
                                   absl::Duration timeout, WorkerPool* workers,
                                   const char* id_prefix, Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<UnaryCall> call = BeginUnaryCall(*ctx, context_request_id, timeout, id_prefix);
  if (!call.ok()) {
    FinishUnary(reactor, call.status());
    return reactor;
  }
  const bool queued = workers->TrySubmit([reactor, response, call = *std::move(call), work]() {
    absl::StatusOr<Response> result = work(call);
    if (result.ok()) *response = *std::move(result);
    FinishUnary(reactor, result.status());
  });
  if (!queued) {
    FinishUnary(reactor, absl::ResourceExhaustedError("the service is at capacity; retry with "
                                                      "backoff"));
  }
  return reactor;
}

}  // namespace hie
