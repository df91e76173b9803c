#pragma once

// Checks of text that enters the hub: valid UTF-8, no control characters, bounded length.
// Every entry point (gRPC fields, HL7 values once decoded, CSV cells) runs text through these
// before the core stores it, so that a stored row always reads back (protobuf strings must be
// UTF-8) and a terminal never receives an escape sequence.
//
// Errors are INVALID_ARGUMENT naming the field and the problem, never the value (values are
// PHI). Pure; absl only (and protobuf reflection for CheckMessageText).

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace hie {

// True when `s` is well-formed UTF-8: no overlong forms, no surrogates (U+D800-DFFF), nothing
// above U+10FFFF, no truncated sequence.
bool IsValidUtf8(std::string_view s);

// True when `s` holds a C0 control character (U+0000-001F), DEL (U+007F) or, in UTF-8, a C1
// control character (U+0080-009F).
bool HasControlCharacter(std::string_view s);

// OK when `value` is non-empty, at most `max_bytes` long, valid UTF-8 and free of control
// characters; else INVALID_ARGUMENT "<field> is required|is longer than N bytes|is not valid
// UTF-8|contains control characters".
absl::Status CheckText(std::string_view value, std::string_view field, size_t max_bytes);
// As CheckText, but an empty value is fine.
absl::Status CheckOptionalText(std::string_view value, std::string_view field, size_t max_bytes);

// Walks every string field of `message`, recursively (repeated fields and nested messages
// included), and applies CheckOptionalText with `max_bytes`; the error names the field's path,
// e.g. "registrations[3].demographics.name.family contains control characters". Linear in the
// message's size.
absl::Status CheckMessageText(const google::protobuf::Message& message, size_t max_bytes);

// `s` made safe to print on a terminal: invalid UTF-8 bytes become U+FFFD, control characters
// "\x1b"-style escapes (line feeds kept when `keep_newlines`). For CLIs that print what the hub
// stored: a name holding an escape sequence must not drive the operator's terminal.
std::string PrintableText(std::string_view s, bool keep_newlines = false);

}  // namespace hie
