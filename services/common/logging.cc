#include "services/common/logging.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hie {
namespace {

// Two locks: `mu` guards the fields and is held only to append or take lines; `write_mu` is held
// by whoever writes a taken chunk, and is taken before `mu` when taking one, so chunks reach the
// file descriptor in the order they were taken.
struct LogState {
  std::mutex mu;
  std::string service = "hie";
  std::function<void(std::string_view)> sink;
  std::string queued;
  size_t queue_limit = 4u << 20;
  uint64_t dropped = 0;
  int fd = 2;
  bool writer_started = false;
  std::condition_variable wake_writer;
  std::mutex write_mu;
};

LogState& State() {
  static auto* state = new LogState();  // never destroyed: logging works during shutdown
  return *state;
}

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

std::string Timestamp() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
}

// Writes all of `data` (retrying short writes and interrupts); returns how many of its lines
// were not written whole when the descriptor fails (a line cut short counts). There is no
// better place to report the failure than the next log_lines_dropped count.
uint64_t WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::count(data.begin(), data.end(), '\n');
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// Takes what is queued (with a line counting the drops, if any) and writes it. Caller holds
// `write_mu`, not `mu`.
void WriteQueued(LogState& state) {
  std::string chunk;
  uint64_t dropped = 0;
  std::string service;
  int fd;
  {
    std::lock_guard lock(state.mu);
    chunk.swap(state.queued);
    dropped = std::exchange(state.dropped, 0);
    if (dropped > 0) service = state.service;
    fd = state.fd;
  }
  if (dropped > 0) {
    absl::StrAppend(&chunk, "{\"ts\":\"", Timestamp(),
                    "\",\"level\":\"warning\",\"service\":", JsonQuote(service),
                    ",\"event\":\"log_lines_dropped\",\"count\":", dropped, "}\n");
  }
  if (const uint64_t lost = WriteAll(fd, chunk); lost > 0) {
    std::lock_guard lock(state.mu);
    state.dropped += lost;
  }
}

// The writer wakes every kFlushInterval, or at once when the queue passes kWakeBytes: a caller
// never wakes it for a single line (on a virtual machine a wake-up per call costs more than the
// write(2) it saves), and a busy service's lines go out in chunks of about kWakeBytes.
constexpr auto kFlushInterval = std::chrono::milliseconds(50);
constexpr size_t kWakeBytes = 64u << 10;

void WriterLoop() {
  LogState& state = State();
  for (;;) {
    {
      std::unique_lock lock(state.mu);
      state.wake_writer.wait_for(lock, kFlushInterval,
                                 [&] { return state.queued.size() >= kWakeBytes; });
      if (state.queued.empty() && state.dropped == 0) continue;
    }
    std::lock_guard write_lock(state.write_mu);
    WriteQueued(state);
  }
}

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

void SetLogFileDescriptor(int fd) {
  LogState& state = State();
  std::lock_guard write_lock(state.write_mu);  // no chunk goes to the old descriptor after this
  WriteQueued(state);
  std::lock_guard lock(state.mu);
  state.fd = fd;
}

void SetLogQueueLimit(size_t bytes) {
  std::lock_guard lock(State().mu);
  State().queue_limit = bytes;
}

void FlushLog() {
  LogState& state = State();
  std::lock_guard write_lock(state.write_mu);
  WriteQueued(state);
}

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  std::string line =
      absl::StrCat("{\"ts\":\"", Timestamp(), "\",\"level\":\"", LevelName(level), "\"");
  LogState& state = State();
  const bool now = level >= LogLevel::kWarning;
  // A line written now goes after everything queued before it: `write_mu` first (see LogState).
  std::unique_lock<std::mutex> write_lock(state.write_mu, std::defer_lock);
  if (now) write_lock.lock();
  {
    std::lock_guard lock(state.mu);
    absl::StrAppend(&line, ",\"service\":", JsonQuote(state.service),
                    ",\"event\":", JsonQuote(event));
    for (const LogField& field : fields) {
      absl::StrAppend(&line, ",", JsonQuote(field.key()), ":", field.json_value());
    }
    line += "}\n";
    if (state.sink) {
      state.sink(line);
      return;
    }
    if (!now && state.queued.size() + line.size() > state.queue_limit) {
      ++state.dropped;
      return;
    }
    const bool was_below = state.queued.size() < kWakeBytes;
    state.queued += line;
    if (!now) {
      if (!state.writer_started) {
        state.writer_started = true;
        std::thread(WriterLoop).detach();
        std::atexit(FlushLog);
      }
      if (was_below && state.queued.size() >= kWakeBytes) state.wake_writer.notify_one();
      return;
    }
  }
  WriteQueued(state);
}

}  // namespace hie
