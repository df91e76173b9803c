// The member clinic's commands (outside-records, retrieve): flags -> requests, flag errors
// naming the flag, and the text a clinician reads (each member's block, the summary).

#include "services/hiectl/gateway_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>

#include "services/hiectl/commands.h"

namespace hie::hiectl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

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

TEST(GatewayCommandsTest, OutsideRecordsNamesTheClinicianAndThePurpose) {
  absl::StatusOr<Action> action =
      PlanOf("outside-records", {"--local-id=mrn-1", "--user=dr-ada", "--member=clinic-b",
                                 "--member", "clinic-c", "--max-per-member=50"});
  ASSERT_TRUE(action.ok()) << action.status();
  const auto* query = std::get_if<OutsideRecordsQuery>(&*action);
  ASSERT_NE(query, nullptr);
  const gv1::FindOutsideRecordsRequest& r = query->request;
  EXPECT_EQ(r.local_id(), "mrn-1");
  EXPECT_EQ(r.context().user_id(), "dr-ada");
  EXPECT_EQ(r.context().user_role(), cm::ROLE_CLINICIAN);
  EXPECT_EQ(r.context().purpose_of_use(), cm::PURPOSE_OF_USE_TREATMENT);
  EXPECT_THAT(r.member_orgs(), ElementsAre("clinic-b", "clinic-c"));
  EXPECT_EQ(r.max_results_per_member(), 50);
}

