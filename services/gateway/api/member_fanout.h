#pragma once

// The calls of a federated query to members' MemberEndpoint.FindDocuments, in parallel, within
// one deadline, behind each member's circuit breaker. No thread waits on a member: calls use
// gRPC's callback client; answers are queued for the query's own thread to take with Next.
//
//   - One call per target, at most `max_in_flight` at once; the rest start, in plan order, as
//     calls end. Every call's deadline is the fan-out's `deadline` (DeadlineBudget::
//     members_end): a slow member costs at most that, a black-holed one exactly that.
//   - Before a call its member's breaker is asked: a refusal answers kCircuitOpen at once, with
//     no call. After the call, the breaker records the outcome (core/circuit_breaker.h).
//   - A call that could only start at or after the deadline is not made: DEADLINE_EXCEEDED
//     with no breaker blame.
//   - Cancel() (the client went away): queued calls are not made, calls in flight are
//     cancelled; every target still gets exactly one answer.
//
// Thread-safety: Next and Cancel may be called from any thread; Next by one thread at a time.
// The channels and breakers must outlive every FanOut.

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hie/member/v1/member.grpc.pb.h"
#include "services/gateway/core/circuit_breaker.h"
#include "services/gateway/core/federated_query.h"
#include "services/gateway/core/federation.h"
#include "services/gateway/core/retrieval.h"

namespace hie::gateway {

// One channel (and stub) per member endpoint, created on first use with the gateway's client
// credentials (mutual TLS). Thread-safe.
// Channel arguments of every channel the gateway makes (hub services and members): reconnect
// attempts 100 ms to 1 s apart, so that a service or member that comes back is used again
// within about a second (gRPC's default backoff grows to 120 s); each attempt still has gRPC's
// default 20 s to connect (a call's own deadline ends the call sooner).
grpc::ChannelArguments QuickReconnectArguments();

class MemberChannels {
 public:
  explicit MemberChannels(std::shared_ptr<grpc::ChannelCredentials> credentials);
  std::shared_ptr<member::v1::MemberEndpoint::Stub> Stub(const std::string& endpoint);

 private:
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<member::v1::MemberEndpoint::Stub>> stubs_;
};

// One breaker per member org, created on first use and kept. Thread-safe.
class Breakers {
 public:
  explicit Breakers(CircuitBreakerOptions options = {}) : options_(options) {}
  CircuitBreaker& For(const std::string& org);
  const CircuitBreakerOptions& options() const { return options_; }

 private:
  const CircuitBreakerOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
};

struct MemberCall {
  Target target;
  std::string endpoint;  // host:port of its MemberEndpoint
  member::v1::FindDocumentsRequest request;
};

struct FanOutOptions {
  size_t max_in_flight = 32;
};

class FanOut : public std::enable_shared_from_this<FanOut> {
 public:
  struct Answer {
    size_t index;  // into the calls given to Start
    MemberAnswer answer;
  };

  static std::shared_ptr<FanOut> Start(std::vector<MemberCall> calls, absl::Time deadline,
                                       MemberChannels* channels, Breakers* breakers,
                                       FanOutOptions options = {});

  // The next answer, waiting until `until` at the latest; nullopt when every answer has been
  // taken (done()) or the wait ended first.
  std::optional<Answer> Next(absl::Time until);
  bool done() const;
  void Cancel();

  const std::vector<MemberCall>& calls() const { return calls_; }

 private:
  struct InFlight;
  FanOut(std::vector<MemberCall> calls, absl::Time deadline, MemberChannels* channels,
         Breakers* breakers, FanOutOptions options);

  // Starts queued calls while there is room (mu_ not held).
  void Pump();
  void Deliver(size_t index, MemberAnswer answer);  // mu_ not held
  void Finished(InFlight* call, const grpc::Status& status);

  const std::vector<MemberCall> calls_;
  const absl::Time deadline_;
  MemberChannels* const channels_;
  Breakers* const breakers_;
  const FanOutOptions options_;

  mutable std::mutex mu_;
  std::condition_variable answered_;
  size_t next_to_start_ = 0;
  size_t in_flight_ = 0;
  size_t taken_ = 0;
  bool cancelled_ = false;
  std::deque<Answer> answers_;
  std::map<InFlight*, std::unique_ptr<InFlight>> running_;
};

// MemberCalls (core/federated_query.h) over FanOut.
class FanOutCalls final : public MemberCalls {
 public:
  FanOutCalls(MemberChannels* channels, Breakers* breakers, FanOutOptions options = {})
      : channels_(channels), breakers_(breakers), options_(options) {}
  std::unique_ptr<MemberCallBatch> Start(std::vector<Call> calls, absl::Time deadline) override;

 private:
  MemberChannels* const channels_;
  Breakers* const breakers_;
  const FanOutOptions options_;
};

// MemberRetrieval (core/retrieval.h): a member's RetrieveDocument stream, blocking the calling
// thread until the stream ends or on_message stops it (the call is then cancelled). Not behind
// the breaker: one retrieval is one client's explicit request.
class GrpcMemberRetrieval final : public MemberRetrieval {
 public:
  explicit GrpcMemberRetrieval(MemberChannels* channels) : channels_(channels) {}
  absl::Status Retrieve(
      const std::string& endpoint, const member::v1::RetrieveDocumentRequest& request,
      absl::Time deadline,
      const std::function<bool(member::v1::RetrieveDocumentResponse)>& on_message) override;

 private:
  MemberChannels* const channels_;
};

}  // namespace hie::gateway
