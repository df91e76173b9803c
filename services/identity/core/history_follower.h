#pragma once

// A reader's position in the identity history (the event log), with the one gap policy every
// reader of it uses: the match index follower (IdentityManager) and WatchEvents streams.
//
// Sequences are assigned before commit, so they can commit out of order, and a rolled-back
// transaction leaves a sequence that never appears. A sequence missing below the highest one
// seen is a gap: it is asked for again by number (OpenGaps) until it appears or has been missing
// for `patience` (then it is taken for a rollback and given up). through() is the frontier: every
// sequence at or below it has been seen or given up, so a reader that must deliver in order
// (WatchEvents) delivers up to it, and a reader that may apply out of order (the index) applies
// each event as it is seen. Not thread-safe: the owner serialises calls.

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "absl/time/time.h"

namespace hie::identity {

class HistoryFollower {
 public:
  static constexpr absl::Duration kDefaultPatience = absl::Seconds(30);

  explicit HistoryFollower(int64_t through = 0, absl::Duration patience = kDefaultPatience)
      : through_(through), patience_(patience) {}

  // Starts again at `through` (nothing above it seen, no gaps).
  void Reset(int64_t through);

  // Every sequence <= through() has been seen or given up.
  int64_t through() const { return through_; }
  // The highest sequence seen (through() when nothing above it was): read what is new after it.
  int64_t seen_through() const { return seen_above_.empty() ? through_ : *seen_above_.rbegin(); }
  // The oldest gaps, at most `limit`, to be asked for by number.
  std::vector<int64_t> OpenGaps(size_t limit) const;

  // Neither seen nor at or below through().
  bool IsNew(int64_t sequence) const {
    return sequence > through_ && seen_above_.count(sequence) == 0;
  }
  // Notes `sequence` as seen, and the sequences it skips over as gaps noticed at `now`; false
  // (and nothing noted) when it was not new.
  bool Note(int64_t sequence, absl::Time now);
  // Moves through() past what is seen and past gaps missing for longer than the patience.
  void Advance(absl::Time now);

 private:
  int64_t through_;
  const absl::Duration patience_;
  std::set<int64_t> seen_above_;        // seen sequences > through_
  std::map<int64_t, absl::Time> gaps_;  // missing sequences, when first noticed
};

}  // namespace hie::identity
