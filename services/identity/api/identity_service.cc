#include "services/identity/api/identity_service.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "services/common/random_id.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/tls.h"
#include "services/identity/core/history_follower.h"

namespace hie::identity {
namespace {

std::string NewRequestId() { return RandomId("id"); }

// The caller's actor for `op`, from its verified certificate (authorization.h has the rules).
absl::StatusOr<hie::common::v1::Actor> AuthorisedActor(
    const grpc::CallbackServerContext& ctx, const hie::common::v1::RequestContext& context,
    Operation op, const AuthorizationPolicy& policy) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no client certificate");
  absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth);
  if (!peer.ok()) return peer.status();
  return ActorForCall({peer->org, peer->role, peer->common_name}, context.actor(), Channel::kGrpc,
                      op, policy);
}

}  // namespace

IdentityServiceImpl::IdentityServiceImpl(IdentityManager* manager, WorkerPool* workers,
                                         IdentityServiceOptions options)
    : manager_(manager), workers_(workers), options_(std::move(options)) {}

template <typename Request, typename Response, typename Work>
grpc::ServerUnaryReactor* IdentityServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                   const Request* request, Response* response,
                                                   identity::Operation op, Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<hie::common::v1::Actor> actor =
      AuthorisedActor(*ctx, request->context(), op, options_.authorization);
  if (!actor.ok()) {
    reactor->Finish(ToGrpcStatus(actor.status()));
    return reactor;
  }
  CallContext call;
  call.actor = *std::move(actor);
  call.request_id = request->context().request_id();
  if (call.request_id.empty()) call.request_id = RequestIdOf(*ctx);
  if (call.request_id.empty()) call.request_id = NewRequestId();
  absl::Time client_deadline = absl::FromChrono(ctx->deadline());
  call.deadline = std::min(client_deadline, absl::Now() + options_.default_timeout);
  bool queued = workers_->TrySubmit([this, reactor, response, call, work]() {
    absl::StatusOr<Response> result = work(call);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "identity service is at capacity; retry with backoff"));
  }
  return reactor;
}

#define HIE_IDENTITY_RPC(Method, Request, Response, op, ManagerMethod)                           \
  grpc::ServerUnaryReactor* IdentityServiceImpl::Method(                                         \
      grpc::CallbackServerContext* ctx, const Request* request, Response* response) {            \
    return Run(ctx, request, response, Operation::op, [this, request](const CallContext& call) { \
      return manager_->ManagerMethod(call, *request);                                            \
    });                                                                                          \
  }

HIE_IDENTITY_RPC(RegisterSourceRecord, v1::RegisterSourceRecordRequest,
                 v1::RegisterSourceRecordResponse, kRegister, Register)
HIE_IDENTITY_RPC(RegisterSourceRecords, v1::RegisterSourceRecordsRequest,
                 v1::RegisterSourceRecordsResponse, kRegister, RegisterBatch)
HIE_IDENTITY_RPC(MergeSourceRecords, v1::MergeSourceRecordsRequest, v1::MergeSourceRecordsResponse,
                 kMergeSourceRecords, MergeSourceRecords)
HIE_IDENTITY_RPC(GetSourceRecord, v1::GetSourceRecordRequest, v1::SourceRecord, kReadRecord,
                 GetSourceRecord)
HIE_IDENTITY_RPC(Resolve, v1::ResolveRequest, v1::ResolveResponse, kReadRecord, Resolve)
HIE_IDENTITY_RPC(SearchPersons, v1::SearchPersonsRequest, v1::SearchPersonsResponse, kSearch,
                 SearchPersons)
HIE_IDENTITY_RPC(GetPerson, v1::GetPersonRequest, v1::Person, kReadPerson, GetPerson)
HIE_IDENTITY_RPC(ListReviewTasks, v1::ListReviewTasksRequest, v1::ListReviewTasksResponse,
                 kReadReview, ListReviewTasks)
HIE_IDENTITY_RPC(GetReviewTask, v1::GetReviewTaskRequest, v1::ReviewTask, kReadReview,
                 GetReviewTask)
HIE_IDENTITY_RPC(ResolveReviewTask, v1::ResolveReviewTaskRequest, v1::ResolveReviewTaskResponse,
                 kResolveReview, ResolveReviewTask)
HIE_IDENTITY_RPC(LinkRecord, v1::LinkRecordRequest, v1::LinkRecordResponse, kLink, LinkRecord)
HIE_IDENTITY_RPC(UnlinkRecord, v1::UnlinkRecordRequest, v1::UnlinkRecordResponse, kUnlink,
                 UnlinkRecord)
HIE_IDENTITY_RPC(MergePersons, v1::MergePersonsRequest, v1::MergePersonsResponse, kMergePersons,
                 MergePersons)
HIE_IDENTITY_RPC(UnmergePersons, v1::UnmergePersonsRequest, v1::UnmergePersonsResponse,
                 kUnmergePersons, UnmergePersons)
HIE_IDENTITY_RPC(GetHistory, v1::GetHistoryRequest, v1::GetHistoryResponse, kReadHistory,
                 GetHistory)
