#pragma once

// CheckpointArchive in a directory (core/checkpoint_archive.h), meant to live outside the
// database's reach: another volume, a WORM mount, an object-store mount. Layout:
//   <dir>/checkpoints/<sequence, 20 digits>.chk   one checkpoint per file, text:
//       hie-audit-checkpoint 1
//       sequence <n>
//       head_hash <64 hex>
//       create_time_ns <n>
//       key_id <id>
//       signature_algorithm ED25519
//       signature <hex>
//   <dir>/keys/<key_id>.pem                       public keys (PEM SubjectPublicKeyInfo)
// Files are written to a temporary name, synced, renamed and the directory synced, so a
// checkpoint is either whole or absent after a crash. A file that does not parse is reported
// (file name only) and skipped.

#include <string>

#include "services/audit/core/checkpoint_archive.h"

namespace hie::audit {

class DirectoryCheckpointArchive : public CheckpointArchive {
 public:
  // Creates the directories when missing; INVALID_ARGUMENT / UNAVAILABLE when it cannot.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<DirectoryCheckpointArchive>> Open(
      const std::string& dir);

  absl::Status Write(const v1::Checkpoint& checkpoint) override;
  absl::Status WriteKey(const v1::SigningKey& key) override;
  absl::StatusOr<std::optional<v1::Checkpoint>> Latest() override;
  absl::StatusOr<std::vector<v1::Checkpoint>> In(int64_t from, int64_t to) override;
  absl::StatusOr<std::vector<v1::SigningKey>> Keys() override;

 private:
  explicit DirectoryCheckpointArchive(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::vector<int64_t>> Sequences();
  std::string dir_;
};

// The text form above, and back (INVALID_ARGUMENT when malformed).
std::string CheckpointToText(const v1::Checkpoint& checkpoint);
absl::StatusOr<v1::Checkpoint> CheckpointFromText(std::string_view text);

}  // namespace hie::audit
