#pragma once

// gRPC adapter of the identity service: authenticates and authorises the caller from its
// certificate, builds the CallContext, runs the operation on the worker pool (callback threads
// never block on the database) and maps absl::Status to grpc::Status. No identity rules here.
//
// Authorisation by certificate role (OU):
//   service   (hub services, e.g. the gateway): everything; the actor is taken from
//             context.actor, which the service vouches for.
//   operator  (HIE operations staff): everything; actor = {cert O, context.actor.user_id or
//             cert CN, ROLE_HIE_OPERATOR}.
//   auditor   (privacy officers): reads only (records, persons, resolve, search, review tasks,
//             history, not-a-match decisions).
//   member    and anything else: PERMISSION_DENIED (members use the gateway or the HL7 feed).

#include <atomic>
#include <memory>

#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/identity/core/identity_manager.h"

namespace hie::identity {

class IdentityServiceImpl final : public v1::IdentityService::CallbackService {
 public:
  // `manager` and `workers` must outlive the service. `default_timeout` applies when the client
  // sets no deadline.
  IdentityServiceImpl(IdentityManager* manager, WorkerPool* workers,
                      absl::Duration default_timeout = absl::Seconds(10));

  grpc::ServerUnaryReactor* RegisterSourceRecord(
      grpc::CallbackServerContext* ctx, const v1::RegisterSourceRecordRequest* request,
      v1::RegisterSourceRecordResponse* response) override;
  grpc::ServerUnaryReactor* RegisterSourceRecords(
      grpc::CallbackServerContext* ctx, const v1::RegisterSourceRecordsRequest* request,
      v1::RegisterSourceRecordsResponse* response) override;
  grpc::ServerUnaryReactor* MergeSourceRecords(grpc::CallbackServerContext* ctx,
                                               const v1::MergeSourceRecordsRequest* request,
                                               v1::MergeSourceRecordsResponse* response) override;
  grpc::ServerUnaryReactor* GetSourceRecord(grpc::CallbackServerContext* ctx,
                                            const v1::GetSourceRecordRequest* request,
                                            v1::SourceRecord* response) override;
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* ctx,
                                    const v1::ResolveRequest* request,
                                    v1::ResolveResponse* response) override;
  grpc::ServerUnaryReactor* SearchPersons(grpc::CallbackServerContext* ctx,
                                          const v1::SearchPersonsRequest* request,
                                          v1::SearchPersonsResponse* response) override;
  grpc::ServerUnaryReactor* GetPerson(grpc::CallbackServerContext* ctx,
                                      const v1::GetPersonRequest* request,
                                      v1::Person* response) override;
  grpc::ServerUnaryReactor* ListReviewTasks(grpc::CallbackServerContext* ctx,
                                            const v1::ListReviewTasksRequest* request,
                                            v1::ListReviewTasksResponse* response) override;
  grpc::ServerUnaryReactor* GetReviewTask(grpc::CallbackServerContext* ctx,
                                          const v1::GetReviewTaskRequest* request,
                                          v1::ReviewTask* response) override;
  grpc::ServerUnaryReactor* ResolveReviewTask(grpc::CallbackServerContext* ctx,
                                              const v1::ResolveReviewTaskRequest* request,
                                              v1::ResolveReviewTaskResponse* response) override;
  grpc::ServerUnaryReactor* LinkRecord(grpc::CallbackServerContext* ctx,
                                       const v1::LinkRecordRequest* request,
                                       v1::LinkRecordResponse* response) override;
  grpc::ServerUnaryReactor* UnlinkRecord(grpc::CallbackServerContext* ctx,
                                         const v1::UnlinkRecordRequest* request,
                                         v1::UnlinkRecordResponse* response) override;
  grpc::ServerUnaryReactor* MergePersons(grpc::CallbackServerContext* ctx,
                                         const v1::MergePersonsRequest* request,
                                         v1::MergePersonsResponse* response) override;
  grpc::ServerUnaryReactor* UnmergePersons(grpc::CallbackServerContext* ctx,
                                           const v1::UnmergePersonsRequest* request,
                                           v1::UnmergePersonsResponse* response) override;
  grpc::ServerUnaryReactor* GetHistory(grpc::CallbackServerContext* ctx,
                                       const v1::GetHistoryRequest* request,
                                       v1::GetHistoryResponse* response) override;
  grpc::ServerUnaryReactor* ListNotAMatches(grpc::CallbackServerContext* ctx,
                                            const v1::ListNotAMatchesRequest* request,
                                            v1::ListNotAMatchesResponse* response) override;
  // Streams the history from request.after_sequence, then new events as they commit (polling
  // the store every poll_interval), in sequence order, until the client cancels or the server
  // shuts down (UNAVAILABLE: reconnect from the last sequence). A missing sequence below newer
  // ones is waited for (it may belong to a transaction still committing) for up to gap_patience
  // before it is taken as rolled back, so nothing is skipped and order is kept.
  grpc::ServerWriteReactor<v1::IdentityEvent>* WatchEvents(
      grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest* request) override;

  // Ends open WatchEvents streams (UNAVAILABLE); call before shutting the server down.
  void StopWatches();

 private:
  enum class Access { kRead, kWrite };

  // Runs `operation(call)` on the worker pool and finishes the call with its result.
  template <typename Request, typename Response, typename Operation>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, Access access, Operation operation);

  IdentityManager* manager_;
  WorkerPool* workers_;
  absl::Duration default_timeout_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace hie::identity
