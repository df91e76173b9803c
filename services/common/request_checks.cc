#include "services/common/request_checks.h"

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie {

absl::Status InvalidField(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", problem));
}

absl::Status CheckId(const std::string& value, const std::string& field) {
  if (value.empty()) return InvalidField(field, "is required");
  if (value.size() > kMaxIdBytes) return InvalidField(field, "is longer than 128 bytes");
  for (char c : value) {
    if (c <= ' ' || c > '~') return InvalidField(field, "must be printable ASCII without spaces");
  }
  return absl::OkStatus();
}

absl::Status CheckSourceIds(const google::protobuf::RepeatedPtrField<common::v1::SourceId>& ids,
                            const std::string& field, int min, int max) {
  if (ids.size() < min) return InvalidField(field, "is required");
  if (ids.size() > max) return InvalidField(field, absl::StrCat("has more than ", max, " entries"));
  for (int i = 0; i < ids.size(); ++i) {
    const std::string at = absl::StrCat(field, "[", i, "]");
    HIE_RETURN_IF_ERROR(CheckId(ids[i].org(), at + ".org"));
    HIE_RETURN_IF_ERROR(CheckId(ids[i].local_id(), at + ".local_id"));
  }
  return absl::OkStatus();
}

absl::Status CheckOrgs(const google::protobuf::RepeatedPtrField<std::string>& orgs,
                       const std::string& field, int min, int max) {
  if (orgs.size() < min) return InvalidField(field, "is required");
  if (orgs.size() > max) {
    return InvalidField(field, absl::StrCat("has more than ", max, " entries"));
  }
  for (int i = 0; i < orgs.size(); ++i) {
    HIE_RETURN_IF_ERROR(CheckId(orgs[i], absl::StrCat(field, "[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status CheckCoding(const common::v1::Coding& coding, const std::string& field) {
  HIE_RETURN_IF_ERROR(CheckText(coding.system(), field + ".system", kMaxCodeBytes));
  HIE_RETURN_IF_ERROR(CheckText(coding.code(), field + ".code", kMaxCodeBytes));
  return CheckOptionalText(coding.display(), field + ".display", 512);
}

absl::Status CheckCodings(const google::protobuf::RepeatedPtrField<common::v1::Coding>& codes,
                          const std::string& field) {
  if (codes.size() > 100) return InvalidField(field, "has more than 100 entries");
  for (int i = 0; i < codes.size(); ++i) {
    HIE_RETURN_IF_ERROR(CheckCoding(codes[i], absl::StrCat(field, "[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status CheckTimestamp(const google::protobuf::Timestamp& t, const std::string& field) {
  if (t.seconds() < -62135596800 || t.seconds() > 253402300799 || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return InvalidField(field, "is not a valid timestamp");
  }
  return absl::OkStatus();
}

absl::Status CheckPurpose(int purpose, const std::string& field, bool required) {
  if (!common::v1::PurposeOfUse_IsValid(purpose))
    return InvalidField(field, "is not a known value");
  if (required && purpose == common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
    return InvalidField(field, "is required");
  }
  return absl::OkStatus();
}

absl::Status CheckContext(const common::v1::RequestContext& c, bool need_purpose) {
  HIE_RETURN_IF_ERROR(CheckText(c.request_id(), "context.request_id", kMaxIdBytes));
  HIE_RETURN_IF_ERROR(CheckPurpose(c.purpose_of_use(), "context.purpose_of_use", need_purpose));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.break_glass_id(), "context.break_glass_id", 64));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.client_request_id(), "context.client_request_id", 128));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.actor().org(), "context.actor.org", kMaxIdBytes));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.actor().user_id(), "context.actor.user_id", 128));
  if (!common::v1::Role_IsValid(c.actor().role())) {
    return InvalidField("context.actor.role", "is not a known value");
  }
  if (c.has_start_time()) HIE_RETURN_IF_ERROR(CheckTimestamp(c.start_time(), "context.start_time"));
  return absl::OkStatus();
}

}  // namespace hie
