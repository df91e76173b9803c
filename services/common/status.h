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

namespace hie {

[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);
[[nodiscard]] absl::Status FromGrpcStatus(const grpc::Status& status);

// "INVALID_ARGUMENT", ...: the canonical name of a gRPC code ("UNKNOWN" for a value outside the
// 17 codes), for logs, metric labels and messages.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace hie

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define HIE_RETURN_IF_ERROR(expr)                \
  do {                                           \
    if (absl::Status hie_status_ = (expr); !hie_status_.ok()) return hie_status_; \
  } while (false)

#define HIE_STATUS_CONCAT_INNER_(a, b) a##b
#define HIE_STATUS_CONCAT_(a, b) HIE_STATUS_CONCAT_INNER_(a, b)

// `HIE_ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares x from the value, or returns the
// error status from the enclosing function.
#define HIE_ASSIGN_OR_RETURN(lhs, expr) \
  HIE_ASSIGN_OR_RETURN_IMPL_(HIE_STATUS_CONCAT_(hie_statusor_, __LINE__), lhs, expr)
#define HIE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
