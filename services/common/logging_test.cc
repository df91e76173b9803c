#include "services/common/logging.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace hie
