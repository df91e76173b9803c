#include "services/identity/hl7/charset.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "services/identity/hl7/message.h"

namespace hie::hl7 {
namespace {

TEST(CharsetTest, Msh18Values) {
  EXPECT_EQ(CharsetFromMsh18(""), Charset::kUndeclared);
  EXPECT_EQ(CharsetFromMsh18("  "), Charset::kUndeclared);
  EXPECT_EQ(CharsetFromMsh18("ASCII"), Charset::kAscii);
  EXPECT_EQ(CharsetFromMsh18("ISO IR6"), Charset::kAscii);
  EXPECT_EQ(CharsetFromMsh18("8859/1"), Charset::kLatin1);
  EXPECT_EQ(CharsetFromMsh18(" 8859/1 "), Charset::kLatin1);
  EXPECT_EQ(CharsetFromMsh18("ISO IR100"), Charset::kLatin1);
  EXPECT_EQ(CharsetFromMsh18("8859/15"), Charset::kLatin9);
  EXPECT_EQ(CharsetFromMsh18("UNICODE UTF-8"), Charset::kUtf8);
  EXPECT_EQ(CharsetFromMsh18("unicode utf-8"), Charset::kUtf8);
  EXPECT_EQ(CharsetFromMsh18("UTF-8"), Charset::kUtf8);
  for (const char* unsupported :
       {"UNICODE", "UNICODE UTF-16", "8859/2", "ISO IR87", "EBCDIC", "8859/11", "LATIN1"}) {
    EXPECT_EQ(CharsetFromMsh18(unsupported), Charset::kUnsupported) << unsupported;
  }
}

struct Utf8Case {
  const char* name;
  std::string bytes;
  bool valid;
};

class Utf8Test : public ::testing::TestWithParam<Utf8Case> {};

TEST_P(Utf8Test, IsStrict) {
  EXPECT_EQ(IsValidUtf8(GetParam().bytes), GetParam().valid);
  std::string out;
  std::string problem;
  EXPECT_EQ(AppendAsUtf8(GetParam().bytes, Charset::kUtf8, &out, &problem), GetParam().valid);
  if (!GetParam().valid) {
    EXPECT_FALSE(problem.empty());
    EXPECT_EQ(problem.find(GetParam().bytes), std::string::npos);
  }
  EXPECT_TRUE(IsValidUtf8(ToUtf8Lossy(GetParam().bytes, Charset::kUtf8)));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Utf8Test,
    ::testing::Values(
        Utf8Case{"empty", "", true}, Utf8Case{"ascii", "Muller", true},
        Utf8Case{"two_bytes", "M\xC3\xBCller", true}, Utf8Case{"three_bytes", "\xE2\x82\xAC", true},
        Utf8Case{"four_bytes", "\xF0\x9F\x98\x80", true},
        Utf8Case{"max_code_point", "\xF4\x8F\xBF\xBF", true},
        Utf8Case{"latin1", "M\xFCller", false}, Utf8Case{"overlong_slash", "\xC0\xAF", false},
        Utf8Case{"overlong_nul", "\xC0\x80", false},
        Utf8Case{"overlong_three", "\xE0\x80\xAF", false},
        Utf8Case{"overlong_four", "\xF0\x80\x80\xAF", false},
        Utf8Case{"surrogate_high", "\xED\xA0\x80", false},
        Utf8Case{"surrogate_low", "\xED\xBF\xBF", false},
        Utf8Case{"above_10ffff", "\xF4\x90\x80\x80", false},
        Utf8Case{"f5_lead", "\xF5\x80\x80\x80", false},
        Utf8Case{"stray_continuation", "a\x80", false}, Utf8Case{"truncated_two", "a\xC3", false},
        Utf8Case{"truncated_three", "\xE2\x82", false},
        Utf8Case{"truncated_four", "\xF0\x9F\x98", false},
        Utf8Case{"interrupted", "\xE2x\xAC", false}, Utf8Case{"ff", "\xFF", false}),
    [](const ::testing::TestParamInfo<Utf8Case>& info) { return info.param.name; });

TEST(CharsetTest, Latin1AndLatin9AreTranscoded) {
  std::string out;
  std::string problem;
  ASSERT_TRUE(AppendAsUtf8("M\xFCller J\xF6rg \xA4", Charset::kLatin1, &out, &problem));
  EXPECT_EQ(out, "M\xC3\xBCller J\xC3\xB6rg \xC2\xA4");
  out.clear();
  ASSERT_TRUE(AppendAsUtf8("\xA4\xA6\xBC\xE9", Charset::kLatin9, &out, &problem));
  EXPECT_EQ(out, "\xE2\x82\xAC\xC5\xA0\xC5\x92\xC3\xA9");  // euro, S caron, OE, e acute
  out.clear();
  EXPECT_FALSE(AppendAsUtf8("a\x85", Charset::kLatin1, &out, &problem));  // C1 (NEL)
  EXPECT_NE(problem.find("C1"), std::string::npos);
  EXPECT_FALSE(AppendAsUtf8("a\x9F", Charset::kLatin9, &out, &problem));
  EXPECT_FALSE(AppendAsUtf8("M\xFCller", Charset::kAscii, &out, &problem));
  EXPECT_NE(problem.find("ASCII"), std::string::npos);
  EXPECT_FALSE(AppendAsUtf8("M\xFCller", Charset::kUndeclared, &out, &problem));
  EXPECT_NE(problem.find("declares no character set"), std::string::npos);
}

TEST(CharsetTest, ControlCharacters) {
  EXPECT_FALSE(HasControlCharacter("M\xC3\xBCller O'Brien"));
  EXPECT_TRUE(HasControlCharacter("a\x1B[31m"));
  EXPECT_TRUE(HasControlCharacter(std::string("a\0b", 3)));
  EXPECT_TRUE(HasControlCharacter("a\tb"));
  EXPECT_TRUE(HasControlCharacter("a\x7F"));
  EXPECT_TRUE(HasControlCharacter("a\xC2\x85"));   // U+0085 NEL
  EXPECT_FALSE(HasControlCharacter("a\xC2\xA0"));  // U+00A0 no-break space is text
}

TEST(CharsetTest, LossyIsAlwaysCleanUtf8) {
  EXPECT_EQ(ToUtf8Lossy("M\xFCller\x1B", Charset::kLatin1), "M\xC3\xBCller?");
  EXPECT_EQ(ToUtf8Lossy("M\xFCller", Charset::kUndeclared), "M?ller");
  EXPECT_EQ(ToUtf8Lossy("M\xFCller", Charset::kUnsupported), "M?ller");
  EXPECT_EQ(ToUtf8Lossy("a\xC2\x85\xC3\xBC", Charset::kUtf8), "a?\xC3\xBC");
  EXPECT_EQ(ToUtf8Lossy("\xA4", Charset::kLatin9), "\xE2\x82\xAC");
}

TEST(CharsetTest, TruncateNeverSplitsASequence) {
  EXPECT_EQ(TruncateUtf8("abc", 5), "abc");
  EXPECT_EQ(TruncateUtf8("abc", 2), "ab");
  EXPECT_EQ(TruncateUtf8("a\xE2\x82\xAC", 3), "a");
  EXPECT_EQ(TruncateUtf8("a\xE2\x82\xAC", 4), "a\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8("a\xC3\xBC"
                         "b",
                         2),
            "a");
}

// DecodeText: escapes and character sets together (message.h).
struct DecodeCase {
  const char* name;
  std::string raw;
  Charset charset;
  std::optional<std::string> expected;  // nullopt: refused
  const char* problem = "";             // a fragment of the refusal's text
};

class DecodeTextTest : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeTextTest, Decodes) {
  std::string problem;
  std::optional<std::string> text =
      DecodeText(GetParam().raw, Delimiters{}, GetParam().charset, &problem);
  if (!GetParam().expected.has_value()) {
    EXPECT_FALSE(text.has_value()) << *text;
    EXPECT_NE(problem.find(GetParam().problem), std::string::npos) << problem;
    return;
  }
  ASSERT_TRUE(text.has_value()) << problem;
  EXPECT_EQ(*text, *GetParam().expected);
  EXPECT_TRUE(IsValidUtf8(*text));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecodeTextTest,
    ::testing::Values(
        DecodeCase{"ascii", "DOE", Charset::kUndeclared, "DOE"},
        DecodeCase{"utf8_undeclared", "M\xC3\xBCller", Charset::kUndeclared, "M\xC3\xBCller"},
        DecodeCase{"latin1_undeclared", "M\xFCller", Charset::kUndeclared, std::nullopt,
                   "declares no character set"},
        DecodeCase{"latin1", "M\xFCller", Charset::kLatin1, "M\xC3\xBCller"},
        DecodeCase{"latin1_c1", "M\x9Aller", Charset::kLatin1, std::nullopt, "C1"},
        DecodeCase{"ascii_high", "M\xFCller", Charset::kAscii, std::nullopt, "ASCII"},
        DecodeCase{"utf8_overlong", "\xC0\xAF", Charset::kUtf8, std::nullopt, "UTF-8"},
        DecodeCase{"hex_latin1", "M\\XFC\\ller", Charset::kLatin1, "M\xC3\xBCller"},
        DecodeCase{"hex_utf8", "M\\XC3BC\\ller", Charset::kUtf8, "M\xC3\xBCller"},
        DecodeCase{"hex_utf8_split", "M\\XC3\\\\XBC\\ller", Charset::kUtf8, "M\xC3\xBCller"},
        DecodeCase{"hex_utf8_half_raw", "M\\XC3\\\xBCller", Charset::kUtf8, "M\xC3\xBCller"},
        DecodeCase{"hex_invalid_for_utf8", "M\\XFC\\ller", Charset::kUtf8, std::nullopt, "UTF-8"},
        DecodeCase{"hex_invalid_undeclared", "M\\XFC\\ller", Charset::kUndeclared, std::nullopt,
                   "declares no character set"},
        DecodeCase{"hex_c1_latin1", "\\X85\\", Charset::kLatin1, std::nullopt, "C1"},
        DecodeCase{"hex_odd", "\\X4\\", Charset::kUtf8, std::nullopt, "malformed"},
        DecodeCase{"hex_not_hex", "\\XZZ\\", Charset::kUtf8, std::nullopt, "malformed"},
        DecodeCase{"hex_empty", "\\X\\", Charset::kUtf8, std::nullopt, "malformed"},
        DecodeCase{"hex_nul", "a\\X00\\b", Charset::kUtf8, std::nullopt, "control"},
        DecodeCase{"hex_esc", "\\X1B\\[2J", Charset::kUtf8, std::nullopt, "control"},
        DecodeCase{"raw_esc", "DOE\x1B[2J", Charset::kUndeclared, std::nullopt, "control"},
        DecodeCase{"raw_nul", std::string("DO\0E", 4), Charset::kUndeclared, std::nullopt,
                   "control"},
        DecodeCase{"raw_del", "DOE\x7F", Charset::kAscii, std::nullopt, "control"},
        DecodeCase{"raw_tab", "DOE\tX", Charset::kAscii, std::nullopt, "control"},
        DecodeCase{"utf8_c1", "DOE\xC2\x9B", Charset::kUtf8, std::nullopt, "control"},
        DecodeCase{"delimiters", "O\\S\\B\\F\\\\T\\\\R\\\\E\\", Charset::kAscii, "O^B|&~\\"},
        DecodeCase{"charset_latin1_in_ascii", "M\\C2D41\\\xFCller", Charset::kAscii,
                   "M\xC3\xBCller"},
        DecodeCase{"charset_latin1_in_utf8", "M\\C2D41\\\xFC\\C2842\\ller \xC3\xA9", Charset::kUtf8,
                   "M\xC3\xBCller \xC3\xA9"},
        DecodeCase{"charset_back_to_ascii", "M\\C2D41\\\xFC\\C2842\\\xFC", Charset::kAscii,
                   std::nullopt, "ASCII"},
        DecodeCase{"charset_latin1_hex", "\\C2D41\\\\XFC\\", Charset::kUtf8, "\xC3\xBC"},
        DecodeCase{"charset_latin1_c1", "\\C2D41\\\x85", Charset::kUtf8, std::nullopt, "C1"},
        DecodeCase{"charset_unsupported", "\\C2D42\\abc", Charset::kUtf8, std::nullopt, "\\C"},
        DecodeCase{"charset_garbage", "\\Cxyz\\abc", Charset::kUtf8, std::nullopt, "\\C"},
        DecodeCase{"multibyte", "\\M2442\\abc", Charset::kUtf8, std::nullopt, "\\M"},
        DecodeCase{"multibyte_short", "\\M\\", Charset::kUtf8, std::nullopt, "\\M"},
        DecodeCase{"line_break", "1 MAIN ST\\.br\\APT 4", Charset::kAscii, "1 MAIN ST APT 4"},
        DecodeCase{"highlight", "\\H\\DOE\\N\\", Charset::kAscii, "DOE"},
        DecodeCase{"indent", "\\.in+4\\DOE\\.sp2\\X", Charset::kAscii, "DOE X"},
        DecodeCase{"local_escape", "DOE\\Zfoo\xFF\\", Charset::kAscii, "DOE"},
        DecodeCase{"unknown_escape", "A\\Q\\B", Charset::kAscii, "A\\Q\\B"},
        DecodeCase{"unknown_escape_bytes", "A\\Q\xFF\\B", Charset::kAscii, std::nullopt, "ASCII"},
        DecodeCase{"unterminated", "C:\\path", Charset::kAscii, "C:\\path"},
        DecodeCase{"unterminated_bytes", "C:\\p\xFF", Charset::kUndeclared, std::nullopt,
                   "declares no character set"}),
    [](const ::testing::TestParamInfo<DecodeCase>& info) { return info.param.name; });

