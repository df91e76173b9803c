#pragma once

// absl::Status helpers shared by every service, and the one place where absl::Status and
// grpc::Status are converted into each other.
//
// The mapping is deliberate, not numeric coincidence: each absl code maps to the gRPC code of
// the same meaning (both follow google.rpc.Code), and a status that is not a known code becomes
// UNKNOWN. Messages pass through unchanged; they must never carry PHI (ids only).

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/status_macros.h"  // IWYU pragma: export

namespace hie {

[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);
[[nodiscard]] absl::Status FromGrpcStatus(const grpc::Status& status);

// "INVALID_ARGUMENT", ...: the canonical name of a gRPC code ("UNKNOWN" for a value outside the
// 17 codes), for logs, metric labels and messages.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace hie
