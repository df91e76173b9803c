#include "services/gateway/core/circuit_breaker.h"

#include <gtest/gtest.h>

namespace hie::gateway {
namespace {

using Admission = CircuitBreaker::Admission;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

CircuitBreakerOptions Options() {
  CircuitBreakerOptions o;
  o.failures_to_open = 3;
  o.open_for = absl::Seconds(5);
  o.max_open_for = absl::Seconds(20);
  o.trial_calls = 1;
  return o;
}

// Fails `n` calls at `t`.
void Fail(CircuitBreaker& b, int n, absl::Time t) {
  for (int i = 0; i < n; ++i) {
    Admission a = b.Allow(t);
    ASSERT_NE(a, Admission::kRefused);
    b.Record(a, CallOutcome::kFailed, t);
  }
}

TEST(CircuitBreakerTest, OpensAfterFailuresInARowAndSkipsUntilTheWaitEnds) {
  CircuitBreaker b(Options());
  Fail(b, 2, kT0);
  EXPECT_EQ(b.State(kT0), v1::CIRCUIT_STATE_CLOSED);
  Fail(b, 1, kT0);
  EXPECT_EQ(b.State(kT0), v1::CIRCUIT_STATE_OPEN);
  EXPECT_EQ(b.Allow(kT0 + absl::Seconds(4)), Admission::kRefused);
  EXPECT_EQ(b.State(kT0 + absl::Seconds(5)), v1::CIRCUIT_STATE_HALF_OPEN);
}

TEST(CircuitBreakerTest, AnAnswerBetweenFailuresResetsTheCount) {
  CircuitBreaker b(Options());
  Fail(b, 2, kT0);
  Admission a = b.Allow(kT0);
  b.Record(a, CallOutcome::kAnswered, kT0);
  Fail(b, 2, kT0);
  EXPECT_EQ(b.State(kT0), v1::CIRCUIT_STATE_CLOSED);
}

TEST(CircuitBreakerTest, OneTrialAtATimeAndItsSuccessCloses) {
  CircuitBreaker b(Options());
  Fail(b, 3, kT0);
  const absl::Time later = kT0 + absl::Seconds(5);
  Admission trial = b.Allow(later);
  EXPECT_EQ(trial, Admission::kTrial);
  EXPECT_EQ(b.Allow(later), Admission::kRefused);  // the trial is still out
  b.Record(trial, CallOutcome::kAnswered, later);
  EXPECT_EQ(b.State(later), v1::CIRCUIT_STATE_CLOSED);
  EXPECT_EQ(b.Allow(later), Admission::kCall);
  EXPECT_EQ(b.last_success_time(), later);
}

TEST(CircuitBreakerTest, AFailedTrialReopensForTwiceAsLongUpToTheMaximum) {
  CircuitBreaker b(Options());
  Fail(b, 3, kT0);
  absl::Time t = kT0 + absl::Seconds(5);
  Admission trial = b.Allow(t);
  b.Record(trial, CallOutcome::kFailed, t);  // wait now 10 s
  EXPECT_EQ(b.Allow(t + absl::Seconds(9)), Admission::kRefused);
  t += absl::Seconds(10);
  trial = b.Allow(t);
  ASSERT_EQ(trial, Admission::kTrial);
  b.Record(trial, CallOutcome::kFailed, t);  // 20 s
  t += absl::Seconds(20);
  trial = b.Allow(t);
  ASSERT_EQ(trial, Admission::kTrial);
  b.Record(trial, CallOutcome::kFailed, t);  // 40 s capped at 20 s
  EXPECT_EQ(b.Allow(t + absl::Seconds(19)), Admission::kRefused);
  EXPECT_EQ(b.Allow(t + absl::Seconds(20)), Admission::kTrial);
}

TEST(CircuitBreakerTest, AnAbandonedTrialFreesItsSlotAndDecidesNothing) {
  CircuitBreaker b(Options());
  Fail(b, 3, kT0);
  const absl::Time t = kT0 + absl::Seconds(5);
  Admission trial = b.Allow(t);
  b.Record(trial, CallOutcome::kAbandoned, t);
  EXPECT_EQ(b.State(t), v1::CIRCUIT_STATE_HALF_OPEN);
  EXPECT_EQ(b.Allow(t), Admission::kTrial);
}

TEST(CircuitBreakerTest, ALateFailureOfACallLetThroughBeforeTheOpeningChangesNothing) {
  CircuitBreaker b(Options());
  Admission early = b.Allow(kT0);  // let through while closed
  Fail(b, 3, kT0);                 // opens
  const absl::Time t = kT0 + absl::Seconds(5);
  b.Record(early, CallOutcome::kFailed, t);  // not a trial: the wait does not double
  EXPECT_EQ(b.Allow(t), Admission::kTrial);
}

TEST(CircuitBreakerTest, OutcomesCountWhatSaysTheMemberIsDown) {
  const CircuitBreakerOptions o = Options();
  const absl::Duration enough = absl::Seconds(1);
  EXPECT_EQ(OutcomeOf(absl::OkStatus(), enough, o), CallOutcome::kAnswered);
  EXPECT_EQ(OutcomeOf(absl::NotFoundError(""), enough, o), CallOutcome::kAnswered);
  EXPECT_EQ(OutcomeOf(absl::PermissionDeniedError(""), enough, o), CallOutcome::kAnswered);
  EXPECT_EQ(OutcomeOf(absl::InvalidArgumentError(""), enough, o), CallOutcome::kAnswered);
  EXPECT_EQ(OutcomeOf(absl::UnavailableError(""), enough, o), CallOutcome::kFailed);
  EXPECT_EQ(OutcomeOf(absl::InternalError(""), enough, o), CallOutcome::kFailed);
  EXPECT_EQ(OutcomeOf(absl::ResourceExhaustedError(""), enough, o), CallOutcome::kFailed);
  EXPECT_EQ(OutcomeOf(absl::DeadlineExceededError(""), enough, o), CallOutcome::kFailed);
  // A member given too little time is not blamed; a cancelled call says nothing.
  EXPECT_EQ(OutcomeOf(absl::DeadlineExceededError(""), absl::Milliseconds(5), o),
            CallOutcome::kAbandoned);
  EXPECT_EQ(OutcomeOf(absl::CancelledError(""), enough, o), CallOutcome::kAbandoned);
}

}  // namespace
}  // namespace hie::gateway
