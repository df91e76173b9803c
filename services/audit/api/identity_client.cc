#include "services/audit/api/identity_client.h"

#include <condition_variable>
#include <deque>
#include <random>
#include <set>

#include "absl/strings/str_format.h"
#include "services/audit/core/identity_events.h"
#include "services/common/logging.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

namespace idv1 = ::hie::identity::v1;

void SetContext(hie::common::v1::RequestContext* context) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  context->set_request_id(absl::StrFormat("audit-%016x", rng()));
  context->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
}

}  // namespace

GrpcPatientResolver::GrpcPatientResolver(std::shared_ptr<grpc::Channel> channel)
    : stub_(idv1::IdentityService::NewStub(std::move(channel))) {}

absl::StatusOr<std::vector<SourceId>> GrpcPatientResolver::LinkedRecords(const SourceId& id,
                                                                         absl::Time deadline) {
  idv1::ResolveRequest request;
  SetContext(request.mutable_context());
  *request.mutable_source_id() = id;
  request.set_include_inactive(true);
  idv1::ResolveResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  HIE_RETURN_IF_ERROR(FromGrpcStatus(stub_->Resolve(&ctx, request, &response)));
  std::vector<SourceId> out;
  for (const auto& x : response.cross_references()) out.push_back(x.source_id());
  return out;
}

absl::StatusOr<std::vector<SourceId>> GrpcPatientResolver::RecordsOfPerson(
    const std::string& person_id, absl::Time deadline) {
  std::string id = person_id;
  for (int hop = 0; hop < 8; ++hop) {  // a merged person's records are its survivor's
    idv1::GetPersonRequest request;
    SetContext(request.mutable_context());
    request.set_person_id(id);
    request.set_view(idv1::PERSON_VIEW_BASIC);
    idv1::Person person;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    HIE_RETURN_IF_ERROR(FromGrpcStatus(stub_->GetPerson(&ctx, request, &person)));
    if (person.state() == idv1::PERSON_STATE_MERGED && !person.merged_into_person_id().empty()) {
      id = person.merged_into_person_id();
      continue;
    }
    std::vector<SourceId> out;
    for (const auto& link : person.links()) out.push_back(link.source_id());
    return out;
  }
  return absl::FailedPreconditionError("person_id: merge chain longer than 8");
}

IdentityFollower::IdentityFollower(AuditLog* log, std::shared_ptr<grpc::Channel> channel,
                                   IdentityFollowerOptions options)
    : log_(log), stub_(idv1::IdentityService::NewStub(std::move(channel))), options_(options) {}

IdentityFollower::~IdentityFollower() { Stop(); }

void IdentityFollower::Start() {
  thread_ = std::thread([this] { Run(); });
}

void IdentityFollower::Stop() {
  stopping_ = true;
  {
    std::lock_guard lock(ctx_mu_);
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void IdentityFollower::Run() {
  while (!stopping_) {
    absl::Status status = FollowOnce();
    if (stopping_) break;
    Log(LogLevel::kWarning, "identity_follow_interrupted",
        {{"code", absl::StatusCodeToString(status.code())}, {"position", position_.load()}});
    for (absl::Time until = absl::Now() + options_.retry; !stopping_ && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
}

absl::Status IdentityFollower::Flush(std::vector<idv1::IdentityEvent>* batch) {
  if (batch->empty()) return absl::OkStatus();
  std::vector<v1::AuditEvent> events;
  events.reserve(batch->size());
  for (const auto& e : *batch) events.push_back(AuditEventOf(e));
  const int64_t last = batch->back().sequence();
  HIE_RETURN_IF_ERROR(log_->AppendFromFeed(kIdentityFeed, last, std::move(events),
                                           absl::Now() + absl::Seconds(30)));
  position_ = last;
  batch->clear();
  return absl::OkStatus();
}

absl::Status IdentityFollower::FollowOnce() {
  HIE_ASSIGN_OR_RETURN(int64_t start,
                       log_->FeedPosition(kIdentityFeed, absl::Now() + absl::Seconds(10)));
  position_ = start;
  grpc::ClientContext ctx;
  idv1::WatchEventsRequest request;
  SetContext(request.mutable_context());
  request.set_after_sequence(start);
  {
    std::lock_guard lock(ctx_mu_);
    if (stopping_) return absl::CancelledError("stopping");
    ctx_ = &ctx;
  }
  std::unique_ptr<grpc::ClientReader<idv1::IdentityEvent>> reader =
      stub_->WatchEvents(&ctx, request);
  // A reader thread hands events over; this thread records them in batches, so events that
  // arrive just before a quiet spell are recorded within flush_after, not at the next event.
  std::mutex mu;
  std::condition_variable ready;
  std::deque<idv1::IdentityEvent> queue;
  bool ended = false;
  std::thread read([&] {
    idv1::IdentityEvent event;
    while (reader->Read(&event)) {
      std::lock_guard lock(mu);
      queue.push_back(event);
      ready.notify_one();
    }
    std::lock_guard lock(mu);
    ended = true;
    ready.notify_one();
  });
  absl::Status status;
  std::vector<idv1::IdentityEvent> batch;
  int64_t last_seen = start;
  while (status.ok()) {
    bool done = false;
    {
      std::unique_lock lock(mu);
      ready.wait_for(lock, absl::ToChronoMilliseconds(options_.flush_after),
                     [&] { return ended || queue.size() >= options_.max_batch; });
      while (!queue.empty() && batch.size() < options_.max_batch) {
        if (queue.front().sequence() > last_seen) {  // never a lower one after a higher one
          last_seen = queue.front().sequence();
          batch.push_back(std::move(queue.front()));
        }
        queue.pop_front();
      }
      done = ended && queue.empty();
    }
    status = Flush(&batch);
    if (done) break;
  }
  ctx.TryCancel();
  read.join();
  {
    std::lock_guard lock(ctx_mu_);
    ctx_ = nullptr;
  }
  absl::Status stream = FromGrpcStatus(reader->Finish());
  if (!status.ok()) return status;
  return stream.ok() ? absl::UnavailableError("identity ended the event stream") : stream;
}

}  // namespace hie::audit
