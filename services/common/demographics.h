#pragma once

// The demographics vocabulary every entry point shares (gRPC, HL7 feed, hiectl, the matcher),
// so that a value means the same wherever it comes in. Pure.
//
//  - Identifier systems: the US SSN's OID URN; HL7 v2 identifiers are named by their assigning
//    authority (CX-4) under kHl7v2AuthorityPrefix.
//  - Sex: SexFromCode reads the codes feeds and files use (HL7 table 0001 F, M, O, A, N, U and
//    the words female, male, other, unknown; any case, surrounding spaces ignored); A
//    (ambiguous) and N (not applicable) are OTHER. SexCode writes F, M, O, U ("" unspecified).
//  - Dates: IsValidDate accepts what Demographics.birth_date / deceased_date hold: "YYYY-MM-DD",
//    or less precise "YYYY-MM" and "YYYY", a real calendar date with a year from 1850 to 2200.

#include <optional>
#include <string_view>

#include "hie/common/v1/common.pb.h"

namespace hie {

inline constexpr char kUsSsnSystem[] = "urn:oid:2.16.840.1.113883.4.1";
inline constexpr char kHl7v2AuthorityPrefix[] = "urn:hl7v2:cx4:";

// nullopt for anything else (the caller decides: refuse, or leave the sex unspecified).
std::optional<hie::common::v1::Sex> SexFromCode(std::string_view code);
std::string_view SexCode(hie::common::v1::Sex sex);

bool IsValidDate(std::string_view date);

}  // namespace hie
