#include "services/member/core/fault_plan.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hie::member {
namespace {

TEST(FaultPlanTest, NoOptionsAnswerEveryCallAtOnce) {
  FaultPlan plan({});
  EXPECT_FALSE(plan.active());
  for (int i = 0; i < 100; ++i) {
    const FaultDecision d = plan.Next();
    EXPECT_EQ(d.action, FaultAction::kAnswer);
    EXPECT_EQ(d.delay, absl::ZeroDuration());
  }
}

TEST(FaultPlanTest, BlackHoleWinsOverHangWhichWinsOverErrors) {
  EXPECT_EQ(FaultPlan({.error_rate = 1, .hang = true, .black_hole = true}).Next().action,
            FaultAction::kBlackHole);
  EXPECT_EQ(FaultPlan({.error_rate = 1, .hang = true}).Next().action, FaultAction::kHang);
  EXPECT_EQ(FaultPlan({.error_rate = 1}).Next().action, FaultAction::kError);
}

TEST(FaultPlanTest, LatencyDelaysAnswersAndErrors) {
  FaultPlan plan({.latency = absl::Milliseconds(30), .error_rate = 0.5});
  EXPECT_TRUE(plan.active());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(plan.Next().delay, absl::Milliseconds(30));
}

TEST(FaultPlanTest, ErrorRateIsSeededAndAboutRight) {
  auto errors = [](uint64_t seed, double rate, int n) {
    FaultPlan plan({.error_rate = rate, .seed = seed});
    std::vector<bool> out;
    for (int i = 0; i < n; ++i) out.push_back(plan.Next().action == FaultAction::kError);
    return out;
  };
  EXPECT_EQ(errors(7, 0.3, 500), errors(7, 0.3, 500));
  EXPECT_NE(errors(7, 0.3, 500), errors(8, 0.3, 500));
  const std::vector<bool> e = errors(7, 0.3, 10000);
  const double share = std::count(e.begin(), e.end(), true) / 10000.0;
  EXPECT_NEAR(share, 0.3, 0.03);
}

TEST(FaultPlanTest, OptionsOutOfRangeAreRefused) {
  EXPECT_TRUE(CheckFaultOptions({.latency = absl::Seconds(1), .error_rate = 1}).ok());
  EXPECT_FALSE(CheckFaultOptions({.error_rate = -0.1}).ok());
  EXPECT_FALSE(CheckFaultOptions({.error_rate = 1.5}).ok());
  EXPECT_FALSE(CheckFaultOptions({.error_rate = std::nan("")}).ok());
  EXPECT_FALSE(CheckFaultOptions({.latency = absl::Milliseconds(-1)}).ok());
  EXPECT_FALSE(CheckFaultOptions({.latency = absl::Hours(2)}).ok());
}

}  // namespace
}  // namespace hie::member
