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
// birth dates, MRNs, addresses). Thread-safe; each line is written whole, lines in the order
// their Log calls took the log's lock.
//
// Writing. Debug and info lines (the per-call "rpc" line among them) are queued and written by
// one writer thread of the log, every 50 ms or as soon as 64 KiB are queued: a thread finishing
// calls makes no write(2) and wakes no thread for its line, and the writer writes what
// accumulated in one. So an info line reaches the file up to 50 ms after Log returns (readers
// of a log, tests among them, poll for a line; FlushLog forces it).
// Warnings and errors are written before Log returns, after everything queued before them. The
// queue is bounded (SetLogQueueLimit, 4 MiB by default): when the output cannot keep up (a pipe
// nobody reads) info and debug lines are dropped rather than their callers stalled, and the
// writer reports how many in a "log_lines_dropped" line once it can write again (lines a
// failing descriptor did not take count too). A warning, an error and FlushLog still wait for
// the output, as every line did before the queue. FlushLog writes what is queued;
// it runs at exit and at a service's shutdown. A kill -9 loses at most the queued lines, which
// are operational output: the audit trail is in the audit service, never in these lines.

#include <cstddef>
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
// Replaces the stderr sink (tests capture lines; a sink is called synchronously, under the log's
// lock); nullptr restores stderr.
void SetLogSink(std::function<void(std::string_view line)> sink);
// Where queued lines go (default 2, stderr); for tests. Flushes what is queued first.
void SetLogFileDescriptor(int fd);
// Bytes of queued lines beyond which lines are dropped (and counted).
void SetLogQueueLimit(size_t bytes);
// Writes every line queued so far before returning.
void FlushLog();

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

// JSON string escaping, exposed for the few places that build JSON by hand.
std::string JsonQuote(std::string_view s);

}  // namespace hie
