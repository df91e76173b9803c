#include "services/identity/hl7/ack.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hie::hl7 {
namespace {

// The header fields an ACK copies, already escaped with the standard delimiters.
struct Header {
  std::string sending_app, sending_facility, receiving_app, receiving_facility;
  std::string trigger, control_id, processing_id, version;
};

const Delimiters kStandard;

// HD (up to 3 components) re-encoded with the standard delimiters.
std::string Hd(const Segment& msh, int field) {
  std::vector<std::string> parts;
  for (int comp = 1; comp <= 3; ++comp) parts.push_back(Escape(msh.Get(field, 0, comp), kStandard));
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
  h.trigger = Escape(msh.Get(9, 0, 2), kStandard);
  h.control_id = Escape(msh.Get(10), kStandard);
  h.processing_id = Escape(msh.Get(11), kStandard);
  h.version = Escape(msh.Get(12), kStandard);
  return h;
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
    std::vector<std::string> parts = {e.segment_id, num(e.segment_index), num(e.field),
                                      num(e.repetition), num(e.component)};
    while (!parts.empty() && parts.back().empty()) parts.pop_back();
    location = absl::StrJoin(parts, "^");
  }
  std::string code =
      absl::StrCat(static_cast<int>(e.code), "^", std::string(ErrorCodeText(e.code)), "^HL70357");
  // ERR-1 (deprecated) empty; ERR-2 location; ERR-3 code; ERR-4 severity; ERR-8 user message.
  return absl::StrCat("ERR||", location, "|", code, "|", std::string(SeverityCode(e.severity)),
                      "||||", Escape(e.text, kStandard), "\r");
}

std::string Build(const std::optional<Header>& original, AckCode code,
                  const std::vector<Hl7Error>& errors, const AckContext& ctx) {
  Header h = original.value_or(Header{});
  std::string sender_app =
      h.receiving_app.empty() ? Escape(ctx.default_application, kStandard) : h.receiving_app;
  std::string sender_facility =
      h.receiving_facility.empty() ? Escape(ctx.default_facility, kStandard) : h.receiving_facility;
  std::string version = h.version.empty() ? "2.5.1" : h.version;
  std::string processing = h.processing_id.empty() ? "P" : h.processing_id;
  std::string type = h.trigger.empty() ? "ACK" : absl::StrCat("ACK^", h.trigger, "^ACK");
  std::string out = absl::StrCat(
      "MSH|^~\\&|", sender_app, "|", sender_facility, "|", h.sending_app, "|", h.sending_facility,
      "|", absl::FormatTime("%Y%m%d%H%M%S+0000", ctx.now, absl::UTCTimeZone()), "||", type, "|",
      Escape(ctx.control_id, kStandard), "|", processing, "|", version, "\r");
  absl::StrAppend(&out, "MSA|", std::string(AckCodeString(code)), "|", h.control_id, "\r");
  for (const Hl7Error& error : errors) out += ErrSegment(error);
  return out;
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
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return BuildAck(original, AckCode::kAccept, {}, ctx);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return "";
    default:
      break;
  }
  Hl7Error error;
  error.code = ErrorCode::kApplicationInternalError;
  error.text = absl::StrCat("the message was not applied: ",
                            std::string(absl::StatusCodeToString(status.code())));
  bool denied = status.code() == absl::StatusCode::kPermissionDenied ||
                status.code() == absl::StatusCode::kUnauthenticated;
  return BuildAck(original, denied ? AckCode::kReject : AckCode::kError, {error}, ctx);
}

std::string AckCodeOf(std::string_view ack) {
  Hl7Result<Message> parsed = Message::Parse(ack);
  if (!parsed.ok()) return "";
  return parsed.value().Get("MSA", 1);
}

}  // namespace hie::hl7
