#pragma once

// gRPC adapter of a member node (hie.member.v1.MemberEndpoint), callback API: the caller from
// its verified certificate (core/authorization.h: the hub's gateway only), the rules
// (core/member_rules.h) over the member's store, absl::Status mapped to gRPC, and fault
// injection (core/fault_plan.h) for the data RPCs.
//
//   FindDocuments     services/common/unary_call.h's RunUnary (work on the worker pool);
//   RetrieveDocument  a server-streaming reactor: the header, then the content in chunks of
//                     `chunk_bytes`, each written when the previous one is done (flow control);
//   GetCapabilities   never faulted.
// Faults hold no thread: latency is a gRPC alarm; a hung or black-holed call is a reactor that
// waits for its cancellation (the client's deadline or cancel, or the server's shutdown) and is
// then finished; ReleaseHeldCalls finishes all of them at once (a drain hook). Other calls are
// answered meanwhile.
//
// Thread-safety: all methods may be called concurrently. The store, the worker pool and the
// service must outlive the server.

#include "hie/member/v1/member.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/member/api/held_calls.h"
#include "services/member/core/authorization.h"
#include "services/member/core/fault_plan.h"
#include "services/member/core/member_data.h"
#include "services/member/core/member_rules.h"

namespace hie::member {

struct MemberServiceOptions {
  absl::Duration timeout = absl::Seconds(10);  // cap on a call's deadline
  HubCallerPolicy callers;
  FaultOptions faults;
  size_t chunk_bytes = kMaxChunkBytes;  // 1..kMaxChunkBytes
};

class MemberEndpointImpl final : public v1::MemberEndpoint::CallbackService {
 public:
  MemberEndpointImpl(const MemberStore* store, WorkerPool* workers,
                     MemberServiceOptions options = {});

  grpc::ServerUnaryReactor* FindDocuments(grpc::CallbackServerContext* ctx,
                                          const v1::FindDocumentsRequest* request,
                                          v1::FindDocumentsResponse* response) override;
  grpc::ServerWriteReactor<v1::RetrieveDocumentResponse>* RetrieveDocument(
      grpc::CallbackServerContext* ctx, const v1::RetrieveDocumentRequest* request) override;
  grpc::ServerUnaryReactor* GetCapabilities(grpc::CallbackServerContext* ctx,
                                            const v1::GetCapabilitiesRequest* request,
                                            v1::MemberCapabilities* response) override;

  // Finishes every call a fault holds (UNAVAILABLE), and from now on any new one at once.
  void ReleaseHeldCalls() { held_.ReleaseAll(); }
  // Calls held by a fault right now.
  size_t held_calls() const { return held_.size(); }

  // What RetrieveDocument's reactor needs (internal).
  struct Shared {
    const MemberStore* store;
    MemberServiceOptions options;
    HeldCalls* held;
  };

 private:
  WorkerPool* const workers_;
  HeldCalls held_;
  const Shared shared_;
  FaultPlan faults_;
};

}  // namespace hie::member
