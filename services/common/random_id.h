#pragma once

// Random ids for requests and events: "<prefix>-" and `words` 64-bit words in hex (16 digits
// each), from a per-thread generator seeded once by std::random_device. For correlation, not
// secrecy: never a token or a key.

#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace hie {

inline std::string RandomId(absl::string_view prefix, int words = 1) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id = absl::StrCat(prefix, "-");
  for (int i = 0; i < words; ++i) absl::StrAppend(&id, absl::StrFormat("%016x", rng()));
  return id;
}

}  // namespace hie
