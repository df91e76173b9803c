#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace hie::mpi {

// Debian's abseil is built without ABSL_USES_STD_STRING_VIEW, so absl::string_view and
// std::string_view are distinct types; the engine uses std::string_view and converts at calls
// into abseil with this.
inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace hie::mpi
