#pragma once

// A text file format for trained Fellegi-Sunter parameters (ModelParams), so that a model
// estimated offline (`hie-mpi train`) can be loaded by a service and give the same scores after
// every restart. Example:
//
//   # hie-mpi model parameters
//   format 1
//   lambda 1.2345678901234567e-05
//   m given_name 0.01 0.02 0.05 0.92
//   u given_name 0.95 0.03 0.015 0.005
//   ...
//
// One `m` and one `u` row per comparison field (FieldName), each with one probability per level
// 1..NumLevels-1 (level 0, missing, has none), in level order. Lines starting with '#' and blank
// lines are ignored. Numbers are written with 17 significant digits, so Format then Parse gives
// the identical parameters.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hie/mpi/model.h"

namespace hie::mpi {

// The file text of `params`. `comment` (may be empty, one line) is written as a '#' line.
std::string FormatModelParams(const ModelParams& params, std::string_view comment = "");

// Parses FormatModelParams text. INVALID_ARGUMENT naming the line for: an unknown keyword or
// field, a wrong number of levels, a value that is not a finite number in [0, 1] (lambda in
// (0, 1)), a row whose probabilities do not sum to 1 (within 1e-6), a repeated or missing row,
// a missing lambda or an unsupported format version.
[[nodiscard]] absl::StatusOr<ModelParams> ParseModelParams(std::string_view text);

// Reads and parses the file at `path` (NOT_FOUND if it cannot be read).
[[nodiscard]] absl::StatusOr<ModelParams> LoadModelParamsFile(const std::string& path);

// Writes FormatModelParams(params, comment) to `path` (replacing it). Errors follow errno
// (PERMISSION_DENIED, NOT_FOUND for a missing directory, ...) with the path in the message.
[[nodiscard]] absl::Status WriteModelParamsFile(const ModelParams& params, const std::string& path,
                                                std::string_view comment = "");

}  // namespace hie::mpi
