#pragma once

// One client deadline split across a federated query's steps (ARCHITECTURE.md rule 4: a slow
// member costs at most the deadline, never more). Pure: time is passed in.
//
//   start ──resolve──locate──consent──audit──┬── members answer ──┬─ audit ─┬─ summary ─ end
//                                            fan-out              members_end  release_end
//
// - `end`: the client's deadline, else start + default_deadline; never past start +
//   max_deadline.
// - `release_end` = end - finish_reserve: the last member's results are audited and streamed by
//   then, leaving the reserve to write the summary.
// - `members_end` = release_end - release_reserve: every member call's deadline, so that a
//   member answering at the last moment can still be audited and released.
// - Each step before the fan-out takes at most its share of what is left before members_end
//   (Step), so that the hub's own services, if slow, leave the members part of the time.
// The reserves are fractions of the whole, clamped: for a 1 s deadline 25 ms and 50 ms.

#include "absl/time/time.h"

namespace hie::gateway {

struct DeadlineBudgetOptions {
  absl::Duration default_deadline = absl::Seconds(10);
  absl::Duration max_deadline = absl::Seconds(60);
  double finish_reserve_fraction = 0.025;
  absl::Duration min_finish_reserve = absl::Milliseconds(5);
  absl::Duration max_finish_reserve = absl::Milliseconds(100);
  double release_reserve_fraction = 0.05;
  absl::Duration min_release_reserve = absl::Milliseconds(10);
  absl::Duration max_release_reserve = absl::Milliseconds(250);
};

class DeadlineBudget {
 public:
  // `client_deadline` InfiniteFuture = the client gave none.
  DeadlineBudget(absl::Time start, absl::Time client_deadline,
                 const DeadlineBudgetOptions& options = {});

  absl::Time start() const { return start_; }
  absl::Time end() const { return end_; }
  absl::Time release_end() const { return release_end_; }
  absl::Time members_end() const { return members_end_; }

  // The deadline of a step before the fan-out that starts at `now` and may take `share` (0..1]
  // of the time left before members_end: now + share * (members_end - now), never past
  // members_end; `now` itself when nothing is left.
  absl::Time Step(absl::Time now, double share) const;

  // Whether there is any time left for members at `now`.
  bool MembersHaveTime(absl::Time now) const { return now < members_end_; }

 private:
  absl::Time start_, end_, release_end_, members_end_;
};

}  // namespace hie::gateway
