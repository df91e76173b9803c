#include "services/gateway/api/member_fanout.h"

#include <utility>

#include "services/common/status.h"

namespace hie::gateway {

grpc::ChannelArguments QuickReconnectArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the least time a connection
  // attempt is given (default 20 s), and 100 ms failed members whose TLS handshake took longer
  // (a loaded host, a distant member): UNAVAILABLE, and their breakers opened.
  return args;
}

MemberChannels::MemberChannels(std::shared_ptr<grpc::ChannelCredentials> credentials)
    : credentials_(std::move(credentials)) {}

std::shared_ptr<member::v1::MemberEndpoint::Stub> MemberChannels::Stub(
    const std::string& endpoint) {
  std::lock_guard lock(mu_);
  auto& stub = stubs_[endpoint];
  if (stub == nullptr) {
    stub = member::v1::MemberEndpoint::NewStub(
        grpc::CreateCustomChannel(endpoint, credentials_, QuickReconnectArguments()));
  }
  return stub;
}

CircuitBreaker& Breakers::For(const std::string& org) {
  std::lock_guard lock(mu_);
  auto& breaker = breakers_[org];
  if (breaker == nullptr) breaker = std::make_unique<CircuitBreaker>(options_);
  return *breaker;
}

struct FanOut::InFlight {
  size_t index = 0;
  grpc::ClientContext context;
  member::v1::FindDocumentsResponse response;
  CircuitBreaker::Admission admission = CircuitBreaker::Admission::kRefused;
  absl::Time started;
};

FanOut::FanOut(std::vector<MemberCall> calls, absl::Time deadline, MemberChannels* channels,
               Breakers* breakers, FanOutOptions options)
    : calls_(std::move(calls)),
      deadline_(deadline),
      channels_(channels),
      breakers_(breakers),
      options_(options) {}

std::shared_ptr<FanOut> FanOut::Start(std::vector<MemberCall> calls, absl::Time deadline,
                                      MemberChannels* channels, Breakers* breakers,
                                      FanOutOptions options) {
  if (options.max_in_flight == 0) options.max_in_flight = 1;
  std::shared_ptr<FanOut> fan_out(
      new FanOut(std::move(calls), deadline, channels, breakers, options));
  fan_out->Pump();
  return fan_out;
}

void FanOut::Pump() {
  for (;;) {
    size_t index = 0;
    bool cancelled = false;
    {
      std::lock_guard lock(mu_);
      if (next_to_start_ >= calls_.size()) return;
      cancelled = cancelled_;
      if (!cancelled && in_flight_ >= options_.max_in_flight) return;
      index = next_to_start_++;
      if (!cancelled) ++in_flight_;  // reserved; released below if no call is made
    }
    MemberAnswer answer;
    if (cancelled) {
      answer.status = absl::CancelledError("the query was cancelled before this member's call");
      Deliver(index, std::move(answer));
      continue;
    }
    const MemberCall& call = calls_[index];
    const absl::Time now = absl::Now();
    CircuitBreaker& breaker = breakers_->For(call.target.org);
    CircuitBreaker::Admission admission = CircuitBreaker::Admission::kRefused;
    if (now >= deadline_) {
      answer.status = absl::DeadlineExceededError("no time was left for this member's call");
    } else if ((admission = breaker.Allow(now)) == CircuitBreaker::Admission::kRefused) {
      answer.kind = MemberAnswer::Kind::kCircuitOpen;
    }
    if (admission == CircuitBreaker::Admission::kRefused) {
      {
        std::lock_guard lock(mu_);
        --in_flight_;
      }
      Deliver(index, std::move(answer));
      continue;
    }
    auto owned = std::make_unique<InFlight>();
    InFlight* flight = owned.get();
    flight->index = index;
    flight->admission = admission;
    flight->started = now;
    flight->context.set_deadline(absl::ToChronoTime(deadline_));
    {
      std::lock_guard lock(mu_);
      if (cancelled_) flight->context.TryCancel();  // the call starts cancelled
      running_.emplace(flight, std::move(owned));
    }
    channels_->Stub(call.endpoint)
        ->async()
        ->FindDocuments(&flight->context, &call.request, &flight->response,
                        [self = shared_from_this(), flight](grpc::Status status) {
                          self->Finished(flight, status);
                        });
  }
}

