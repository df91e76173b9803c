#pragma once

// The consent obligations a member applies before answering (hie.consent.v1.Obligation). Pure.
//
// What each obligation leaves out is services/registry/core/redaction.h (Redaction), the same
// rules the gateway applies after the member.
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
#include "services/registry/core/redaction.h"

namespace hie::member {

// At most 100 obligations, each of a known type, with codes (CheckCodings) and directive_id
// (<= 128 bytes of text); the error names the field, e.g. "obligations[2].codes[0].system".
absl::Status CheckObligations(
    const google::protobuf::RepeatedPtrField<consent::v1::Obligation>& obligations);

// What the obligations leave out (services/registry/core/redaction.h, shared with the gateway).
using registry::Redaction;

}  // namespace hie::member
