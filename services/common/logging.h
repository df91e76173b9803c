#pragma once

// Structured logging: one JSON object per line on stderr.
//
//   Log(LogLevel::kInfo, "rpc", {{"rpc", method}, {"code", "OK"}, {"latency_ms", 0.42},
//                                {"request_id", id}});
//
// prints {"ts":"2026-11-22T02:14:00.123Z","level":"info","service":"identity","event":"rpc",
// "rpc":"...","code":"OK","latency_ms":0.42,"request_id":"..."}.
//
// Contract for callers: fields carry ids, codes, counts and timings only, never PHI (names,
// birth dates, MRNs, addresses). Thread-safe; each line is written whole.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace hie {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

class LogField {
 public:
  LogField(std::string_view key, std::string_view value);
  LogField(std::string_view key, const char* value) : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, const std::string& value)
      : LogField(key, std::string_view(value)) {}
#ifndef ABSL_USES_STD_STRING_VIEW  // Debian's absl has its own string_view type
  LogField(std::string_view key, absl::string_view value)
      : LogField(key, std::string_view(value.data(), value.size())) {}
#endif
  LogField(std::string_view key, int64_t value);
  LogField(std::string_view key, int value) : LogField(key, static_cast<int64_t>(value)) {}
  LogField(std::string_view key, uint64_t value);
  LogField(std::string_view key, double value);
  LogField(std::string_view key, bool value);

  std::string_view key() const { return key_; }
  // The value already encoded as JSON (quoted and escaped for strings).
  const std::string& json_value() const { return json_value_; }

 private:
  std::string_view key_;
  std::string json_value_;
};

// Names the service in every line; call once at start.
void SetLogService(std::string_view service);
// Lines below this level are dropped (default kInfo).
void SetMinLogLevel(LogLevel level);
// Replaces the stderr sink (tests capture lines); nullptr restores stderr.
void SetLogSink(std::function<void(std::string_view line)> sink);

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

// JSON string escaping, exposed for the few places that build JSON by hand.
std::string JsonQuote(std::string_view s);

}  // namespace hie
