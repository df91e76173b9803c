#pragma once

// The audit chain's canonical byte encoding, version 1: what every hash and signature covers.
// It is defined here, byte by byte, so that a verifier outside the hub can recompute every hash
// from the documented format alone; it never depends on how a protobuf library serialises.
//
// Primitives (all integers big-endian):
//   u8, u32, i64          1, 4 and 8 bytes (i64 two's complement)
//   str                   u32 byte length, then the bytes (UTF-8, as received)
//   time                  i64 nanoseconds since the Unix epoch (UTC); 0 = unset
//
// Event, version 1 (EncodeEvent):
//   "HIE-AUDIT-EVENT\0" (16 bytes) u8 1 (version)
//   i64 sequence, time record_time,
//   str event_id, time event_time, u32 type, str action, u32 outcome, str status_code,
//   str actor.org, str actor.user_id, u32 actor.role, u32 purpose_of_use,
//   str request_id, str client_request_id,
//   u32 n, n x (str org, str local_id)           patients, in the producer's order
//   str person_id, str custodian_org, str recipient_org,
//   u32 n, n x (str kind, str id)                objects, in the producer's order
//   str decision_id, str directive_id, str break_glass_id, str source_service,
//   str caller_subject, str network_address,
//   u32 n, n x (str key, str value)              details, keys in byte order
// (enums are their protobuf numbers.)
//
// Chain:  hash(e) = SHA-256( previous_hash || EncodeEvent(e) ), previous_hash of sequence 1 is
// 32 zero bytes. The sequence and record_time are in the encoding, so an event cannot be moved.
// Content fingerprint (idempotency, not chained): SHA-256 of EncodeEvent with sequence 0 and
// record_time unset: the producer's content only.
//
// Checkpoint, version 1 (EncodeCheckpoint), what a checkpoint signature covers:
//   "HIE-AUDIT-CHKPT\0" (16 bytes) u8 1, i64 sequence, 32 bytes head_hash, time create_time,
//   str key_id
//
// The encoder is also the stored form: the audit store keeps each event as these bytes, and
// DecodeEvent reads them back (search answers are decoded from the hashed bytes themselves).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"

namespace hie::audit {

// `v1` here is ::hie::audit::v1 (the protobuf package): no alias needed (clang refuses one).

inline constexpr size_t kHashSize = 32;
inline constexpr int kEventEncodingVersion = 1;

// A 32-byte SHA-256 value, as raw bytes in a string.
std::string Sha256(std::string_view a, std::string_view b = {});
// 32 zero bytes: the previous hash of sequence 1.
const std::string& GenesisHash();

// The canonical encoding of `event` (its hash and previous_hash are ignored).
std::string EncodeEvent(const v1::AuditEvent& event);
// Parses an encoding written by EncodeEvent, filling everything but hash and previous_hash.
// INVALID_ARGUMENT (naming the offset) when the bytes are not a canonical version-1 event
// (details keys must be strictly ascending), so whatever decodes re-encodes to the same bytes.
absl::StatusOr<v1::AuditEvent> DecodeEvent(std::string_view bytes);

// The producer's content fingerprint (see above).
std::string ContentFingerprint(const v1::AuditEvent& event);
// hash(e) given the encoding of e.
inline std::string ChainHash(std::string_view previous_hash, std::string_view encoding) {
  return Sha256(previous_hash, encoding);
}

// What a checkpoint's signature covers.
std::string EncodeCheckpoint(int64_t sequence, std::string_view head_hash, absl::Time create_time,
                             std::string_view key_id);

// Nanoseconds since the epoch of a protobuf Timestamp / absl::Time (0 for unset / InfinitePast).
int64_t TimestampNanos(const google::protobuf::Timestamp& t);

// absl::Time of a Timestamp through those nanoseconds (the precision events keep); the other
// way is hie::SetTimestamp (services/common/proto_time.h).
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

std::string HexEncode(std::string_view bytes);

}  // namespace hie::audit
