#pragma once

// google.protobuf.Timestamp <-> absl::Time and unix nanoseconds, without overflow: a Timestamp
// may hold any second of years 0001-9999, beyond the int64 nanoseconds of 1677-2262, so
// UnixNanosOf saturates (as absl::ToUnixNanos does) instead of overflowing. Header only, pure.

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace hie {

inline absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Unix nanoseconds, saturated to the int64 range.
inline int64_t UnixNanosOf(const google::protobuf::Timestamp& t) {
  return absl::ToUnixNanos(TimeOf(t));
}

inline void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);  // floors
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

}  // namespace hie
