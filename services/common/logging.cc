#include "services/common/logging.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hie {
namespace {

struct LogState {
  std::mutex mu;
  std::string service = "hie";
  std::function<void(std::string_view)> sink;
};

LogState& State() {
  static auto* state = new LogState();  // never destroyed: logging works during shutdown
  return *state;
}

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

std::string JsonQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

LogField::LogField(std::string_view key, std::string_view value)
    : key_(key), json_value_(JsonQuote(value)) {}
LogField::LogField(std::string_view key, int64_t value) : key_(key), json_value_(absl::StrCat(value)) {}
LogField::LogField(std::string_view key, uint64_t value)
    : key_(key), json_value_(absl::StrCat(value)) {}
LogField::LogField(std::string_view key, double value)
    : key_(key), json_value_(absl::StrFormat("%.3f", value)) {}
LogField::LogField(std::string_view key, bool value) : key_(key), json_value_(value ? "true" : "false") {}

void SetLogService(std::string_view service) {
  std::lock_guard lock(State().mu);
  State().service = std::string(service);
}

void SetMinLogLevel(LogLevel level) { min_level = static_cast<int>(level); }

void SetLogSink(std::function<void(std::string_view line)> sink) {
  std::lock_guard lock(State().mu);
  State().sink = std::move(sink);
}

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  std::string line = absl::StrCat(
      "{\"ts\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"level\":\"", LevelName(level), "\"");
  LogState& state = State();
  std::lock_guard lock(state.mu);
  absl::StrAppend(&line, ",\"service\":", JsonQuote(state.service), ",\"event\":", JsonQuote(event));
  for (const LogField& field : fields) {
    absl::StrAppend(&line, ",", JsonQuote(field.key()), ":", field.json_value());
  }
  line += "}\n";
  if (state.sink) {
    state.sink(line);
  } else {
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
}

}  // namespace hie
