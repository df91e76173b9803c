#include "services/identity/core/identifiers.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/common/demographics.h"
#include "services/common/text.h"

namespace hie::identity {
namespace {

using ::hie::common::v1::FieldWarning;
using ::hie::common::v1::Identifier;

void Warn(std::vector<FieldWarning>* warnings, std::string field, std::string message) {
  FieldWarning& warning = warnings->emplace_back();
  warning.set_field(std::move(field));
  warning.set_message(std::move(message));
}

// Why `id` cannot be kept, or "" when it can.
std::string Unusable(const Identifier& id) {
  for (const std::string* text : {&id.system(), &id.value(), &id.assigning_authority()}) {
    if (!IsValidUtf8(*text)) return "is not valid UTF-8";
    if (HasControlCharacter(*text)) return "contains control characters";
    if (text->size() > kMaxIdentifierBytes) {
      return absl::StrCat("is longer than ", kMaxIdentifierBytes, " bytes");
    }
  }
  if (id.value().empty()) return "has no value";
  return "";
}

}  // namespace

std::string CanonicalSsn(std::string_view written) {
  std::string digits;
  for (char c : written) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != ' ' && c != '-' && c != '.') {
      return "";
    }
    if (digits.size() > 9) return "";
  }
  if (digits.size() != 9) return "";
  const std::string& d = digits;
  if (d.substr(0, 3) == "000" || d.substr(0, 3) == "666" || d[0] == '9' || d.substr(3, 2) == "00" ||
      d.substr(5, 4) == "0000") {
    return "";
  }
  return absl::StrCat(d.substr(0, 3), "-", d.substr(3, 2), "-", d.substr(5, 4));
}

void NormaliseIdentifiers(hie::common::v1::Demographics* demographics,
                          const std::string& field_prefix, std::vector<FieldWarning>* warnings) {
  auto* identifiers = demographics->mutable_identifiers();
  int kept = 0;
  int dropped = 0;
  auto drop = [&](int i, std::string why) {
    if (++dropped <= kMaxIdentifierWarnings) {
      Warn(warnings, absl::StrCat(field_prefix, ".identifiers[", i, "]"), std::move(why));
    }
  };
  for (int i = 0; i < identifiers->size(); ++i) {
    if (kept == kMaxIdentifiers) {
      drop(i,
           absl::StrCat("more than ", kMaxIdentifiers, " identifiers; the identifier was dropped"));
      continue;
    }
    Identifier id = identifiers->Get(i);
    id.set_value(std::string(absl::StripAsciiWhitespace(id.value())));
    std::string problem = Unusable(id);
    if (problem.empty() && id.system() == hie::kUsSsnSystem) {
      std::string ssn = CanonicalSsn(id.value());
      if (ssn.empty()) {
        problem = "is not a valid US SSN (9 digits, as NNN-NN-NNNN, NNNNNNNNN or with spaces)";
      } else {
        id.set_value(ssn);
      }
    }
    if (!problem.empty()) {
      drop(i, absl::StrCat("the identifier ", problem, "; it was dropped"));
      continue;
    }
    *identifiers->Mutable(kept++) = std::move(id);
  }
  if (dropped > kMaxIdentifierWarnings) {
    Warn(warnings, absl::StrCat(field_prefix, ".identifiers"),
         absl::StrCat(dropped - kMaxIdentifierWarnings, " more identifiers were dropped"));
  }
  identifiers->DeleteSubrange(kept, identifiers->size() - kept);
}

}  // namespace hie::identity
