// libFuzzer target for the HL7 v2 parser, ADT mapping, ACK builder and MLLP decoder (clang
// only, not in the default build; the exact commands are in CMakeLists.txt). Seed corpus:
// services/identity/hl7/fuzz_corpus/ (and testdata/).
//
// Besides crashes and sanitizer reports, it traps when an invariant breaks:
//  - every string of a mapped AdtEvent is valid UTF-8 without control characters (adt.h),
//    checked with code of its own rather than charset.h;
//  - a refusal is a structured error with a text and a table 0357 code;
//  - every non-empty ACK (BuildAckForRaw, BuildAck, and BuildAckForStatus for each kind of
//    outcome, with warnings and a status message taken from the input) parses, is an ACK, is
//    valid UTF-8 and holds no control character but the CR that ends its segments;
//  - BuildAckForStatus answers "" exactly for the transient codes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"
#include "services/identity/hl7/message.h"
#include "services/identity/hl7/mllp_codec.h"

namespace {

using namespace hie::hl7;  // NOLINT(build/namespaces): a fuzz entry point

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// Independent of charset.h on purpose (the checks must not share the library's bugs): the
// well-formed byte sequences of RFC 3629, section 4.
bool Utf8(std::string_view s) {
  auto in = [](unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
  for (size_t i = 0; i < s.size();) {
    auto at = [&](size_t k) { return static_cast<unsigned char>(k < s.size() ? s[k] : 0); };
    unsigned char b = at(i);
    size_t n;
    if (b <= 0x7F) {
      n = 1;
    } else if (in(b, 0xC2, 0xDF)) {
      n = in(at(i + 1), 0x80, 0xBF) ? 2 : 0;
    } else if (b == 0xE0) {
      n = in(at(i + 1), 0xA0, 0xBF) && in(at(i + 2), 0x80, 0xBF) ? 3 : 0;
    } else if (in(b, 0xE1, 0xEC) || in(b, 0xEE, 0xEF)) {
      n = in(at(i + 1), 0x80, 0xBF) && in(at(i + 2), 0x80, 0xBF) ? 3 : 0;
    } else if (b == 0xED) {
      n = in(at(i + 1), 0x80, 0x9F) && in(at(i + 2), 0x80, 0xBF) ? 3 : 0;
    } else if (b == 0xF0) {
      n = in(at(i + 1), 0x90, 0xBF) && in(at(i + 2), 0x80, 0xBF) && in(at(i + 3), 0x80, 0xBF) ? 4
                                                                                              : 0;
    } else if (in(b, 0xF1, 0xF3)) {
      n = in(at(i + 1), 0x80, 0xBF) && in(at(i + 2), 0x80, 0xBF) && in(at(i + 3), 0x80, 0xBF) ? 4
                                                                                              : 0;
    } else if (b == 0xF4) {
      n = in(at(i + 1), 0x80, 0x8F) && in(at(i + 2), 0x80, 0xBF) && in(at(i + 3), 0x80, 0xBF) ? 4
                                                                                              : 0;
    } else {
      n = 0;
    }
    if (n == 0 || i + n > s.size()) return false;
    i += n;
  }
  return true;
}

// A C0 control, DEL, or a C1 control (U+0080-009F, C2 80..C2 9F in UTF-8), except `allowed`.
bool HasControl(std::string_view s, char allowed = 0) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (s[i] == allowed && allowed != 0) continue;
    if (b < 0x20 || b == 0x7F) return true;
    if (b == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F &&
        static_cast<unsigned char>(s[i + 1]) >= 0x80) {
      return true;
    }
  }
  return false;
}

void CheckAck(const std::string& ack, bool may_be_empty) {
  if (ack.empty()) {
    Check(may_be_empty);
    return;
  }
  Check(Utf8(ack));
  Check(!HasControl(ack, '\r'));
  std::string code = AckCodeOf(ack);
  Check(code == "AA" || code == "AE" || code == "AR");
}

void CheckError(const Hl7Error& error) {
  Check(!error.text.empty());
  int code = static_cast<int>(error.code);
  Check(code == 100 || code == 101 || code == 102 || code == 103 || code == 200 || code == 201 ||
        code == 207);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  AckContext ctx{"F1", absl::UnixEpoch()};
  std::vector<Hl7Error> errors;
  Hl7Result<Message> parsed = Message::Parse(input);
  if (parsed.ok()) {
    const Message& message = parsed.value();
    Hl7Result<AdtEvent> event = MapAdt(message);
    if (event.ok()) {
      ForEachText(event.value(), [](const std::string&, const std::string& value) {
        Check(Utf8(value));
        Check(!HasControl(value));
      });
    } else {
      CheckError(event.error());
      errors.push_back(event.error());
    }
    CheckAck(BuildAck(message, errors.empty() ? AckCode::kAccept : DefaultAckCode(errors[0]),
                      errors, ctx),
             false);
    // Outcomes of applying the message, with the input itself as the status message (which
    // BuildAckForStatus copies for INVALID_ARGUMENT / FAILED_PRECONDITION) and as a warning.
    std::string text(input.substr(0, 300));
    Hl7Error warning;
    warning.segment_id = "PID";
    warning.field = 3;
    warning.severity = Severity::kWarning;
    warning.text = text;
    for (absl::StatusCode code :
         {absl::StatusCode::kOk, absl::StatusCode::kInvalidArgument,
          absl::StatusCode::kFailedPrecondition, absl::StatusCode::kNotFound,
          absl::StatusCode::kUnavailable, absl::StatusCode::kPermissionDenied,
          absl::StatusCode::kInternal}) {
      absl::Status status =
          code == absl::StatusCode::kOk ? absl::OkStatus() : absl::Status(code, text);
      std::string ack = BuildAckForStatus(message, status, {warning}, ctx);
      Check(ack.empty() == (code == absl::StatusCode::kUnavailable));
      CheckAck(ack, code == absl::StatusCode::kUnavailable);
    }
  } else {
    CheckError(parsed.error());
    errors.push_back(parsed.error());
  }
  CheckAck(BuildAckForRaw(input, errors.empty() ? AckCode::kAccept : AckCode::kReject, errors, ctx),
           false);
  MllpFrameDecoder decoder(4096);
  decoder.Feed(input);
  std::string frame;
  while (decoder.Next(&frame)) {
  }
  return 0;
}
