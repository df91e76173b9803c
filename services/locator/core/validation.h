#pragma once

// Checks of every locator request, before anything is read or written: INVALID_ARGUMENT naming
// the field (with its path, e.g. "source_ids[3].org") and the problem, never the value.
// Every request: context.request_id 1..128 and a known context.purpose_of_use (required for
// Locate and ListLocations). Limits:
//   Locate: source_ids 1..1000 (ids 1..128 printable ASCII), data_categories <= 100,
//     active_since a valid time;
//   ReportActivity: source_id, a known origin (not UNSPECIFIED), data_categories <= 100,
//     activity_time valid, documents_added 0..1,000,000, idempotency_key 1..128;
//   DeleteLocation: source_id, a known reason_code (not UNSPECIFIED), reason 1..512 (UTF-8, no
//     control characters; no PHI: it is logged and audited), idempotency_key 1..128;
//   ListLocations: org, last_activity_time range valid (end after start), page_size 0..1000,
//     page_token <= 256.
// Pure.

#include "absl/status/status.h"
#include "hie/locator/v1/locator.pb.h"

namespace hie::locator {

inline constexpr int kMaxSourceIds = 1000;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 100;
inline constexpr int64_t kMaxDocumentsAdded = 1'000'000;

absl::Status ValidateLocate(const v1::LocateRequest& r);
absl::Status ValidateReport(const v1::ReportActivityRequest& r);
absl::Status ValidateDelete(const v1::DeleteLocationRequest& r);
absl::Status ValidateList(const v1::ListLocationsRequest& r);

}  // namespace hie::locator
