// The gateway's fan-out to member endpoints over real gRPC with mutual TLS on loopback, against
// real member nodes (services/member's endpoint, in process) with their fault injection: a slow
// member, a hung one and a black-holed one cost at most the deadline; the breaker then skips a
// dead member without calling it; a cancelled query and an unreachable member end at once.

#include "services/gateway/api/member_fanout.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/common/tls.h"
#include "services/gateway/api/member_node_for_tests.h"
#include "services/member/core/test_data.h"
#include "tests/support/test_env.h"

namespace hie::gateway {
namespace {

using Member = testing::MemberNode;

member::FaultOptions Healthy() { return {}; }
member::FaultOptions Slow(absl::Duration d) {
  member::FaultOptions f;
  f.latency = d;
  return f;
}
member::FaultOptions Hang() {
  member::FaultOptions f;
  f.hang = true;
  return f;
}
member::FaultOptions BlackHole() {
  member::FaultOptions f;
  f.black_hole = true;
  return f;
}

MemberCall Call(const std::string& org, const std::string& endpoint) {
  MemberCall c;
  c.target.org = org;
  c.target.local_ids = {"P1"};
  c.endpoint = endpoint;
  c.request = member::testing::FindRequest({"P1"});
  return c;
}

class FanOutTest : public ::testing::Test {
 protected:
  FanOutTest() : channels_(testing::TestMemberChannels()) {}

  // Every answer of `f`, by call index, waiting at most `limit`.
  std::map<size_t, MemberAnswer> All(FanOut& f, absl::Duration limit = absl::Seconds(10)) {
    std::map<size_t, MemberAnswer> out;
    const absl::Time until = absl::Now() + limit;
    while (auto a = f.Next(until)) {
      EXPECT_FALSE(out.contains(a->index)) << "two answers for call " << a->index;
      out[a->index] = std::move(a->answer);
    }
    EXPECT_TRUE(f.done());
    return out;
  }

  MemberChannels* const channels_;
  Breakers breakers_{CircuitBreakerOptions{.failures_to_open = 1,
                                           .open_for = absl::Seconds(30),
                                           .min_budget_for_timeout = absl::Milliseconds(50)}};
};

TEST_F(FanOutTest, SlowHungAndBlackHoledMembersCostAtMostTheDeadline) {
  Member healthy(Healthy()), slow(Slow(absl::Milliseconds(150))), hung(Hang()),
      black_hole(BlackHole());
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Milliseconds(800);
  auto f =
      FanOut::Start({Call("clinic-h", healthy.endpoint()), Call("clinic-s", slow.endpoint()),
                     Call("clinic-x", hung.endpoint()), Call("clinic-b", black_hole.endpoint())},
                    deadline, channels_, &breakers_);
  auto answers = All(*f);
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_TRUE(answers[0].status.ok()) << answers[0].status;
  EXPECT_EQ(answers[0].entries.size(), 4u);  // P1's four approved documents
  EXPECT_TRUE(answers[1].status.ok()) << answers[1].status;
  EXPECT_GE(answers[1].latency, absl::Milliseconds(150));
  for (size_t i : {2u, 3u}) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(answers[i].status)) << i << ": " << answers[i].status;
  }
  // The hung and black-holed calls end at the deadline, not before and not long after (latency
  // counts from each call's start, which channel set-up delays: the whole fan-out is timed).
  EXPECT_GE(elapsed, absl::Milliseconds(780)) << "a held call ended before the deadline";
  EXPECT_LT(elapsed, absl::Milliseconds(800 + 400)) << "answered past the deadline";
  EXPECT_EQ(breakers_.For("clinic-h").State(absl::Now()), v1::CIRCUIT_STATE_CLOSED);
  EXPECT_EQ(breakers_.For("clinic-b").State(absl::Now()), v1::CIRCUIT_STATE_OPEN);
}

