#include "services/common/text.h"

#include <gtest/gtest.h>

#include "hie/identity/v1/identity.pb.h"

namespace hie {
namespace {

TEST(TextTest, Utf8WellFormedness) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("M\xC3\xBCller"));                       // ü
  EXPECT_TRUE(IsValidUtf8("\xE1\xBA\xA0NH D\xC6\xAF\xC6\xA0NG"));  // Vietnamese
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));                    // U+1F600
  EXPECT_FALSE(IsValidUtf8("M\xFCller"));                          // Latin-1 ü
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));                           // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));                       // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));                       // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));                   // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));                           // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));                               // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(TextTest, ControlCharacters) {
  EXPECT_FALSE(HasControlCharacter("Jos\xC3\xA9 O'Brien-Smith"));
  EXPECT_TRUE(HasControlCharacter("A\x1B[31mB"));  // ESC
  EXPECT_TRUE(HasControlCharacter(std::string("A\0B", 3)));
  EXPECT_TRUE(HasControlCharacter("A\tB"));
  EXPECT_TRUE(HasControlCharacter("A\x7F"));
  EXPECT_TRUE(HasControlCharacter("A\xC2\x9B"));  // C1 CSI
}

TEST(TextTest, CheckTextNamesTheFieldNeverTheValue) {
  EXPECT_TRUE(CheckText("Alice", "name.given", 16).ok());
  absl::Status s = CheckText("", "name.given", 16);
  EXPECT_EQ(s.message(), "name.given is required");
  s = CheckText("Secretname\x1B", "name.given", 64);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "name.given contains control characters");
  s = CheckText("M\xFCller", "name.family", 64);
  EXPECT_EQ(s.message(), "name.family is not valid UTF-8");
  s = CheckText(std::string(17, 'x'), "local_id", 16);
  EXPECT_EQ(s.message(), "local_id is longer than 16 bytes");
  EXPECT_TRUE(CheckOptionalText("", "x", 4).ok());
}

TEST(TextTest, CheckMessageTextWalksNestedAndRepeatedFields) {
  hie::identity::v1::RegisterSourceRecordsRequest request;
  auto* first = request.add_registrations();
  first->mutable_source_id()->set_org("clinic-a");
  first->mutable_demographics()->mutable_name()->set_family("Smith");
  auto* second = request.add_registrations();
  second->mutable_demographics()->add_addresses()->add_lines("1 Main St");
  second->mutable_demographics()->add_addresses()->add_lines("2 Main St\x1B");
  EXPECT_TRUE(CheckMessageText(*first, 64).ok());
  absl::Status s = CheckMessageText(request, 64);
  EXPECT_EQ(s.message(),
            "registrations[1].demographics.addresses[1].lines[0] contains control "
            "characters");
  second->mutable_demographics()->mutable_addresses(1)->set_lines(0, "2 Main St");
  EXPECT_TRUE(CheckMessageText(request, 64).ok());
  first->mutable_demographics()->mutable_name()->set_given(std::string(65, 'a'));
  EXPECT_EQ(CheckMessageText(request, 64).message(),
            "registrations[0].demographics.name.given is longer than 64 bytes");
}

TEST(TextTest, PrintableTextEscapesControlsAndReplacesBadBytes) {
  EXPECT_EQ(PrintableText("M\xC3\xBCller"), "M\xC3\xBCller");
  EXPECT_EQ(PrintableText("A\x1B[2JB"), "A\\x1b[2JB");
  EXPECT_EQ(PrintableText("M\xFCller"), "M\xEF\xBF\xBDller");
  EXPECT_EQ(PrintableText("A\xC2\x9B"), "A\\x9b");
  EXPECT_EQ(PrintableText("a\nb\x1b"), "a\\x0ab\\x1b");
  EXPECT_EQ(PrintableText("a\nb\x1b", /*keep_newlines=*/true), "a\nb\\x1b");
}

}  // namespace
}  // namespace hie
