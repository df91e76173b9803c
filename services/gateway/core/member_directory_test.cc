#include "services/gateway/core/member_directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hie::gateway {
namespace {

using ::testing::HasSubstr;

TEST(MemberDirectoryTest, ReadsMembersCommentsAndCommasInNames) {
  auto members = ParseMemberDirectory(
      "# org,endpoint,state,max_results,display name\n"
      "clinic-a,127.0.0.1:7101,active,1000,Clinic A\r\n"
      "\n"
      "  clinic-b , localhost:7102 , suspended , 50 , Smith, Jones & Partners\n");
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 2u);
  const DirectoryMember& b = members->at("clinic-b");
  EXPECT_EQ(b.endpoint, "localhost:7102");
  EXPECT_EQ(b.entry.state, v1::MEMBER_STATE_SUSPENDED);
  EXPECT_EQ(b.entry.max_results, 50);
  EXPECT_EQ(b.entry.display_name, "Smith, Jones & Partners");
}

TEST(MemberDirectoryTest, NamesTheLineAndTheFieldNeverTheValue) {
  struct Case {
    std::string text, expected;
  };
  const Case cases[] = {
      {"clinic-a,127.0.0.1:7101,active,1000", "members line 1: line does not have 5 fields"},
      {"# ok\nclinic a,127.0.0.1:7101,active,1000,A", "members line 2: org"},
      {"clinic-a,127.0.0.1,active,1000,A", "members line 1: endpoint"},
      {"clinic-a,127.0.0.1:99999,active,1000,A", "members line 1: endpoint"},
      {"clinic-a,127.0.0.1:7101,paused,1000,A", "members line 1: state"},
      {"clinic-a,127.0.0.1:7101,active,0,A", "members line 1: max_results"},
      {"clinic-a,127.0.0.1:7101,active,1001,A", "members line 1: max_results"},
      {"clinic-a,127.0.0.1:7101,active,1000,A\x01", "members line 1: display name"},
      {"clinic-a,h:1,active,1,A\nclinic-a,h:2,active,1,B", "members line 2: org is listed twice"},
      {std::string(2000, 'x'), "members line 1: line is longer"},
      {"clinic-a,h:1,active,1,\xff\xfe", "members: not UTF-8"},
  };
  for (const Case& c : cases) {
    auto members = ParseMemberDirectory(c.text);
    ASSERT_FALSE(members.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(members.status()));
    EXPECT_THAT(std::string(members.status().message()), HasSubstr(c.expected)) << c.text;
    EXPECT_THAT(std::string(members.status().message()), ::testing::Not(HasSubstr("paused")));
  }
}

TEST(MemberDirectoryTest, AnEmptyFileIsAnEmptyDirectory) {
  auto members = ParseMemberDirectory("# nobody yet\n");
  ASSERT_TRUE(members.ok());
  EXPECT_TRUE(members->empty());
}

}  // namespace
}  // namespace hie::gateway
