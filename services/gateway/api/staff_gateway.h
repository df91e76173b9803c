#pragma once

// The gateway's staff APIs (hie.gateway.v1.OperatorGateway and AdminGateway), callback API: thin,
// role-checked proxies to identity, consent and audit, and the member directory.
//
// Every call: the caller's certificate and ClientContext checked (core/staff_access.h: OU
// operator, auditor or admin; the RPC's roles; user and role, if given, the certificate's;
// purpose_of_use SYSTEM_ADMINISTRATION, required), then, on the worker pool (RESOURCE_EXHAUSTED
// when full), a mutation's reason and idempotency_key checked, the request translated field for
// field into the service's request with the hub's RequestContext (request id "gw-<hex>" unless
// the client sent x-request-id metadata, the client's id as client_request_id, the certificate's
// actor, SYSTEM_ADMINISTRATION, the start time), and the service called with the caller's
// deadline (at most 30 s) over the gateway's own client certificate; its answer or status is
// returned as it is. The services let the gateway's certificate (CN "gateway") act for the actor
// its RequestContext names: identity and consent (their authorization.h, delegating_services)
// and hie-audit for its reads (services/audit/core/operations.h).
//
// Audit: a PERMISSION_DENIED outcome is recorded as EVENT_TYPE_SECURITY (best effort, the
// refusal stands either way) unless the gateway records the call itself. The calls no service
// records (identity reads, consent reads, the member directory) are recorded by the gateway
// (core/staff_access.h AccessEvent) durably before the answer: if the record fails, the answer
// is UNAVAILABLE and nothing is returned. Identity's mutations are recorded by identity's
// history (hie-audit follows it), ReviewBreakGlass by consent, audit reads by hie-audit.
//
// ListMembers and GetMember answer from the directory the gateway holds (the keeper's view,
// store/member_directory_keeper.h; without a keeper, HubServices::Directory and EndpointOf), with
// each member's circuit breaker (Breakers) state and last success/failure times, capabilities,
// version and update time. PutMember and SetMemberState (HIE_ADMIN) go to the keeper (rules:
// core/member_directory.h DecidePut / DecideState), which stores the change and refreshes the
// view before the answer; without a keeper or a store they answer FAILED_PRECONDITION "no
// directory store configured". They are recorded by the gateway after the write: if that record
// fails the answer is UNAVAILABLE, the change stands, and a retry (same member, same state)
// changes nothing and is recorded.
//
// Thread-safety: all methods may be called concurrently. Stubs, hub, breakers and worker pool
// must outlive the server.

#include <grpcpp/grpcpp.h>

#include <memory>

#include "hie/audit/v1/audit.grpc.pb.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/gateway/api/member_fanout.h"
#include "services/gateway/core/federated_query.h"
#include "services/gateway/store/member_directory_keeper.h"

namespace hie::gateway {

// What the staff APIs call.
struct StaffServices {
  identity::v1::IdentityService::StubInterface* identity = nullptr;
  consent::v1::ConsentService::StubInterface* consent = nullptr;
  audit::v1::AuditLog::StubInterface* audit = nullptr;
  HubServices* hub = nullptr;    // Record (the gateway's own audit records), the directory
  Breakers* breakers = nullptr;  // members' circuit state; null: CIRCUIT_STATE_UNSPECIFIED
  WorkerPool* workers = nullptr;
  // The member directory and its writes; null: the hub's Directory(), writes refused.
  MemberDirectoryKeeper* directory = nullptr;
};

class StaffCalls;  // the shared call shape (staff_gateway.cc)

class OperatorGatewayImpl final : public v1::OperatorGateway::CallbackService {
 public:
  explicit OperatorGatewayImpl(StaffServices services);
  ~OperatorGatewayImpl() override;