HIE_IDENTITY_RPC(ListNotAMatches, v1::ListNotAMatchesRequest, v1::ListNotAMatchesResponse,
                 kReadHistory, ListNotAMatches)

#undef HIE_IDENTITY_RPC

namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(200);
constexpr int kPageSize = 500;

// One WatchEvents stream: a thread pages through the history and writes one event at a time
// (gRPC allows one outstanding write per stream), waiting for each write to complete.
class WatchReactor : public grpc::ServerWriteReactor<v1::IdentityEvent> {
 public:
  // `open` counts the streams; this one is already counted and uncounts itself when done.
  WatchReactor(IdentityManager* manager, CallContext call, const v1::WatchEventsRequest& request,
               std::shared_ptr<std::atomic<bool>> stopping, std::shared_ptr<std::atomic<int>> open)
      : manager_(manager),
        open_(std::move(open)),
        call_(std::move(call)),
        types_(request.types().begin(), request.types().end()),
        delivered_through_(request.after_sequence()),
        follower_(request.after_sequence()),
        stopping_(std::move(stopping)) {
    thread_ = std::thread([this] { Run(); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    write_pending_ = false;
    write_failed_ = !ok;
    cv_.notify_all();
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  void OnDone() override {
    thread_.join();
    open_->fetch_sub(1);
    delete this;
  }

 private:
  bool Stopped() {
    std::lock_guard lock(mu_);
    return cancelled_ || write_failed_ || stopping_->load();
  }

  bool Write(const v1::IdentityEvent& event) {
    std::unique_lock lock(mu_);
    if (cancelled_ || write_failed_) return false;
    write_pending_ = true;
    current_ = event;
    lock.unlock();
    StartWrite(&current_);
    lock.lock();
    cv_.wait(lock, [this] { return !write_pending_; });  // OnWriteDone always comes
    return !cancelled_ && !write_failed_;
  }

  void Run() {
    grpc::Status end = grpc::Status::OK;
    while (!Stopped()) {
      CallContext page_call = call_;
      page_call.deadline = absl::Now() + absl::Seconds(10);
      absl::StatusOr<std::vector<v1::IdentityEvent>> events =
          manager_->EventsAfter(page_call, delivered_through_, kPageSize);
      if (!events.ok()) {
        end = ToGrpcStatus(events.status());
        break;
      }
      // In order, up to the follower's frontier: an event above a gap waits until the gap fills
      // or is given up (history_follower.h), so a subscriber resuming from the last sequence it
      // got misses nothing.
      const absl::Time now = absl::Now();
      for (const v1::IdentityEvent& e : *events) follower_.Note(e.sequence(), now);
      follower_.Advance(now);
      bool progressed = false;
      for (const v1::IdentityEvent& e : *events) {
        if (e.sequence() > follower_.through()) break;
        delivered_through_ = e.sequence();
        progressed = true;
        if (!types_.empty() && types_.count(e.type()) == 0) continue;
        if (!Write(e)) break;
      }
      if (!progressed || static_cast<int>(events->size()) < kPageSize) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, absl::ToChronoNanoseconds(kPollInterval),
                     [this] { return cancelled_ || stopping_->load(); });
      }
    }
    if (end.ok() && stopping_->load()) {
      end = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down; reconnect");
    }
    if (end.ok() && write_failed_) end = grpc::Status(grpc::StatusCode::CANCELLED, "stream ended");
    Finish(end);
  }

  IdentityManager* manager_;
  std::shared_ptr<std::atomic<int>> open_;
  const CallContext call_;
  const std::set<int> types_;
  int64_t delivered_through_;
  HistoryFollower follower_;  // the gaps above delivered_through_
  std::shared_ptr<std::atomic<bool>> stopping_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool write_pending_ = false;
  bool write_failed_ = false;
  bool cancelled_ = false;
  v1::IdentityEvent current_;
  std::thread thread_;
};

}  // namespace

grpc::ServerWriteReactor<v1::IdentityEvent>* IdentityServiceImpl::WatchEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest* request) {
  absl::StatusOr<hie::common::v1::Actor> actor =
      AuthorisedActor(*ctx, request->context(), Operation::kWatchEvents, options_.authorization);
  class Refusal : public grpc::ServerWriteReactor<v1::IdentityEvent> {
   public:
    explicit Refusal(grpc::Status status) { Finish(status); }
    void OnDone() override { delete this; }
  };
  if (!actor.ok()) return new Refusal(ToGrpcStatus(actor.status()));
  if (request->after_sequence() < 0) {
    return new Refusal(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_sequence must not be negative"));
  }
  if (open_watches_->fetch_add(1) >= options_.max_watch_streams) {
    open_watches_->fetch_sub(1);
    return new Refusal(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "too many WatchEvents streams are open; retry with backoff"));
  }
  CallContext call;
  call.actor = *std::move(actor);
  call.request_id = request->context().request_id().empty() ? NewRequestId()
                                                            : request->context().request_id();
  return new WatchReactor(manager_, std::move(call), *request, stopping_, open_watches_);
}

void IdentityServiceImpl::StopWatches() { stopping_->store(true); }

}  // namespace hie::identity
