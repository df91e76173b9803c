#include "services/identity/api/identity_service.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_format.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/tls.h"

namespace hie::identity {
namespace {

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("id-%016x", rng());
}

// The caller's actor and permission, from its verified certificate.
absl::StatusOr<hie::common::v1::Actor> AuthorisedActor(
    const grpc::CallbackServerContext& ctx, const hie::common::v1::RequestContext& context,
    bool write) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no client certificate");
  absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth);
  if (!peer.ok()) return peer.status();
  hie::common::v1::Actor actor;
  if (peer->role == "service") {
    if (context.actor().org().empty()) {
      return absl::InvalidArgumentError("context.actor.org is required from hub services");
    }
    return context.actor();
  }
  if (peer->role == "operator" || (peer->role == "auditor" && !write)) {
    actor.set_org(peer->org);
    actor.set_user_id(context.actor().user_id().empty() ? peer->common_name
                                                        : context.actor().user_id());
    actor.set_role(peer->role == "operator" ? hie::common::v1::ROLE_HIE_OPERATOR
                                            : hie::common::v1::ROLE_PRIVACY_OFFICER);
    return actor;
  }
  return absl::PermissionDeniedError(
      absl::StrCat("role '", peer->role, "' may not ", write ? "change" : "read",
                   " identities directly; use the gateway"));
}

}  // namespace

IdentityServiceImpl::IdentityServiceImpl(IdentityManager* manager, WorkerPool* workers,
                                         absl::Duration default_timeout)
    : manager_(manager), workers_(workers), default_timeout_(default_timeout) {}

template <typename Request, typename Response, typename Operation>
grpc::ServerUnaryReactor* IdentityServiceImpl::Run(grpc::CallbackServerContext* ctx,
                                                   const Request* request, Response* response,
                                                   Access access, Operation operation) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<hie::common::v1::Actor> actor =
      AuthorisedActor(*ctx, request->context(), access == Access::kWrite);
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
  call.deadline = std::min(client_deadline, absl::Now() + default_timeout_);
  bool queued = workers_->TrySubmit([this, reactor, response, call, operation]() {
    absl::StatusOr<Response> result = operation(call);
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "identity service is at capacity; retry with backoff"));
  }
  return reactor;
}

#define HIE_IDENTITY_RPC(Method, Request, Response, access, ManagerMethod)                   \
  grpc::ServerUnaryReactor* IdentityServiceImpl::Method(                                     \
      grpc::CallbackServerContext* ctx, const Request* request, Response* response) {        \
    return Run(ctx, request, response, access,                                              \
               [this, request](const CallContext& call) {                                   \
                 return manager_->ManagerMethod(call, *request);                            \
               });                                                                          \
  }

HIE_IDENTITY_RPC(RegisterSourceRecord, v1::RegisterSourceRecordRequest,
                 v1::RegisterSourceRecordResponse, Access::kWrite, Register)
HIE_IDENTITY_RPC(RegisterSourceRecords, v1::RegisterSourceRecordsRequest,
                 v1::RegisterSourceRecordsResponse, Access::kWrite, RegisterBatch)
HIE_IDENTITY_RPC(MergeSourceRecords, v1::MergeSourceRecordsRequest,
                 v1::MergeSourceRecordsResponse, Access::kWrite, MergeSourceRecords)
HIE_IDENTITY_RPC(GetSourceRecord, v1::GetSourceRecordRequest, v1::SourceRecord, Access::kRead,
                 GetSourceRecord)
HIE_IDENTITY_RPC(Resolve, v1::ResolveRequest, v1::ResolveResponse, Access::kRead, Resolve)
HIE_IDENTITY_RPC(SearchPersons, v1::SearchPersonsRequest, v1::SearchPersonsResponse,
                 Access::kRead, SearchPersons)
HIE_IDENTITY_RPC(GetPerson, v1::GetPersonRequest, v1::Person, Access::kRead, GetPerson)
HIE_IDENTITY_RPC(ListReviewTasks, v1::ListReviewTasksRequest, v1::ListReviewTasksResponse,
                 Access::kRead, ListReviewTasks)
HIE_IDENTITY_RPC(GetReviewTask, v1::GetReviewTaskRequest, v1::ReviewTask, Access::kRead,
                 GetReviewTask)
HIE_IDENTITY_RPC(ResolveReviewTask, v1::ResolveReviewTaskRequest, v1::ResolveReviewTaskResponse,
                 Access::kWrite, ResolveReviewTask)
HIE_IDENTITY_RPC(LinkRecord, v1::LinkRecordRequest, v1::LinkRecordResponse, Access::kWrite,
                 LinkRecord)
HIE_IDENTITY_RPC(UnlinkRecord, v1::UnlinkRecordRequest, v1::UnlinkRecordResponse,
                 Access::kWrite, UnlinkRecord)
HIE_IDENTITY_RPC(MergePersons, v1::MergePersonsRequest, v1::MergePersonsResponse,
                 Access::kWrite, MergePersons)
HIE_IDENTITY_RPC(UnmergePersons, v1::UnmergePersonsRequest, v1::UnmergePersonsResponse,
                 Access::kWrite, UnmergePersons)
HIE_IDENTITY_RPC(GetHistory, v1::GetHistoryRequest, v1::GetHistoryResponse, Access::kRead,
                 GetHistory)
HIE_IDENTITY_RPC(ListNotAMatches, v1::ListNotAMatchesRequest, v1::ListNotAMatchesResponse,
                 Access::kRead, ListNotAMatches)

#undef HIE_IDENTITY_RPC

namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(200);
constexpr absl::Duration kGapPatience = absl::Seconds(10);
constexpr int kPageSize = 500;

// One WatchEvents stream: a thread pages through the history and writes one event at a time
// (gRPC allows one outstanding write per stream), waiting for each write to complete.
class WatchReactor : public grpc::ServerWriteReactor<v1::IdentityEvent> {
 public:
  WatchReactor(IdentityManager* manager, CallContext call, const v1::WatchEventsRequest& request,
               std::shared_ptr<std::atomic<bool>> stopping)
      : manager_(manager),
        call_(std::move(call)),
        types_(request.types().begin(), request.types().end()),
        delivered_through_(request.after_sequence()),
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
      bool progressed = false;
      for (const v1::IdentityEvent& e : *events) {
        if (e.sequence() != delivered_through_ + 1) {
          // A gap: wait for it, unless it has been missing long enough to be a rollback.
          auto [it, fresh] = gap_since_.try_emplace(delivered_through_ + 1, absl::Now());
          if (absl::Now() - it->second < kGapPatience) break;
          gap_since_.clear();
        }
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
  const CallContext call_;
  const std::set<int> types_;
  int64_t delivered_through_;
  std::map<int64_t, absl::Time> gap_since_;
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
      AuthorisedActor(*ctx, request->context(), /*write=*/false);
  if (!actor.ok() || request->after_sequence() < 0) {
    class Refusal : public grpc::ServerWriteReactor<v1::IdentityEvent> {
     public:
      explicit Refusal(grpc::Status status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refusal(actor.ok() ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                                 "after_sequence must not be negative")
                                  : ToGrpcStatus(actor.status()));
  }
  CallContext call;
  call.actor = *std::move(actor);
  call.request_id = request->context().request_id().empty() ? NewRequestId()
                                                            : request->context().request_id();
  return new WatchReactor(manager_, std::move(call), *request, stopping_);
}

void IdentityServiceImpl::StopWatches() { stopping_->store(true); }

}  // namespace hie::identity
