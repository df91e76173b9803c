#pragma once

// What a consent obligation leaves out of a release (hie.consent.v1.Obligation), applied the
// same way by member nodes before they answer and by the gateway after (whatever a member
// did). Pure.
//
// What a document "carries" is what consent decides on: categories.h (ConsentLabelsOf) maps its
// class code to data categories (the class code itself, plus the HIE category
// urn:hie:data-category of known LOINC classes) and its HL7 v3 ActCode confidentiality codes to
// sensitivity labels. On top of that mapping, an obligation's code also matches the document's
// own codes as written (its class code; any confidentiality code, of any system), and the OID
// and URI spellings of LOINC and ActCode are the same code. Extra matches only ever leave more
// out: nothing an obligation names is ever released.
//
//   TYPE_REDACT_DATA_CATEGORIES     documents in any listed category are left out
//   TYPE_REDACT_SENSITIVITY_LABELS  documents carrying any listed label are left out
//   other types                     nothing to filter (the hub audits; the recipient is told)

#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::registry {

class Redaction {
 public:
  explicit Redaction(
      const google::protobuf::RepeatedPtrField<consent::v1::Obligation>& obligations);
  explicit Redaction(const std::vector<consent::v1::Obligation>& obligations);

  // True when an obligation says to leave the document out.
  bool Forbids(const v1::DocumentEntry& entry) const;
  // True when no obligation filters anything.
  bool empty() const { return categories_.empty() && labels_.empty(); }

 private:
  template <typename Obligations>
  void Add(const Obligations& obligations);

  std::vector<common::v1::Coding> categories_;  // redacted data categories
  std::vector<common::v1::Coding> labels_;      // redacted sensitivity labels
};

}  // namespace hie::registry
