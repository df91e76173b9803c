#include "services/identity/hl7/message.h"

#include <algorithm>
#include <cctype>

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
  return location;
}

absl::Status Hl7Error::ToStatus() const {
  std::string message = absl::StrCat("HL7 error ", static_cast<int>(code), ": ", text);
  switch (code) {
    case ErrorCode::kUnsupportedMessageType:
    case ErrorCode::kUnsupportedEventCode:
      return absl::UnimplementedError(message);
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
    bool handled = true;
    if (body == "F") {
      out.push_back(d.field);
    } else if (body == "S") {
      out.push_back(d.component);
    } else if (body == "T") {
      out.push_back(d.has_subcomponent ? d.subcomponent : '&');
    } else if (body == "R") {
      out.push_back(d.repetition);
    } else if (body == "E") {
      out.push_back(d.escape);
    } else if (body.size() >= 3 && body[0] == 'X' && (body.size() - 1) % 2 == 0) {
      std::string bytes;
      for (size_t k = 1; k < body.size(); k += 2) {
        int hi = HexValue(body[k]);
        int lo = HexValue(body[k + 1]);
        if (hi < 0 || lo < 0) {
          handled = false;
          break;
        }
        bytes.push_back(static_cast<char>(hi * 16 + lo));
      }
      if (handled) out.append(bytes);
    } else {
      handled = false;
    }
    if (!handled) out.append(raw.substr(i, end - i + 1));  // unknown escape: verbatim
    i = end + 1;
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
  if (field <= 0 || field >= static_cast<int>(fields_.size())) return {};
  return fields_[static_cast<size_t>(field)];
}

std::string Segment::Get(int field, int rep, int comp, int sub) const {
  std::string_view raw = RawField(field);
  if (raw.empty() || rep < 0 || comp < 1 || sub < 1) return "";
  if (id() == "MSH" && (field == 1 || field == 2)) {
    return (rep == 0 && comp == 1 && sub == 1) ? std::string(raw) : "";
  }
  bool found = false;
  std::string_view r = NthPiece(raw, delims_.repetition, true, rep, &found);
  if (!found) return "";
  std::string_view c = NthPiece(r, delims_.component, true, comp - 1, &found);
  if (!found) return "";
  std::string_view s = NthPiece(c, delims_.subcomponent, delims_.has_subcomponent, sub - 1, &found);
  if (!found) return "";
  return Unescape(s, delims_);
}

int Segment::RepetitionCount(int field) const {
  if (id() == "MSH" && (field == 1 || field == 2)) return RawField(field).empty() ? 0 : 1;
  return CountPieces(RawField(field), delims_.repetition);
}

int Segment::ComponentCount(int field, int rep) const {
  bool found = false;
  std::string_view r = NthPiece(RawField(field), delims_.repetition, true, rep, &found);
  return found ? CountPieces(r, delims_.component) : 0;
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
  if (bytes.size() > limits.max_message_bytes) {
    return LimitError(
        absl::StrCat("message exceeds the size limit of ", limits.max_message_bytes, " bytes"));
  }
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);

  Message message;
  auto text = std::make_shared<std::string>(bytes);
  std::string_view all(*text);

  // Split into non-blank lines on CR, LF or CRLF.
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = all.size();
    std::string_view line = all.substr(pos, end - pos);
    if (!IsBlank(line)) {
      if (lines.size() >= limits.max_segments) {
        return LimitError(
            absl::StrCat("message exceeds the limit of ", limits.max_segments, " segments"));
      }
      lines.push_back(line);
    }
    pos = end + 1;
  }
  if (lines.empty()) return StructureError("message is empty");

  std::string_view msh = lines[0];
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
  message.delims_ = d;

  message.segments_.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string_view id = line.substr(0, std::min(line.find(d.field), line.size()));
    if (!IsValidSegmentId(id)) {
      return StructureError(absl::StrCat("segment ", i + 1, " has no valid segment id"));
    }
    if (i > 0 && id == "MSH") {
      return StructureError("more than one MSH segment (batches are not supported)", "MSH", 2);
    }
    std::vector<std::string_view> fields;
    fields.push_back(id);
    if (i == 0) {
      fields.push_back(line.substr(3, 1));  // MSH-1: the field separator itself
      line.remove_prefix(4);                // what follows starts with MSH-2
    } else {
      line.remove_prefix(id.size());
      if (line.empty()) {
        message.segments_.push_back(Segment(d, std::move(fields)));
        continue;
      }
      line.remove_prefix(1);
    }
    while (true) {
      if (fields.size() > limits.max_fields_per_segment) {
        return LimitError(absl::StrCat("segment ", i + 1, " (", std::string(id),
                                       ") exceeds the limit of ", limits.max_fields_per_segment,
                                       " fields"));
      }
      size_t end = line.find(d.field);
      if (end == std::string_view::npos) {
        fields.push_back(line);
        break;
      }
      fields.push_back(line.substr(0, end));
      line.remove_prefix(end + 1);
    }
    message.segments_.push_back(Segment(d, std::move(fields)));
  }
  message.text_ = std::move(text);
  return message;
}

}  // namespace hie::hl7
