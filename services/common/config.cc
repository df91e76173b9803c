#include "services/common/config.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace hie {

std::string Config::EnvName(std::string_view key) {
  std::string name = absl::StrCat("HIE_", absl::StrReplaceAll(std::string(key), {{"-", "_"}}));
  absl::AsciiStrToUpper(&name);
  return name;
}

absl::StatusOr<Config> Config::Load(std::span<const ConfigKey> keys, int argc,
                                    const char* const* argv, const char* const* envp) {
  Config config;
  std::map<std::string, std::string, std::less<>> env;
  for (const char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq != std::string_view::npos) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  std::set<std::string, std::less<>> switches;
  for (const ConfigKey& key : keys) {
    auto it = env.find(EnvName(key.name));
    config.values_[key.name] = it != env.end() ? it->second : key.default_value;
    if (key.is_switch) switches.insert(key.name);
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg == "--help" || arg == "-h") {
      config.help_requested_ = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", std::string(arg), "'"));
    }
    arg.remove_prefix(2);
    std::string name, value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else if (switches.contains(arg)) {
      name = std::string(arg);
      value = "true";
    } else {
      name = std::string(arg);
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    auto it = config.values_.find(name);
    if (it == config.values_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    it->second = std::move(value);
  }
  return config;
}

std::string Config::Usage(std::string_view program, std::span<const ConfigKey> keys) {
  std::string out = absl::StrCat("usage: ", std::string(program), " [--key=value ...]\n\n");
  for (const ConfigKey& key : keys) {
    absl::StrAppend(&out, "  --", key.name, " (env ", EnvName(key.name), ", default '",
                    key.default_value, "')\n      ", key.help, "\n");
  }
  return out;
}

const std::string& Config::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    std::cerr << "BUG: undeclared config key '" << name << "'\n";
    std::abort();
  }
  return it->second;
}

absl::StatusOr<int64_t> Config::GetInt(std::string_view name) const {
  int64_t value;
  if (!absl::SimpleAtoi(Get(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", std::string(name), " must be an integer"));
  }
  return value;
}

absl::StatusOr<bool> Config::GetBool(std::string_view name) const {
  bool value;
  if (!absl::SimpleAtob(Get(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", std::string(name), " must be true or false"));
  }
  return value;
}

absl::StatusOr<absl::Duration> Config::GetDuration(std::string_view name) const {
  absl::Duration value;
  if (!absl::ParseDuration(Get(name), &value) || value < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(name), " must be a duration such as 250ms or 5s"));
  }
  return value;
}

namespace {

absl::StatusOr<Config::HostPort> ParseHostPort(absl::string_view value, const std::string& name) {
  const size_t colon = value.rfind(':');
  Config::HostPort out;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(value.substr(colon + 1), &out.port) || out.port < 0 || out.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be HOST:PORT"));
  }
  out.host = std::string(value.substr(0, colon));
  return out;
}

}  // namespace

absl::StatusOr<Config::HostPort> Config::GetHostPort(std::string_view name) const {
  return ParseHostPort(Get(name), std::string(name));
}

absl::StatusOr<std::vector<Config::HostPort>> Config::GetHostPortList(std::string_view name) const {
  std::vector<HostPort> out;
  const std::string& value = Get(name);
  if (value.empty()) return out;
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    absl::StatusOr<HostPort> address = ParseHostPort(item, std::string(name));
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", std::string(name), " must be HOST:PORT,HOST:PORT..."));
    }
    out.push_back(*std::move(address));
  }
  return out;
}

absl::StatusOr<std::set<std::string>> ParseNameList(std::string_view csv, std::string_view flag) {
  std::set<std::string> names;
  if (csv.empty()) return names;
  for (absl::string_view name : absl::StrSplit(absl::string_view(csv.data(), csv.size()), ',')) {
    bool printable = !name.empty() && name.size() <= 64;
    for (char c : name) printable = printable && c > ' ' && c <= '~';
    if (!printable) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", absl::string_view(flag.data(), flag.size()),
                       " names must be 1 to 64 printable ASCII characters"));
    }
    names.emplace(name);
  }
  return names;
}

}  // namespace hie
