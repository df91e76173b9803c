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
// Text: an ACK is always valid UTF-8 with no control character but the CR that ends each
// segment. Copied values (MSH-3..6, MSH-9.2, MSH-10..12) are decoded from the original's
// character set (MSH-18); a byte that is invalid in it (or any non-ASCII byte when MSH-18 is
// unsupported) and every control character become '?'. When a copied value or an ERR text holds
// a non-ASCII character the ACK declares MSH-18 "UNICODE UTF-8"; otherwise it is plain ASCII
// with MSH-18 empty. Error texts (ERR-8) are sanitised the same way.
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
// errors in an otherwise acceptable message (101, 102 including undecodable text, 103
// including an unsupported MSH-18, 204 unknown key, 205 duplicate key).
AckCode DefaultAckCode(const Hl7Error& error);

struct AckContext {
  std::string control_id;  // MSH-10 of the ACK; the caller makes it unique
  absl::Time now;          // MSH-7 of the ACK (written in UTC)
  std::string default_application = "HIE";
  std::string default_facility = "HIE";
};

// The ACK for a parsed message; `errors` become ERR segments (ERR-2 the location, ERR-3 the
// code with its table 0357 text, ERR-4 the severity, ERR-8 the error's text, which carries no
// PHI).
[[nodiscard]] std::string BuildAck(const Message& original, AckCode code,
                                   const std::vector<Hl7Error>& errors, const AckContext& ctx);

// The ACK for raw bytes: parses them if possible, else recovers the header from the first
// line, else uses defaults. Meant for unparseable input (code AR with the parse error).
[[nodiscard]] std::string BuildAckForRaw(std::string_view raw, AckCode code,
                                         const std::vector<Hl7Error>& errors,
                                         const AckContext& ctx);

// The ACK for the outcome of applying a mapped message (e.g. the identity operation's status).
// The convention: AA when applied; AE only for the message's own fault; no ACK at all for a
// transient server-side condition; AR for a message the hub will not accept.
//
//   status                               MSA-1  ERR-3  ERR-8
//   OK                                   AA     -      -
//   INVALID_ARGUMENT                     AE     102    the status message (*)
//   FAILED_PRECONDITION                  AE     207    the status message (*)
//   OUT_OF_RANGE                         AE     102    "the message was not applied: OUT_OF_RANGE"
//   NOT_FOUND                            AE     204    "... NOT_FOUND"
//   ALREADY_EXISTS                       AE     205    "... ALREADY_EXISTS"
//   UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNKNOWN, CANCELLED
//                                        "" (no ACK: MllpServer closes the connection and the
//                                        sender resends; the store must be idempotent on
//                                        (peer org, MSH-10))
//   PERMISSION_DENIED, UNAUTHENTICATED   AR     207    "... PERMISSION_DENIED" (...)
//   INTERNAL, DATA_LOSS, UNIMPLEMENTED and any other code
//                                        AR     207    "... INTERNAL" (...): not the sender's
//                                        fault, and resending will not help
// (*) escaped, cut to 200 bytes (never inside a UTF-8 sequence) and sanitised like every ERR
// text. The caller guarantees that INVALID_ARGUMENT and FAILED_PRECONDITION messages name fields
// and never carry values (the identity service's errors do); the sender needs them to learn
// which field was wrong. Other status messages are never copied.
// 207 for FAILED_PRECONDITION: table 0357 has no code for "the record is in a state that
// refuses this change"; ERR-8 says which.
[[nodiscard]] std::string BuildAckForStatus(const Message& original, const absl::Status& status,
                                            const AckContext& ctx);

// As above, and `warnings` (e.g. identifiers the service dropped) become ERR segments after the
// status's own ERR, in order, whatever the outcome (nothing when no ACK is sent). They are
// written with their own severity, except that Severity::kError is written as W: a warning list
// cannot turn an AA into an error.
[[nodiscard]] std::string BuildAckForStatus(const Message& original, const absl::Status& status,
                                            const std::vector<Hl7Error>& warnings,
                                            const AckContext& ctx);

// The most bytes of a status message BuildAckForStatus copies into ERR-8.
inline constexpr size_t kMaxStatusTextBytes = 200;

// MSA-1 of an ACK ("AA", "AE", "AR", "CA"...), "" when the bytes are not a parseable ACK.
std::string AckCodeOf(std::string_view ack);

}  // namespace hie::hl7
