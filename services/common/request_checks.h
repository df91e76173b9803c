#pragma once

// Checks of the fields every service's requests share: ids, source ids, codings, timestamps,
// purposes of use. Each answers OK or INVALID_ARGUMENT "<field> <problem>", naming the field
// (with its path, e.g. "entries[3].patient.org") and never the value (values may be PHI).
// Pure; linear in the input.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "hie/common/v1/common.pb.h"

namespace hie {

inline constexpr size_t kMaxIdBytes = 128;    // ids: org, local id, request id
inline constexpr size_t kMaxCodeBytes = 256;  // Coding system and code

absl::Status InvalidField(const std::string& field, const std::string& problem);

// 1..128 bytes of printable ASCII without spaces (SourceId parts, org ids).
absl::Status CheckId(const std::string& value, const std::string& field);
// min..max source ids, each with CheckId parts.
absl::Status CheckSourceIds(const google::protobuf::RepeatedPtrField<common::v1::SourceId>& ids,
                            const std::string& field, int min, int max);
absl::Status CheckOrgs(const google::protobuf::RepeatedPtrField<std::string>& orgs,
                       const std::string& field, int min, int max);
// One coding: system and code required (<= 256 bytes), display <= 512 bytes; all text checked.
absl::Status CheckCoding(const common::v1::Coding& coding, const std::string& field);
// At most 100 codings, each as CheckCoding.
absl::Status CheckCodings(const google::protobuf::RepeatedPtrField<common::v1::Coding>& codes,
                          const std::string& field);
// 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z with nanos 0..999999999.
absl::Status CheckTimestamp(const google::protobuf::Timestamp& t, const std::string& field);
// A known PurposeOfUse; UNSPECIFIED only when not `required`.
absl::Status CheckPurpose(int purpose, const std::string& field, bool required);

// A request's context: request_id required (1..128), purpose of use known (and set when
// `need_purpose`), the optional texts within their limits, a known actor role, a valid time.
absl::Status CheckContext(const common::v1::RequestContext& context, bool need_purpose);

}  // namespace hie
