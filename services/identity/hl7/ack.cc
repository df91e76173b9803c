#include "services/identity/hl7/ack.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/identity/hl7/charset.h"

namespace hie::hl7 {
namespace {

// The header fields an ACK copies: UTF-8 without control characters, already escaped with the
// standard delimiters.
struct Header {
  std::string sending_app, sending_facility, receiving_app, receiving_facility;
  std::string trigger, control_id, processing_id, version;
};

const Delimiters kStandard;

// A header value decoded from the original's character set, escaped for the ACK. When it does
// not decode, the bytes with the invalid ones and control characters replaced by '?'.
std::string Copied(const Segment& msh, int field, int comp = 1) {
  Hl7Result<std::string> text = msh.GetText(field, 0, comp);
  std::string value =
      text.ok() ? std::move(text).value() : ToUtf8Lossy(msh.Get(field, 0, comp), msh.charset());
  return Escape(value, kStandard);
}

// HD (up to 3 components) re-encoded with the standard delimiters.
std::string Hd(const Segment& msh, int field) {
  std::vector<std::string> parts;
  for (int comp = 1; comp <= 3; ++comp) parts.push_back(Copied(msh, field, comp));
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  return absl::StrJoin(parts, "^");
}

Header FromMessage(const Message& message) {
  const Segment& msh = message.segments()[0];
  Header h;
  h.sending_app = Hd(msh, 3);
  h.sending_facility = Hd(msh, 4);
  h.receiving_app = Hd(msh, 5);
  h.receiving_facility = Hd(msh, 6);
  h.trigger = Copied(msh, 9, 2);
  h.control_id = Copied(msh, 10);
  h.processing_id = Copied(msh, 11);
  h.version = Copied(msh, 12);
  return h;
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::optional<Header> RecoverHeader(std::string_view raw) {
  Hl7Result<Message> parsed = Message::Parse(raw);
  if (parsed.ok()) return FromMessage(parsed.value());
  if (raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
  size_t start = raw.find_first_not_of("\r\n \t");
  if (start == std::string_view::npos) return std::nullopt;
  raw.remove_prefix(start);
  std::string_view first_line = raw.substr(0, raw.find_first_of("\r\n"));
  parsed = Message::Parse(first_line);
  if (parsed.ok()) return FromMessage(parsed.value());
  return std::nullopt;
}

std::string ErrSegment(const Hl7Error& e) {
  std::string location;
  if (!e.segment_id.empty()) {
    auto num = [](int n) { return n > 0 ? absl::StrCat(n) : std::string(); };
    std::vector<std::string> parts = {Escape(ToUtf8Lossy(e.segment_id, Charset::kUtf8), kStandard),
                                      num(e.segment_index),
                                      num(e.field),
                                      num(e.repetition),
                                      num(e.component),
                                      num(e.subcomponent)};
    while (!parts.empty() && parts.back().empty()) parts.pop_back();
    location = absl::StrJoin(parts, "^");
  }
  std::string code =
      absl::StrCat(static_cast<int>(e.code), "^", std::string(ErrorCodeText(e.code)), "^HL70357");
  // ERR-1 (deprecated) empty; ERR-2 location; ERR-3 code; ERR-4 severity; ERR-8 user message.
  return absl::StrCat("ERR||", location, "|", code, "|", std::string(SeverityCode(e.severity)),
                      "||||", Escape(ToUtf8Lossy(e.text, Charset::kUtf8), kStandard), "\r");
}

std::string Build(const std::optional<Header>& original, AckCode code,
                  const std::vector<Hl7Error>& errors, const AckContext& ctx) {
  Header h = original.value_or(Header{});
  auto ours = [](const std::string& value) {
    return Escape(ToUtf8Lossy(value, Charset::kUtf8), kStandard);
  };
  std::string sender_app =
      h.receiving_app.empty() ? ours(ctx.default_application) : h.receiving_app;
  std::string sender_facility =
      h.receiving_facility.empty() ? ours(ctx.default_facility) : h.receiving_facility;
  std::string version = h.version.empty() ? "2.5.1" : h.version;
  std::string processing = h.processing_id.empty() ? "P" : h.processing_id;
  std::string type = h.trigger.empty() ? "ACK" : absl::StrCat("ACK^", h.trigger, "^ACK");
  std::string rest =
      absl::StrCat("MSA|", std::string(AckCodeString(code)), "|", h.control_id, "\r");
  for (const Hl7Error& error : errors) rest += ErrSegment(error);
  std::string header = absl::StrCat(
      "MSH|^~\\&|", sender_app, "|", sender_facility, "|", h.sending_app, "|", h.sending_facility,
      "|", absl::FormatTime("%Y%m%d%H%M%S+0000", ctx.now, absl::UTCTimeZone()), "||", type, "|",
      ours(ctx.control_id), "|", processing, "|", version);
  // MSH-13..17 empty, MSH-18 declares UTF-8 when anything is not ASCII.
  if (!IsAscii(header) || !IsAscii(rest)) header += "||||||UNICODE UTF-8";
  return absl::StrCat(header, "\r", rest);
}

}  // namespace

std::string_view AckCodeString(AckCode code) {
  switch (code) {
    case AckCode::kAccept:
      return "AA";
    case AckCode::kError:
      return "AE";
    case AckCode::kReject:
      return "AR";
  }
  return "AR";
}

AckCode DefaultAckCode(const Hl7Error& error) {
  switch (error.code) {
    case ErrorCode::kRequiredFieldMissing:
    case ErrorCode::kDataTypeError:
    case ErrorCode::kTableValueNotFound:
    case ErrorCode::kUnknownKeyIdentifier:
    case ErrorCode::kDuplicateKeyIdentifier:
      return AckCode::kError;
    default:
      return AckCode::kReject;
  }
}

std::string BuildAck(const Message& original, AckCode code, const std::vector<Hl7Error>& errors,
                     const AckContext& ctx) {
  return Build(FromMessage(original), code, errors, ctx);
}

std::string BuildAckForRaw(std::string_view raw, AckCode code, const std::vector<Hl7Error>& errors,
                           const AckContext& ctx) {
  return Build(RecoverHeader(raw), code, errors, ctx);
}

std::string BuildAckForStatus(const Message& original, const absl::Status& status,
                              const AckContext& ctx) {
  return BuildAckForStatus(original, status, {}, ctx);
}

std::string BuildAckForStatus(const Message& original, const absl::Status& status,
                              const std::vector<Hl7Error>& warnings, const AckContext& ctx) {
  AckCode code = AckCode::kReject;
  Hl7Error error;
  error.code = ErrorCode::kApplicationInternalError;
  bool copy_message = false;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      code = AckCode::kAccept;
      break;
    case absl::StatusCode::kInvalidArgument:
      code = AckCode::kError;
      error.code = ErrorCode::kDataTypeError;
      copy_message = true;
      break;
    case absl::StatusCode::kFailedPrecondition:
      code = AckCode::kError;
      copy_message = true;
      break;
    case absl::StatusCode::kOutOfRange:
      code = AckCode::kError;
      error.code = ErrorCode::kDataTypeError;
      break;
    case absl::StatusCode::kNotFound:
      code = AckCode::kError;
      error.code = ErrorCode::kUnknownKeyIdentifier;
      break;
    case absl::StatusCode::kAlreadyExists:
      code = AckCode::kError;
      error.code = ErrorCode::kDuplicateKeyIdentifier;
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return "";  // transient: no ACK, the sender resends
    default:      // PERMISSION_DENIED, UNAUTHENTICATED, INTERNAL, DATA_LOSS, UNIMPLEMENTED, ...
      code = AckCode::kReject;
      break;
  }
  std::vector<Hl7Error> errs;
  errs.reserve(warnings.size() + 1);
  if (code != AckCode::kAccept) {
    if (copy_message && !status.message().empty()) {
      // Sanitise first so that the cut is measured on what is written.
      std::string text = ToUtf8Lossy(std::string(status.message()), Charset::kUtf8);
      error.text = std::string(TruncateUtf8(text, kMaxStatusTextBytes));
    } else {
      error.text =
          absl::StrCat("the message was not applied: ", absl::StatusCodeToString(status.code()));
    }
    errs.push_back(std::move(error));
  }
  for (const Hl7Error& warning : warnings) {
    errs.push_back(warning);
    if (errs.back().severity == Severity::kError) errs.back().severity = Severity::kWarning;
  }
  return BuildAck(original, code, errs, ctx);
}

std::string AckCodeOf(std::string_view ack) {
  Hl7Result<Message> parsed = Message::Parse(ack);
  if (!parsed.ok()) return "";
  return parsed.value().Get("MSA", 1);
}

}  // namespace hie::hl7
