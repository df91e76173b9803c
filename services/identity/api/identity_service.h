#pragma once

// gRPC adapter of the identity service: authenticates and authorises the caller from its
// certificate, builds the CallContext, runs the operation on the worker pool (callback threads
// never block on the database) and maps absl::Status to grpc::Status. No identity rules here.
//
// Authorisation: the caller's certificate and the request's context.actor decide the actor and
// what it may do (core/authorization.h: one set of rules for gRPC and the HL7 feed; the core
// checks member actors' organisation on every operation).
//
// Limits: every call gets at most IdentityServiceOptions::default_timeout (or the client's
// shorter deadline); database work runs on the bounded WorkerPool (RESOURCE_EXHAUSTED when
// full); at most max_watch_streams WatchEvents streams are open at once (each holds a thread;
// RESOURCE_EXHAUSTED beyond).

#include <atomic>
#include <memory>

#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/worker_pool.h"
#include "services/identity/core/identity_manager.h"

namespace hie::identity {

struct IdentityServiceOptions {
  // The longest a call may take (the client's deadline when shorter).
  absl::Duration default_timeout = absl::Seconds(10);
  AuthorizationPolicy authorization;
  int max_watch_streams = 32;
};

class IdentityServiceImpl final : public v1::IdentityService::CallbackService {
 public:
  // `manager` and `workers` must outlive the service.
  IdentityServiceImpl(IdentityManager* manager, WorkerPool* workers,
                      IdentityServiceOptions options = {});

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
  // Authorises `op`, then runs `work(call)` on the worker pool and finishes the call with its
  // result.
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const Request* request,
                                Response* response, Operation op, Work work);

  IdentityManager* manager_;
  WorkerPool* workers_;
  const IdentityServiceOptions options_;
  std::shared_ptr<std::atomic<int>> open_watches_ = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace hie::identity
