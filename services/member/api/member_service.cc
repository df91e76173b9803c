#include "services/member/api/member_service.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <functional>
#include <mutex>

#include "services/common/status.h"
#include "services/common/unary_call.h"

namespace hie::member {
namespace {

using Shared = MemberEndpointImpl::Shared;

constexpr char kIdPrefix[] = "mb";

grpc::Status InjectedError() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "the member is unavailable (injected fault: --fault-error-rate)");
}

std::chrono::system_clock::time_point After(absl::Duration delay) {
  return absl::ToChronoTime(absl::Now() + delay);
}

// A unary call a fault holds (hang: headers sent; black hole: nothing sent) until it is
// cancelled or released.
class HeldUnary final : public grpc::ServerUnaryReactor, public HeldCall {
 public:
  HeldUnary(HeldCalls* held, bool send_headers) : held_(held) {
    if (send_headers) StartSendInitialMetadata();
    if (!held_->Add(this)) Release(grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
  }
  void Release(const grpc::Status& status) override {
    if (!finished_.exchange(true)) Finish(status);
  }
  void OnCancel() override { Release(grpc::Status::CANCELLED); }
  void OnDone() override {
    held_->Remove(this);
    Unref();
  }

 private:
  HeldCalls* const held_;
  std::atomic<bool> finished_{false};
};

// A unary call answered `delay` late: then `then(this)` finishes it; a cancellation during the
// delay finishes it CANCELLED. The alarm holds a reference (HeldCall's count) until its callback
// returned.
class DelayedUnary final : public grpc::ServerUnaryReactor, public HeldCall {
 public:
  DelayedUnary(absl::Duration delay, std::function<void(grpc::ServerUnaryReactor*)> then)
      : then_(std::move(then)) {
    Ref();
    alarm_.Set(After(delay), [this](bool fired) {
      if (fired && !cancelled_.load()) {
        then_(this);
      } else {
        Finish(grpc::Status::CANCELLED);
      }
      Unref();
    });
  }
  void Release(const grpc::Status&) override {}  // never held
  void OnCancel() override {
    cancelled_.store(true);
    alarm_.Cancel();
  }
  void OnDone() override { Unref(); }

 private:
  const std::function<void(grpc::ServerUnaryReactor*)> then_;
  std::atomic<bool> cancelled_{false};
  grpc::Alarm alarm_;
};

// RetrieveDocument: the header, then chunks, one write at a time. Faults: a delay first (an
// alarm), an injected error, a hang after the header, or a black hole (nothing written).
// Finish is called exactly once (`finished_`, claimed under `mu_`) and never under `mu_`, since
// OnDone may then run at once on another thread; StartWrite only under `mu_` after checking
// that the call is not finished.
class RetrieveCall final : public grpc::ServerWriteReactor<v1::RetrieveDocumentResponse>,
                           public HeldCall {
 public:
  RetrieveCall(const Shared& shared, grpc::CallbackServerContext* ctx,
               const v1::RetrieveDocumentRequest* request, FaultDecision fault)
      : shared_(shared), ctx_(ctx), request_(request), fault_(fault) {
    if (fault_.action == FaultAction::kBlackHole) {
      Hold();
    } else if (fault_.delay > absl::ZeroDuration()) {
      alarm_pending_ = true;
      Ref();
      alarm_.Set(After(fault_.delay), [this](bool fired) {
        AfterDelay(fired);
        Unref();
      });
    } else {
      Proceed();
    }
  }

  void Release(const grpc::Status& status) override { FinishOnce(status); }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (finished_) return;
    grpc::Status status = grpc::Status::OK;
    if (!ok) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    } else if (fault_.action == FaultAction::kHang) {
      lock.unlock();
      Hold();  // the header was sent: now never finish
      return;
    } else if (next_chunk_ < chunks_) {
      WriteChunkLocked();
      return;
    }
    finished_ = true;
    lock.unlock();
    Finish(status);
  }

  void OnCancel() override {
    bool cancel_alarm = false, finish = false;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      if (alarm_pending_) {
        cancel_alarm = true;  // its callback finishes the call
      } else if (!finished_) {
        finished_ = finish = true;
      }
    }
    if (cancel_alarm) alarm_.Cancel();
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    shared_.held->Remove(this);
    Unref();
  }

 private:
  void AfterDelay(bool fired) {
    bool proceed = false;
    {
      std::lock_guard lock(mu_);
      alarm_pending_ = false;
      proceed = fired && !cancelled_;
    }
    if (proceed) {
      Proceed();
    } else {
      FinishOnce(grpc::Status::CANCELLED);
    }
  }

  // From the constructor or the alarm's callback. Holds `mu_` while it reads the context and
  // the request: until it sets `finished_` nobody finishes the call, so both stay alive.
  void Proceed() {
    grpc::Status refusal;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      refusal = StartLocked();
      if (refusal.ok()) return;
      finished_ = true;
    }
    Finish(refusal);
  }

  // Checks the call and writes the header; an error status when the call is refused.
  grpc::Status StartLocked() {
    if (fault_.action == FaultAction::kError) return InjectedError();
    absl::StatusOr<UnaryCall> call =
        BeginUnaryCall(*ctx_, request_->context().request_id(), shared_.options.timeout, kIdPrefix);
    absl::Status status = call.status();
    if (status.ok()) status = CheckHubCaller(call->peer, shared_.options.callers);
    absl::StatusOr<const MemberDocument*> document =
        status.ok() ? DocumentToRetrieve(*shared_.store, *request_) : status;
    if (!document.ok()) return ToGrpcStatus(document.status());
    content_ = (*document)->content;
    chunks_ = ChunkCount(content_->size(), shared_.options.chunk_bytes);
    *response_.mutable_header() = HeaderOf(**document);
    StartWrite(&response_);
    return grpc::Status::OK;
  }

  void WriteChunkLocked() {
    const size_t offset = next_chunk_ * shared_.options.chunk_bytes;
    const size_t size = std::min(shared_.options.chunk_bytes, content_->size() - offset);
    response_.set_chunk(content_->data() + offset, size);
    ++next_chunk_;
    StartWrite(&response_);
  }

  // Waits for cancellation or release.
  void Hold() {
    if (!shared_.held->Add(this)) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the member is shutting down"));
    }
  }

  void FinishOnce(const grpc::Status& status) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  const Shared& shared_;
  grpc::CallbackServerContext* const ctx_;
  const v1::RetrieveDocumentRequest* const request_;
  const FaultDecision fault_;
  grpc::Alarm alarm_;

  std::mutex mu_;
  bool finished_ = false;
  bool cancelled_ = false;
  bool alarm_pending_ = false;
  std::shared_ptr<const std::string> content_;
  size_t chunks_ = 0;
  size_t next_chunk_ = 0;
  v1::RetrieveDocumentResponse response_;  // the write in flight
};

}  // namespace

