#pragma once

// Identifiers from feeds are normalised, not refused: a patient is never left out of the hub
// because one identifier was written in an unexpected form (docs/architecture.md). Pure.
//
// NormaliseIdentifiers rewrites `demographics.identifiers` in place:
//  - surrounding whitespace is trimmed from every value;
//  - a US SSN (system urn:oid:2.16.840.1.113883.4.1) written with spaces, dashes or dots in any
//    arrangement ("123456789", "123 45 6789", "123-45-6789", "123.45.6789") becomes
//    "NNN-NN-NNNN"; one that is not 9 digits, or that the SSA never issues (area 000, 666 or
//    900-999, group 00, serial 0000), is dropped;
//  - an identifier whose value is empty, longer than kMaxIdentifierBytes, not UTF-8 or holds
//    control characters (in any of its fields) is dropped;
//  - identifiers beyond kMaxIdentifiers are dropped.
// Each drop adds a warning naming `field_prefix` + ".identifiers[i]" (the index as sent) and the
// reason, never the value; after kMaxIdentifierWarnings of them, one last warning naming
// `field_prefix` + ".identifiers" counts the further drops (a request of millions of empty
// identifiers gets 21 warnings, not millions).

#include <string>
#include <vector>

#include "hie/common/v1/common.pb.h"
#include "services/common/demographics.h"

namespace hie::identity {

inline constexpr int kMaxIdentifiers = 20;
inline constexpr int kMaxIdentifierWarnings = 20;
inline constexpr size_t kMaxIdentifierBytes = 128;

void NormaliseIdentifiers(hie::common::v1::Demographics* demographics,
                          const std::string& field_prefix,
                          std::vector<hie::common::v1::FieldWarning>* warnings);

// "NNN-NN-NNNN" for an SSN written in a form above, "" when it is not a usable SSN.
std::string CanonicalSsn(std::string_view written);

}  // namespace hie::identity
