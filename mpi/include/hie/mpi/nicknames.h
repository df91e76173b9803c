#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace hie::mpi {

// Given-name equivalences (Robert = Bob = Rob, Elizabeth = Liz) from a table of
// `name1,relationship,name2` rows where relationship is `has_nickname`
// (carltonnorthern/nicknames format). Two names are equivalent when one is a nickname of the
// other or both are nicknames of one formal name; the relation is deliberately not transitive
// beyond that (Ron is a nickname of Aaron and of Ronald, but Aaron is not Ronald).
//
// Immutable after construction, so safe to share between threads.
class NicknameTable {
 public:
  NicknameTable() = default;

  // Parses the CSV text (header optional). Names are folded (FoldToAscii). Malformed rows are an
  // INVALID_ARGUMENT error naming the line.
  [[nodiscard]] static absl::StatusOr<NicknameTable> FromCsv(std::string_view csv_text);

  // Reads and parses the file at `path` (NOT_FOUND if it cannot be read).
  [[nodiscard]] static absl::StatusOr<NicknameTable> LoadFile(const std::string& path);

  // The canonical group ids of a folded given name (the formal names it stands for, itself
  // included when it is a formal name); empty when the name is unknown.
  const std::vector<uint32_t>* Groups(std::string_view folded_name) const;

  // The group id of a formal name (one that has nicknames), 0 for other names. "Direct"
  // equivalence: FormalId(a) is among Groups(b) or the reverse (Robert-Bob, not Hannah-Susan
  // whose only link is Susannah).
  uint32_t FormalId(std::string_view folded_name) const;

  // True when the two folded names are equivalent as described above (or equal).
  bool Equivalent(std::string_view a, std::string_view b) const;

  size_t size() const { return groups_.size(); }

 private:
  absl::flat_hash_map<std::string, std::vector<uint32_t>> groups_;
  absl::flat_hash_map<std::string, uint32_t> formal_ids_;
};

// Path of the nickname table shipped with the engine (mpi/data/nicknames.csv).
std::string DefaultNicknamePath();

}  // namespace hie::mpi
