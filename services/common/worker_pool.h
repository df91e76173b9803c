#pragma once

// A fixed set of threads running blocking work (database calls) on behalf of gRPC callback
// handlers, which must never block. The queue is bounded: when it is full TrySubmit refuses at
// once, and the handler answers RESOURCE_EXHAUSTED instead of letting latency grow unbounded.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hie {

class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t max_queued);
  ~WorkerPool();  // runs what is queued, then joins

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` not run) when `max_queued` tasks are already waiting.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

 private:
  void Run();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable work_available_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hie
