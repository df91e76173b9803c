#include "services/gateway/core/deadline_budget.h"

#include <gtest/gtest.h>

namespace hie::gateway {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(DeadlineBudgetTest, OneSecondLeavesReservesToAuditAndToFinish) {
  DeadlineBudget b(kStart, kStart + absl::Seconds(1));
  EXPECT_EQ(b.end(), kStart + absl::Seconds(1));
  EXPECT_EQ(b.release_end(), kStart + absl::Milliseconds(975));
  EXPECT_EQ(b.members_end(), kStart + absl::Milliseconds(925));
  EXPECT_TRUE(b.MembersHaveTime(kStart + absl::Milliseconds(924)));
  EXPECT_FALSE(b.MembersHaveTime(kStart + absl::Milliseconds(925)));
}

TEST(DeadlineBudgetTest, NoClientDeadlineTakesTheDefaultAndALongOneIsCapped) {
  DeadlineBudgetOptions o;
  o.default_deadline = absl::Seconds(10);
  o.max_deadline = absl::Seconds(60);
  EXPECT_EQ(DeadlineBudget(kStart, absl::InfiniteFuture(), o).end(), kStart + absl::Seconds(10));
  EXPECT_EQ(DeadlineBudget(kStart, kStart + absl::Hours(1), o).end(), kStart + absl::Seconds(60));
  // Reserves are clamped: 2.5% and 5% of 60 s would be 1.5 s and 3 s.
  DeadlineBudget long_one(kStart, kStart + absl::Seconds(60), o);
  EXPECT_EQ(long_one.release_end(), kStart + absl::Seconds(60) - o.max_finish_reserve);
  EXPECT_EQ(long_one.members_end(), long_one.release_end() - o.max_release_reserve);
}

TEST(DeadlineBudgetTest, ATinyOrPastDeadlineNeverGoesBackwards) {
  DeadlineBudget tiny(kStart, kStart + absl::Milliseconds(3));
  EXPECT_LE(tiny.members_end(), tiny.release_end());
  EXPECT_LE(tiny.release_end(), tiny.end());
  EXPECT_GE(tiny.members_end(), kStart);
  DeadlineBudget past(kStart, kStart - absl::Seconds(1));
  EXPECT_FALSE(past.MembersHaveTime(kStart));
  EXPECT_EQ(past.Step(kStart, 0.5), kStart);
}

TEST(DeadlineBudgetTest, AStepTakesItsShareOfWhatIsLeftBeforeTheMembers) {
  DeadlineBudget b(kStart, kStart + absl::Seconds(1));  // members_end = 925 ms
  EXPECT_EQ(b.Step(kStart, 0.2), kStart + absl::Milliseconds(185));
  EXPECT_EQ(b.Step(kStart + absl::Milliseconds(425), 0.2), kStart + absl::Milliseconds(525));
  EXPECT_EQ(b.Step(kStart, 5.0), b.members_end());
  EXPECT_EQ(b.Step(kStart + absl::Seconds(2), 0.2), kStart + absl::Seconds(2));
}

}  // namespace
}  // namespace hie::gateway
