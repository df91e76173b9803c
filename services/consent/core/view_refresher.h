#pragma once

// Keeps a ConsentView current and confirmed: a thread reads the store's change feed
// (ChangesSince the view's version: one read of the version counter when nothing changed)
// every `period` (200 ms), and at once when Wake() is called (the PostgreSQL LISTEN thread
// calls it on each NOTIFY; the manager after each of its own writes calls RefreshNow()). Each
// successful read confirms the view as of the moment the read started; a failed one leaves the
// confirmation to age, so that decisions turn to DENY (CONSENT_UNAVAILABLE) once it is older
// than the freshness bound. Unreadable rows are reported by id (log) and skipped.
// Refreshes are serialised (a change set is applied whole, in version order).
// Thread-safe.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/consent/core/consent_view.h"
#include "services/consent/core/ports.h"
#include "services/consent/store/consent_store.h"

namespace hie::consent {

struct ViewRefresherOptions {
  absl::Duration period = absl::Milliseconds(200);
  // Deadline of one read of the feed.
  absl::Duration read_timeout = absl::Milliseconds(500);
};

class ViewRefresher {
 public:
  // `store`, `view` and `clock` must outlive the refresher.
  ViewRefresher(ConsentStore* store, ConsentView* view, const Clock* clock,
                ViewRefresherOptions options = {});
  ~ViewRefresher();  // stops the thread

  // The initial load: the directives and grants in force. Call before serving.
  [[nodiscard]] absl::Status LoadInitial(absl::Time deadline);
  // One read of the change feed, applied to the view.
  [[nodiscard]] absl::Status RefreshNow();

  void Start();
  void Stop();
  void Wake();

  uint64_t failures() const { return failures_.load(); }
  uint64_t unreadable_rows() const { return unreadable_.load(); }
  // Observer of each refresh's status (metrics, health); called on the refresher's thread.
  void SetObserver(std::function<void(const absl::Status&)> observer);

 private:
  absl::Status Refresh(int64_t after, bool in_force_only, absl::Time deadline);
  void Loop();

  ConsentStore* store_;
  ConsentView* view_;
  const Clock* clock_;
  const ViewRefresherOptions options_;
  std::mutex refresh_mu_;  // one refresh at a time
  std::mutex mu_;          // guards woken_, stop_, observer_
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  std::function<void(const absl::Status&)> observer_;
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> unreadable_{0};
  std::thread thread_;
};

}  // namespace hie::consent
