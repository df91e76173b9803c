#include "services/common/periodic_tasks.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace hie {

PeriodicTasks::~PeriodicTasks() { Stop(); }

void PeriodicTasks::Add(std::string name, absl::Duration period, std::function<void()> task) {
  tasks_.push_back({std::move(name), std::max(period, absl::Milliseconds(1)), std::move(task),
                    absl::InfiniteFuture()});
}

void PeriodicTasks::Start() {
  if (thread_.joinable() || tasks_.empty()) return;
  const absl::Time now = absl::Now();
  for (Task& task : tasks_) task.due = now + task.period;
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicTasks::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicTasks::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto next = std::min_element(tasks_.begin(), tasks_.end(),
                                 [](const Task& a, const Task& b) { return a.due < b.due; });
    const absl::Time now = absl::Now();
    if (next->due > now) {
      wake_.wait_for(lock, absl::ToChronoNanoseconds(next->due - now));
      continue;  // stopping, due, or woken early: look again
    }
    lock.unlock();
    next->run();
    lock.lock();
    next->due = absl::Now() + next->period;
  }
}

}  // namespace hie