  grpc::ServerUnaryReactor* ListReviewTasks(
      grpc::CallbackServerContext* ctx, const v1::ListReviewTasksRequest* request,
      identity::v1::ListReviewTasksResponse* response) override;
  grpc::ServerUnaryReactor* GetReviewTask(grpc::CallbackServerContext* ctx,
                                          const v1::GetReviewTaskRequest* request,
                                          identity::v1::ReviewTask* response) override;
  grpc::ServerUnaryReactor* ResolveReviewTask(
      grpc::CallbackServerContext* ctx, const v1::ResolveReviewTaskRequest* request,
      identity::v1::ResolveReviewTaskResponse* response) override;
  grpc::ServerUnaryReactor* SearchPersons(grpc::CallbackServerContext* ctx,
                                          const v1::SearchPersonsRequest* request,
                                          identity::v1::SearchPersonsResponse* response) override;
  grpc::ServerUnaryReactor* GetPerson(grpc::CallbackServerContext* ctx,
                                      const v1::GetPersonRequest* request,
                                      identity::v1::Person* response) override;
  grpc::ServerUnaryReactor* GetSourceRecord(grpc::CallbackServerContext* ctx,
                                            const v1::GetSourceRecordRequest* request,
                                            identity::v1::SourceRecord* response) override;
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* ctx,
                                    const v1::ResolveRequest* request,
                                    identity::v1::ResolveResponse* response) override;
  grpc::ServerUnaryReactor* LinkRecord(grpc::CallbackServerContext* ctx,
                                       const v1::LinkRecordRequest* request,
                                       identity::v1::LinkRecordResponse* response) override;
  grpc::ServerUnaryReactor* UnlinkRecord(grpc::CallbackServerContext* ctx,
                                         const v1::UnlinkRecordRequest* request,
                                         identity::v1::UnlinkRecordResponse* response) override;
  grpc::ServerUnaryReactor* MergePersons(grpc::CallbackServerContext* ctx,
                                         const v1::MergePersonsRequest* request,
                                         identity::v1::MergePersonsResponse* response) override;
  grpc::ServerUnaryReactor* UnmergePersons(grpc::CallbackServerContext* ctx,
                                           const v1::UnmergePersonsRequest* request,
                                           identity::v1::UnmergePersonsResponse* response) override;
  grpc::ServerUnaryReactor* GetHistory(grpc::CallbackServerContext* ctx,
                                       const v1::GetHistoryRequest* request,
                                       identity::v1::GetHistoryResponse* response) override;
  grpc::ServerUnaryReactor* ListNotAMatches(
      grpc::CallbackServerContext* ctx, const v1::ListNotAMatchesRequest* request,
      identity::v1::ListNotAMatchesResponse* response) override;

 private:
  identity::v1::IdentityService::StubInterface* const identity_;
  std::unique_ptr<StaffCalls> calls_;
};

class AdminGatewayImpl final : public v1::AdminGateway::CallbackService {
 public:
  explicit AdminGatewayImpl(StaffServices services);
  ~AdminGatewayImpl() override;

  grpc::ServerUnaryReactor* SearchAuditEvents(grpc::CallbackServerContext* ctx,
                                              const v1::SearchAuditEventsRequest* request,
                                              audit::v1::SearchEventsResponse* response) override;
  grpc::ServerUnaryReactor* VerifyAuditLog(grpc::CallbackServerContext* ctx,
                                           const v1::VerifyAuditLogRequest* request,
                                           audit::v1::VerifyResult* response) override;
  grpc::ServerUnaryReactor* GetAccountingOfDisclosures(
      grpc::CallbackServerContext* ctx, const v1::GetAccountingOfDisclosuresRequest* request,
      audit::v1::GetAccountingOfDisclosuresResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditCheckpoints(
      grpc::CallbackServerContext* ctx, const v1::ListAuditCheckpointsRequest* request,
      audit::v1::ListCheckpointsResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditSigningKeys(
      grpc::CallbackServerContext* ctx, const v1::ListAuditSigningKeysRequest* request,
      audit::v1::ListSigningKeysResponse* response) override;
  grpc::ServerUnaryReactor* ListBreakGlassGrants(
      grpc::CallbackServerContext* ctx, const v1::ListBreakGlassGrantsRequest* request,
      consent::v1::ListBreakGlassGrantsResponse* response) override;
  grpc::ServerUnaryReactor* ReviewBreakGlass(grpc::CallbackServerContext* ctx,
                                             const v1::ReviewBreakGlassRequest* request,
                                             consent::v1::BreakGlassGrant* response) override;
  grpc::ServerUnaryReactor* ListConsentDirectives(
      grpc::CallbackServerContext* ctx, const v1::AdminListConsentDirectivesRequest* request,
      consent::v1::ListDirectivesResponse* response) override;
  grpc::ServerUnaryReactor* GetConsentPolicy(grpc::CallbackServerContext* ctx,
                                             const v1::GetConsentPolicyRequest* request,
                                             consent::v1::ConsentPolicy* response) override;
  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* ctx,
                                        const v1::ListMembersRequest* request,
                                        v1::ListMembersResponse* response) override;
  grpc::ServerUnaryReactor* GetMember(grpc::CallbackServerContext* ctx,
                                      const v1::GetMemberRequest* request,
                                      v1::Member* response) override;
  grpc::ServerUnaryReactor* PutMember(grpc::CallbackServerContext* ctx,
                                      const v1::PutMemberRequest* request,
                                      v1::Member* response) override;
  grpc::ServerUnaryReactor* SetMemberState(grpc::CallbackServerContext* ctx,
                                           const v1::SetMemberStateRequest* request,
                                           v1::Member* response) override;

 private:
  consent::v1::ConsentService::StubInterface* const consent_;
  audit::v1::AuditLog::StubInterface* const audit_;
  std::unique_ptr<StaffCalls> calls_;
};

}  // namespace hie::gateway
