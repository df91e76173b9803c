#include "services/identity/core/validation.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/demographics.h"

namespace hie::identity {

using ::hie::common::v1::Demographics;

absl::Status RequireText(const std::string& value, const char* field, size_t max) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is longer than ", max, " bytes"));
  }
  for (unsigned char c : value) {
    if (c < 0x20) {
      return absl::InvalidArgumentError(absl::StrCat(field, " contains control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSourceId(const SourceId& id, const std::string& field) {
  HIE_RETURN_IF_ERROR(RequireText(id.org(), (field + ".org").c_str(), 64));
  return RequireText(id.local_id(), (field + ".local_id").c_str(), 128);
}

absl::Status ValidateContext(const hie::common::v1::RequestContext& context) {
  if (context.purpose_of_use() == hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
    return absl::InvalidArgumentError("context.purpose_of_use is required");
  }
  return absl::OkStatus();
}

absl::Status ValidateDemographics(const Demographics& d, const std::string& field) {
  if (!d.birth_date().empty() && !IsValidDate(d.birth_date())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".birth_date must be YYYY-MM-DD (or YYYY-MM, YYYY), a real date"));
  }
  if (!d.deceased_date().empty() && !IsValidDate(d.deceased_date())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".deceased_date must be YYYY-MM-DD"));
  }
  for (const auto& [count, name, max] :
       {std::tuple{d.other_names_size(), "other_names", 10},
        std::tuple{d.addresses_size(), "addresses", 10}, std::tuple{d.phones_size(), "phones", 10},
        std::tuple{d.emails_size(), "emails", 10}}) {
    if (count > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".", name, " holds more than ", max, " entries"));
    }
  }
  for (int i = 0; i < d.addresses_size(); ++i) {
    if (d.addresses(i).lines_size() > 4) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".addresses[", i, "].lines holds more than 4 lines"));
    }
  }
  const auto& n = d.name();
  for (const auto& [value, name] :
       {std::pair{&n.given(), "name.given"}, std::pair{&n.middle(), "name.middle"},
        std::pair{&n.family(), "name.family"}}) {
    if (value->size() > 256) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".", name, " is too long"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateWrite(const hie::common::v1::RequestContext& context,
                           const std::string& idempotency_key) {
  HIE_RETURN_IF_ERROR(ValidateContext(context));
  return RequireText(idempotency_key, "idempotency_key", 128);
}

// Page tokens are offsets; opaque to clients.
absl::StatusOr<int> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int offset = 0;
  if (!absl::SimpleAtoi(token, &offset) || offset < 0) {
    return absl::InvalidArgumentError("page_token is not valid");
  }
  return offset;
}

absl::Status ValidateRegistration(const v1::RegisterSourceRecordRequest& request) {
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  return ValidateDemographics(request.demographics(), "demographics");
}

absl::Status AdmitRegistration(const CallContext& call, const std::string& field_prefix,
                               v1::RegisterSourceRecordRequest* request,
                               std::vector<hie::common::v1::FieldWarning>* warnings) {
  NormaliseIdentifiers(request->mutable_demographics(), field_prefix + "demographics", warnings);
  HIE_RETURN_IF_ERROR(
      Admit(call, *request, Operation::kRegister, {{&request->source_id(), "source_id"}}));
  return ValidateRegistration(*request);
}

}  // namespace hie::identity
