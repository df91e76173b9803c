#include "services/gateway/core/member_directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

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

DirectoryMember Valid(const std::string& org = "clinic-a") {
  DirectoryMember m;
  m.entry = {org, "Clinic A", v1::MEMBER_STATE_ACTIVE, 100};
  m.endpoint = "127.0.0.1:7101";
  return m;
}

TEST(MemberDirectoryTest, TheFieldRulesNameTheFieldNeverTheValue) {
  EXPECT_TRUE(CheckDirectoryMember(Valid()).ok());
  struct Case {
    std::function<void(DirectoryMember&)> change;
    std::string expected;
  };
  const Case cases[] = {
      {[](auto& m) { m.entry.org = "clinic,a"; }, "member.org is not an id"},
      {[](auto& m) { m.endpoint = "secret-host"; }, "member.endpoint"},
      {[](auto& m) { m.entry.state = v1::MEMBER_STATE_UNSPECIFIED; }, "member.state"},
      {[](auto& m) { m.entry.max_results = 1001; }, "member.max_results"},
      {[](auto& m) { m.entry.display_name = "A\tB"; }, "member.display_name"},
      {[](auto& m) {
         m.certificate_subjects = {"O=a", "O=a"};
       },
       "member.certificate_subjects"},
      {[](auto& m) { m.certificate_subjects.assign(17, "x"); }, "member.certificate_subjects"},
  };
  for (const Case& c : cases) {
    DirectoryMember m = Valid();
    c.change(m);
    absl::Status s = CheckDirectoryMember(m, "member.");
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.expected;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.expected));
    EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("secret")));
  }
}

TEST(MemberDirectoryTest, PutCreatesReplacesByVersionAndSameIsNoChange) {
  // Creation: state defaults to active; decommissioned is refused.
  DirectoryMember m = Valid();
  m.entry.state = v1::MEMBER_STATE_UNSPECIFIED;
  auto created = DecidePut(std::nullopt, m, 0);
  ASSERT_TRUE(created.ok() && created->has_value());
  EXPECT_EQ((*created)->entry.state, v1::MEMBER_STATE_ACTIVE);
  m.entry.state = v1::MEMBER_STATE_DECOMMISSIONED;
  EXPECT_TRUE(absl::IsInvalidArgument(DecidePut(std::nullopt, m, 0).status()));
  EXPECT_TRUE(absl::IsNotFound(DecidePut(std::nullopt, Valid(), 3).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DecidePut(std::nullopt, Valid(), -1).status()));

  MemberRecord stored{.member = Valid(), .version = 3};
  stored.member.entry.state = v1::MEMBER_STATE_SUSPENDED;
  DirectoryMember same = stored.member;
  same.entry.state = v1::MEMBER_STATE_UNSPECIFIED;  // keeps the stored state: the same member
  for (int64_t v : {0, 1, 3}) {
    auto none = DecidePut(stored, same, v);
    ASSERT_TRUE(none.ok()) << v;
    EXPECT_FALSE(none->has_value()) << v;
  }
  DirectoryMember changed = same;
  changed.entry.max_results = 7;
  EXPECT_TRUE(absl::IsAlreadyExists(DecidePut(stored, changed, 0).status()));
  EXPECT_TRUE(absl::IsAborted(DecidePut(stored, changed, 2).status()));
  auto replaced = DecidePut(stored, changed, 3);
  ASSERT_TRUE(replaced.ok() && replaced->has_value());
  EXPECT_EQ((*replaced)->entry.max_results, 7);
  EXPECT_EQ((*replaced)->entry.state, v1::MEMBER_STATE_SUSPENDED);
  stored.member.entry.state = v1::MEMBER_STATE_DECOMMISSIONED;
  EXPECT_TRUE(absl::IsFailedPrecondition(DecidePut(stored, changed, 3).status()));
}

TEST(MemberDirectoryTest, StateChangesAreCheckedAndDecommissionedIsFinal) {
  MemberRecord stored{.member = Valid(), .version = 2};
  EXPECT_TRUE(absl::IsNotFound(DecideState(std::nullopt, v1::MEMBER_STATE_ACTIVE, 0).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(DecideState(stored, v1::MEMBER_STATE_UNSPECIFIED, 0).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(DecideState(stored, static_cast<v1::MemberState>(9), 0).status()));
  auto same = DecideState(stored, v1::MEMBER_STATE_ACTIVE, 1);  // same state: no change
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->has_value());
  EXPECT_TRUE(absl::IsAborted(DecideState(stored, v1::MEMBER_STATE_SUSPENDED, 1).status()));
  for (int64_t v : {0, 2}) {
    auto suspended = DecideState(stored, v1::MEMBER_STATE_SUSPENDED, v);
    ASSERT_TRUE(suspended.ok() && suspended->has_value());
    EXPECT_EQ((*suspended)->entry.state, v1::MEMBER_STATE_SUSPENDED);
    EXPECT_EQ((*suspended)->endpoint, stored.member.endpoint);
  }
  stored.member.entry.state = v1::MEMBER_STATE_DECOMMISSIONED;
  EXPECT_TRUE(absl::IsFailedPrecondition(DecideState(stored, v1::MEMBER_STATE_ACTIVE, 0).status()));
}

TEST(MemberDirectoryTest, AViewHandsOutSnapshotsThatAReplacementLeavesAlone) {
  MemberDirectoryView view(RecordsOf({{"clinic-a", Valid()}}));
  std::shared_ptr<const MemberDirectoryView::Members> before = view.Snapshot();
  EXPECT_EQ(before->at("clinic-a").version, 0);
  view.Replace(RecordsOf({{"clinic-b", Valid("clinic-b")}}));
  EXPECT_EQ(before->count("clinic-a"), 1u);
  EXPECT_EQ(view.Snapshot()->count("clinic-a"), 0u);
  EXPECT_EQ(view.Snapshot()->count("clinic-b"), 1u);
}

}  // namespace
}  // namespace hie::gateway
