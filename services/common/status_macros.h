#pragma once

// Early return on error, for code that must not depend on gRPC (cores, stores, pure libraries);
// services/common/status.h includes it too. Header only.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define HIE_RETURN_IF_ERROR(expr)                                                 \
  do {                                                                            \
    if (absl::Status hie_status_ = (expr); !hie_status_.ok()) return hie_status_; \
  } while (false)

#define HIE_STATUS_CONCAT_INNER_(a, b) a##b
#define HIE_STATUS_CONCAT_(a, b) HIE_STATUS_CONCAT_INNER_(a, b)

// `HIE_ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares x from the value, or returns the
// error status from the enclosing function.
#define HIE_ASSIGN_OR_RETURN(lhs, expr) \
  HIE_ASSIGN_OR_RETURN_IMPL_(HIE_STATUS_CONCAT_(hie_statusor_, __LINE__), lhs, expr)
#define HIE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)    \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
