#include "services/identity/core/key_locks.h"

#include <algorithm>
#include <functional>

namespace hie::identity {

absl::StatusOr<std::unique_ptr<KeyLocks::Held>> KeyLocks::Lock(const std::vector<std::string>& keys,
                                                               absl::Time deadline) {
  std::vector<uint64_t> hashes;
  hashes.reserve(keys.size());
  for (const std::string& key : keys) hashes.push_back(std::hash<std::string>{}(key));
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
  std::unique_lock lock(mu_);
  auto free = [&] {
    return std::none_of(hashes.begin(), hashes.end(),
                        [&](uint64_t h) { return held_.contains(h); });
  };
  if (deadline == absl::InfiniteFuture()) {
    released_.wait(lock, free);
  } else if (!released_.wait_until(lock, absl::ToChronoTime(deadline), free)) {
    return absl::DeadlineExceededError(
        "waited too long for a concurrent registration of the "
        "same patient");
  }
  held_.insert(hashes.begin(), hashes.end());
  return std::make_unique<Held>(this, std::move(hashes));
}

void KeyLocks::Release(const std::vector<uint64_t>& keys) {
  {
    std::lock_guard lock(mu_);
    for (uint64_t h : keys) held_.erase(h);
  }
  released_.notify_all();
}

}  // namespace hie::identity