TEST_F(FanOutTest, AnOpenBreakerSkipsTheDeadMemberWithoutCallingIt) {
  Member black_hole(BlackHole()), healthy(Healthy());
  auto first = FanOut::Start({Call("clinic-b", black_hole.endpoint())},
                             absl::Now() + absl::Milliseconds(300), channels_, &breakers_);
  auto answers = All(*first);
  ASSERT_TRUE(absl::IsDeadlineExceeded(answers[0].status)) << answers[0].status;

  const absl::Time start = absl::Now();
  auto second =
      FanOut::Start({Call("clinic-b", black_hole.endpoint()), Call("clinic-h", healthy.endpoint())},
                    absl::Now() + absl::Seconds(2), channels_, &breakers_);
  answers = All(*second);
  EXPECT_EQ(answers[0].kind, MemberAnswer::Kind::kCircuitOpen);
  EXPECT_TRUE(answers[1].status.ok()) << answers[1].status;
  // Well before the black hole's 2 s deadline (the healthy member's first call sets up its
  // channel, slow under the sanitizers).
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500)) << "waited for a skipped member";
  EXPECT_EQ(black_hole.held_calls(), 0u) << "the open breaker let a call through";
}

TEST_F(FanOutTest, ACallLeftWithNoTimeEndsAtTheDeadlineBlamingNobody) {
  Member hung(Hang()), healthy(Healthy());
  auto f = FanOut::Start({Call("clinic-x", hung.endpoint()), Call("clinic-h", healthy.endpoint())},
                         absl::Now() + absl::Milliseconds(300), channels_, &breakers_,
                         FanOutOptions{.max_in_flight = 1});
  auto answers = All(*f);
  EXPECT_TRUE(absl::IsDeadlineExceeded(answers[0].status));
  EXPECT_TRUE(absl::IsDeadlineExceeded(answers[1].status));
  // Not made once the deadline has passed; made with the last millisecond when the hung call's
  // end comes a hair before absl::Now() reaches the deadline (gRPC's timer): either way at once.
  EXPECT_LT(answers[1].latency, absl::Milliseconds(50));
  // Not the healthy member's fault: its breaker stays closed.
  EXPECT_EQ(breakers_.For("clinic-h").State(absl::Now()), v1::CIRCUIT_STATE_CLOSED);
}

TEST_F(FanOutTest, CancelEndsHeldAndQueuedCallsAtOnce) {
  Member hung(Hang()), healthy(Healthy());
  auto f = FanOut::Start({Call("clinic-x", hung.endpoint()), Call("clinic-h", healthy.endpoint())},
                         absl::Now() + absl::Seconds(20), channels_, &breakers_,
                         FanOutOptions{.max_in_flight = 1});
  absl::SleepFor(absl::Milliseconds(200));  // the hung call is out
  const absl::Time start = absl::Now();
  f->Cancel();
  auto answers = All(*f, absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(absl::IsCancelled(answers[0].status)) << answers[0].status;
  EXPECT_TRUE(absl::IsCancelled(answers[1].status)) << answers[1].status;
  // A cancellation blames nobody.
  EXPECT_EQ(breakers_.For("clinic-x").State(absl::Now()), v1::CIRCUIT_STATE_CLOSED);
}

TEST_F(FanOutTest, AnUnreachableMemberIsUnavailableAtOnce) {
  Member healthy(Healthy());
  std::string dead_endpoint;
  {
    Member gone(Healthy());
    dead_endpoint = gone.endpoint();
  }
  const absl::Time start = absl::Now();
  auto f = FanOut::Start({Call("clinic-d", dead_endpoint), Call("clinic-h", healthy.endpoint())},
                         absl::Now() + absl::Seconds(5), channels_, &breakers_);
  auto answers = All(*f);
  EXPECT_TRUE(absl::IsUnavailable(answers[0].status)) << answers[0].status;
  EXPECT_TRUE(answers[1].status.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace hie::gateway
