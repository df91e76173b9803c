#include "services/identity/core/history_follower.h"

namespace hie::identity {

void HistoryFollower::Reset(int64_t through) {
  through_ = through;
  seen_above_.clear();
  gaps_.clear();
}

std::vector<int64_t> HistoryFollower::OpenGaps(size_t limit) const {
  std::vector<int64_t> out;
  for (auto gap = gaps_.begin(); gap != gaps_.end() && out.size() < limit; ++gap) {
    out.push_back(gap->first);
  }
  return out;
}

bool HistoryFollower::Note(int64_t sequence, absl::Time now) {
  if (!IsNew(sequence)) return false;
  for (int64_t skipped = seen_through() + 1; skipped < sequence; ++skipped) {
    gaps_.try_emplace(skipped, now);
  }
  gaps_.erase(sequence);
  seen_above_.insert(sequence);
  return true;
}

void HistoryFollower::Advance(absl::Time now) {
  for (;;) {
    int64_t next = through_ + 1;
    if (seen_above_.erase(next) > 0) {
      through_ = next;
      continue;
    }
    auto gap = gaps_.find(next);
    if (gap != gaps_.end() && now - gap->second > patience_) {
      gaps_.erase(gap);
      through_ = next;
      continue;
    }
    break;
  }
}

}  // namespace hie::identity
