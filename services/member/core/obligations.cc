#include "services/member/core/obligations.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/registry/core/categories.h"

namespace hie::member {
namespace {

using common::v1::Coding;
using consent::v1::Obligation;

constexpr int kMaxObligations = 100;

// One spelling per code system: the OIDs of LOINC and ActCode are their URIs.
std::string_view CanonicalSystem(std::string_view system) {
  if (system == registry::kLoincOid) return registry::kLoincSystem;
  if (system == registry::kActCodeOid) return registry::kActCodeSystem;
  return system;
}

bool SameCode(const Coding& a, const Coding& b) {
  return a.code() == b.code() && CanonicalSystem(a.system()) == CanonicalSystem(b.system());
}

template <typename Codes>
bool AnyShared(const std::vector<Coding>& wanted, const Codes& codes) {
  return std::any_of(codes.begin(), codes.end(), [&](const Coding& c) {
    return std::any_of(wanted.begin(), wanted.end(),
                       [&](const Coding& w) { return SameCode(w, c); });
  });
}

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

Redaction::Redaction(const google::protobuf::RepeatedPtrField<Obligation>& obligations) {
  for (const Obligation& o : obligations) {
    if (o.type() == Obligation::TYPE_REDACT_DATA_CATEGORIES) {
      categories_.insert(categories_.end(), o.codes().begin(), o.codes().end());
    } else if (o.type() == Obligation::TYPE_REDACT_SENSITIVITY_LABELS) {
      labels_.insert(labels_.end(), o.codes().begin(), o.codes().end());
    }
  }
}

bool Redaction::Forbids(const registry::v1::DocumentEntry& entry) const {
  if (categories_.empty() && labels_.empty()) return false;
  const registry::ConsentLabels carried = registry::ConsentLabelsOf(entry);
  if (!categories_.empty()) {
    if (AnyShared(categories_, carried.data_categories)) return true;
    if (entry.has_class_code() && AnyShared(categories_, std::vector<Coding>{entry.class_code()})) {
      return true;
    }
  }
  if (!labels_.empty()) {
    if (AnyShared(labels_, carried.sensitivity_labels)) return true;
    if (AnyShared(labels_, entry.confidentiality_codes())) return true;
  }
  return false;
}

}  // namespace hie::member