TEST(DecodeTextTest, WithoutAnEscapeCharacterNothingIsAnEscape) {
  Delimiters d;
  d.has_escape = false;
  std::string problem;
  EXPECT_EQ(DecodeText("\\XFC\\", d, Charset::kAscii, &problem), "\\XFC\\");
  EXPECT_EQ(DecodeText("\xFC", d, Charset::kLatin1, &problem), "\xC3\xBC");
}

// GetText locates its refusals and never repeats the value.
TEST(GetTextTest, RefusalsAreLocatedDataTypeErrors) {
  Hl7Result<Message> parsed = Message::Parse(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\r"
      "PID|1\rPID|2||M1^^^H^MR~M2^^^H&SECRET\x1B&ISO^MR||M\xFCller^J\xF6rg\r");
  ASSERT_TRUE(parsed.ok()) << parsed.error().text;
  const Segment* pid = parsed.value().Find("PID", 1);
  ASSERT_NE(pid, nullptr);
  EXPECT_EQ(pid->occurrence(), 2);
  EXPECT_EQ(pid->GetText(3, 0, 1).value(), "M1");

  Hl7Result<std::string> authority = pid->GetText(3, 1, 4, 2);
  ASSERT_FALSE(authority.ok());
  const Hl7Error& e = authority.error();
  EXPECT_EQ(e.code, ErrorCode::kDataTypeError);
  EXPECT_EQ(e.segment_id, "PID");
  EXPECT_EQ(e.segment_index, 2);
  EXPECT_EQ(e.field, 3);
  EXPECT_EQ(e.repetition, 2);
  EXPECT_EQ(e.component, 4);
  EXPECT_EQ(e.subcomponent, 2);
  EXPECT_EQ(e.Location(), "PID-3.4.2");
  EXPECT_EQ(e.text, "PID-3.4.2 (repetition 2): the value holds a control character");
  EXPECT_EQ(e.text.find("SECRET"), std::string::npos);

  Hl7Result<std::string> family = pid->GetText(5, 0, 1);
  ASSERT_FALSE(family.ok());
  EXPECT_EQ(family.error().component, 1);
  EXPECT_EQ(family.error().repetition, 1);
  EXPECT_EQ(family.error().text.rfind("PID-5: the value holds bytes that are not UTF-8", 0), 0u)
      << family.error().text;
  EXPECT_NE(family.error().text.find("no character set"), std::string::npos);
  EXPECT_EQ(family.error().text.find("ller"), std::string::npos);
  // Get still returns the bytes as sent (for structure and codes).
  EXPECT_EQ(pid->Get(5, 0, 1), "M\xFCller");
}

TEST(GetTextTest, UnsupportedCharsetIsATableValueError) {
  Hl7Result<Message> parsed =
      Message::Parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5||||||8859/2\rPID|1||M1||DOE\r");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value().charset(), Charset::kUnsupported);
  Hl7Result<std::string> text = parsed.value().Find("PID")->GetText(5);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kTableValueNotFound);
  EXPECT_EQ(text.error().segment_id, "MSH");
  EXPECT_EQ(text.error().field, 18);
  EXPECT_EQ(text.error().text.rfind("MSH-18", 0), 0u);
}

TEST(GetTextTest, FirstRepetitionOfMsh18Decides) {
  Hl7Result<Message> parsed = Message::Parse(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5||||||8859/1~UNICODE UTF-8\r"
      "PID|1||M1||M\xFCller\r");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value().charset(), Charset::kLatin1);
  EXPECT_EQ(parsed.value().Find("PID")->GetText(5).value(), "M\xC3\xBCller");
}

}  // namespace
}  // namespace hie::hl7
