#include "services/gateway/core/deadline_budget.h"

#include <gtest/gtest.h>

namespace hie::gateway {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(DeadlineBudgetTest, OneSecondLeavesReservesToAuditAndToFinish) {
  DeadlineBudget b(kT0, kT0 + absl::Seconds(1));
  EXPECT_EQ(b.end(), kT0 + absl::Seconds(1));
  EXPECT_EQ(b.release_end(), kT0 + absl::Milliseconds(975));
  EXPECT_EQ(b.members_end(), kT0 + absl::Milliseconds(925));
  EXPECT_TRUE(b.MembersHaveTime(kT0 + absl::Milliseconds(924)));
  EXPECT_FALSE(b.MembersHaveTime(kT0 + absl::Milliseconds(925)));
}

TEST(DeadlineBudgetTest, NoClientDeadlineTakesTheDefaultAndALongOneIsCapped) {
  DeadlineBudgetOptions o;
  o.default_deadline = absl::Seconds(10);
  o.max_deadline = absl::Seconds(60);
  EXPECT_EQ(DeadlineBudget(kT0, absl::InfiniteFuture(), o).end(), kT0 + absl::Seconds(10));
  EXPECT_EQ(DeadlineBudget(kT0, kT0 + absl::Hours(1), o).end(), kT0 + absl::Seconds(60));
  // Reserves are clamped: 2.5% and 5% of 60 s would be 1.5 s and 3 s.
  DeadlineBudget long_one(kT0, kT0 + absl::Seconds(60), o);
  EXPECT_EQ(long_one.release_end(), kT0 + absl::Seconds(60) - o.max_finish_reserve);
  EXPECT_EQ(long_one.members_end(), long_one.release_end() - o.max_release_reserve);
}

TEST(DeadlineBudgetTest, ATinyOrPastDeadlineNeverGoesBackwards) {
  DeadlineBudget tiny(kT0, kT0 + absl::Milliseconds(3));
  EXPECT_LE(tiny.members_end(), tiny.release_end());
  EXPECT_LE(tiny.release_end(), tiny.end());
  EXPECT_GE(tiny.members_end(), kT0);
  DeadlineBudget past(kT0, kT0 - absl::Seconds(1));
  EXPECT_FALSE(past.MembersHaveTime(kT0));
  EXPECT_EQ(past.Step(kT0, 0.5), kT0);
}

TEST(DeadlineBudgetTest, AStepTakesItsShareOfWhatIsLeftBeforeTheMembers) {
  DeadlineBudget b(kT0, kT0 + absl::Seconds(1));  // members_end = 925 ms
  EXPECT_EQ(b.Step(kT0, 0.2), kT0 + absl::Milliseconds(185));
  EXPECT_EQ(b.Step(kT0 + absl::Milliseconds(425), 0.2), kT0 + absl::Milliseconds(525));
  EXPECT_EQ(b.Step(kT0, 5.0), b.members_end());
  EXPECT_EQ(b.Step(kT0 + absl::Seconds(2), 0.2), kT0 + absl::Seconds(2));
}

}  // namespace
}  // namespace hie::gateway
