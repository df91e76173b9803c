#pragma once

// Building the HL7 v2 acknowledgement (original mode ACK) for a received message.
//
//   MSH|^~\&|<orig MSH-5>|<orig MSH-6>|<orig MSH-3>|<orig MSH-4>|<now>||ACK^<trigger>^ACK|
//       <new control id>|<orig MSH-11 or P>|<orig MSH-12 or 2.5.1>
//   MSA|AA|<orig MSH-10>
//   ERR||<seg>^<index>^<field>^<rep>^<comp>|<code>^<0357 text>^HL70357|E||||<user message>
//
// Segments end with CR. The ACK always uses the standard encoding characters ^~\& and
// re-escapes every copied value. Sender and receiver are swapped relative to the original
// (HD components 1-3 are copied); when the original has no receiving application the ACK's
// sender is AckContext::default_application/facility.
//
// BuildAckForRaw works on bytes that may not parse: it recovers what it can from the first
// line (the MSH) and otherwise uses defaults; the MSA-2 control id is then empty.
//
// Pure: the time and the new control id come from the caller (AckContext).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/identity/hl7/message.h"

namespace hie::hl7 {

enum class AckCode { kAccept, kError, kReject };  // MSA-1: AA, AE, AR
std::string_view AckCodeString(AckCode code);

// The conventional decision for an error: AR for message-level problems the sender must not
// resend unchanged (100 structure, 200 type, 201 event, 207 limits/internal), AE for content
// errors in an otherwise acceptable message (101, 102, 103).
AckCode DefaultAckCode(const Hl7Error& error);

struct AckContext {
  std::string control_id;  // MSH-10 of the ACK; the caller makes it unique
  absl::Time now;          // MSH-7 of the ACK (written in UTC)
  std::string default_application = "HIE";
  std::string default_facility = "HIE";
};

// The ACK for a parsed message; `errors` become ERR segments (ERR-3 text from table 0357,
// ERR-8 the error's text, which carries no PHI).
[[nodiscard]] std::string BuildAck(const Message& original, AckCode code,
                                   const std::vector<Hl7Error>& errors, const AckContext& ctx);

// The ACK for raw bytes: parses them if possible, else recovers the header from the first
// line, else uses defaults. Meant for unparseable input (code AR with the parse error).
[[nodiscard]] std::string BuildAckForRaw(std::string_view raw, AckCode code,
                                         const std::vector<Hl7Error>& errors,
                                         const AckContext& ctx);

// The ACK for the outcome of applying a mapped message (e.g. the identity operation's status):
//   OK                                   -> AA
//   UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNKNOWN, CANCELLED
//                                        -> "" (no ACK: MllpServer closes the connection and the
//                                           sender resends; the store must be idempotent on
//                                           (peer org, MSH-10))
//   PERMISSION_DENIED, UNAUTHENTICATED   -> AR with error 207
//   anything else                        -> AE with error 207
// ERR-8 is a fixed text naming the status code; status messages are not copied into the ACK.
[[nodiscard]] std::string BuildAckForStatus(const Message& original, const absl::Status& status,
                                            const AckContext& ctx);

// MSA-1 of an ACK ("AA", "AE", "AR", "CA"...), "" when the bytes are not a parseable ACK.
std::string AckCodeOf(std::string_view ack);

}  // namespace hie::hl7
