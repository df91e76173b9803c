#include "services/identity/hl7/message.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace hie::hl7 {
namespace {

Hl7Error StructureError(std::string text, std::string segment_id = "", int segment_index = 0,
                        int field = 0) {
  Hl7Error error;
  error.segment_id = std::move(segment_id);
  error.segment_index = segment_index;
  error.field = field;
  error.code = ErrorCode::kSegmentSequenceError;
  error.text = std::move(text);
  return error;
}

Hl7Error LimitError(std::string text) {
  Hl7Error error;
  error.code = ErrorCode::kApplicationInternalError;
  error.text = std::move(text);
  return error;
}

Hl7Error RepetitionLimitError(std::string_view segment_id, int occurrence, int field,
                              size_t limit) {
  Hl7Error error = LimitError(absl::StrCat(std::string(segment_id), "-", field, ": more than ",
                                           limit, " repetitions (the limit of this hub)"));
  error.segment_id = std::string(segment_id);
  error.segment_index = occurrence;
  error.field = field;
  return error;
}

bool IsDelimiterCandidate(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e && !std::isalnum(u);
}

bool IsValidSegmentId(std::string_view id) {
  if (id.size() != 3) return false;
  if (!std::isupper(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!std::isupper(u) && !std::isdigit(u)) return false;
  }
  return true;
}

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

// The `index`-th (0-based) piece of `s` split on `sep`; nullopt-like empty view when absent.
// `found` tells absent from empty.
std::string_view NthPiece(std::string_view s, char sep, bool has_sep, int index, bool* found) {
  *found = false;
  if (index < 0) return {};
  if (!has_sep) {
    if (index == 0) {
      *found = true;
      return s;
    }
    return {};
  }
  size_t start = 0;
  for (int i = 0; i < index; ++i) {
    size_t next = s.find(sep, start);
    if (next == std::string_view::npos) return {};
    start = next + 1;
  }
  size_t end = s.find(sep, start);
  *found = true;
  return s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

int CountPieces(std::string_view s, char sep) {
  if (s.empty()) return 0;
  int n = 1;
  for (char c : s) n += (c == sep);
  return n;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the bytes of an \X escape body ("X" + hex digits); false when it is malformed.
bool AppendHexBytes(std::string_view body, std::string* out) {
  if (body.size() < 3 || (body.size() - 1) % 2 != 0) return false;
  for (size_t k = 1; k < body.size(); k += 2) {
    int hi = HexValue(body[k]);
    int lo = HexValue(body[k + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

// The delimiter an escape body stands for (\F\ \S\ \T\ \R\ \E\), or 0.
char DelimiterEscape(std::string_view body, const Delimiters& d) {
  if (body.size() != 1) return 0;
  switch (body[0]) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.has_subcomponent ? d.subcomponent : '&';
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    default:
      return 0;
  }
}

std::string PositionText(std::string_view segment_id, int field, int rep, int comp, int sub) {
  std::string text = absl::StrCat(std::string(segment_id), "-", field);
  if (comp > 1 || sub > 1) absl::StrAppend(&text, ".", comp);
  if (sub > 1) absl::StrAppend(&text, ".", sub);
  if (rep > 0) absl::StrAppend(&text, " (repetition ", rep + 1, ")");
  return text;
}

// Splits `all` into its non-blank lines (a segment ends with CR, LF or CRLF). Error 207 when
// there are more than `max_segments`.
std::optional<Hl7Error> SplitLines(std::string_view all, size_t max_segments,
                                   std::vector<std::string_view>* lines) {
  size_t pos = 0;
  while (pos < all.size()) {
    // Not find_first_of: libstdc++ runs a memchr over the set for every byte.
    size_t end = pos;
    while (end < all.size() && all[end] != '\r' && all[end] != '\n') ++end;
    std::string_view line = all.substr(pos, end - pos);
    if (!IsBlank(line)) {
      if (lines->size() >= max_segments) {
        return LimitError(absl::StrCat("message exceeds the limit of ", max_segments, " segments"));
      }
      lines->push_back(line);
    }
    pos = end + 1;
  }
  return std::nullopt;
}

// The delimiters that MSH-1 and MSH-2 of `msh`, the first line, declare. Error 100 when the
// line is not an MSH segment or when MSH-1 or MSH-2 is missing or invalid.
Hl7Result<Delimiters> ReadDelimiters(std::string_view msh) {
  if (msh.substr(0, 3) != "MSH") {
    return StructureError("message does not start with an MSH segment", "MSH", 1);
  }
  if (msh.size() < 5 || !IsDelimiterCandidate(msh[3])) {
    return StructureError("MSH-1: field separator is missing or invalid", "MSH", 1, 1);
  }
  Delimiters d;
  d.field = msh[3];
  size_t enc_end = msh.find(d.field, 4);
  std::string_view enc =
      msh.substr(4, enc_end == std::string_view::npos ? std::string_view::npos : enc_end - 4);
  if (enc.size() < 2 || enc.size() > 5) {
    return StructureError("MSH-2: encoding characters are missing or invalid", "MSH", 1, 2);
  }
  d.component = enc[0];
  d.repetition = enc[1];
  d.has_escape = enc.size() >= 3;
  d.has_subcomponent = enc.size() >= 4;
  if (d.has_escape) d.escape = enc[2];
  if (d.has_subcomponent) d.subcomponent = enc[3];
  std::string used(1, d.field);
  for (size_t i = 0; i < std::min<size_t>(enc.size(), 4); ++i) {
    if (!IsDelimiterCandidate(enc[i]) || used.find(enc[i]) != std::string::npos) {
      return StructureError("MSH-2: encoding characters are missing or invalid", "MSH", 1, 2);
    }
    used.push_back(enc[i]);
  }
  return d;
}

// Sizes the index of `p` once for the whole message `all` of `segments` segments (no
// allocation per segment).
void ReserveIndex(std::string_view all, const Delimiters& d, size_t segments,
                  internal::ParsedText* p) {
  size_t field_separators = static_cast<size_t>(std::count(all.begin(), all.end(), d.field));
  size_t rep_separators = static_cast<size_t>(std::count(all.begin(), all.end(), d.repetition));
  p->fields.reserve(field_separators + 2 * segments);
  p->rep_begin.reserve(field_separators + 2 * segments + 1);
  p->reps.reserve(2 * rep_separators);
}

// Appends segment `line` to the index of `p`: its id (`id`), its fields, and the repetitions of
// each field that has more than one. `index` is the segment's 0-based position in the message
// (0: MSH, whose MSH-1 and MSH-2 are not split) and `occurrence` the 1-based occurrence of its
// id. Error 207 over limits.max_fields_per_segment or limits.max_repetitions_per_field.
std::optional<Hl7Error> IndexSegment(std::string_view line, std::string_view id, size_t index,
                                     int occurrence, const Delimiters& d, const ParseLimits& limits,
                                     internal::ParsedText* p) {
  const size_t first = p->fields.size();
  auto add_field = [p](std::string_view field) {
    p->fields.push_back(field);
    p->rep_begin.push_back(static_cast<uint32_t>(p->reps.size()));
  };
  add_field(id);
  bool has_fields = true;  // false for a bare id ("EVN"): no field at all
  if (index == 0) {
    // MSH-1 is the field separator itself and MSH-2 holds the repetition character: neither
    // is split.
    add_field(line.substr(3, 1));
    line.remove_prefix(4);
    size_t end = line.find(d.field);
    add_field(line.substr(0, end));
    has_fields = end != std::string_view::npos;
    if (has_fields) line.remove_prefix(end + 1);
  } else {
    line.remove_prefix(id.size());
    has_fields = !line.empty();
    if (has_fields) line.remove_prefix(1);
  }
  // Fields, then the repetitions of each that has more than one, indexed once.
  while (has_fields) {
    size_t number = p->fields.size() - first;  // this field's position
    if (number > limits.max_fields_per_segment) {
      return LimitError(absl::StrCat("segment ", index + 1, " (", std::string(id),
                                     ") exceeds the limit of ", limits.max_fields_per_segment,
                                     " fields"));
    }
    size_t end = line.find(d.field);
    std::string_view field = line.substr(0, end);
    add_field(field);
    if (field.find(d.repetition) != std::string_view::npos) {
      size_t count = 0;
      while (true) {
        if (++count > limits.max_repetitions_per_field) {
          return RepetitionLimitError(id, occurrence, static_cast<int>(number),
                                      limits.max_repetitions_per_field);
        }
        size_t rep_end = field.find(d.repetition);
        p->reps.push_back(field.substr(0, rep_end));
        if (rep_end == std::string_view::npos) break;
        field.remove_prefix(rep_end + 1);
      }
    }
    if (end == std::string_view::npos) break;
    line.remove_prefix(end + 1);
  }
  return std::nullopt;
}

}  // namespace

std::string_view ErrorCodeText(ErrorCode code) {
  switch (code) {
    case ErrorCode::kSegmentSequenceError:
      return "Segment sequence error";
    case ErrorCode::kRequiredFieldMissing:
      return "Required field missing";
    case ErrorCode::kDataTypeError:
      return "Data type error";
    case ErrorCode::kTableValueNotFound:
      return "Table value not found";
    case ErrorCode::kUnsupportedMessageType:
      return "Unsupported message type";
    case ErrorCode::kUnsupportedEventCode:
      return "Unsupported event code";
    case ErrorCode::kUnknownKeyIdentifier:
      return "Unknown key identifier";
    case ErrorCode::kDuplicateKeyIdentifier:
      return "Duplicate key identifier";
    case ErrorCode::kApplicationInternalError:
      return "Application internal error";
  }
  return "Application internal error";
}

std::string_view SeverityCode(Severity severity) {
  switch (severity) {
    case Severity::kError:
      return "E";
    case Severity::kWarning:
      return "W";
    case Severity::kInformation:
      return "I";
  }
  return "E";
}

std::string Hl7Error::Location() const {
  if (segment_id.empty()) return "";
  if (field <= 0) return segment_id;
  std::string location = absl::StrCat(segment_id, "-", field);
  if (component > 0) absl::StrAppend(&location, ".", component);
  if (component > 0 && subcomponent > 0) absl::StrAppend(&location, ".", subcomponent);
  return location;
}

absl::Status Hl7Error::ToStatus() const {
  std::string message = absl::StrCat("HL7 error ", static_cast<int>(code), ": ", text);
  switch (code) {
    case ErrorCode::kUnsupportedMessageType:
    case ErrorCode::kUnsupportedEventCode:
      return absl::UnimplementedError(message);
    case ErrorCode::kUnknownKeyIdentifier:
      return absl::NotFoundError(message);
    case ErrorCode::kDuplicateKeyIdentifier:
      return absl::AlreadyExistsError(message);
    case ErrorCode::kApplicationInternalError:
      return absl::InternalError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

std::string Unescape(std::string_view raw, const Delimiters& d) {
  if (!d.has_escape || raw.find(d.escape) == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    char c = raw[i];
    if (c != d.escape) {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t end = raw.find(d.escape, i + 1);
    if (end == std::string_view::npos) {  // unterminated: keep the rest verbatim
      out.append(raw.substr(i));
      break;
    }
    std::string_view body = raw.substr(i + 1, end - i - 1);
    size_t before = out.size();
    if (char delimiter = DelimiterEscape(body, d); delimiter != 0) {
      out.push_back(delimiter);
    } else if (body.empty() || body[0] != 'X' || !AppendHexBytes(body, &out)) {
      out.resize(before);
      out.append(raw.substr(i, end - i + 1));  // unknown or malformed escape: verbatim
    }
    i = end + 1;
  }
  return out;
}

std::optional<std::string> DecodeText(std::string_view raw, const Delimiters& d, Charset charset,
                                      std::string* problem) {
  std::string out;
  if (!d.has_escape || raw.find(d.escape) == std::string_view::npos) {
    if (!AppendAsUtf8(raw, charset, &out, problem)) return std::nullopt;
  } else {
    out.reserve(raw.size());
    // Bytes are gathered in `pending` and decoded when the character set changes (\C) and at
    // the end, so that a sequence split over raw bytes and \X escapes decodes as one.
    Charset current = charset;
    std::string pending;
    pending.reserve(raw.size());
    auto flush = [&]() {
      bool ok = AppendAsUtf8(pending, current, &out, problem);
      pending.clear();
      return ok;
    };
    size_t i = 0;
    while (i < raw.size()) {
      size_t next = raw.find(d.escape, i);
      if (next == std::string_view::npos) next = raw.size();
      pending.append(raw.substr(i, next - i));
      if (next == raw.size()) break;
      size_t end = raw.find(d.escape, next + 1);
      if (end == std::string_view::npos) {  // unterminated: keep the rest verbatim
        pending.append(raw.substr(next));
        break;
      }
      std::string_view body = raw.substr(next + 1, end - next - 1);
      i = end + 1;
      if (char delimiter = DelimiterEscape(body, d); delimiter != 0) {
        pending.push_back(delimiter);
      } else if (!body.empty() && body[0] == 'X') {
        if (!AppendHexBytes(body, &pending)) {
          *problem = "a malformed \\X escape (it needs an even number of hex digits)";
          return std::nullopt;
        }
      } else if (!body.empty() && body[0] == 'C') {
        Charset switched;
        if (body == "C2842") {  // ESC ( B: ASCII in G0; back to the declared set
          switched = charset;
        } else if (body == "C2D41") {  // ESC - A: ISO-IR 100 (Latin-1 right half) in G1
          switched = Charset::kLatin1;
        } else {
          *problem = "an unsupported \\C character set escape (only \\C2842\\ and \\C2D41\\)";
          return std::nullopt;
        }
        if (!flush()) return std::nullopt;
        current = switched;
      } else if (!body.empty() && body[0] == 'M') {
        *problem = "a multi-byte character set escape (\\M), which is not supported";
        return std::nullopt;
      } else if (body == ".br" || body.substr(0, 3) == ".sp" || body.substr(0, 3) == ".sk") {
        pending.push_back(' ');
      } else if (body == "H" || body == "N" || (!body.empty() && body[0] == '.') ||
                 (!body.empty() && body[0] == 'Z')) {
        // Formatting or locally defined: carries no text.
      } else {
        pending.append(raw.substr(next, end - next + 1));  // unknown: verbatim
      }
    }
    if (!flush()) return std::nullopt;
  }
  if (HasControlCharacter(out)) {
    *problem = "a control character";
    return std::nullopt;
  }
  return out;
}

std::string Escape(std::string_view value, const Delimiters& d) {
  std::string out;
  out.reserve(value.size());
  char e = d.has_escape ? d.escape : '\\';
  for (char c : value) {
    const char* code = nullptr;
    if (c == d.field) {
      code = "F";
    } else if (c == d.component) {
      code = "S";
    } else if (d.has_subcomponent && c == d.subcomponent) {
      code = "T";
    } else if (c == d.repetition) {
      code = "R";
    } else if (c == e) {
      code = "E";
    }
    if (code == nullptr) {
      if (c == '\r' || c == '\n') {  // a raw line end would split the segment
        out.push_back(e);
        out.append(c == '\r' ? "X0D" : "X0A");
        out.push_back(e);
      } else {
        out.push_back(c);
      }
    } else {
      out.push_back(e);
      out.append(code);
      out.push_back(e);
    }
  }
  return out;
}

std::string_view Segment::RawField(int field) const {
  if (field <= 0 || field >= static_cast<int>(count_)) return {};
  return text_->fields[first_ + static_cast<uint32_t>(field)];
}

std::string_view Segment::RawRepetition(int field, int rep) const {
  if (field <= 0 || field >= static_cast<int>(count_) || rep < 0) return {};
  size_t g = first_ + static_cast<size_t>(field);
  size_t stored = text_->rep_begin[g + 1] - text_->rep_begin[g];
  if (stored == 0) return rep == 0 ? text_->fields[g] : std::string_view();
  if (static_cast<size_t>(rep) >= stored) return {};
  return text_->reps[text_->rep_begin[g] + static_cast<size_t>(rep)];
}

bool Segment::Piece(int field, int rep, int comp, int sub, std::string_view* piece) const {
  if (rep < 0 || comp < 1 || sub < 1 || rep >= RepetitionCount(field)) return false;
  if (id() == "MSH" && (field == 1 || field == 2)) {
    *piece = RawField(field);
    return comp == 1 && sub == 1;
  }
  bool found = false;
  std::string_view c =
      NthPiece(RawRepetition(field, rep), delims_.component, true, comp - 1, &found);
  if (!found) return false;
  *piece = NthPiece(c, delims_.subcomponent, delims_.has_subcomponent, sub - 1, &found);
  return found;
}

std::string Segment::Get(int field, int rep, int comp, int sub) const {
  std::string_view piece;
  if (!Piece(field, rep, comp, sub, &piece) || piece.empty()) return "";
  if (id() == "MSH" && (field == 1 || field == 2)) return std::string(piece);
  return Unescape(piece, delims_);
}

Hl7Result<std::string> Segment::GetText(int field, int rep, int comp, int sub) const {
  if (charset_ == Charset::kUnsupported) {
    Hl7Error error;
    error.segment_id = "MSH";
    error.segment_index = 1;
    error.field = 18;
    error.repetition = 1;
    error.code = ErrorCode::kTableValueNotFound;
    error.text =
        "MSH-18: the character set is not supported (table 0211 values supported: "
        "ASCII, 8859/1, 8859/15, UNICODE UTF-8)";
    return error;
  }
  std::string_view piece;
  if (!Piece(field, rep, comp, sub, &piece) || piece.empty()) return std::string();
  if (id() == "MSH" && (field == 1 || field == 2)) return std::string(piece);
  std::string problem;
  std::optional<std::string> text = DecodeText(piece, delims_, charset_, &problem);
  if (text.has_value()) return *std::move(text);
  Hl7Error error;
  error.segment_id = std::string(id());
  error.segment_index = occurrence_;
  error.field = field;
  error.repetition = rep + 1;
  error.component = comp;
  if (sub > 1) error.subcomponent = sub;
  error.code = ErrorCode::kDataTypeError;
  error.text =
      absl::StrCat(PositionText(id(), field, rep, comp, sub), ": the value holds ", problem);
  return error;
}

int Segment::RepetitionCount(int field) const {
  if (field <= 0 || field >= static_cast<int>(count_)) return 0;
  size_t g = first_ + static_cast<size_t>(field);
  size_t stored = text_->rep_begin[g + 1] - text_->rep_begin[g];
  if (stored == 0) return text_->fields[g].empty() ? 0 : 1;
  return static_cast<int>(stored);
}

int Segment::ComponentCount(int field, int rep) const {
  if (rep < 0 || rep >= RepetitionCount(field)) return 0;
  if (id() == "MSH" && (field == 1 || field == 2)) return 1;
  return CountPieces(RawRepetition(field, rep), delims_.component);
}

const Segment* Message::Find(std::string_view id, int occurrence) const {
  for (const Segment& segment : segments_) {
    if (segment.id() == id && occurrence-- == 0) return &segment;
  }
  return nullptr;
}

std::vector<const Segment*> Message::FindAll(std::string_view id) const {
  std::vector<const Segment*> found;
  for (const Segment& segment : segments_) {
    if (segment.id() == id) found.push_back(&segment);
  }
  return found;
}

std::string Message::Get(std::string_view segment_id, int field, int rep, int comp, int sub) const {
  const Segment* segment = Find(segment_id);
  return segment == nullptr ? "" : segment->Get(field, rep, comp, sub);
}

Hl7Result<Message> Message::Parse(std::string_view bytes, const ParseLimits& limits) {
  if (bytes.size() > limits.max_message_bytes || bytes.size() >= UINT32_MAX) {  // 32-bit index
    return LimitError(
        absl::StrCat("message exceeds the size limit of ", limits.max_message_bytes, " bytes"));
  }
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);

  Message message;
  auto parsed = std::make_shared<internal::ParsedText>();
  internal::ParsedText& p = *parsed;
  p.text.assign(bytes.data(), bytes.size());
  std::string_view all(p.text);

  std::vector<std::string_view> lines;
  if (std::optional<Hl7Error> error = SplitLines(all, limits.max_segments, &lines)) {
    return *std::move(error);
  }
  if (lines.empty()) return StructureError("message is empty");
  Hl7Result<Delimiters> delimiters = ReadDelimiters(lines[0]);
  if (!delimiters.ok()) return delimiters.error();
  const Delimiters d = delimiters.value();
  message.delims_ = d;

  ReserveIndex(all, d, lines.size(), &p);
  message.segments_.reserve(lines.size());
  std::unordered_map<std::string_view, int> occurrences;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string_view id = line.substr(0, std::min(line.find(d.field), line.size()));
    if (!IsValidSegmentId(id)) {
      return StructureError(absl::StrCat("segment ", i + 1, " has no valid segment id"));
    }
    if (i > 0 && id == "MSH") {
      return StructureError("more than one MSH segment (batches are not supported)", "MSH", 2);
    }
    Segment segment;
    segment.text_ = parsed.get();
    segment.delims_ = d;
    segment.first_ = static_cast<uint32_t>(p.fields.size());
    segment.occurrence_ = ++occurrences[id];
    if (std::optional<Hl7Error> error =
            IndexSegment(line, id, i, segment.occurrence_, d, limits, &p)) {
      return *std::move(error);
    }
    segment.count_ = static_cast<uint32_t>(p.fields.size()) - segment.first_;
    if (i == 0) {
      // The repetitions of MSH's last field are only delimited once the next field is added:
      // read MSH-18's first repetition from the raw field.
      std::string_view msh18 = segment.count_ > 18 ? p.fields[segment.first_ + 18] : "";
      message.charset_ = CharsetFromMsh18(Unescape(msh18.substr(0, msh18.find(d.repetition)), d));
    }
    segment.charset_ = message.charset_;
    message.segments_.push_back(segment);
  }
  p.rep_begin.push_back(static_cast<uint32_t>(p.reps.size()));  // the end of the last field
  message.text_ = std::move(parsed);
  return message;
}

}  // namespace hie::hl7
