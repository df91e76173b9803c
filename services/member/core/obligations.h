#pragma once

// The consent obligations a member applies before answering (hie.consent.v1.Obligation). Pure.
//
// What a document "carries" is what consent decides on: services/registry/core/categories.h
// (ConsentLabelsOf) maps its class code to data categories (the class code itself, plus the HIE
// category urn:hie:data-category of known LOINC classes) and its HL7 v3 ActCode
// confidentiality codes to sensitivity labels. On top of that mapping, an obligation's code
// also matches the document's own codes as written (its class code; any confidentiality code,
// of any system), and the OID and URI spellings of LOINC and ActCode are the same code. Extra
// matches only ever leave more out: a member must never release what an obligation names.
//
//   TYPE_REDACT_DATA_CATEGORIES     documents in any listed category are left out
//   TYPE_REDACT_SENSITIVITY_LABELS  documents carrying any listed label are left out
//   TYPE_AUDIT_AS_BREAK_GLASS, TYPE_NO_REDISCLOSURE
//                                   nothing to filter (the hub audits; the recipient is told)
// Any other type is refused (INVALID_ARGUMENT): an obligation the member cannot honour must not
// be ignored.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::member {

// At most 100 obligations, each of a known type, with codes (CheckCodings) and directive_id
// (<= 128 bytes of text); the error names the field, e.g. "obligations[2].codes[0].system".
absl::Status CheckObligations(
    const google::protobuf::RepeatedPtrField<consent::v1::Obligation>& obligations);

class Redaction {
 public:
  // `obligations` must have passed CheckObligations.
  explicit Redaction(
      const google::protobuf::RepeatedPtrField<consent::v1::Obligation>& obligations);

  // True when an obligation says to leave the document out.
  bool Forbids(const registry::v1::DocumentEntry& entry) const;

 private:
  std::vector<common::v1::Coding> categories_;  // redacted data categories
  std::vector<common::v1::Coding> labels_;      // redacted sensitivity labels
};

}  // namespace hie::member
