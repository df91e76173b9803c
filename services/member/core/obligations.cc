#include "services/member/core/obligations.h"

#include "absl/strings/str_cat.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::member {
namespace {

using consent::v1::Obligation;

constexpr int kMaxObligations = 100;

}  // namespace

absl::Status CheckObligations(const google::protobuf::RepeatedPtrField<Obligation>& obligations) {
  if (obligations.size() > kMaxObligations) {
    return InvalidField("obligations", "has more than 100 entries");
  }
  for (int i = 0; i < obligations.size(); ++i) {
    const Obligation& o = obligations[i];
    const std::string at = absl::StrCat("obligations[", i, "]");
    switch (o.type()) {
      case Obligation::TYPE_REDACT_DATA_CATEGORIES:
      case Obligation::TYPE_REDACT_SENSITIVITY_LABELS:
      case Obligation::TYPE_AUDIT_AS_BREAK_GLASS:
      case Obligation::TYPE_NO_REDISCLOSURE:
        break;
      default:
        return InvalidField(at + ".type", "is not an obligation this member can honour");
    }
    HIE_RETURN_IF_ERROR(CheckCodings(o.codes(), at + ".codes"));
    HIE_RETURN_IF_ERROR(CheckOptionalText(o.directive_id(), at + ".directive_id", kMaxIdBytes));
  }
  return absl::OkStatus();
}

}  // namespace hie::member
