#include "services/locator/core/validation.h"

#include "absl/strings/str_cat.h"
#include "services/common/proto_time.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::locator {
namespace {

absl::Status CheckSourceId(bool present, const common::v1::SourceId& id, const char* field) {
  if (!present) return InvalidField(field, "is required");
  HIE_RETURN_IF_ERROR(CheckId(id.org(), absl::StrCat(field, ".org")));
  return CheckId(id.local_id(), absl::StrCat(field, ".local_id"));
}

}  // namespace

absl::Status ValidateLocate(const v1::LocateRequest& r) {
  HIE_RETURN_IF_ERROR(CheckContext(r.context(), true));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.source_ids(), "source_ids", 1, kMaxSourceIds));
  HIE_RETURN_IF_ERROR(CheckCodings(r.data_categories(), "data_categories"));
  if (r.has_active_since()) HIE_RETURN_IF_ERROR(CheckTimestamp(r.active_since(), "active_since"));
  return absl::OkStatus();
}

absl::Status ValidateReport(const v1::ReportActivityRequest& r) {
  HIE_RETURN_IF_ERROR(CheckContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckSourceId(r.has_source_id(), r.source_id(), "source_id"));
  if (!v1::LocationOrigin_IsValid(r.origin())) {
    return InvalidField("origin", "is not a known value");
  }
  if (r.origin() == v1::LOCATION_ORIGIN_UNSPECIFIED) return InvalidField("origin", "is required");
  HIE_RETURN_IF_ERROR(CheckCodings(r.data_categories(), "data_categories"));
  if (r.has_activity_time()) {
    HIE_RETURN_IF_ERROR(CheckTimestamp(r.activity_time(), "activity_time"));
  }
  if (r.documents_added() < 0 || r.documents_added() > kMaxDocumentsAdded) {
    return InvalidField("documents_added", "is outside 0..1000000");
  }
  return CheckText(r.idempotency_key(), "idempotency_key", 128);
}

absl::Status ValidateDelete(const v1::DeleteLocationRequest& r) {
  HIE_RETURN_IF_ERROR(CheckContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckSourceId(r.has_source_id(), r.source_id(), "source_id"));
  if (!v1::RemovalReason_IsValid(r.reason_code())) {
    return InvalidField("reason_code", "is not a known value");
  }
  if (r.reason_code() == v1::REMOVAL_REASON_UNSPECIFIED) {
    return InvalidField("reason_code", "is required");
  }
  HIE_RETURN_IF_ERROR(CheckText(r.reason(), "reason", 512));
  return CheckText(r.idempotency_key(), "idempotency_key", 128);
}

absl::Status ValidateList(const v1::ListLocationsRequest& r) {
  HIE_RETURN_IF_ERROR(CheckContext(r.context(), true));
  HIE_RETURN_IF_ERROR(CheckId(r.org(), "org"));
  if (r.has_last_activity_time()) {
    const common::v1::TimeRange& t = r.last_activity_time();
    if (t.has_start()) HIE_RETURN_IF_ERROR(CheckTimestamp(t.start(), "last_activity_time.start"));
    if (t.has_end()) HIE_RETURN_IF_ERROR(CheckTimestamp(t.end(), "last_activity_time.end"));
    if (t.has_start() && t.has_end() && TimeOf(t.end()) <= TimeOf(t.start())) {
      return InvalidField("last_activity_time.end", "is not after last_activity_time.start");
    }
  }
  if (r.page_size() < 0 || r.page_size() > kMaxPageSize) {
    return InvalidField("page_size", "is outside 0..1000");
  }
  return CheckOptionalText(r.page_token(), "page_token", 256);
}

}  // namespace hie::locator
