#pragma once

// Character sets of HL7 v2 messages (MSH-18, HL7 table 0211) and strict transcoding to UTF-8.
//
// Byte-level only: this file knows nothing of ER7 delimiters or escapes (message.h applies the
// \X..\ and \C....\ escapes and then calls AppendAsUtf8). Pure, absl only, thread-safe.
//
// Supported MSH-18 values (first repetition, compared without case and surrounding spaces):
//   ""                      kUndeclared: valid UTF-8 is accepted (ASCII included); any other
//                           byte is refused, saying that no character set is declared
//   "ASCII", "ISO IR6"      kAscii: strict 7-bit
//   "8859/1", "ISO IR100"   kLatin1: ISO-8859-1, transcoded; C1 controls 0x80-0x9F refused
//   "8859/15"               kLatin9: ISO-8859-15, transcoded; C1 controls 0x80-0x9F refused
//   "UNICODE UTF-8", "UTF-8"  kUtf8: strict UTF-8 ("UTF-8" is not a table 0211 value but is
//                           common in the field)
// Anything else (UNICODE/UTF-16, 8859/2..9, ISO IR87 and the other CJK sets, ...) is
// kUnsupported.
//
// "Strict UTF-8" refuses overlong forms, surrogates (U+D800-DFFF), code points above U+10FFFF,
// stray continuation bytes and truncated sequences.

#include <string>
#include <string_view>

namespace hie::hl7 {

enum class Charset { kUndeclared, kAscii, kLatin1, kLatin9, kUtf8, kUnsupported };

// The character set named by an MSH-18 value (see above); kUnsupported when unknown.
Charset CharsetFromMsh18(std::string_view value);

// A short human name for error texts: "UTF-8 (MSH-18 empty)", "ASCII", "ISO-8859-1", ...
std::string_view CharsetName(Charset charset);

// True when `s` is strict UTF-8 (see above). The empty string is valid.
bool IsValidUtf8(std::string_view s);

// True when the UTF-8 text `s` holds a control character: C0 (U+0000-001F, tab, CR and LF
// included), DEL (U+007F) or C1 (U+0080-009F). Bytes that are not valid UTF-8 are not judged.
bool HasControlCharacter(std::string_view s);

// Appends `bytes`, encoded in `charset`, to `out` as UTF-8. Returns false and sets `*problem`
// to a description (never containing the bytes) when a byte or sequence is not valid in that
// character set; `out` then holds a partial result. kUnsupported accepts nothing but ASCII.
// Linear in the input. Control characters are not refused here (see HasControlCharacter).
bool AppendAsUtf8(std::string_view bytes, Charset charset, std::string* out, std::string* problem);

// `bytes` in `charset` as UTF-8 for display in replies (ACKs): every byte or sequence that is
// invalid in the character set and every control character becomes '?'. The result is always
// valid UTF-8 without control characters.
std::string ToUtf8Lossy(std::string_view bytes, Charset charset);

// `s` (any bytes) cut to at most `max_bytes` without splitting a UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view s, size_t max_bytes);

}  // namespace hie::hl7
