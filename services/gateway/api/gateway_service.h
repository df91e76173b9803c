#pragma once

// The gateway's member-facing gRPC API (hie.gateway.v1.MemberGateway), callback API:
//   FindOutsideRecords  a server-streaming reactor: the caller's certificate and context checked
//                       (core/member_access.h), the request validated, then the federated
//                       query (core/federated_query.h) on the worker pool, each message written
//                       when the previous one is done; the client's cancellation stops the
//                       query (the members' calls are cancelled). A refused call is audited
//                       (EVENT_TYPE_SECURITY) before it is answered.
//   RetrieveDocument    the same checks, then core/retrieval.h on the worker pool (the member's
//                       stream relayed message by message; a worker thread is held for the
//                       whole retrieval).
//   GetCallerInfo       what the certificate says (org, roles it may assert, subject).
// A member the directory has suspended or decommissioned is refused every call but
// GetCallerInfo (PERMISSION_DENIED, audited).
//   FeedPatient, MergeLocalPatients, PublishDocuments, DeprecateDocument
//                       a member's writes for its own organisation (core/member_writes.h),
//                       passed to identity and the registry on the worker pool with the
//                       caller's deadline (at most 30 s); refusals audited as above. The
//                       answer to FeedPatient says nothing about matching.
//   CreateConsentDirective, ListConsentDirectives, RevokeConsentDirective, BreakGlass
//                       a member's consent work for its own patients (core/member_consent.h),
//                       passed to consent (and identity) the same way.
//
// Thread-safety: all methods may be called concurrently. The hub services, member calls and
// worker pool must outlive the server.

#include <grpcpp/grpcpp.h>

#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/gateway/core/federated_query.h"
#include "services/gateway/core/member_consent.h"
#include "services/gateway/core/member_writes.h"
#include "services/gateway/core/retrieval.h"

namespace hie::gateway {

struct MemberGatewayOptions {
  FederatedQueryOptions query;  // new_event_id unset: random "gw-ev-<32 hex>" ids
  RetrievalOptions retrieval;   // new_event_id unset: the query's
};

class MemberGatewayImpl final : public v1::MemberGateway::CallbackService {
 public:
  MemberGatewayImpl(HubServices* hub, HubWrites* writes, HubConsent* consent, MemberCalls* members,
                    MemberRetrieval* retrieval, WorkerPool* workers, MemberGatewayOptions options);

  grpc::ServerWriteReactor<v1::FindOutsideRecordsResponse>* FindOutsideRecords(
      grpc::CallbackServerContext* ctx, const v1::FindOutsideRecordsRequest* request) override;
  grpc::ServerWriteReactor<member::v1::RetrieveDocumentResponse>* RetrieveDocument(
      grpc::CallbackServerContext* ctx, const v1::RetrieveDocumentRequest* request) override;
  grpc::ServerUnaryReactor* GetCallerInfo(grpc::CallbackServerContext* ctx,
                                          const v1::GetCallerInfoRequest* request,
                                          v1::CallerInfo* response) override;
  grpc::ServerUnaryReactor* FeedPatient(grpc::CallbackServerContext* ctx,
                                        const v1::FeedPatientRequest* request,
                                        v1::FeedPatientResponse* response) override;
  grpc::ServerUnaryReactor* MergeLocalPatients(grpc::CallbackServerContext* ctx,
                                               const v1::MergeLocalPatientsRequest* request,
                                               v1::MergeLocalPatientsResponse* response) override;
  grpc::ServerUnaryReactor* PublishDocuments(
      grpc::CallbackServerContext* ctx, const v1::PublishDocumentsRequest* request,
      registry::v1::RegisterSubmissionSetResponse* response) override;
  grpc::ServerUnaryReactor* DeprecateDocument(grpc::CallbackServerContext* ctx,
                                              const v1::DeprecateDocumentRequest* request,
                                              registry::v1::DocumentEntry* response) override;
  grpc::ServerUnaryReactor* CreateConsentDirective(
      grpc::CallbackServerContext* ctx, const v1::CreateConsentDirectiveRequest* request,
      consent::v1::ConsentDirective* response) override;
  grpc::ServerUnaryReactor* ListConsentDirectives(
      grpc::CallbackServerContext* ctx, const v1::ListConsentDirectivesRequest* request,
      consent::v1::ListDirectivesResponse* response) override;
  grpc::ServerUnaryReactor* RevokeConsentDirective(
      grpc::CallbackServerContext* ctx, const v1::RevokeConsentDirectiveRequest* request,
      consent::v1::ConsentDirective* response) override;
  grpc::ServerUnaryReactor* BreakGlass(grpc::CallbackServerContext* ctx,
                                       const v1::BreakGlassRequest* request,
                                       v1::BreakGlassResponse* response) override;

 private:
  using ContextOf = absl::StatusOr<common::v1::RequestContext> (*)(
      const PeerIdentity& caller, const common::v1::ClientContext& client,
      const std::string& hub_request_id, absl::Time now);

  // A member's unary call: `context_of` the caller, then `send(context, deadline)` on the
  // worker pool; refusals audited, every outcome logged (ids and the code).
  template <typename Response, typename Send>
  grpc::ServerUnaryReactor* MemberUnary(grpc::CallbackServerContext* ctx,
                                        const common::v1::ClientContext& client, const char* action,
                                        Response* response, Send send,
                                        ContextOf context_of = &MemberWriteContext);

  HubServices* const hub_;
  HubWrites* const writes_;
  HubConsent* const consent_;
  MemberCalls* const members_;
  MemberRetrieval* const retrieval_;
  WorkerPool* const workers_;
  MemberGatewayOptions options_;  // set once in the constructor
};

}  // namespace hie::gateway
