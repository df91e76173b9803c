#pragma once

// The gateway's member-facing gRPC API (hie.gateway.v1.MemberGateway), callback API:
//   FindOutsideRecords  a server-streaming reactor: the caller's certificate and context checked
//                       (core/member_access.h), the request validated, then the federated
//                       query (core/federated_query.h) on the worker pool, each message written
//                       when the previous one is done; the client's cancellation stops the
//                       query (the members' calls are cancelled). A refused call is audited
//                       (EVENT_TYPE_SECURITY) before it is answered.
//   GetCallerInfo       what the certificate says (org, roles it may assert, subject).
// The other RPCs answer UNIMPLEMENTED in this version.
//
// Thread-safety: all methods may be called concurrently. The hub services, member calls and
// worker pool must outlive the server.

#include <grpcpp/grpcpp.h>

#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/gateway/core/federated_query.h"

namespace hie::gateway {

struct MemberGatewayOptions {
  FederatedQueryOptions query;  // new_event_id unset: random "gw-ev-<32 hex>" ids
};

class MemberGatewayImpl final : public v1::MemberGateway::CallbackService {
 public:
  MemberGatewayImpl(HubServices* hub, MemberCalls* members, WorkerPool* workers,
                    MemberGatewayOptions options);

  grpc::ServerWriteReactor<v1::FindOutsideRecordsResponse>* FindOutsideRecords(
      grpc::CallbackServerContext* ctx, const v1::FindOutsideRecordsRequest* request) override;
  grpc::ServerUnaryReactor* GetCallerInfo(grpc::CallbackServerContext* ctx,
                                          const v1::GetCallerInfoRequest* request,
                                          v1::CallerInfo* response) override;

 private:
  HubServices* const hub_;
  MemberCalls* const members_;
  WorkerPool* const workers_;
  MemberGatewayOptions options_;  // set once in the constructor
};

}  // namespace hie::gateway
