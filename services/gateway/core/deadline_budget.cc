#include "services/gateway/core/deadline_budget.h"

#include <algorithm>

namespace hie::gateway {
namespace {

absl::Duration Clamp(absl::Duration d, absl::Duration lo, absl::Duration hi) {
  return std::clamp(d, lo, std::max(lo, hi));
}

}  // namespace

DeadlineBudget::DeadlineBudget(absl::Time start, absl::Time client_deadline,
                               const DeadlineBudgetOptions& options)
    : start_(start) {
  end_ = client_deadline == absl::InfiniteFuture() ? start + options.default_deadline
                                                   : client_deadline;
  end_ = std::min(end_, start + options.max_deadline);
  const absl::Duration total = std::max(end_ - start, absl::ZeroDuration());
  const absl::Duration finish =
      std::min(total, Clamp(total * options.finish_reserve_fraction, options.min_finish_reserve,
                            options.max_finish_reserve));
  release_end_ = end_ - finish;
  const absl::Duration release = std::min(
      release_end_ - start, Clamp(total * options.release_reserve_fraction,
                                  options.min_release_reserve, options.max_release_reserve));
  members_end_ = release_end_ - std::max(release, absl::ZeroDuration());
  members_end_ = std::max(members_end_, std::min(start, end_));
}

absl::Time DeadlineBudget::Step(absl::Time now, double share) const {
  if (now >= members_end_) return now;
  share = std::clamp(share, 0.0, 1.0);
  return std::min(members_end_, now + (members_end_ - now) * share);
}

}  // namespace hie::gateway
