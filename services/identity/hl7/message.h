#pragma once

// A pure parser of ER7-encoded ("pipe and hat") HL7 v2 messages.
//
//   Hl7Result<Message> parsed = Message::Parse(bytes);
//   if (!parsed.ok()) { ... parsed.error() is an Hl7Error ... }
//   const Segment* pid = parsed.value().Find("PID");
//   Hl7Result<std::string> family = pid->GetText(5, /*rep=*/0, /*comp=*/1);  // UTF-8, checked
//
// Input: one message. A UTF-8 byte order mark is stripped; segments may end with CR, LF or
// CRLF; blank lines are skipped. The encoding characters come from MSH-1 (field separator)
// and MSH-2 (component, repetition, escape, subcomponent; a fifth, v2.7 truncation character
// is accepted and ignored). Field numbering follows the standard: MSH-1 is the field separator
// itself and MSH-2 the encoding characters, so MSH-9 is the message type in every segment
// numbering scheme the standard uses.
//
// Positions: field, component and subcomponent are 1-based HL7 positions; repetition is a
// 0-based index. Accessors return "" when the position is absent (absent and empty are the same
// to HL7 v2 readers).
//
// Parsing is structural: it splits segments, fields and repetitions and records the character
// set that MSH-18 (first repetition) declares (charset.h); it does not judge values. Values are
// read in two ways:
//  - GetText (use it for anything that leaves this library): unescaped and decoded from the
//    declared character set to UTF-8, or an Hl7Error 102 (data type error) located at the
//    position (segment id and occurrence, field, repetition, component, subcomponent) whose text
//    names the location and the problem, never the value. Refused: bytes that are not valid in
//    the character set (with MSH-18 empty: anything but UTF-8), control characters after
//    decoding (C0 including tab, DEL, C1), malformed \X..\ escapes, unsupported \C....\ and
//    every \M......\ escape. With an unsupported MSH-18 every GetText is error 103 (table value
//    not found) naming MSH-18.
//  - Get (legacy, for structure and ASCII codes): unescaped bytes as sent, in the message's
//    character set, not validated.
//
// Escapes (both readers): \F\ \S\ \T\ \R\ \E\ become the delimiters; \Xhh..\ the bytes in hex,
// which are in the current character set (under 8859/1 \XFC\ is "ü", under UTF-8 \XC3BC\ is).
// GetText only:
//  - \C2D41\ (ESC - A: ISO-IR 100, the Latin-1 right half) makes the following bytes 0xA0-0xFF
//    decode as ISO-8859-1 (0x80-0x9F stay refused); \C2842\ (ESC ( B: ASCII) returns to the
//    declared character set. The state starts afresh in every value. Any other \C....\ and
//    any \M......\ (multi-byte sets) is refused.
//  - Formatting escapes carry no bytes and are not kept: \.br\, \.sp..\ and \.sk..\ become one
//    space, \H\, \N\, the other \.xx\ and \Z..\ (locally defined) are dropped.
//  - Any other sequence (an unknown letter, an unterminated escape) is kept verbatim and decoded
//    like the surrounding bytes.
// Get passes everything except the five delimiter escapes and well-formed \X..\ through
// verbatim.
//
// Errors never carry a field's value (values are PHI), only its location and a description.
// Limits (ParseLimits) bound the work and memory a hostile message can cause. Time and memory
// are linear in the input: Parse splits fields and repetitions once and indexes them, so
// reaching a repetition is O(1) and reading a component scans only its repetition.
//
// Thread-safety: a parsed Message is immutable and may be read from several threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "services/identity/hl7/charset.h"

namespace hie::hl7 {

// HL7 table 0357 (message error condition codes) — the subset this library produces.
enum class ErrorCode : int {
  kSegmentSequenceError = 100,
  kRequiredFieldMissing = 101,
  kDataTypeError = 102,
  kTableValueNotFound = 103,
  kUnsupportedMessageType = 200,
  kUnsupportedEventCode = 201,
  kUnknownKeyIdentifier = 204,
  kDuplicateKeyIdentifier = 205,
  kApplicationInternalError = 207,
};

// The table 0357 description of `code`, e.g. "Required field missing".
std::string_view ErrorCodeText(ErrorCode code);

// HL7 table 0516 (error severity), as written to ERR-4.
enum class Severity { kError, kWarning, kInformation };
std::string_view SeverityCode(Severity severity);  // "E", "W", "I"

// A located, structured error. Location fields are 0 when not applicable.
struct Hl7Error {
  std::string segment_id;  // "PID"; empty when the error is not tied to a segment
  int segment_index = 0;   // 1-based occurrence of segment_id in the message (ERR-2.2)
  int field = 0;           // 1-based field position
  int repetition = 0;      // 1-based repetition (ERR-2.4)
  int component = 0;       // 1-based component
  int subcomponent = 0;    // 1-based subcomponent (ERR-2.6)
  ErrorCode code = ErrorCode::kApplicationInternalError;
  Severity severity = Severity::kError;
  // Human-readable, names the location and never the value, e.g.
  // "PID-7: birth date is not a valid TS".
  std::string text;

