#include "services/common/identity_feed.h"

#include <condition_variable>
#include <deque>

#include "services/common/logging.h"
#include "services/common/random_id.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"

namespace hie {

namespace idv1 = ::hie::identity::v1;

IdentityFeedFollower::IdentityFeedFollower(IdentityFeedSink* sink,
                                           std::shared_ptr<grpc::Channel> channel,
                                           IdentityFeedOptions options)
    : sink_(sink),
      stub_(idv1::IdentityService::NewStub(std::move(channel))),
      options_(std::move(options)) {}

IdentityFeedFollower::~IdentityFeedFollower() { Stop(); }

void IdentityFeedFollower::Start() {
  thread_ = std::thread([this] { Run(); });
}

void IdentityFeedFollower::Stop() {
  stopping_ = true;
  {
    std::lock_guard lock(ctx_mu_);
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void IdentityFeedFollower::Run() {
  while (!stopping_) {
    absl::Status status = FollowOnce();
    if (stopping_) break;
    Log(LogLevel::kWarning, "feed_follow_interrupted",
        {{"feed", options_.name},
         {"code", absl::StatusCodeToString(status.code())},
         {"position", position_.load()}});
    for (absl::Time until = absl::Now() + options_.retry; !stopping_ && absl::Now() < until;) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
}

absl::Status IdentityFeedFollower::Flush(std::vector<idv1::IdentityEvent>* batch) {
  if (batch->empty()) return absl::OkStatus();
  HIE_RETURN_IF_ERROR(sink_->Record(*batch, absl::Now() + absl::Seconds(30)));
  position_ = batch->back().sequence();
  batch->clear();
  return absl::OkStatus();
}

absl::Status IdentityFeedFollower::FollowOnce() {
  HIE_ASSIGN_OR_RETURN(int64_t start, sink_->Position(absl::Now() + absl::Seconds(10)));
  position_ = start;
  grpc::ClientContext ctx;
  idv1::WatchEventsRequest request;
  request.mutable_context()->set_request_id(RandomId(options_.request_id_prefix));
  request.mutable_context()->set_purpose_of_use(
      hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  request.set_after_sequence(start);
  for (idv1::IdentityEventType type : options_.types) request.add_types(type);
  {
    std::lock_guard lock(ctx_mu_);
    if (stopping_) return absl::CancelledError("stopping");
    ctx_ = &ctx;
  }
  std::unique_ptr<grpc::ClientReader<idv1::IdentityEvent>> reader =
      stub_->WatchEvents(&ctx, request);
  // A reader thread hands events over; this thread records them in batches, so events that
  // arrive just before a quiet spell are recorded within flush_after, not at the next event.
  // The queue holds at most four batches: a reader ahead of a slow sink waits (and gRPC's flow
  // control holds identity back) instead of growing without bound.
  const size_t max_queued = 4 * options_.max_batch;
  std::mutex mu;
  std::condition_variable ready, space;
  std::deque<idv1::IdentityEvent> queue;
  bool ended = false;
  bool draining = false;  // the recorder stopped: the reader must not wait for space
  std::thread read([&] {
    idv1::IdentityEvent event;
    while (reader->Read(&event)) {
      std::unique_lock lock(mu);
      space.wait(lock, [&] { return queue.size() < max_queued || draining; });
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
    space.notify_one();
    status = Flush(&batch);
    if (done) break;
  }
  ctx.TryCancel();
  {
    std::lock_guard lock(mu);
    draining = true;
  }
  space.notify_one();
  read.join();
  {
    std::lock_guard lock(ctx_mu_);
    ctx_ = nullptr;
  }
  absl::Status stream = FromGrpcStatus(reader->Finish());
  if (!status.ok()) return status;
  return stream.ok() ? absl::UnavailableError("identity ended the event stream") : stream;
}

}  // namespace hie
