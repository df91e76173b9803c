#include "services/identity/core/history_follower.h"

#include <gtest/gtest.h>

namespace hie::identity {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(HistoryFollowerTest, InOrderSequencesMoveTheFrontier) {
  HistoryFollower f(0);
  for (int64_t s = 1; s <= 3; ++s) EXPECT_TRUE(f.Note(s, kStart));
  f.Advance(kStart);
  EXPECT_EQ(f.through(), 3);
  EXPECT_EQ(f.seen_through(), 3);
  EXPECT_TRUE(f.OpenGaps(10).empty());
  EXPECT_FALSE(f.Note(2, kStart));  // seen already
  EXPECT_FALSE(f.IsNew(3));
}

TEST(HistoryFollowerTest, AGapHoldsTheFrontierUntilItFills) {
  HistoryFollower f(10);
  EXPECT_TRUE(f.Note(11, kStart));
  EXPECT_TRUE(f.Note(14, kStart));  // 12 and 13 are missing
  f.Advance(kStart);
  EXPECT_EQ(f.through(), 11);
  EXPECT_EQ(f.seen_through(), 14);
  EXPECT_EQ(f.OpenGaps(10), (std::vector<int64_t>{12, 13}));
  EXPECT_EQ(f.OpenGaps(1), (std::vector<int64_t>{12}));
  EXPECT_TRUE(f.IsNew(13));
  EXPECT_TRUE(f.Note(13, kStart + absl::Seconds(1)));
  f.Advance(kStart + absl::Seconds(1));
  EXPECT_EQ(f.through(), 11);  // 12 still missing
  EXPECT_TRUE(f.Note(12, kStart + absl::Seconds(2)));
  f.Advance(kStart + absl::Seconds(2));
  EXPECT_EQ(f.through(), 14);
  EXPECT_TRUE(f.OpenGaps(10).empty());
}

TEST(HistoryFollowerTest, AGapMissingLongerThanThePatienceIsGivenUp) {
  HistoryFollower f(0, absl::Seconds(30));
  EXPECT_TRUE(f.Note(2, kStart));  // 1 missing since kStart
  f.Advance(kStart + absl::Seconds(30));
  EXPECT_EQ(f.through(), 0) << "exactly the patience is still waited for";
  f.Advance(kStart + absl::Seconds(31));
  EXPECT_EQ(f.through(), 2);
  EXPECT_FALSE(f.IsNew(1)) << "a sequence given up is not applied when it turns up later";
}

TEST(HistoryFollowerTest, TheGapClockStartsWhenTheGapIsFirstNoticed) {
  HistoryFollower f(0, absl::Seconds(30));
  EXPECT_TRUE(f.Note(2, kStart));                      // 1 missing since kStart
  EXPECT_TRUE(f.Note(5, kStart + absl::Seconds(20)));  // 3, 4 missing since +20 s
  f.Advance(kStart + absl::Seconds(40));
  EXPECT_EQ(f.through(), 2);  // 1 given up; 3 and 4 not yet
  f.Advance(kStart + absl::Seconds(51));
  EXPECT_EQ(f.through(), 5);
}

TEST(HistoryFollowerTest, ResetForgetsEverything) {
  HistoryFollower f(0);
  EXPECT_TRUE(f.Note(5, kStart));
  f.Reset(100);
  EXPECT_EQ(f.through(), 100);
  EXPECT_EQ(f.seen_through(), 100);
  EXPECT_TRUE(f.OpenGaps(10).empty());
  EXPECT_FALSE(f.IsNew(5));
  EXPECT_TRUE(f.IsNew(101));
}

}  // namespace
}  // namespace hie::identity