MemberEndpointImpl::MemberEndpointImpl(const MemberStore* store, WorkerPool* workers,
                                       MemberServiceOptions options)
    : workers_(workers), shared_{store, options, &held_}, faults_(options.faults) {
  if (shared_.options.chunk_bytes == 0 || shared_.options.chunk_bytes > kMaxChunkBytes) {
    std::abort();  // a programming error: main checks the flag
  }
}

grpc::ServerUnaryReactor* MemberEndpointImpl::FindDocuments(grpc::CallbackServerContext* ctx,
                                                            const v1::FindDocumentsRequest* request,
                                                            v1::FindDocumentsResponse* response) {
  auto work = [this, request](const UnaryCall& call) -> absl::StatusOr<v1::FindDocumentsResponse> {
    absl::Status status = CheckHubCaller(call.peer, shared_.options.callers);
    if (!status.ok()) return status;
    return member::FindDocuments(*shared_.store, *request);
  };
  const FaultDecision fault = faults_.Next();
  switch (fault.action) {
    case FaultAction::kBlackHole:
    case FaultAction::kHang:
      return new HeldUnary(&held_, fault.action == FaultAction::kHang);
    case FaultAction::kError: {
      auto fail = [](grpc::ServerUnaryReactor* reactor) { reactor->Finish(InjectedError()); };
      if (fault.delay > absl::ZeroDuration()) return new DelayedUnary(fault.delay, fail);
      grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
      fail(reactor);
      return reactor;
    }
    case FaultAction::kAnswer:
      break;
  }
  if (fault.delay == absl::ZeroDuration()) {
    return RunUnary(ctx, request->context().request_id(), response, shared_.options.timeout,
                    workers_, kIdPrefix, work);
  }
  // RunUnary's steps, an alarm later.
  return new DelayedUnary(
      fault.delay, [this, ctx, request, response, work](grpc::ServerUnaryReactor* reactor) {
        absl::StatusOr<UnaryCall> call = BeginUnaryCall(*ctx, request->context().request_id(),
                                                        shared_.options.timeout, kIdPrefix);
        if (!call.ok()) return FinishUnary(reactor, call.status());
        const bool queued = workers_->TrySubmit([reactor, response, call = *std::move(call), work] {
          absl::StatusOr<v1::FindDocumentsResponse> result = work(call);
          if (result.ok()) *response = *std::move(result);
          FinishUnary(reactor, result.status());
        });
        if (!queued) {
          FinishUnary(reactor, absl::ResourceExhaustedError("the member is at capacity; retry with "
                                                            "backoff"));
        }
      });
}

grpc::ServerWriteReactor<v1::RetrieveDocumentResponse>* MemberEndpointImpl::RetrieveDocument(
    grpc::CallbackServerContext* ctx, const v1::RetrieveDocumentRequest* request) {
  return new RetrieveCall(shared_, ctx, request, faults_.Next());
}

grpc::ServerUnaryReactor* MemberEndpointImpl::GetCapabilities(
    grpc::CallbackServerContext* ctx, const v1::GetCapabilitiesRequest* request,
    v1::MemberCapabilities* response) {
  return RunUnary(ctx, request->context().request_id(), response, shared_.options.timeout, workers_,
                  kIdPrefix,
                  [this, request](const UnaryCall& call) -> absl::StatusOr<v1::MemberCapabilities> {
                    absl::Status status = CheckHubCaller(call.peer, shared_.options.callers);
                    if (status.ok()) status = ValidateCapabilities(*request);
                    if (!status.ok()) return status;
                    return CapabilitiesOf(*shared_.store, shared_.options.chunk_bytes);
                  });
}

}  // namespace hie::member
