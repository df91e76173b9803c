#include "services/registry/core/redaction.h"

#include <algorithm>
#include <string_view>

#include "services/registry/core/categories.h"

namespace hie::registry {
namespace {

using common::v1::Coding;
using consent::v1::Obligation;

// One spelling per code system: the OIDs of LOINC and ActCode are their URIs.
std::string_view CanonicalSystem(std::string_view system) {
  if (system == kLoincOid) return kLoincSystem;
  if (system == kActCodeOid) return kActCodeSystem;
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

template <typename Obligations>
void Redaction::Add(const Obligations& obligations) {
  for (const Obligation& o : obligations) {
    if (o.type() == Obligation::TYPE_REDACT_DATA_CATEGORIES) {
      categories_.insert(categories_.end(), o.codes().begin(), o.codes().end());
    } else if (o.type() == Obligation::TYPE_REDACT_SENSITIVITY_LABELS) {
      labels_.insert(labels_.end(), o.codes().begin(), o.codes().end());
    }
  }
}

Redaction::Redaction(const google::protobuf::RepeatedPtrField<Obligation>& obligations) {
  Add(obligations);
}

Redaction::Redaction(const std::vector<Obligation>& obligations) { Add(obligations); }

bool Redaction::Forbids(const v1::DocumentEntry& entry) const {
  if (categories_.empty() && labels_.empty()) return false;
  const ConsentLabels carried = ConsentLabelsOf(entry);
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

}  // namespace hie::registry
