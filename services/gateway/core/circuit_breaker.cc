#include "services/gateway/core/circuit_breaker.h"

#include <algorithm>

namespace hie::gateway {

CallOutcome OutcomeOf(const absl::Status& status, absl::Duration budget,
                      const CircuitBreakerOptions& options) {
  switch (status.code()) {
    case absl::StatusCode::kCancelled:
      return CallOutcome::kAbandoned;
    case absl::StatusCode::kDeadlineExceeded:
      return budget < options.min_budget_for_timeout ? CallOutcome::kAbandoned
                                                     : CallOutcome::kFailed;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDataLoss:
      return CallOutcome::kFailed;
    default:
      return CallOutcome::kAnswered;
  }
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options)
    : options_(options), current_wait_(options.open_for) {}

CircuitBreaker::Admission CircuitBreaker::Allow(absl::Time now) {
  std::lock_guard lock(mu_);
  if (!open_) return Admission::kCall;
  if (now < reopen_at_ || trials_in_flight_ >= options_.trial_calls) return Admission::kRefused;
  ++trials_in_flight_;
  return Admission::kTrial;
}

void CircuitBreaker::Record(Admission admission, CallOutcome outcome, absl::Time now) {
  std::lock_guard lock(mu_);
  if (admission == Admission::kRefused) return;
  // A trial's outcome decides an open breaker; a call let through before it opened that ends
  // late decides nothing then.
  const bool trial = admission == Admission::kTrial && open_;
  if (admission == Admission::kTrial && trials_in_flight_ > 0) --trials_in_flight_;
  switch (outcome) {
    case CallOutcome::kAbandoned:
      return;
    case CallOutcome::kAnswered:
      last_success_ = std::max(last_success_, now);
      consecutive_failures_ = 0;
      if (open_ && trial) {  // a trial answered: close
        open_ = false;
        current_wait_ = options_.open_for;
      }
      return;
    case CallOutcome::kFailed:
      last_failure_ = std::max(last_failure_, now);
      if (open_) {
        if (trial) {  // a failed trial: wait longer before the next
          current_wait_ = std::min(current_wait_ * 2, options_.max_open_for);
          OpenLocked(now);
        }
        return;  // a call permitted before the opening ended late: changes nothing
      }
      if (++consecutive_failures_ >= options_.failures_to_open) {
        current_wait_ = options_.open_for;
        OpenLocked(now);
      }
      return;
  }
}

void CircuitBreaker::OpenLocked(absl::Time now) {
  open_ = true;
  reopen_at_ = now + current_wait_;
  consecutive_failures_ = 0;
}

v1::CircuitState CircuitBreaker::State(absl::Time now) const {
  std::lock_guard lock(mu_);
  if (!open_) return v1::CIRCUIT_STATE_CLOSED;
  return now < reopen_at_ ? v1::CIRCUIT_STATE_OPEN : v1::CIRCUIT_STATE_HALF_OPEN;
}

absl::Time CircuitBreaker::last_success_time() const {
  std::lock_guard lock(mu_);
  return last_success_;
}

absl::Time CircuitBreaker::last_failure_time() const {
  std::lock_guard lock(mu_);
  return last_failure_;
}

}  // namespace hie::gateway
