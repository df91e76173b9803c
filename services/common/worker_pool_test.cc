#include "services/common/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace hie {
namespace {

TEST(WorkerPoolTest, RunsEveryAcceptedTask) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(2, 100);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ++done; }));
  }  // destructor drains the queue
  EXPECT_EQ(done.load(), 50);
}

TEST(WorkerPoolTest, RefusesWhenTheQueueIsFull) {
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  WorkerPool pool(1, 2);  // after what its tasks use: its destructor joins them first
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();  // the only worker is now busy
  EXPECT_TRUE(pool.TrySubmit([gate] { gate.wait(); }));
  EXPECT_TRUE(pool.TrySubmit([gate] { gate.wait(); }));
  EXPECT_FALSE(pool.TrySubmit([] {}));  // two queued = full
  release.set_value();
}

}  // namespace
}  // namespace hie