TEST(GatewayCommandsTest, MissingOrBadFlagsAreNamed) {
  auto error = [](const std::vector<std::string>& args) {
    absl::StatusOr<Action> action = PlanOf("outside-records", args);
    EXPECT_EQ(action.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(action.status().message());
  };
  EXPECT_THAT(error({"--local-id=mrn-1"}), HasSubstr("--user"));
  EXPECT_THAT(error({"--user=dr-ada"}), HasSubstr("--local-id"));
  EXPECT_THAT(error({"--user=dr-ada", "--local-id=m", "--purpose=lunch"}), HasSubstr("--purpose"));
  EXPECT_THAT(error({"--user=dr-ada", "--local-id=m", "--max-per-member=5000"}),
              HasSubstr("--max-per-member"));
  absl::StatusOr<Action> retrieve =
      PlanOf("retrieve", {"--user=dr-ada", "--local-id=m", "--member-org=clinic-b", "--key=k"});
  EXPECT_THAT(retrieve.status().message(), HasSubstr("--out"));
}

TEST(GatewayCommandsTest, RetrieveBuildsTheRequestAndKeepsTheFile) {
  absl::StatusOr<Action> action =
      PlanOf("retrieve", {"--user=dr-ada", "--local-id=m", "--member-org=clinic-b", "--key=k-1",
                          "--out=/tmp/doc", "--purpose=emergency", "--break-glass-id=bg-1"});
  ASSERT_TRUE(action.ok()) << action.status();
  const auto* retrieval = std::get_if<DocumentRetrieval>(&*action);
  ASSERT_NE(retrieval, nullptr);
  EXPECT_EQ(retrieval->out, "/tmp/doc");
  EXPECT_EQ(retrieval->request.member_org(), "clinic-b");
  EXPECT_EQ(retrieval->request.retrieve_key(), "k-1");
  EXPECT_EQ(retrieval->request.context().purpose_of_use(), cm::PURPOSE_OF_USE_EMERGENCY);
  EXPECT_EQ(retrieval->request.context().break_glass_id(), "bg-1");
}

TEST(GatewayRenderTest, AMemberBlockShowsWhatToRetrieveAndWhereItCameFrom) {
  gv1::MemberResult r;
  r.set_member_org("clinic-b");
  r.set_member_display_name("Clinic B");
  r.set_status(gv1::MEMBER_STATUS_OK);
  r.mutable_latency()->set_nanos(12'000'000);
  registry::DocumentEntry* e = r.add_entries();
  e->mutable_class_code()->set_code("11488-4");
  e->mutable_class_code()->set_display("Consult note");
  e->set_title("Cardiology consult");
  e->mutable_location()->set_member_org("clinic-b");
  e->mutable_location()->set_retrieve_key("note-7");
  r.add_entry_sources(gv1::ENTRY_SOURCE_REGISTRY_AND_MEMBER);
  const std::string text = RenderMemberResult(r);
  EXPECT_THAT(text, HasSubstr("clinic-b (Clinic B): ok, 1 entry, 12 ms"));
  EXPECT_THAT(text, HasSubstr("Consult note"));
  EXPECT_THAT(text, HasSubstr("registry+live"));
  EXPECT_THAT(text, HasSubstr("note-7"));

  gv1::MemberResult dead;
  dead.set_member_org("clinic-e");
  dead.set_status(gv1::MEMBER_STATUS_TIMEOUT);
  EXPECT_THAT(RenderMemberResult(dead), HasSubstr("clinic-e: timeout, 0 entries"));
}

TEST(GatewayRenderTest, TheSummarySaysWhenTheAnswerIsPartial) {
  gv1::QuerySummary s;
  s.set_request_id("gw-1");
  s.set_members_total(2);
  s.set_members_ok(1);
  s.set_members_timeout(1);
  s.set_partial(true);
  gv1::MemberSummary* row = s.add_members();
  row->set_member_org("clinic-e");
  row->set_status(gv1::MEMBER_STATUS_TIMEOUT);
  const std::string text = RenderQuerySummary(s);
  EXPECT_THAT(text, HasSubstr("clinic-e"));
  EXPECT_THAT(text, HasSubstr("PARTIAL"));
  EXPECT_THAT(text, HasSubstr("request id gw-1"));
  s.set_partial(false);
  EXPECT_THAT(RenderQuerySummary(s), Not(HasSubstr("PARTIAL")));
}

TEST(GatewayCommandsTest, BreakGlassIsAnEmergencyByANamedClinicianWithACodedReason) {
  absl::StatusOr<Action> action =
      PlanOf("break-glass", {"--local-id=mrn-1", "--user=dr-ada", "--reason=unconscious",
                             "--reason-code=patient-unable-to-consent", "--duration=30m"});
  ASSERT_TRUE(action.ok()) << action.status();
  const auto* glass = std::get_if<GlassBreak>(&*action);
  ASSERT_NE(glass, nullptr);
  EXPECT_EQ(glass->request.context().purpose_of_use(), cm::PURPOSE_OF_USE_EMERGENCY);
  EXPECT_EQ(glass->request.context().user_role(), cm::ROLE_CLINICIAN);
  EXPECT_EQ(glass->request.reason_code(),
            hie::consent::v1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
  EXPECT_EQ(glass->request.requested_duration().seconds(), 1800);
  EXPECT_THAT(PlanOf("break-glass", {"--local-id=m", "--user=u", "--reason=r"}).status().message(),
              HasSubstr("--reason-code"));
  EXPECT_THAT(
      PlanOf("break-glass", {"--local-id=m", "--user=u", "--reason=r", "--reason-code=boredom"})
          .status()
          .message(),
      HasSubstr("--reason-code"));
  EXPECT_THAT(PlanOf("break-glass", {"--local-id=m", "--user=u", "--reason=r",
                                     "--reason-code=other-emergency", "--duration=-5m"})
                  .status()
                  .message(),
              HasSubstr("--duration"));
  gv1::BreakGlassResponse grant;
  grant.set_grant_id("bg-7");
  EXPECT_THAT(RenderBreakGlass(grant, "mrn-1", "dr-ada"),
              HasSubstr("--purpose emergency --break-glass-id bg-7"));
}

TEST(GatewayCommandsTest, PatientConsentIsForYourOwnPatientTheCertificateNamesTheClinic) {
  absl::StatusOr<Action> action =
      PlanOf("patient-consent create",
             {"--local-id=mrn-1", "--user=reg-1", "--effect=deny", "--actor-org=clinic-b",
              "--purpose=treatment", "--category=http://loinc.org|11506-3",
              "--until=2027-01-01T00:00:00Z"});
  ASSERT_TRUE(action.ok()) << action.status();
  const auto* call = std::get_if<MemberConsentCall>(&*action);
  ASSERT_NE(call, nullptr);
  const auto* create = std::get_if<gv1::CreateConsentDirectiveRequest>(&call->request);
  ASSERT_NE(create, nullptr);
  EXPECT_EQ(create->context().user_id(), "reg-1");
  EXPECT_EQ(create->context().user_role(), cm::ROLE_ADMINISTRATIVE_STAFF);
  EXPECT_EQ(create->context().purpose_of_use(), cm::PURPOSE_OF_USE_OPERATIONS);
  const hie::consent::v1::ConsentDirective& d = create->directive();
  EXPECT_EQ(d.patient().local_id(), "mrn-1");
  EXPECT_EQ(d.patient().org(), "");  // the gateway takes it from the certificate
  EXPECT_EQ(d.effect(), hie::consent::v1::EFFECT_DENY);
  EXPECT_THAT(d.actor_orgs(), ElementsAre("clinic-b"));
  EXPECT_THAT(d.purposes(), ElementsAre(cm::PURPOSE_OF_USE_TREATMENT));
  ASSERT_EQ(d.data_categories_size(), 1);
  EXPECT_EQ(d.data_categories(0).code(), "11506-3");
  EXPECT_TRUE(d.effective_period().has_start());  // now, by default
  EXPECT_EQ(d.effective_period().end().seconds(), 1798761600);
  EXPECT_THAT(PlanOf("patient-consent create", {"--user=u", "--effect=deny"}).status().message(),
              HasSubstr("--local-id"));
  EXPECT_THAT(PlanOf("patient-consent create", {"--user=u", "--local-id=m"}).status().message(),
              HasSubstr("--effect"));
  EXPECT_THAT(PlanOf("patient-consent create", {"--user=u", "--local-id=m", "--effect=maybe"})
                  .status()
                  .message(),
              HasSubstr("--effect"));
  // No --org: a clinic cannot name another's patient.
  EXPECT_FALSE(
      PlanOf("patient-consent create", {"--user=u", "--local-id=m", "--effect=deny", "--org=x"})
          .ok());
  EXPECT_THAT(
      PlanOf("patient-consent create", {"--local-id=m", "--effect=deny"}).status().message(),
      HasSubstr("--user"));

  action = PlanOf("patient-consent list", {"--local-id=mrn-1", "--user=u", "--page-size=10"});
  ASSERT_TRUE(action.ok()) << action.status();
  const auto* list =
      std::get_if<gv1::ListConsentDirectivesRequest>(&std::get<MemberConsentCall>(*action).request);
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->local_id(), "mrn-1");
  EXPECT_EQ(list->page_size(), 10);
  EXPECT_THAT(PlanOf("patient-consent list", {"--user=u"}).status().message(),
              HasSubstr("--local-id"));

  action = PlanOf("patient-consent revoke", {"cd-7", "--user=u", "--reason=patient withdrew"});
  ASSERT_TRUE(action.ok()) << action.status();
  const auto* revoke = std::get_if<gv1::RevokeConsentDirectiveRequest>(
      &std::get<MemberConsentCall>(*action).request);
  ASSERT_NE(revoke, nullptr);
  EXPECT_EQ(revoke->directive_id(), "cd-7");
  EXPECT_EQ(revoke->reason(), "patient withdrew");
  EXPECT_THAT(PlanOf("patient-consent revoke", {"cd-7", "--user=u"}).status().message(),
              HasSubstr("--reason"));
  EXPECT_THAT(PlanOf("patient-consent revoke", {"--user=u", "--reason=r"}).status().message(),
              HasSubstr("DIRECTIVE_ID"));
}

}  // namespace
}  // namespace hie::hiectl
