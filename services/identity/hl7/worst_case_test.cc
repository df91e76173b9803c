// Parsing, mapping and acknowledging stay linear: every hostile message of worst_case.h (up to
// 1 MiB) is handled within a CPU bound that is ten times the target (100 ms) and generous
// enough for AddressSanitizer, yet far below what quadratic work costs (30,000 PID-3
// repetitions took 23-26 s before repetitions were indexed). Thread CPU time, not wall time,
// so a busy machine does not make the test flaky. The real figures: hl7_bench --worst-case.

#include "services/identity/hl7/worst_case.h"

#include <gtest/gtest.h>

#include <string>

#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"

namespace hie::hl7 {
namespace {

constexpr double kCpuBoundSeconds = 1.0;

class WorstCaseTest : public ::testing::TestWithParam<WorstCase> {};

TEST_P(WorstCaseTest, IsAnsweredWithinTheCpuBound) {
  const WorstCase& c = GetParam();
  ASSERT_LE(c.message.size(), size_t{1} << 20) << "a case must fit in one MLLP frame";
  double start = ThreadCpuSeconds();
  std::string ack = HandleForWorstCase(c.message, c.limits);
  double seconds = ThreadCpuSeconds() - start;
  RecordProperty("cpu_ms", static_cast<int>(seconds * 1000));  // in --gtest_output=xml
  EXPECT_LE(seconds, kCpuBoundSeconds) << c.name << " (" << c.message.size() << " bytes)";
  Hl7Result<Message> reply = Message::Parse(ack);
  ASSERT_TRUE(reply.ok()) << reply.error().text;
  EXPECT_EQ(reply.value().Get("MSA", 1), c.expected_ack) << reply.value().Get("ERR", 8);
  if (c.expected_error != 0) {
    EXPECT_EQ(reply.value().Get("ERR", 3, 0, 1), std::to_string(c.expected_error));
  }
  EXPECT_TRUE(IsValidUtf8(ack));
}

INSTANTIATE_TEST_SUITE_P(Cases, WorstCaseTest, ::testing::ValuesIn(WorstCases()),
                         [](const ::testing::TestParamInfo<WorstCase>& info) {
                           return info.param.name;
                         });

// The review's case mapped in full: every one of the 30,000 identifiers is kept, in order.
TEST(WorstCaseTest, ThirtyThousandRepetitionsAreAllMapped) {
  for (const WorstCase& c : WorstCases()) {
    if (c.name != "pid3_30000_repetitions_cap_raised") continue;
    double start = ThreadCpuSeconds();
    Hl7Result<Message> parsed = Message::Parse(c.message, c.limits);
    ASSERT_TRUE(parsed.ok()) << parsed.error().text;
    EXPECT_EQ(parsed.value().Find("PID")->RepetitionCount(3), 30000);
    Hl7Result<AdtEvent> event = MapAdt(parsed.value());
    EXPECT_LE(ThreadCpuSeconds() - start, kCpuBoundSeconds);
    ASSERT_TRUE(event.ok()) << event.error().text;
    ASSERT_EQ(event.value().patient.identifiers.size(), 30000u);
    EXPECT_EQ(event.value().patient.identifiers[29999].id, "ID29999");
    EXPECT_EQ(event.value().patient.local_id.id, "ID0");
    return;
  }
  FAIL() << "the case is missing";
}

// The default cap refuses the same message, naming the field.
TEST(WorstCaseTest, TheRepetitionCapNamesTheField) {
  for (const WorstCase& c : WorstCases()) {
    if (c.name != "pid3_30000_repetitions_default_cap") continue;
    Hl7Result<Message> parsed = Message::Parse(c.message);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().code, ErrorCode::kApplicationInternalError);
    EXPECT_EQ(parsed.error().segment_id, "PID");
    EXPECT_EQ(parsed.error().segment_index, 1);
    EXPECT_EQ(parsed.error().field, 3);
    EXPECT_EQ(parsed.error().text, "PID-3: more than 1000 repetitions (the limit of this hub)");
    EXPECT_EQ(DefaultAckCode(parsed.error()), AckCode::kReject);
    return;
  }
  FAIL() << "the case is missing";
}

}  // namespace
}  // namespace hie::hl7
