#include "services/identity/hl7/message.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hie::hl7 {
namespace {

constexpr char kBasic[] =
    "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101120000||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r"
    "EVN|A01|20240101120000\r"
    "PID|1||MRN1^^^HOSP^MR~999^^^SSA^SS||DOE^JANE^Q||19800102|F\r";

std::string WithEnds(const std::string& cr_message, const std::string& end) {
  std::string out;
  for (char c : cr_message) {
    if (c == '\r') {
      out += end;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

struct LineEndCase {
  const char* name;
  std::string end;
  bool bom;
};

class LineEndTest : public ::testing::TestWithParam<LineEndCase> {};

TEST_P(LineEndTest, ParsesTheSameStructure) {
  std::string input = WithEnds(kBasic, GetParam().end);
  if (GetParam().bom) input = "\xEF\xBB\xBF" + input;
  Hl7Result<Message> parsed = Message::Parse(input);
  ASSERT_TRUE(parsed.ok()) << parsed.error().text;
  const Message& m = parsed.value();
  ASSERT_EQ(m.segments().size(), 3u);
  EXPECT_EQ(m.segments()[0].id(), "MSH");
  EXPECT_EQ(m.segments()[2].id(), "PID");
  EXPECT_EQ(m.Get("MSH", 1), "|");
  EXPECT_EQ(m.Get("MSH", 2), "^~\\&");
  EXPECT_EQ(m.Get("MSH", 3), "SENDAPP");
  EXPECT_EQ(m.Get("MSH", 9, 0, 1), "ADT");
  EXPECT_EQ(m.Get("MSH", 9, 0, 2), "A01");
  EXPECT_EQ(m.Get("MSH", 10), "CTRL1");
  EXPECT_EQ(m.Get("MSH", 12), "2.5.1");
  EXPECT_EQ(m.Get("PID", 5, 0, 1), "DOE");
  EXPECT_EQ(m.Get("PID", 5, 0, 3), "Q");
  EXPECT_EQ(m.Get("PID", 8), "F");
}

INSTANTIATE_TEST_SUITE_P(
    Endings, LineEndTest,
    ::testing::Values(LineEndCase{"cr", "\r", false}, LineEndCase{"lf", "\n", false},
                      LineEndCase{"crlf", "\r\n", false}, LineEndCase{"bom_lf", "\n", true},
                      LineEndCase{"blank_lines", "\n\n\r\n", false},
                      LineEndCase{"bom_cr", "\r", true}),
    [](const ::testing::TestParamInfo<LineEndCase>& info) { return info.param.name; });

TEST(MessageTest, RepetitionsComponentsSubcomponents) {
  Hl7Result<Message> parsed = Message::Parse(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r"
      "PID|1||MRN1^^^HOSP&1.2.3&ISO^MR~999^^^SSA^SS||DOE^JANE\r");
  ASSERT_TRUE(parsed.ok());
  const Segment* pid = parsed.value().Find("PID");
  ASSERT_NE(pid, nullptr);
  EXPECT_EQ(pid->RepetitionCount(3), 2);
  EXPECT_EQ(pid->ComponentCount(3, 0), 5);
  EXPECT_EQ(pid->Get(3, 0, 1), "MRN1");
  EXPECT_EQ(pid->Get(3, 0, 4, 1), "HOSP");
  EXPECT_EQ(pid->Get(3, 0, 4, 2), "1.2.3");
  EXPECT_EQ(pid->Get(3, 0, 4, 3), "ISO");
  EXPECT_EQ(pid->Get(3, 0, 4, 4), "");
  EXPECT_EQ(pid->Get(3, 1, 1), "999");
  EXPECT_EQ(pid->Get(3, 1, 5), "SS");
  EXPECT_EQ(pid->Get(3, 2, 1), "");      // absent repetition
  EXPECT_EQ(pid->Get(3, 0, 4), "HOSP");  // sub defaults to the first
}

TEST(MessageTest, AbsentAndEmptyFieldsReadAsEmpty) {
  Hl7Result<Message> parsed =
      Message::Parse("MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||\rEVN\rPID|||||||||||\r");
  ASSERT_TRUE(parsed.ok()) << parsed.error().text;
  const Message& m = parsed.value();
  EXPECT_EQ(m.Get("MSH", 4), "");
  EXPECT_EQ(m.Get("MSH", 16), "");
  EXPECT_EQ(m.Get("MSH", 40), "");
  EXPECT_EQ(m.Get("EVN", 1), "");
  EXPECT_EQ(m.Find("EVN")->field_count(), 0);
  EXPECT_EQ(m.Get("PID", 5), "");
  EXPECT_EQ(m.Get("PV1", 2), "");  // absent segment
  EXPECT_EQ(m.Find("PV1"), nullptr);
  EXPECT_EQ(m.Get("PID", -1), "");
  EXPECT_EQ(m.Get("PID", 3, -1), "");
  EXPECT_EQ(m.Get("PID", 3, 0, 0), "");
}

TEST(MessageTest, CustomEncodingCharacters) {
  Hl7Result<Message> parsed = Message::Parse(
      "MSH#*@!%#A#B#C#D#2024##ADT*A08#9#P#2.3\r"
      "PID#1##X1*!S!*!T!*!R!*X%Y@Z2##LAST*FIRST\r");
  ASSERT_TRUE(parsed.ok()) << parsed.error().text;
  const Message& m = parsed.value();
  EXPECT_EQ(m.delimiters().field, '#');
  EXPECT_EQ(m.delimiters().component, '*');
  EXPECT_EQ(m.delimiters().repetition, '@');
  EXPECT_EQ(m.delimiters().escape, '!');
  EXPECT_EQ(m.delimiters().subcomponent, '%');
  EXPECT_EQ(m.Get("MSH", 1), "#");
  EXPECT_EQ(m.Get("MSH", 9, 0, 2), "A08");
  EXPECT_EQ(m.Get("PID", 3, 0, 1), "X1");
  EXPECT_EQ(m.Get("PID", 3, 0, 2), "*");
  EXPECT_EQ(m.Get("PID", 3, 0, 3), "%");
  EXPECT_EQ(m.Get("PID", 3, 0, 4), "@");
  EXPECT_EQ(m.Get("PID", 3, 0, 5, 1), "X");
  EXPECT_EQ(m.Get("PID", 3, 0, 5, 2), "Y");
  EXPECT_EQ(m.Get("PID", 3, 1, 1), "Z2");
  EXPECT_EQ(m.Get("PID", 5, 0, 2), "FIRST");
}

struct EscapeCase {
  const char* raw;
  const char* expected;
};

class UnescapeTest : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(UnescapeTest, Decodes) {
  EXPECT_EQ(Unescape(GetParam().raw, Delimiters{}), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UnescapeTest,
    ::testing::Values(EscapeCase{"plain", "plain"}, EscapeCase{"a\\F\\b", "a|b"},
                      EscapeCase{"a\\S\\b", "a^b"}, EscapeCase{"a\\T\\b", "a&b"},
                      EscapeCase{"a\\R\\b", "a~b"}, EscapeCase{"a\\E\\b", "a\\b"},
                      EscapeCase{"\\X41424344\\", "ABCD"}, EscapeCase{"\\XC3A9\\t", "\xC3\xA9t"},
                      EscapeCase{"line\\.br\\two", "line\\.br\\two"},  // unknown: verbatim
                      EscapeCase{"\\H\\bold\\N\\", "\\H\\bold\\N\\"},  // formatting: verbatim
                      EscapeCase{"\\X4\\", "\\X4\\"},                  // odd hex digits
                      EscapeCase{"\\XZZ\\", "\\XZZ\\"},                // not hex
                      EscapeCase{"trailing\\", "trailing\\"},          // unterminated
                      EscapeCase{"\\F", "\\F"}, EscapeCase{"\\\\", "\\\\"}));

TEST(MessageTest, EscapeRoundTrips) {
  Delimiters d;
  std::string value = "a|b^c&d~e\\f\rg";
  EXPECT_EQ(Unescape(Escape(value, d), d), value);
  EXPECT_EQ(Escape("O|Brien", d), "O\\F\\Brien");
}

TEST(MessageTest, EscapesInsideFieldsAreDecodedOnAccess) {
  Hl7Result<Message> parsed =
      Message::Parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||X||O\\S\\BRIEN^ANN\\T\\MARY\r");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value().Get("PID", 5, 0, 1), "O^BRIEN");
  EXPECT_EQ(parsed.value().Get("PID", 5, 0, 2), "ANN&MARY");
  EXPECT_EQ(parsed.value().Find("PID")->ComponentCount(5, 0), 2);
}

TEST(MessageTest, MshWithoutEscapeOrSubcomponentCharacters) {
  Hl7Result<Message> parsed =
      Message::Parse("MSH|^~|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||X&Y\\F\\\r");
  ASSERT_TRUE(parsed.ok()) << parsed.error().text;
  EXPECT_FALSE(parsed.value().delimiters().has_escape);
  EXPECT_EQ(parsed.value().Get("PID", 3), "X&Y\\F\\");
}

TEST(MessageTest, SegmentIterationFindsRepeatedGroups) {
  Hl7Result<Message> parsed = Message::Parse(
      "MSH|^~\\&|A|B|C|D|1||ADT^A40|1|P|2.5\nPID|1||P1\nMRG|M1\nPID|2||P2\nMRG|M2\n");
  ASSERT_TRUE(parsed.ok());
  std::vector<const Segment*> pids = parsed.value().FindAll("PID");
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_EQ(pids[1]->Get(3), "P2");
  EXPECT_EQ(parsed.value().Find("MRG", 1)->Get(1), "M2");
  EXPECT_EQ(parsed.value().Find("MRG", 2), nullptr);
}

TEST(MessageTest, CopiesShareTheTextSafely) {
  Message copy = [] {
    Hl7Result<Message> parsed = Message::Parse(std::string(kBasic));
    EXPECT_TRUE(parsed.ok());
    return parsed.value();
  }();
  EXPECT_EQ(copy.Get("PID", 5, 0, 2), "JANE");
}

struct BadCase {
  const char* name;
  std::string input;
  ErrorCode code;
  const char* segment;
  int field;
};

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInputTest, IsAStructuredError) {
  Hl7Result<Message> parsed = Message::Parse(GetParam().input);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, GetParam().code) << parsed.error().text;
  EXPECT_EQ(parsed.error().segment_id, GetParam().segment);
  EXPECT_EQ(parsed.error().field, GetParam().field);
  EXPECT_FALSE(parsed.error().text.empty());
  EXPECT_FALSE(parsed.status().ok());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadInputTest,
    ::testing::Values(
        BadCase{"empty", "", ErrorCode::kSegmentSequenceError, "", 0},
        BadCase{"blank", "\r\n \n", ErrorCode::kSegmentSequenceError, "", 0},
        BadCase{"bom_only", "\xEF\xBB\xBF", ErrorCode::kSegmentSequenceError, "", 0},
        BadCase{"msh_missing", "PID|1||X\r", ErrorCode::kSegmentSequenceError, "MSH", 0},
        BadCase{"not_hl7", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrorCode::kSegmentSequenceError,
                "MSH", 0},
        BadCase{"truncated_msh", "MSH|", ErrorCode::kSegmentSequenceError, "MSH", 1},
        BadCase{"truncated_enc", "MSH|^", ErrorCode::kSegmentSequenceError, "MSH", 2},
        BadCase{"alnum_separator", "MSHA^~\\&A", ErrorCode::kSegmentSequenceError, "MSH", 1},
        BadCase{"duplicate_delimiters", "MSH|^^\\&|A", ErrorCode::kSegmentSequenceError, "MSH", 2},
        BadCase{"garbage_segment", "MSH|^~\\&|A\r\x01\x02garbage\r",
                ErrorCode::kSegmentSequenceError, "", 0},
        BadCase{"lowercase_segment", "MSH|^~\\&|A\rpid|1\r", ErrorCode::kSegmentSequenceError, "",
                0},
        BadCase{"second_msh", "MSH|^~\\&|A\rMSH|^~\\&|B\r", ErrorCode::kSegmentSequenceError, "MSH",
                0},
        BadCase{"binary", std::string("\x00\xff\x0b\x1c", 4), ErrorCode::kSegmentSequenceError,
                "MSH", 0}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(MessageTest, LimitsRejectHostileInput) {
  std::string big = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rNTE|" + std::string(2 << 20, 'x');
  Hl7Result<Message> parsed = Message::Parse(big);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ErrorCode::kApplicationInternalError);

  std::string many_fields = "MSH|^~\\&|A\rNTE" + std::string(10000, '|');
  parsed = Message::Parse(many_fields);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ErrorCode::kApplicationInternalError);

  std::string many_segments = "MSH|^~\\&|A\r";
  for (int i = 0; i < 6000; ++i) many_segments += "NTE|1\r";
  parsed = Message::Parse(many_segments);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ErrorCode::kApplicationInternalError);

  ParseLimits generous;
  generous.max_segments = 10000;
  EXPECT_TRUE(Message::Parse(many_segments, generous).ok());
}

TEST(MessageTest, ErrorsDescribeLocationsNotValues) {
  Hl7Error error;
  error.segment_id = "PID";
  error.field = 7;
  EXPECT_EQ(error.Location(), "PID-7");
  error.component = 1;
  EXPECT_EQ(error.Location(), "PID-7.1");
  EXPECT_EQ(ErrorCodeText(ErrorCode::kRequiredFieldMissing), "Required field missing");
  EXPECT_EQ(SeverityCode(Severity::kError), "E");
  error.code = ErrorCode::kUnsupportedEventCode;
  EXPECT_EQ(error.ToStatus().code(), absl::StatusCode::kUnimplemented);
  error.code = ErrorCode::kDataTypeError;
  EXPECT_EQ(error.ToStatus().code(), absl::StatusCode::kInvalidArgument);
}

// Parses every .hl7 file of `dir`, and reads every value of every sample with GetText: real
// messages decode (escapes included) without a refusal. Returns the number of files.
int ExpectAllParseAndDecode(const std::filesystem::path& dir) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".hl7") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    Hl7Result<Message> parsed = Message::Parse(bytes.str());
    EXPECT_TRUE(parsed.ok()) << entry.path() << ": " << parsed.error().text;
    if (!parsed.ok()) continue;
    EXPECT_EQ(parsed.value().segments()[0].id(), "MSH");
    EXPECT_FALSE(parsed.value().Get("MSH", 9, 0, 1).empty()) << entry.path();
    EXPECT_NE(parsed.value().charset(), Charset::kUnsupported) << entry.path();
    for (const Segment& segment : parsed.value().segments()) {
      for (int f = 1; f <= segment.field_count(); ++f) {
        for (int r = 0; r < segment.RepetitionCount(f); ++r) {
          for (int c = 1; c <= segment.ComponentCount(f, r); ++c) {
            for (int sub = 1; sub <= 8; ++sub) {
              Hl7Result<std::string> text = segment.GetText(f, r, c, sub);
              EXPECT_TRUE(text.ok()) << entry.path() << ": " << text.error().text;
            }
          }
        }
      }
    }
    ++count;
  }
  return count;
}

