#pragma once

// A circuit breaker per member endpoint, so that one dead member stops costing every query its
// share of the deadline. Pure (time is passed in); thread-safe.
//
// States (hie.gateway.v1.CircuitState):
//   CLOSED     calls flow; `failures_to_open` failures in a row open it.
//   OPEN       the member is skipped (reported CIRCUIT_OPEN) until `open_for` has passed since
//              it opened; each reopening after a failed trial doubles the wait, up to
//              `max_open_for`.
//   HALF_OPEN  after the wait: at most `trial_calls` calls are let through at once as trials;
//              a trial's success closes the breaker, its failure reopens it. Other calls are
//              skipped meanwhile.
//
// What counts: a call that got an answer from the member (any status the member chose to
// send: OK, NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT...) is a success; UNAVAILABLE,
// INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED, DATA_LOSS and a timeout are failures. A timeout counts
// only when the member had at least `min_budget_for_timeout` (a client that allowed 5 ms says
// nothing about the member). A call abandoned before its outcome (the client cancelled) is
// neither: `Abandon` releases its trial slot.

#include <mutex>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hie/gateway/v1/gateway.pb.h"

namespace hie::gateway {

struct CircuitBreakerOptions {
  int failures_to_open = 3;
  absl::Duration open_for = absl::Seconds(5);
  absl::Duration max_open_for = absl::Seconds(60);
  int trial_calls = 1;
  absl::Duration min_budget_for_timeout = absl::Milliseconds(100);
};

// How a call ended, for the breaker.
enum class CallOutcome { kAnswered, kFailed, kAbandoned };

// The breaker's view of a finished call: `status` is what the call returned, `budget` the time
// the member was given. DEADLINE_EXCEEDED with a budget under min_budget_for_timeout and
// CANCELLED are kAbandoned.
CallOutcome OutcomeOf(const absl::Status& status, absl::Duration budget,
                      const CircuitBreakerOptions& options);

class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitBreakerOptions options = {});

  // Whether a call may go to the member now, and as what. Anything but kRefused is a permit:
  // report its end with Record exactly once, passing the admission back.
  enum class Admission { kRefused, kCall, kTrial };
  [[nodiscard]] Admission Allow(absl::Time now);
  void Record(Admission admission, CallOutcome outcome, absl::Time now);

  v1::CircuitState State(absl::Time now) const;
  absl::Time last_success_time() const;
  absl::Time last_failure_time() const;

 private:
  void OpenLocked(absl::Time now);

  const CircuitBreakerOptions options_;
  mutable std::mutex mu_;
  bool open_ = false;            // OPEN or HALF_OPEN (HALF_OPEN once reopen_at_ has passed)
  absl::Time reopen_at_;         // while open_: when trials may start
  absl::Duration current_wait_;  // the wait of the current opening
  int consecutive_failures_ = 0;
  int trials_in_flight_ = 0;
  absl::Time last_success_ = absl::InfinitePast();
  absl::Time last_failure_ = absl::InfinitePast();
};

}  // namespace hie::gateway
