#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hie/mpi/nicknames.h"
#include "mpi/tools/cli.h"

// Where installed data lies seen from the installed binary (mpi/CMakeLists.txt sets it from
// GNUInstallDirs, as services/common does for the services).
#ifndef HIE_INSTALL_DATA_FROM_BIN
#define HIE_INSTALL_DATA_FROM_BIN "../share/hie"
#endif

namespace hie::mpi::cli {

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& Args::All(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = values.find(name);
  return it == values.end() ? kEmpty : it->second;
}

absl::StatusOr<Args> ParseArgs(int argc, char** argv, int first,
                               const std::vector<std::string>& flags) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "'"));
    }
    a = a.substr(2);
    if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
      args.values[a].push_back("1");
      continue;
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", a, " needs a value"));
    args.values[a].push_back(argv[++i]);
  }
  return args;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<double> ParseDouble(const std::string& name, const std::string& v) {
  double d;
  if (!absl::SimpleAtod(v, &d)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " expects a number"));
  }
  return d;
}

absl::StatusOr<int64_t> ParseInt(const std::string& name, const std::string& v) {
  int64_t d;
  if (!absl::SimpleAtoi(v, &d)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " expects an integer"));
  }
  return d;
}

std::string DefaultToolNicknamePath() {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path installed =
        (exe.parent_path() / HIE_INSTALL_DATA_FROM_BIN / "nicknames.csv").lexically_normal();
    if (std::filesystem::is_regular_file(installed, error)) return installed.string();
  }
  return DefaultNicknamePath();
}

int64_t PeakRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      int64_t kb = 0;
      std::istringstream ss(line.substr(6));
      ss >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool ParseThreadsAndDateOrder(const Args& args, const char* command, int* threads,
                              NormalizerOptions* norm) {
  if (args.Has("threads")) {
    auto v = ParseInt("threads", args.Get("threads"));
    if (!v.ok() || *v < 1 || *v > 256) {
      std::fprintf(stderr, "hie-mpi %s: --threads expects an integer in [1, 256]\n", command);
      return false;
    }
    *threads = static_cast<int>(*v);
  }
  const std::string order = args.Get("date-order", "mdy");
  if (order == "dmy") {
    norm->date_order = DateOrder::kDayFirst;
  } else if (order != "mdy") {
    std::fprintf(stderr, "hie-mpi %s: --date-order must be mdy or dmy\n", command);
    return false;
  }
  return true;
}

}  // namespace hie::mpi::cli
