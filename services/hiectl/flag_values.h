#pragma once

// Flag parsing shared by the command files (commands.cc, audit_commands.cc,
// consent_commands.cc, exchange_commands.cc). Pure. Errors are INVALID_ARGUMENT naming the flag;
// they never echo a patient identifier (error output gets pasted into tickets).

#include <google/protobuf/descriptor.h>
#include <google/protobuf/generated_enum_reflection.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hie/common/v1/common.pb.h"
#include "services/common/config.h"

namespace hie::hiectl {

// Flags several commands share.
inline const ConfigKey kAll = {"all", "false", "follow the page tokens and print every page"};
inline const ConfigKey kPageToken = {"page-token", "",
                                     "page to fetch (printed under the previous page)"};
inline const ConfigKey kPageSize = {"page-size", "0", "entries per page (1-1000; default 100)"};
inline const ConfigKey kIdempotencyKey = {"idempotency-key", "",
                                          "reuse a key to retry a write safely (default: random)"};
// For the commands that print the key they chose.
inline const ConfigKey kIdempotencyKeyPrinted = {
    "idempotency-key", "", "reuse a key to retry a write safely (default: random, printed)"};

inline void AppendKeys(std::vector<ConfigKey>& keys, std::vector<ConfigKey> more) {
  keys.insert(keys.end(), more.begin(), more.end());
}

template <typename... Args>
absl::Status Invalid(const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(args...));
}

// "--KEY is required" when the flag is empty.
[[nodiscard]] absl::Status Require(const Config& flags, absl::string_view key);

// The integer value of --KEY, which must lie in [lo, hi].
[[nodiscard]] absl::StatusOr<int32_t> IntInRange(const Config& flags, const char* key, int64_t lo,
                                                 int64_t hi);

// --page-size: "0" (the server's default) or 1..max.
[[nodiscard]] absl::StatusOr<int32_t> PageSize(const Config& flags, int64_t max);

// The values of a list flag: split at commas (and between repetitions), trimmed, empty ones
// dropped. "a, b" and `--k a --k b` both give {"a", "b"}.
std::vector<std::string> ListValues(const Config& flags, absl::string_view key);

// The values of a repeatable flag, one per repetition (commas kept: they may be part of an id).
std::vector<std::string> RepeatedValues(const Config& flags, absl::string_view key);

// Patients from --org/--local-id (repeatable, paired in order) and --patient (a list of
// ORG:LOCAL_ID, split at the first ':'). Needs all three keys declared. Empty when none given.
[[nodiscard]] absl::StatusOr<std::vector<hie::common::v1::SourceId>> PatientsFrom(
    const Config& flags);

// Source ids from the list flag --KEY: ORG:LOCAL_ID entries, comma-separated (and repeatable),
// each split at the first ':'. The error names the flag and the entry's position, never its
// value. Empty when none given.
[[nodiscard]] absl::StatusOr<std::vector<hie::common::v1::SourceId>> SourceIdsFrom(
    const Config& flags, absl::string_view key);

// --KEY as an RFC 3339 time, or nullopt when empty.
[[nodiscard]] absl::StatusOr<std::optional<google::protobuf::Timestamp>> OptionalTime(
    const Config& flags, absl::string_view key);

// A time range from two time flags; `default_start` when the start flag is empty. The end must
// be after the start ("--until must be after --since").
[[nodiscard]] absl::StatusOr<hie::common::v1::TimeRange> TimeRangeFrom(
    const Config& flags, absl::string_view start_key, absl::string_view end_key,
    std::optional<absl::Time> default_start = std::nullopt);

google::protobuf::Timestamp ToTimestamp(absl::Time time);

// Codings from a list flag of SYSTEM|CODE entries ("http://loinc.org|11488-4").
[[nodiscard]] absl::StatusOr<std::vector<hie::common::v1::Coding>> CodingsFrom(
    const Config& flags, absl::string_view key);

// The enum value whose name is `prefix` + `label` upper-cased with '-' as '_' ("identity-change"
// -> EVENT_TYPE_IDENTITY_CHANGE); *_UNSPECIFIED is refused. The error names --KEY and lists the
// accepted labels.
[[nodiscard]] absl::StatusOr<int> EnumFromLabel(const google::protobuf::EnumDescriptor* type,
                                                absl::string_view prefix, absl::string_view label,
                                                absl::string_view key);

// Every value of the list flag --KEY as an enum E (see EnumFromLabel).
template <typename E>
absl::StatusOr<std::vector<E>> EnumList(const Config& flags, absl::string_view key,
                                        absl::string_view prefix) {
  std::vector<E> out;
  for (const std::string& label : ListValues(flags, key)) {
    absl::StatusOr<int> value =
        EnumFromLabel(google::protobuf::GetEnumDescriptor<E>(), prefix, label, key);
    if (!value.ok()) return value.status();
    out.push_back(static_cast<E>(*value));
  }
  return out;
}

// Exactly one of two boolean flags (`--same` / `--different`): true for the first.
[[nodiscard]] absl::StatusOr<bool> OneOf(const Config& flags, absl::string_view first,
                                         absl::string_view second);

}  // namespace hie::hiectl
