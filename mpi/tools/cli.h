#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hie/mpi/normalize.h"

namespace hie::mpi::cli {

// Parsed "--name value" / "--flag" arguments of one subcommand. Values of repeated options are
// kept in order.
struct Args {
  std::map<std::string, std::vector<std::string>> values;
  bool Has(const std::string& name) const { return values.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& All(const std::string& name) const;
};

// `flags` are the options that take no value; every other "--x" takes the next argument.
[[nodiscard]] absl::StatusOr<Args> ParseArgs(int argc, char** argv, int first,
                                             const std::vector<std::string>& flags);
[[nodiscard]] absl::StatusOr<std::string> ReadFile(const std::string& path);
[[nodiscard]] absl::StatusOr<double> ParseDouble(const std::string& name, const std::string& v);
[[nodiscard]] absl::StatusOr<int64_t> ParseInt(const std::string& name, const std::string& v);
// --threads (an integer in [1, 256]) into *threads when given, and --date-order (mdy, the default,
// or dmy) into norm->date_order: the options `link` and `train` share. On a bad value prints
// "hie-mpi <command>: ..." to stderr and returns false.
[[nodiscard]] bool ParseThreadsAndDateOrder(const Args& args, const char* command, int* threads,
                                            NormalizerOptions* norm);
// The nickname table when --nicknames is not given: the installed copy beside this binary
// (<prefix>/share/hie/nicknames.csv, as `cmake --install` lays it out) when there is one, else
// the engine's own (DefaultNicknamePath: the source tree's, for a binary of the build tree).
std::string DefaultToolNicknamePath();
// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
int64_t PeakRssBytes();
double NowSeconds();

int RunLink(const Args& args);
int RunEval(const Args& args);
int RunGenerate(const Args& args);
int RunBench(const Args& args);
int RunTrain(const Args& args);

}  // namespace hie::mpi::cli