  // "PID-7", "PID-3.1", "PID-3.4.2", "MSH", or "" for message-level errors.
  std::string Location() const;
  // INVALID_ARGUMENT carrying `text` (UNIMPLEMENTED for 200/201, NOT_FOUND for 204,
  // ALREADY_EXISTS for 205, INTERNAL for 207).
  absl::Status ToStatus() const;
};

// Either a value or an Hl7Error.
template <typename T>
class [[nodiscard]] Hl7Result {
 public:
  Hl7Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Hl7Result(Hl7Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Hl7Error& error() const { return std::get<1>(v_); }
  absl::Status status() const { return ok() ? absl::OkStatus() : error().ToStatus(); }

 private:
  std::variant<T, Hl7Error> v_;
};

struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  bool has_escape = true;        // MSH-2 may omit the escape character
  bool has_subcomponent = true;  // ... and the subcomponent separator
};

// Exceeding a limit is error 207 (DefaultAckCode in ack.h: AR); the repetition limit's error
// names the segment (id and occurrence) and the field.
struct ParseLimits {
  size_t max_message_bytes = 1 << 20;  // 1 MiB; at most 4 GiB - 2 (32-bit indexes)
  size_t max_segments = 5000;
  size_t max_fields_per_segment = 500;
  // Repetitions of one field. Real PID-3 lists hold a handful of identifiers; 1000 leaves room
  // for any plausible list while bounding what one field can make the mapping do.
  size_t max_repetitions_per_field = 1000;
};

namespace internal {
// The text of a parsed message and the index of its fields and repetitions, shared by every
// copy of the Message and pointed to by its segments. Field g (over all segments; a segment's
// id is a field too) is fields[g]; when it has two or more repetitions they are
// reps[rep_begin[g]] .. reps[rep_begin[g + 1] - 1], otherwise rep_begin[g + 1] == rep_begin[g]
// and the field is its only repetition (none when it is empty).
struct ParsedText {
  std::string text;
  std::vector<std::string_view> fields;
  std::vector<std::string_view> reps;
  std::vector<uint32_t> rep_begin;  // one more entry than fields
};
}  // namespace internal

// One segment: its id and its raw (still escaped) fields. Field n is fields[n] (fields[0] is the
// id); for MSH, field 1 is the field separator and field 2 the encoding characters. Valid while
// a copy of its Message lives.
class Segment {
 public:
  std::string_view id() const { return text_->fields[first_]; }
  // 1-based occurrence of this segment's id in the message (the second PID is 2).
  int occurrence() const { return occurrence_; }
  // The character set of the message (MSH-18), which GetText decodes.
  Charset charset() const { return charset_; }
  // The highest field position present (trailing empty fields count if they were sent).
  int field_count() const { return static_cast<int>(count_) - 1; }
  // The value at a position as UTF-8, "" when absent, or error 102/103 (see the header
  // comment). For MSH-1 and MSH-2 the raw characters. O(length of the repetition).
  [[nodiscard]] Hl7Result<std::string> GetText(int field, int rep = 0, int comp = 1,
                                               int sub = 1) const;
  // The unescaped bytes at a position, not decoded nor validated, "" when absent. For MSH-1
  // and MSH-2 the raw characters. O(length of the repetition).
  std::string Get(int field, int rep = 0, int comp = 1, int sub = 1) const;
  // Raw field text (escaped, with its delimiters), "" when absent.
  std::string_view RawField(int field) const;
  // Raw text of one repetition (escaped, with its component delimiters), "" when absent. O(1).
  std::string_view RawRepetition(int field, int rep) const;
  // Number of repetitions of a field (0 when absent or empty). O(1).
  int RepetitionCount(int field) const;
  // Number of components of a repetition (0 when absent or empty).
  int ComponentCount(int field, int rep) const;
  const Delimiters& delimiters() const { return delims_; }

 private:
  friend class Message;
  Segment() = default;
  // The raw piece at a position; false when absent.
  bool Piece(int field, int rep, int comp, int sub, std::string_view* piece) const;
  const internal::ParsedText* text_ = nullptr;  // owned by the Message
  uint32_t first_ = 0;                          // index of the id in text_->fields
  uint32_t count_ = 0;                          // the id and the fields
  int occurrence_ = 1;
  Charset charset_ = Charset::kUndeclared;
  Delimiters delims_;
};

class Message {
 public:
  [[nodiscard]] static Hl7Result<Message> Parse(std::string_view bytes,
                                                const ParseLimits& limits = {});

  const std::vector<Segment>& segments() const { return segments_; }
  const Delimiters& delimiters() const { return delims_; }
  // The character set MSH-18 declares (kUnsupported for a value charset.h does not know).
  Charset charset() const { return charset_; }

  // The `occurrence`-th (0-based) segment with this id, nullptr when there is none.
  const Segment* Find(std::string_view id, int occurrence = 0) const;
  // All segments with this id, in message order.
  std::vector<const Segment*> FindAll(std::string_view id) const;
  // Get() on the first segment with this id; "" when the segment is absent.
  std::string Get(std::string_view segment_id, int field, int rep = 0, int comp = 1,
                  int sub = 1) const;

 private:
  Message() = default;
  // Owns the bytes and the index the segments point into; shared so Message is cheap to copy.
  std::shared_ptr<const internal::ParsedText> text_;
  Delimiters delims_;
  Charset charset_ = Charset::kUndeclared;
  std::vector<Segment> segments_;
};

// Unescapes an ER7 value using `delims`, as Get does (see the header comment for the rules).
std::string Unescape(std::string_view raw, const Delimiters& delims);
// Unescapes and decodes an ER7 value to UTF-8, as GetText does: nullopt with `*problem` set (a
// description without the value) when it is refused. Linear in the input.
std::optional<std::string> DecodeText(std::string_view raw, const Delimiters& delims,
                                      Charset charset, std::string* problem);
// Escapes the delimiters and the escape character so `value` can be written into a field.
std::string Escape(std::string_view value, const Delimiters& delims);

}  // namespace hie::hl7
