#pragma once

// Background work a service repeats (index catch-up, health probes, purges), on one thread.
//
// Contract:
//  - Add() every task before Start(); each runs first one period after Start(), then again one
//    period after its previous run ended. Tasks run one at a time, in order of due time; a slow
//    task delays the others (keep each short, with its own deadline).
//  - Stop() wakes the thread at once (no waiting out a period), lets a running task finish,
//    and joins; it is idempotent and the destructor calls it.
//  - A task must not throw; it reports its own failures (logs, metrics).

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace hie {

class PeriodicTasks {
 public:
  PeriodicTasks() = default;
  ~PeriodicTasks();
  PeriodicTasks(const PeriodicTasks&) = delete;
  PeriodicTasks& operator=(const PeriodicTasks&) = delete;

  // `name` is for logs; `period` must be positive.
  void Add(std::string name, absl::Duration period, std::function<void()> task);
  void Start();
  void Stop();

 private:
  struct Task {
    std::string name;
    absl::Duration period;
    std::function<void()> run;
    absl::Time due;
  };
  void Loop();

  std::vector<Task> tasks_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hie
