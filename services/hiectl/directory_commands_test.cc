// The member-directory commands (members list, show, put, set-state): flags -> AdminGateway
// requests, flag errors naming the flag, and the text an administrator reads.

#include "services/hiectl/directory_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>

#include "services/hiectl/commands.h"

namespace hie::hiectl {
namespace {

using ::testing::HasSubstr;

namespace cm = ::hie::common::v1;
namespace gv1 = ::hie::gateway::v1;

absl::StatusOr<Action> PlanOf(const std::string& command, const std::vector<std::string>& args) {
  static const std::vector<CommandSpec>* specs = new std::vector<CommandSpec>(CommandSpecs("jdoe"));
  for (const CommandSpec& spec : *specs) {
    if (spec.name != command) continue;
    SplitArgs split = SplitCommandLine(args, spec.keys, spec.repeatable);
    absl::StatusOr<Config> flags = LoadFlags(spec.keys, split.flags, nullptr, spec.own_keys);
    if (!flags.ok()) return flags.status();
    return spec.plan(*flags, split.positionals);
  }
  return absl::NotFoundError(command);
}

template <typename Request>
const Request* RequestOf(const absl::StatusOr<Action>& action) {
  if (!action.ok()) return nullptr;
  const auto* call = std::get_if<DirectoryCall>(&*action);
  return call == nullptr ? nullptr : std::get_if<Request>(&call->request);
}

TEST(DirectoryCommandsTest, PutNamesEveryFieldAndNeedsAReason) {
  absl::StatusOr<Action> action = PlanOf(
      "members put", {"--org=clinic-f", "--endpoint=10.0.0.6:7106", "--display-name=Clinic F",
                      "--max-results=200", "--time-filters=false", "--certificate-subject",
                      "O=clinic-f,OU=member,CN=emr", "--reason=joins the HIE"});
  const auto* put = RequestOf<gv1::PutMemberRequest>(action);
  ASSERT_NE(put, nullptr) << action.status();
  EXPECT_EQ(put->member().org(), "clinic-f");
  EXPECT_EQ(put->member().endpoint(), "10.0.0.6:7106");
  EXPECT_EQ(put->member().state(), gv1::MEMBER_STATE_ACTIVE);
  EXPECT_EQ(put->member().max_results(), 200);
  EXPECT_FALSE(put->member().supports_time_filters());
  ASSERT_EQ(put->member().certificate_subjects_size(), 1);
  EXPECT_EQ(put->member().certificate_subjects(0), "O=clinic-f,OU=member,CN=emr");
  EXPECT_EQ(put->expected_version(), 0);
  EXPECT_EQ(put->context().purpose_of_use(), cm::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  EXPECT_TRUE(put->context().user_id().empty());  // the certificate says who

  EXPECT_THAT(PlanOf("members put", {"--org=clinic-f", "--endpoint=h:1", "--display-name=F"})
                  .status()
                  .message(),
              HasSubstr("--reason"));
  EXPECT_THAT(PlanOf("members put", {"--org=f", "--endpoint=h:1", "--display-name=F", "--reason=r",
                                     "--max-results=0"})
                  .status()
                  .message(),
              HasSubstr("--max-results"));
  EXPECT_THAT(PlanOf("members put", {"--org=f", "--endpoint=h:1", "--display-name=F", "--reason=r",
                                     "--expected-version=-1"})
                  .status()
                  .message(),
              HasSubstr("--expected-version"));
}

TEST(DirectoryCommandsTest, SetStateAndListReadTheirFlags) {
  const auto action = PlanOf("members set-state", {"clinic-d", "--state=suspended",
                                                   "--reason=audit", "--expected-version=3"});
  const auto* set = RequestOf<gv1::SetMemberStateRequest>(action);
  ASSERT_NE(set, nullptr) << action.status();
  EXPECT_EQ(set->org(), "clinic-d");
  EXPECT_EQ(set->state(), gv1::MEMBER_STATE_SUSPENDED);
  EXPECT_EQ(set->expected_version(), 3);
  EXPECT_THAT(
      PlanOf("members set-state", {"clinic-d", "--state=asleep", "--reason=r"}).status().message(),
      HasSubstr("--state"));

  const auto list_action = PlanOf("members list", {"--state=active,suspended", "--page-size=5"});
  const auto* list = RequestOf<gv1::ListMembersRequest>(list_action);
  ASSERT_NE(list, nullptr) << list_action.status();
  ASSERT_EQ(list->states_size(), 2);
  EXPECT_EQ(list->page_size(), 5);
  const auto show_action = PlanOf("members show", {"clinic-b"});
  const auto* show = RequestOf<gv1::GetMemberRequest>(show_action);
  ASSERT_NE(show, nullptr);
  EXPECT_EQ(show->org(), "clinic-b");
}

TEST(DirectoryCommandsTest, MembersRenderAsATableAndAsFields) {
  gv1::ListMembersResponse response;
  gv1::Member* m = response.add_members();
  m->set_org("clinic-d");
  m->set_display_name("Clinic D");
  m->set_state(gv1::MEMBER_STATE_SUSPENDED);
  m->set_endpoint("localhost:7104");
  m->set_max_results(200);
  m->set_circuit_state(gv1::CIRCUIT_STATE_OPEN);
  m->set_version(4);
  response.set_next_page_token("m1.clinic-d");
  const std::string table = RenderMembers(response);
  EXPECT_THAT(table, HasSubstr("clinic-d"));
  EXPECT_THAT(table, HasSubstr("suspended"));
  EXPECT_THAT(table, HasSubstr("open"));
  EXPECT_THAT(table, HasSubstr("--page-token=m1.clinic-d"));
  const std::string fields = RenderMember(*m);
  EXPECT_THAT(fields, HasSubstr("applied by the hub"));  // no time filters at the member
  EXPECT_THAT(fields, HasSubstr("localhost:7104"));
  EXPECT_EQ(RenderMembers(gv1::ListMembersResponse()), "no members\n");
}

}  // namespace
}  // namespace hie::hiectl
