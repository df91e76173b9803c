#pragma once

// In-process key locks: a caller takes all its keys at once, when none of them is held, so
// there is no lock order and no deadlock. Only callers that share a key wait for each other:
// batches of registrations, which hold hundreds of keys, still run side by side. Keys are
// hashed: two keys with one hash only make a caller wait longer. Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hie::identity {

class KeyLocks {
 public:
  // Releases its keys when destroyed.
  class Held {
   public:
    Held(KeyLocks* locks, std::vector<uint64_t> keys) : locks_(locks), keys_(std::move(keys)) {}
    ~Held() { locks_->Release(keys_); }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    KeyLocks* locks_;
    std::vector<uint64_t> keys_;
  };

  // Waits until none of `keys` is held, at most until `deadline` (DEADLINE_EXCEEDED then: a
  // caller never waits past its request's deadline).
  absl::StatusOr<std::unique_ptr<Held>> Lock(const std::vector<std::string>& keys,
                                             absl::Time deadline);

 private:
  void Release(const std::vector<uint64_t>& keys);

  std::mutex mu_;
  std::condition_variable released_;
  absl::flat_hash_set<uint64_t> held_;  // hashes of the held keys
};

}  // namespace hie::identity