void FanOut::Finished(InFlight* flight, const grpc::Status& status) {
  const absl::Time now = absl::Now();
  MemberAnswer answer;
  answer.status = FromGrpcStatus(status);
  answer.latency = now - flight->started;
  if (status.ok()) {
    answer.entries.assign(std::make_move_iterator(flight->response.mutable_entries()->begin()),
                          std::make_move_iterator(flight->response.mutable_entries()->end()));
    answer.truncated = flight->response.truncated();
  }
  const MemberCall& call = calls_[flight->index];
  breakers_->For(call.target.org)
      .Record(flight->admission,
              OutcomeOf(answer.status, deadline_ - flight->started, breakers_->options()), now);
  const size_t index = flight->index;
  {
    std::unique_ptr<InFlight> done;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      auto it = running_.find(flight);
      done = std::move(it->second);
      running_.erase(it);
    }
  }  // The call's context goes before its answer can be seen: a ClientContext holds a reference
     // to its channel, and a channel whose last reference dies on gRPC's callback thread makes
     // gRPC 1.51 join that thread from itself and later free its completion queue twice
     // (grpc/grpc#32584; seen under ASan when a test dropped its channels after the last answer).
  Deliver(index, std::move(answer));
  Pump();
}

void FanOut::Deliver(size_t index, MemberAnswer answer) {
  {
    std::lock_guard lock(mu_);
    answers_.push_back(Answer{index, std::move(answer)});
  }
  answered_.notify_all();
}

std::optional<FanOut::Answer> FanOut::Next(absl::Time until) {
  std::unique_lock lock(mu_);
  answered_.wait_until(lock, absl::ToChronoTime(until),
                       [&] { return !answers_.empty() || taken_ == calls_.size(); });
  if (answers_.empty()) return std::nullopt;
  Answer next = std::move(answers_.front());
  answers_.pop_front();
  ++taken_;
  return next;
}

bool FanOut::done() const {
  std::lock_guard lock(mu_);
  return taken_ == calls_.size();
}

void FanOut::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    for (auto& [flight, owned] : running_) flight->context.TryCancel();
  }
  Pump();
}

namespace {

class FanOutBatch final : public MemberCallBatch {
 public:
  explicit FanOutBatch(std::shared_ptr<FanOut> fan_out) : fan_out_(std::move(fan_out)) {}
  ~FanOutBatch() override { fan_out_->Cancel(); }  // nothing outlives the query

  std::optional<std::pair<size_t, MemberAnswer>> Next(absl::Time until) override {
    auto next = fan_out_->Next(until);
    if (!next) return std::nullopt;
    return std::make_pair(next->index, std::move(next->answer));
  }
  bool done() const override { return fan_out_->done(); }
  void Cancel() override { fan_out_->Cancel(); }

 private:
  std::shared_ptr<FanOut> fan_out_;
};

}  // namespace

std::unique_ptr<MemberCallBatch> FanOutCalls::Start(std::vector<Call> calls, absl::Time deadline) {
  std::vector<MemberCall> member_calls;
  for (Call& c : calls) {
    MemberCall m;
    m.target.org = c.org;
    m.endpoint = std::move(c.endpoint);
    m.request = std::move(c.request);
    member_calls.push_back(std::move(m));
  }
  return std::make_unique<FanOutBatch>(
      FanOut::Start(std::move(member_calls), deadline, channels_, breakers_, options_));
}

absl::Status GrpcMemberRetrieval::Retrieve(
    const std::string& endpoint, const member::v1::RetrieveDocumentRequest& request,
    absl::Time deadline,
    const std::function<bool(member::v1::RetrieveDocumentResponse)>& on_message) {
  std::shared_ptr<member::v1::MemberEndpoint::Stub> stub = channels_->Stub(endpoint);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  std::unique_ptr<grpc::ClientReader<member::v1::RetrieveDocumentResponse>> reader =
      stub->RetrieveDocument(&ctx, request);
  member::v1::RetrieveDocumentResponse message;
  bool stopped = false;
  while (reader->Read(&message)) {
    if (!on_message(std::move(message))) {  // Read fills it anew
      stopped = true;
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (stopped) return absl::OkStatus();
  return FromGrpcStatus(status);
}

}  // namespace hie::gateway
