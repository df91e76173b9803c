#pragma once

// What every service's idempotent writes share: the fingerprint that identifies a request
// (protobuf's deterministic serialization of it, context cleared by the caller), and the replay
// of a stored answer. `Txn` is a store transaction with
//   StatusOr<optional<S>> GetIdempotent(const std::string& key)
// where S has `fingerprint` and `response` (serialized) members. Header only.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "services/common/status_macros.h"

namespace hie {

inline std::string Fingerprint(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// The stored answer for `key`, if this request was answered before; ALREADY_EXISTS if the key
// was used for another request; DATA_LOSS if the stored answer does not parse.
template <typename Response, typename Txn>
absl::StatusOr<std::optional<Response>> ReplayIdempotent(Txn& txn, const std::string& key,
                                                         const std::string& fingerprint) {
  HIE_ASSIGN_OR_RETURN(auto stored, txn.GetIdempotent(key));
  if (!stored) return std::nullopt;
  if (stored->fingerprint != fingerprint) {
    return absl::AlreadyExistsError("idempotency_key was used for a different request");
  }
  Response response;
  if (!response.ParseFromString(stored->response)) {
    return absl::DataLossError("stored idempotent response is unreadable");
  }
  return response;
}

}  // namespace hie