TEST(MessageTest, AllRepositorySamplesParseAndDecode) {
  EXPECT_EQ(ExpectAllParseAndDecode(HIE_HL7_TESTDATA_DIR), 20);
}

// Optional extra: all 139 messages of the shared data set, when this machine has it.
TEST(MessageTest, AllSharedSamplesParseAndDecode) {
  std::filesystem::path dir = HIE_HL7_SHARED_SAMPLES_DIR;
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "optional: the shared HL7 sample set " << dir
                 << " is not on this machine; the repository's samples were checked by "
                    "AllRepositorySamplesParseAndDecode";
  }
  EXPECT_EQ(ExpectAllParseAndDecode(dir), 139);
}

TEST(MessageTest, RepetitionsAreIndexed) {
  Hl7Result<Message> parsed = Message::Parse(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||UNICODE UTF-8\r"
      "PID|1||A~B^^^H~~C|X\rPID|2|||~\r");
  ASSERT_TRUE(parsed.ok()) << parsed.error().text;
  const Message& m = parsed.value();
  EXPECT_EQ(m.charset(), Charset::kUtf8);
  const Segment* pid = m.Find("PID");
  EXPECT_EQ(pid->occurrence(), 1);
  EXPECT_EQ(pid->RepetitionCount(3), 4);
  EXPECT_EQ(pid->RawRepetition(3, 1), "B^^^H");
  EXPECT_EQ(pid->RawRepetition(3, 2), "");
  EXPECT_EQ(pid->RawRepetition(3, 3), "C");
  EXPECT_EQ(pid->RawRepetition(3, 4), "");
  EXPECT_EQ(pid->RawRepetition(3, -1), "");
  EXPECT_EQ(pid->RawRepetition(0, 0), "");
  EXPECT_EQ(pid->RawRepetition(99, 0), "");
  EXPECT_EQ(pid->Get(3, 3), "C");
  EXPECT_EQ(pid->ComponentCount(3, 1), 4);
  EXPECT_EQ(pid->RepetitionCount(4), 1);
  EXPECT_EQ(pid->RepetitionCount(2), 0);  // empty
  EXPECT_EQ(m.Find("PID", 1)->occurrence(), 2);
  EXPECT_EQ(m.Find("PID", 1)->RepetitionCount(4), 2);  // "~": two empty repetitions
  // MSH-2 holds the repetition character but is one value.
  const Segment& msh = m.segments()[0];
  EXPECT_EQ(msh.RepetitionCount(2), 1);
  EXPECT_EQ(msh.RawRepetition(2, 0), "^~\\&");
  EXPECT_EQ(msh.GetText(2).value(), "^~\\&");
  EXPECT_EQ(msh.GetText(1).value(), "|");
  EXPECT_EQ(msh.ComponentCount(2, 0), 1);
}

TEST(MessageTest, RepetitionLimitNamesTheField) {
  std::string reps = "X";
  for (int i = 0; i < 1000; ++i) reps += "~X";  // 1001 repetitions
  std::string text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1\rPID|2||" + reps + "\r";
  Hl7Result<Message> parsed = Message::Parse(text);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ErrorCode::kApplicationInternalError);
  EXPECT_EQ(parsed.error().segment_id, "PID");
  EXPECT_EQ(parsed.error().segment_index, 2);
  EXPECT_EQ(parsed.error().field, 3);
  EXPECT_EQ(parsed.error().Location(), "PID-3");
  EXPECT_EQ(parsed.error().text, "PID-3: more than 1000 repetitions (the limit of this hub)");

  ParseLimits raised;
  raised.max_repetitions_per_field = 1001;
  ASSERT_TRUE(Message::Parse(text, raised).ok());
  EXPECT_EQ(Message::Parse(text, raised).value().Find("PID", 1)->RepetitionCount(3), 1001);
  // Exactly at the default limit is fine.
  EXPECT_TRUE(Message::Parse(text.substr(0, text.size() - 3) + "\r").ok());
}

}  // namespace
}  // namespace hie::hl7
