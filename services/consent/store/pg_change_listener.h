#pragma once

// LISTEN consent_changes on a dedicated PostgreSQL connection (not from the pool: it waits
// for notifications all the time). Each notification (payload: the committed version) calls
// `on_change`; so does every (re)connection, since notifications sent while disconnected are
// lost. A broken connection is reopened every `retry` until Stop(). The periodic version check
// (ViewRefresher) is what guarantees freshness; this only makes a change reach the view sooner.
// Thread-safe.

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace hie::consent {

class PgChangeListener {
 public:
  using OnChange = std::function<void(int64_t version)>;  // 0 when unknown (reconnected)
  PgChangeListener(std::string dsn, OnChange on_change,
                   absl::Duration retry = absl::Milliseconds(500));
  ~PgChangeListener();  // Stop()

  void Start();
  void Stop();
  uint64_t notifications() const { return notifications_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  void Loop();

  const std::string dsn_;
  const OnChange on_change_;
  const absl::Duration retry_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> notifications_{0};
  std::thread thread_;
};

}  // namespace hie::consent
