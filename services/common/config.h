#pragma once

// Service configuration from command-line flags and environment variables.
//
// Each service declares the keys it understands (name, default, help). A key `pg-dsn` is set
// by `--pg-dsn=VALUE` (or `--pg-dsn VALUE`) or by the environment variable `HIE_PG_DSN`; a flag
// wins over the environment, which wins over the default. A key declared as a switch (a boolean,
// default "false") is also set to "true" by its bare flag: `--migrate-only`. Unknown flags and
// malformed values are errors (INVALID_ARGUMENT naming the key), so a typo never silently falls
// back to a default.

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hie {

struct ConfigKey {
  std::string name;           // lower-case, dash-separated: "listen", "pg-dsn"
  std::string default_value;  // used when neither flag nor environment sets the key
  std::string help;
  bool is_switch = false;  // `--name` alone means `--name=true` (never takes the next argument)
};

class Config {
 public:
  // `envp` is a null-terminated array like `environ`; tests pass their own.
  [[nodiscard]] static absl::StatusOr<Config> Load(std::span<const ConfigKey> keys, int argc,
                                                   const char* const* argv,
                                                   const char* const* envp);

  // Usage text listing every key with its flag, environment variable, default and help.
  static std::string Usage(std::string_view program, std::span<const ConfigKey> keys);

  // True when `--help` was given.
  bool help_requested() const { return help_requested_; }

  // The value of a declared key. Asking for an undeclared key is a programming error and
  // aborts (it would otherwise hide a typo in the service's own code).
  const std::string& Get(std::string_view name) const;
  [[nodiscard]] absl::StatusOr<int64_t> GetInt(std::string_view name) const;
  [[nodiscard]] absl::StatusOr<bool> GetBool(std::string_view name) const;
  // Durations in absl syntax: "250ms", "5s", "1m".
  [[nodiscard]] absl::StatusOr<absl::Duration> GetDuration(std::string_view name) const;
  // "HOST:PORT" (split at the last colon; port 0-65535). An empty value is an error too: callers
  // for whom empty means "disabled" check that first.
  struct HostPort {
    std::string host;
    int port = 0;
  };
  [[nodiscard]] absl::StatusOr<HostPort> GetHostPort(std::string_view name) const;
  // A comma-separated list of HOST:PORT (empty value: an empty list).
  [[nodiscard]] absl::StatusOr<std::vector<HostPort>> GetHostPortList(std::string_view name) const;

  static std::string EnvName(std::string_view key);  // "pg-dsn" -> "HIE_PG_DSN"

 private:
  std::map<std::string, std::string, std::less<>> values_;
  bool help_requested_ = false;
};

// A comma-separated list of names ("gateway,other"; empty: none), each 1..64 bytes of printable
// ASCII; INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<std::set<std::string>> ParseNameList(std::string_view csv, std::string_view flag);

}  // namespace hie
