#include "services/consent/core/view_refresher.h"

#include "services/common/logging.h"
#include "services/common/status_macros.h"

namespace hie::consent {

ViewRefresher::ViewRefresher(ConsentStore* store, ConsentView* view, const Clock* clock,
                             ViewRefresherOptions options)
    : store_(store), view_(view), clock_(clock), options_(options) {}

ViewRefresher::~ViewRefresher() { Stop(); }

absl::Status ViewRefresher::Refresh(int64_t after, bool in_force_only, absl::Time deadline) {
  std::lock_guard lock(refresh_mu_);
  if (!in_force_only) after = view_->version();  // under the lock: never apply out of order
  const absl::Time started = clock_->Now();
  HIE_ASSIGN_OR_RETURN(ChangeSet changes,
                       store_->ChangesSince(deadline, after, in_force_only, started));
  for (const std::string& id : changes.unreadable_ids) {
    unreadable_.fetch_add(1);
    Log(LogLevel::kError, "consent_row_unreadable_skipped", {{"id", id}});
  }
  view_->Apply(changes, started);
  view_->Prune(started);
  return absl::OkStatus();
}

absl::Status ViewRefresher::LoadInitial(absl::Time deadline) {
  return Refresh(0, /*in_force_only=*/true, deadline);
}

absl::Status ViewRefresher::RefreshNow() {
  absl::Status status = Refresh(0, false, absl::Now() + options_.read_timeout);
  if (!status.ok()) failures_.fetch_add(1);
  std::function<void(const absl::Status&)> observer;
  {
    std::lock_guard lock(mu_);
    observer = observer_;
  }
  if (observer) observer(status);
  return status;
}

void ViewRefresher::SetObserver(std::function<void(const absl::Status&)> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

void ViewRefresher::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void ViewRefresher::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ViewRefresher::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

void ViewRefresher::Loop() {
  bool was_ok = true;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.period),
                   [this] { return stop_ || woken_; });
      if (stop_) return;
      woken_ = false;
    }
    absl::Status status = RefreshNow();
    if (status.ok() != was_ok) {
      was_ok = status.ok();
      Log(was_ok ? LogLevel::kInfo : LogLevel::kError, "consent_view_refresh",
          {{"ok", was_ok}, {"code", absl::StatusCodeToString(status.code())}});
    }
  }
}

}  // namespace hie::consent
