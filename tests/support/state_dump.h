#pragma once

// Snapshots of stored state for tests that prove "nothing else changed" (exact undo, retries):
// each row as "kind/key" -> its content as text, compared key by key. Header only.

#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace hie::testing {

using StateDump = std::map<std::string, std::string>;

// One "key added|removed|changed" line per difference; empty when the dumps are equal.
inline std::string DumpDifferences(const StateDump& before, const StateDump& after) {
  std::string out;
  for (const auto& [key, value] : before) {
    auto it = after.find(key);
    if (it == after.end()) {
      absl::StrAppend(&out, key, " removed\n");
    } else if (it->second != value) {
      absl::StrAppend(&out, key, " changed\n");
    }
  }
  for (const auto& [key, value] : after) {
    if (!before.contains(key)) absl::StrAppend(&out, key, " added\n");
  }
  return out;
}

}  // namespace hie::testing
