#include "hie/mpi/model_params_file.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hie::mpi {
namespace {

constexpr int kFormatVersion = 1;

std::string Number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool ParseNumber(std::string_view s, double* out) {
  const std::string text(s);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

// Splits on spaces, dropping empty tokens.
std::vector<std::string_view> LineTokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < line.size()) {
    const size_t end = std::min(line.find(' ', pos), line.size());
    if (end > pos) out.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

int FieldOf(std::string_view name) {
  for (int f = 0; f < kNumFields; ++f) {
    if (name == FieldName(static_cast<Field>(f))) return f;
  }
  return -1;
}

}  // namespace

std::string FormatModelParams(const ModelParams& params, std::string_view comment) {
  std::string out = "# hie-mpi model parameters\n";
  if (!comment.empty()) {
    out += "# " + std::string(comment.substr(0, comment.find('\n'))) + "\n";
  }
  absl::StrAppend(&out, "format ", kFormatVersion, "\n");
  absl::StrAppend(&out, "lambda ", Number(params.lambda), "\n");
  for (const char* kind : {"m", "u"}) {
    for (int f = 0; f < kNumFields; ++f) {
      const Field field = static_cast<Field>(f);
      absl::StrAppend(&out, kind, " ", FieldName(field));
      const auto& row = kind[0] == 'm' ? params.m[f] : params.u[f];
      for (int l = 1; l < NumLevels(field); ++l) absl::StrAppend(&out, " ", Number(row[l]));
      out += '\n';
    }
  }
  return out;
}

absl::StatusOr<ModelParams> ParseModelParams(std::string_view text) {
  ModelParams params;
  bool seen_format = false;
  bool seen_lambda = false;
  std::array<std::array<bool, kNumFields>, 2> seen{};
  int line_no = 0;
  for (size_t start = 0; start < text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string_view> tokens = LineTokens(line);
    if (tokens.empty() || tokens[0][0] == '#') continue;
    auto error = [&](const std::string& what) {
      return absl::InvalidArgumentError(
          absl::StrCat("model parameters line ", line_no, ": ", what));
    };
    const std::string keyword(tokens[0]);
    const std::string field_name = tokens.size() > 1 ? std::string(tokens[1]) : std::string();
    if (keyword == "format") {
      double v = 0;
      if (tokens.size() != 2 || !ParseNumber(tokens[1], &v)) return error("bad format line");
      if (v != kFormatVersion) return error("unsupported format version");
      seen_format = true;
    } else if (keyword == "lambda") {
      double v = 0;
      if (tokens.size() != 2 || !ParseNumber(tokens[1], &v) || v <= 0 || v >= 1) {
        return error("lambda must be a number in (0, 1)");
      }
      if (seen_lambda) return error("repeated lambda");
      params.lambda = v;
      seen_lambda = true;
    } else if (keyword == "m" || keyword == "u") {
      if (tokens.size() < 2) return error("missing field name");
      const int f = FieldOf(tokens[1]);
      if (f < 0) return error("unknown field " + field_name);
      const int kind = keyword == "m" ? 0 : 1;
      if (seen[kind][f]) return error("repeated " + keyword + " row of " + field_name);
      const int levels = NumLevels(static_cast<Field>(f));
      if (static_cast<int>(tokens.size()) != levels + 1) {
        return error(absl::StrCat(field_name, " needs ", levels - 1, " values"));
      }
      auto& row = kind == 0 ? params.m[f] : params.u[f];
      double sum = 0;
      for (int l = 1; l < levels; ++l) {
        double v = 0;
        if (!ParseNumber(tokens[l + 1], &v) || v < 0 || v > 1) {
          return error("probabilities must be numbers in [0, 1]");
        }
        row[l] = v;
        sum += v;
      }
      if (std::abs(sum - 1) > 1e-6) return error("probabilities of a row must sum to 1");
      seen[kind][f] = true;
    } else {
      return error("unknown keyword " + keyword);
    }
  }
  if (!seen_format) return absl::InvalidArgumentError("model parameters: missing format line");
  if (!seen_lambda) return absl::InvalidArgumentError("model parameters: missing lambda");
  for (int kind = 0; kind < 2; ++kind) {
    for (int f = 0; f < kNumFields; ++f) {
      if (!seen[kind][f]) {
        return absl::InvalidArgumentError(absl::StrCat("model parameters: missing ",
                                                       kind == 0 ? "m" : "u", " row of ",
                                                       FieldName(static_cast<Field>(f))));
      }
    }
  }
  return params;
}

absl::StatusOr<ModelParams> LoadModelParamsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read model parameters ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<ModelParams> params = ParseModelParams(ss.str());
  if (!params.ok()) {
    return absl::Status(params.status().code(),
                        absl::StrCat(path, ": ", params.status().message()));
  }
  return params;
}

absl::Status WriteModelParamsFile(const ModelParams& params, const std::string& path,
                                  std::string_view comment) {
  const std::string text = FormatModelParams(params, comment);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    const int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat("cannot write ", path));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int err = errno;
  if (std::fclose(f) != 0 || !written) {
    return absl::ErrnoToStatus(written ? errno : err, absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace hie::mpi
