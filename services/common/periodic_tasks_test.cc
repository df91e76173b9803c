#include "services/common/periodic_tasks.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/time/clock.h"

namespace hie {
namespace {

TEST(PeriodicTasksTest, EachTaskRunsAtItsOwnPeriod) {
  std::atomic<int> fast{0}, slow{0};
  PeriodicTasks tasks;
  tasks.Add("fast", absl::Milliseconds(10), [&] { ++fast; });
  tasks.Add("slow", absl::Seconds(60), [&] { ++slow; });
  tasks.Start();
  absl::SleepFor(absl::Milliseconds(300));
  tasks.Stop();
  EXPECT_GE(fast.load(), 5);  // about 30 on an idle machine
  EXPECT_EQ(slow.load(), 0) << "not run before its first period";
  const int after_stop = fast.load();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(fast.load(), after_stop) << "ran after Stop()";
}

TEST(PeriodicTasksTest, StopDoesNotWaitOutAPeriod) {
  PeriodicTasks tasks;
  tasks.Add("hourly", absl::Hours(1), [] {});
  tasks.Start();
  const absl::Time start = absl::Now();
  tasks.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  tasks.Stop();  // idempotent
}

}  // namespace
}  // namespace hie
