#include "services/common/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace hie {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogService("test-svc");
    SetLogSink([this](std::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetMinLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LoggingTest, WritesOneJsonObjectPerLineWithTypedFields) {
  Log(LogLevel::kInfo, "rpc",
      {{"rpc", "/hie.identity.v1.Identity/Resolve"}, {"code", "OK"}, {"count", 3},
       {"latency_ms", 1.5}, {"cached", true}});
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.substr(line.size() - 2), "}\n");
  EXPECT_NE(line.find("\"level\":\"info\""), std::string::npos);
  EXPECT_NE(line.find("\"service\":\"test-svc\""), std::string::npos);
  EXPECT_NE(line.find("\"event\":\"rpc\""), std::string::npos);
  EXPECT_NE(line.find("\"count\":3"), std::string::npos);
  EXPECT_NE(line.find("\"latency_ms\":1.500"), std::string::npos);
  EXPECT_NE(line.find("\"cached\":true"), std::string::npos);
}

TEST_F(LoggingTest, EscapesQuotesControlCharactersAndNewlines) {
  Log(LogLevel::kWarning, "odd", {{"request_id", "a\"b\\c\nd\x01"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find(R"("request_id":"a\"b\\c\nd\u0001")"), std::string::npos);
  EXPECT_EQ(lines_[0].find('\n'), lines_[0].size() - 1);  // only the terminating newline
}

TEST_F(LoggingTest, DropsLinesBelowTheMinimumLevel) {
  SetMinLogLevel(LogLevel::kWarning);
  Log(LogLevel::kInfo, "quiet");
  Log(LogLevel::kError, "loud");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("\"event\":\"loud\""), std::string::npos);
}

// The queued path: no sink, lines go to a file descriptor through the log's writer thread.
class QueuedLoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { SetLogService("test-svc"); }
  void TearDown() override {
    SetLogFileDescriptor(2);
    SetLogQueueLimit(4u << 20);
  }
};

std::string ReadAll(int fd) {
  std::string out;
  char buffer[65536];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  return out;
}

// The value of `"key":<digits>` in a line, or -1.
int64_t IntField(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return -1;
  std::string rest = line.substr(at + needle.size());
  rest = rest.substr(0, rest.find_first_of(",}"));
  int64_t value;
  return absl::SimpleAtoi(rest, &value) ? value : -1;
}

TEST_F(QueuedLoggingTest, LinesFromManyThreadsArriveWholeAndInOrder) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  SetLogFileDescriptor(fileno(file));
  constexpr int kThreads = 4, kLines = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int n = 0; n < kLines; ++n) Log(LogLevel::kInfo, "rpc", {{"thread", t}, {"n", n}});
    });
  }
  for (std::thread& thread : threads) thread.join();
  FlushLog();
  std::vector<int> next(kThreads, 0);
  int lines = 0;
  const std::vector<std::string> all =
      absl::StrSplit(ReadAll(fileno(file)), '\n', absl::SkipEmpty());
  for (const std::string& line : all) {
    ++lines;
    ASSERT_EQ(line.front(), '{') << line;
    ASSERT_EQ(line.back(), '}') << line;
    const int64_t t = IntField(line, "thread");
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(IntField(line, "n"), next[t]++) << line;
  }
  EXPECT_EQ(lines, kThreads * kLines);
  SetLogFileDescriptor(2);  // before the descriptor is closed and its number reused
  std::fclose(file);
}

TEST_F(QueuedLoggingTest, AWarningIsWrittenBeforeLogReturnsAfterTheLinesQueuedBeforeIt) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  SetLogFileDescriptor(fileno(file));
  for (int n = 0; n < 100; ++n) Log(LogLevel::kInfo, "rpc", {{"n", n}});
  Log(LogLevel::kWarning, "slow_query", {{"n", 100}});
  // No FlushLog: the warning's own write took the queued lines with it.
  std::vector<std::string> lines = absl::StrSplit(ReadAll(fileno(file)), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 101u);
  for (int n = 0; n <= 100; ++n) EXPECT_EQ(IntField(lines[n], "n"), n);
  EXPECT_NE(lines[100].find("\"event\":\"slow_query\""), std::string::npos);
  SetLogFileDescriptor(2);
  std::fclose(file);
}

// A pipe nobody reads: the writer blocks in write(2), the callers do not; what does not fit in
// the queue is dropped and counted, and the count is written once the output moves again.
TEST_F(QueuedLoggingTest, AStalledOutputDropsLinesInsteadOfStallingTheCallers) {
  std::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  SetLogFileDescriptor(fds[1]);
  SetLogQueueLimit(16 << 10);
  constexpr int kLines = 5000;  // about 600 KB: ten times what the pipe and the queue hold
  for (int n = 0; n < kLines; ++n) Log(LogLevel::kInfo, "rpc", {{"n", n}});
  // Every line is accounted for: written, or counted in a log_lines_dropped line.
  int64_t written = 0, dropped = 0, last_n = -1;
  std::string pending;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  while (written + dropped < kLines && absl::Now() < give_up) {
    char buffer[65536];
    const ssize_t got = read(fds[0], buffer, sizeof buffer);
    if (got <= 0) {
      absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    pending.append(buffer, got);
    for (size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
      const std::string line = pending.substr(0, end);
      if (line.find("\"event\":\"log_lines_dropped\"") != std::string::npos) {
        dropped += IntField(line, "count");
      } else {
        const int64_t n = IntField(line, "n");
        EXPECT_GT(n, last_n) << line;
        last_n = n;
        ++written;
      }
    }
  }
  EXPECT_EQ(written + dropped, kLines);
  EXPECT_GT(dropped, 0);
  EXPECT_GT(written, 0);
  // The read end first: should the writer still be blocked on the pipe (a count that did not
  // add up), its write fails (EPIPE; SIGPIPE ignored) instead of hanging the reset below.
  close(fds[0]);
  SetLogFileDescriptor(2);
  close(fds[1]);
}

}  // namespace
}  // namespace hie
