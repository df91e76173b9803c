#pragma once

// Checks of every consent request, before any rule runs: INVALID_ARGUMENT naming the field and
// the problem, never its value. Strings: UTF-8 without control characters and within their
// limit (services/common/text.h). Limits follow the proto:
//   patients 1..1000 (Decide, BatchDecide, ListDirectives, BreakGlass; ListBreakGlassGrants
//   0..1000), custodian_orgs 1..200, page_size 0..1000 (0 = 100);
//   SourceId org/local_id: 1..128 printable ASCII without spaces; org ids likewise;
//   Coding: system and code required (<= 256 bytes), display <= 512;
//   a directive's actor_orgs/custodian_orgs <= 200 each, purposes <= 16 (no UNSPECIFIED),
//   data_categories/sensitivity_labels <= 100 each; comment, evidence_reference, reasons,
//   notes <= 1024 bytes; request_id and idempotency_key 1..128;
//   timestamps within 0001-01-01..9999-12-31 with nanos 0..999999999;
//   periods: start required, end (when set) after start.
// Pure.

#include "absl/status/status.h"
#include "hie/consent/v1/consent.pb.h"

namespace hie::consent {

inline constexpr int kMaxPatients = 1000;
inline constexpr int kMaxCustodians = 200;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 100;

absl::Status ValidateContext(const hie::common::v1::RequestContext& context, bool need_purpose);
absl::Status ValidateDecide(const v1::DecideRequest& r);
absl::Status ValidateBatchDecide(const v1::BatchDecideRequest& r);
absl::Status ValidateCreateDirective(const v1::CreateDirectiveRequest& r);
absl::Status ValidateGetDirective(const v1::GetDirectiveRequest& r);
absl::Status ValidateListDirectives(const v1::ListDirectivesRequest& r);
absl::Status ValidateUpdateDirective(const v1::UpdateDirectiveRequest& r);
absl::Status ValidateRevokeDirective(const v1::RevokeDirectiveRequest& r);
absl::Status ValidateBreakGlass(const v1::BreakGlassRequest& r);
absl::Status ValidateEndBreakGlass(const v1::EndBreakGlassRequest& r);
absl::Status ValidateListBreakGlassGrants(const v1::ListBreakGlassGrantsRequest& r);
absl::Status ValidateReviewBreakGlass(const v1::ReviewBreakGlassRequest& r);

// The directive's own fields (CreateDirective, and UpdateDirective after the mask is applied).
absl::Status ValidateDirectiveBody(const v1::ConsentDirective& d, const std::string& prefix);

}  // namespace hie::consent
