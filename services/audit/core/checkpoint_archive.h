#pragma once

// Where signed checkpoints are kept outside the database, so that a truncated or rewritten
// chain is detected even when the database's own checkpoints were removed with it.
// DirectoryCheckpointArchive (store/checkpoint_directory.h) writes files; tests use
// InMemoryCheckpointArchive.

#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hie/audit/v1/audit.pb.h"

namespace hie::audit {

class CheckpointArchive {
 public:
  virtual ~CheckpointArchive() = default;
  // Keeps `checkpoint` durably (written and synced before OK). Writing one twice is OK.
  virtual absl::Status Write(const v1::Checkpoint& checkpoint) = 0;
  // Keeps a public key (ids are unique; rewriting one is OK).
  virtual absl::Status WriteKey(const v1::SigningKey& key) = 0;
  // The newest kept checkpoint (highest sequence), if any.
  virtual absl::StatusOr<std::optional<v1::Checkpoint>> Latest() = 0;
  // Kept checkpoints with from <= sequence <= to, ascending.
  virtual absl::StatusOr<std::vector<v1::Checkpoint>> In(int64_t from, int64_t to) = 0;
  virtual absl::StatusOr<std::vector<v1::SigningKey>> Keys() = 0;
};

class InMemoryCheckpointArchive : public CheckpointArchive {
 public:
  absl::Status Write(const v1::Checkpoint& checkpoint) override {
    std::lock_guard lock(mu_);
    checkpoints_[checkpoint.sequence()] = checkpoint;
    return absl::OkStatus();
  }
  absl::Status WriteKey(const v1::SigningKey& key) override {
    std::lock_guard lock(mu_);
    keys_[key.key_id()] = key;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::Checkpoint>> Latest() override {
    std::lock_guard lock(mu_);
    if (checkpoints_.empty()) return std::nullopt;
    return checkpoints_.rbegin()->second;
  }
  absl::StatusOr<std::vector<v1::Checkpoint>> In(int64_t from, int64_t to) override {
    std::lock_guard lock(mu_);
    std::vector<v1::Checkpoint> out;
    for (auto it = checkpoints_.lower_bound(from); it != checkpoints_.end() && it->first <= to;
         ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  absl::StatusOr<std::vector<v1::SigningKey>> Keys() override {
    std::lock_guard lock(mu_);
    std::vector<v1::SigningKey> out;
    for (const auto& [id, key] : keys_) out.push_back(key);
    return out;
  }

 private:
  std::mutex mu_;
  std::map<int64_t, v1::Checkpoint> checkpoints_;
  std::map<std::string, v1::SigningKey> keys_;
};

}  // namespace hie::audit
