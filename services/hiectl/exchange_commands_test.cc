// The locator and registry commands of the table: flags -> requests, flag errors (naming the
// flag, never echoing a patient id), defaults (target, certificate), repeatable flags.

#include "services/hiectl/exchange_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>

#include "absl/strings/str_cat.h"
#include "services/hiectl/commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

namespace cm = ::hie::common::v1;

const CommandSpec& Spec(const std::string& name) {
  static const std::vector<CommandSpec>* specs = new std::vector<CommandSpec>(CommandSpecs("jdoe"));
  for (const CommandSpec& spec : *specs) {
    if (spec.name == name) return spec;
  }
  ADD_FAILURE() << "no command " << name;
  std::abort();
}

absl::StatusOr<Action> PlanOf(const std::string& command, const std::vector<std::string>& args) {
  const CommandSpec& spec = Spec(command);
  SplitArgs split = SplitCommandLine(args, spec.keys, spec.repeatable);
  absl::StatusOr<Config> flags = LoadFlags(spec.keys, split.flags, nullptr, spec.own_keys);
  if (!flags.ok()) return flags.status();
  return spec.plan(*flags, split.positionals);
}

template <typename Req, typename Resp>
const UnaryCall<Req, Resp>* CallOf(const absl::StatusOr<Action>& action) {
  return action.ok() ? std::get_if<UnaryCall<Req, Resp>>(&*action) : nullptr;
}

std::string ErrorOf(const std::string& command, const std::vector<std::string>& args) {
  absl::StatusOr<Action> action = PlanOf(command, args);
  EXPECT_EQ(action.status().code(), absl::StatusCode::kInvalidArgument) << command;
  return std::string(action.status().message());
}

MATCHER_P2(IsSource, org, local_id, "") { return arg.org() == org && arg.local_id() == local_id; }
MATCHER_P2(IsCoding, system, code, "") { return arg.system() == system && arg.code() == code; }

// --- Table ---------------------------------------------------------------------------------

TEST(ExchangeTableTest, TargetsAndTheOperatorCertificate) {
  for (const char* name : {"locate", "locations list", "locations delete"}) {
    std::string usage = CommandUsage(Spec(name));
    EXPECT_THAT(usage, HasSubstr("--target=localhost:7002")) << name;
    EXPECT_THAT(usage, HasSubstr("--tls-cert=var/certs/operator.pem")) << name;
    EXPECT_THAT(usage, HasSubstr("--purpose=operations")) << name;
  }
  for (const char* name :
       {"documents find", "documents get", "documents related", "documents deprecate"}) {
    std::string usage = CommandUsage(Spec(name));
    EXPECT_THAT(usage, HasSubstr("--target=localhost:7003")) << name;
    EXPECT_THAT(usage, HasSubstr("--tls-key=var/certs/operator.key")) << name;
  }
  std::string help = GeneralUsage(CommandSpecs("u"));
  for (const char* name : {"locate", "locations list", "locations delete", "documents find",
                           "documents get", "documents related", "documents deprecate"}) {
    EXPECT_THAT(help, HasSubstr(absl::StrCat("  ", name, "  "))) << name;
  }
}

TEST(ExchangeTableTest, GroupsNameTheirSubcommands) {
  std::vector<CommandSpec> specs = CommandSpecs("u");
  EXPECT_EQ(FindCommand(specs, {"documents"}).status().message(),
            "documents needs a subcommand: find, get, related or deprecate");
  EXPECT_EQ(FindCommand(specs, {"locations"}).status().message(),
            "locations needs a subcommand: list or delete");
  EXPECT_EQ(FindCommand(specs, {"documents", "retrieve"}).status().message(),
            "unknown command 'documents retrieve'");
}

// --- locate, locations ----------------------------------------------------------------------

TEST(LocateTest, SourcesCategoriesAndActiveSince) {
  absl::StatusOr<Action> action = PlanOf(
      "locate", {"--source", "clinic-a:MRN-1", "--source=clinic-b:7:x, clinic-c:9", "--category",
                 "urn:hie:category|labs", "--category=http://loinc.org|11488-4",
                 "--active-since=2026-01-01T00:00:00Z"});
  const auto* call = CallOf<locator::LocateRequest, locator::LocateResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  const locator::LocateRequest& r = call->request;
  EXPECT_THAT(r.source_ids(), ElementsAre(IsSource("clinic-a", "MRN-1"),
                                          IsSource("clinic-b", "7:x"), IsSource("clinic-c", "9")));
  EXPECT_THAT(r.data_categories(), ElementsAre(IsCoding("urn:hie:category", "labs"),
                                               IsCoding("http://loinc.org", "11488-4")));
  EXPECT_EQ(r.active_since().seconds(), 1767225600);
  EXPECT_FALSE(call->context_purpose.has_value());  // the session's --purpose and --user
  EXPECT_FALSE(call->all_pages);
}

TEST(LocateTest, ErrorsNameTheFlagNeverThePatient) {
  EXPECT_EQ(ErrorOf("locate", {}), "--source is required (ORG:LOCAL_ID)");
  std::string bad = ErrorOf("locate", {"--source=clinic-a:1", "--source=MRN-777"});
  EXPECT_EQ(bad, "--source entries must be ORG:LOCAL_ID (entry 2 is not)");
  EXPECT_THAT(ErrorOf("locate", {"--source=a:1", "--source=:MRN-777"}), Not(HasSubstr("MRN")));
  EXPECT_THAT(ErrorOf("locate", {"--source=a:1", "--category=labs"}),
              HasSubstr("--category entries must be SYSTEM|CODE"));
  EXPECT_THAT(ErrorOf("locate", {"--source=a:1", "--active-since=yesterday"}),
              HasSubstr("--active-since must be an RFC"));
  std::string many;
  for (int i = 0; i <= kMaxIdsPerCall; ++i) absl::StrAppend(&many, i ? "," : "", "o:", i);
  EXPECT_EQ(ErrorOf("locate", {"--source", many}),
            "--source must not list more than 1000 entries (got 1001)");
}

TEST(LocationsTest, ListWithRemovedAndPaging) {
  absl::StatusOr<Action> action =
      PlanOf("locations list", {"--org=clinic-a", "--include-removed", "--page-size=50",
                                "--page-token=t1", "--active-since=2026-01-01T00:00:00Z", "--all"});
  const auto* call = CallOf<locator::ListLocationsRequest, locator::ListLocationsResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  EXPECT_EQ(call->request.org(), "clinic-a");
  EXPECT_TRUE(call->request.include_removed());
  EXPECT_EQ(call->request.page_size(), 50);
  EXPECT_EQ(call->request.page_token(), "t1");
  EXPECT_TRUE(call->request.last_activity_time().has_start());
  EXPECT_FALSE(call->request.last_activity_time().has_end());
  EXPECT_TRUE(call->all_pages);

  EXPECT_EQ(ErrorOf("locations list", {}), "--org is required");
  EXPECT_EQ(ErrorOf("locations list", {"--org=a", "--page-size=0x10"}),
            "--page-size must be an integer");
  EXPECT_EQ(ErrorOf("locations list", {"--org=a", "--page-size=1001"}),
            "--page-size must be between 1 and 1000");
  EXPECT_EQ(ErrorOf("locations list", {"--org=a", "--include-removed=maybe"}),
            "--include-removed must be true or false");
}

TEST(LocationsTest, DeleteNeedsOneSourceACodeAndAReason) {
  absl::StatusOr<Action> action =
      PlanOf("locations delete",
             {"--source=clinic-a:MRN-1", "--reason-code=patient-request", "--reason", "ticket 12"});
  const auto* call =
      CallOf<locator::DeleteLocationRequest, locator::DeleteLocationResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  EXPECT_THAT(call->request.source_id(), IsSource("clinic-a", "MRN-1"));
  EXPECT_EQ(call->request.reason_code(), locator::REMOVAL_REASON_PATIENT_REQUEST);
  EXPECT_EQ(call->request.reason(), "ticket 12");
  EXPECT_TRUE(call->request.idempotency_key().empty());  // the adapter generates one
  EXPECT_TRUE(call->print_idempotency_key);
  EXPECT_EQ(call->render({}), "location clinic-a/MRN-1 removed (patient-request)\n");

  action =
      PlanOf("locations delete", {"--source=clinic-a:1", "--reason-code", "member_no_longer_holds",
                                  "--reason=purged", "--idempotency-key=k-1"});
  call = CallOf<locator::DeleteLocationRequest, locator::DeleteLocationResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  EXPECT_EQ(call->request.reason_code(), locator::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS);
  EXPECT_EQ(call->request.idempotency_key(), "k-1");

  EXPECT_EQ(ErrorOf("locations delete", {"--reason-code=patient-request", "--reason=r"}),
            "--source is required: one ORG:LOCAL_ID");
  EXPECT_EQ(ErrorOf("locations delete",
                    {"--source=a:1,b:2", "--reason-code=patient-request", "--reason=r"}),
            "--source is required: one ORG:LOCAL_ID");
  EXPECT_EQ(ErrorOf("locations delete", {"--source=a:1", "--reason=r"}),
            "--reason-code is required (member-no-longer-holds or patient-request)");
  EXPECT_EQ(ErrorOf("locations delete", {"--source=a:1", "--reason-code=oops", "--reason=r"}),
            "--reason-code must be one of member-no-longer-holds, patient-request (got 'oops')");
  EXPECT_EQ(ErrorOf("locations delete", {"--source=a:1", "--reason-code=patient-request"}),
            "--reason is required");
}

// --- documents -----------------------------------------------------------------------------

TEST(DocumentsFindTest, EveryFilter) {
  absl::StatusOr<Action> action =
      PlanOf("documents find", {"--patient",
                                "clinic-a:1",
                                "--patient=clinic-b:2,clinic-c:3",
                                "--status=approved,deprecated",
                                "--class=http://loinc.org|11488-4",
                                "--class",
                                "http://loinc.org|18842-5",
                                "--type=http://loinc.org|34117-2",
                                "--format=urn:ihe:pcc|xphr",
                                "--confidentiality=urn:hl7|R",
                                "--event=urn:ev|E1",
                                "--practice-setting=urn:ps|P1",
                                "--facility-type=urn:ft|F1",
                                "--created-since=2026-01-01T00:00:00Z",
                                "--created-until=2026-02-01T00:00:00Z",
                                "--service-start-since=2025-01-01T00:00:00Z",
                                "--service-stop-until=2026-03-01T00:00:00Z",
                                "--author-institution=Cardiology",
                                "--page-size=200",
                                "--all"});
  const auto* call =
      CallOf<registry::FindDocumentsRequest, registry::FindDocumentsResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  const registry::FindDocumentsRequest& r = call->request;
  EXPECT_THAT(r.patients(), ElementsAre(IsSource("clinic-a", "1"), IsSource("clinic-b", "2"),
                                        IsSource("clinic-c", "3")));
  const registry::DocumentQuery& q = r.query();
  EXPECT_THAT(q.statuses(), ElementsAre(registry::AVAILABILITY_STATUS_APPROVED,
                                        registry::AVAILABILITY_STATUS_DEPRECATED));
  EXPECT_THAT(q.class_codes(), ElementsAre(IsCoding("http://loinc.org", "11488-4"),
                                           IsCoding("http://loinc.org", "18842-5")));
  EXPECT_THAT(q.type_codes(), ElementsAre(IsCoding("http://loinc.org", "34117-2")));
  EXPECT_THAT(q.format_codes(), ElementsAre(IsCoding("urn:ihe:pcc", "xphr")));
  EXPECT_THAT(q.confidentiality_codes(), ElementsAre(IsCoding("urn:hl7", "R")));
  EXPECT_THAT(q.event_codes(), ElementsAre(IsCoding("urn:ev", "E1")));
  EXPECT_THAT(q.practice_setting_codes(), ElementsAre(IsCoding("urn:ps", "P1")));
  EXPECT_THAT(q.healthcare_facility_type_codes(), ElementsAre(IsCoding("urn:ft", "F1")));
  EXPECT_EQ(q.creation_time().start().seconds(), 1767225600);
  EXPECT_EQ(q.creation_time().end().seconds(), 1769904000);
  EXPECT_TRUE(q.service_start_time().has_start());
  EXPECT_FALSE(q.service_start_time().has_end());
  EXPECT_FALSE(q.service_stop_time().has_start());
  EXPECT_TRUE(q.service_stop_time().has_end());
  EXPECT_EQ(q.author_institution(), "Cardiology");
  EXPECT_EQ(r.page_size(), 200);
  EXPECT_TRUE(call->all_pages);
}

TEST(DocumentsFindTest, DefaultsLeaveTheQueryEmpty) {
  absl::StatusOr<Action> action = PlanOf("documents find", {"--patient=clinic-a:1"});
  const auto* call =
      CallOf<registry::FindDocumentsRequest, registry::FindDocumentsResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  EXPECT_EQ(call->request.query().ByteSizeLong(), 0u);
  EXPECT_EQ(call->request.page_size(), 0);
  EXPECT_FALSE(call->all_pages);
}

TEST(DocumentsFindTest, ErrorsNameTheFlag) {
  EXPECT_EQ(ErrorOf("documents find", {}), "--patient is required (ORG:LOCAL_ID)");
  std::string bad = ErrorOf("documents find", {"--patient=MRN-777"});
  EXPECT_EQ(bad, "--patient entries must be ORG:LOCAL_ID (entry 1 is not)");
  EXPECT_THAT(ErrorOf("documents find", {"--patient=a:1", "--status=gone"}),
              HasSubstr("--status must be one of approved, deprecated"));
  EXPECT_THAT(ErrorOf("documents find", {"--patient=a:1", "--status=unspecified"}),
              HasSubstr("--status must be one of"));
  EXPECT_THAT(ErrorOf("documents find", {"--patient=a:1", "--class=|x"}),
              HasSubstr("--class entries must be SYSTEM|CODE"));
  EXPECT_EQ(ErrorOf("documents find", {"--patient=a:1", "--created-since=2026-02-01T00:00:00Z",
                                       "--created-until=2026-01-01T00:00:00Z"}),
            "--created-until must be after --created-since");
  EXPECT_THAT(ErrorOf("documents find", {"--patient=a:1", "--service-stop-since=\x1b[2J"}),
              HasSubstr("--service-stop-since must be an RFC"));
  EXPECT_EQ(ErrorOf("documents find", {"--patient=a:1", "--page-size=-1"}),
            "--page-size must be between 1 and 1000");
  EXPECT_EQ(ErrorOf("documents find", {"--patient=a:1", "--all=2"}), "--all must be true or false");
}

TEST(DocumentsTest, GetRelatedAndDeprecate) {
  absl::StatusOr<Action> get =
      PlanOf("documents get", {"--entry-uuid=urn:uuid:1,urn:uuid:2", "--unique-id", "1.2.3.4"});
  const auto* getting = CallOf<registry::GetDocumentsRequest, registry::GetDocumentsResponse>(get);
  ASSERT_TRUE(getting != nullptr) << get.status();
  EXPECT_THAT(getting->request.entry_uuids(), ElementsAre("urn:uuid:1", "urn:uuid:2"));
  EXPECT_THAT(getting->request.unique_ids(), ElementsAre("1.2.3.4"));
  EXPECT_EQ(ErrorOf("documents get", {}), "give --entry-uuid or --unique-id (at least one id)");

  absl::StatusOr<Action> related = PlanOf(
      "documents related", {"--entry-uuid=urn:uuid:1", "--type=replace,transform-and-replace"});
  const auto* relating =
      CallOf<registry::GetRelatedDocumentsRequest, registry::GetRelatedDocumentsResponse>(related);
  ASSERT_TRUE(relating != nullptr) << related.status();
  EXPECT_EQ(relating->request.entry_uuid(), "urn:uuid:1");
  EXPECT_THAT(relating->request.types(),
              ElementsAre(registry::ASSOCIATION_TYPE_REPLACE,
                          registry::ASSOCIATION_TYPE_TRANSFORM_AND_REPLACE));
  EXPECT_EQ(ErrorOf("documents related", {}), "--entry-uuid is required");
  EXPECT_EQ(ErrorOf("documents related", {"--entry-uuid=a,b"}),
            "--entry-uuid takes one entry uuid");
  EXPECT_THAT(ErrorOf("documents related", {"--entry-uuid=a", "--type=rplc"}),
              HasSubstr("--type must be one of replace, append, transform"));

  absl::StatusOr<Action> deprecate =
      PlanOf("documents deprecate", {"--entry-uuid=urn:uuid:1", "--reason", "sent in error"});
  const auto* deprecating =
      CallOf<registry::DeprecateDocumentRequest, registry::DocumentEntry>(deprecate);
  ASSERT_TRUE(deprecating != nullptr) << deprecate.status();
  EXPECT_EQ(deprecating->request.entry_uuid(), "urn:uuid:1");
  EXPECT_EQ(deprecating->request.reason(), "sent in error");
  EXPECT_TRUE(deprecating->print_idempotency_key);
  EXPECT_FALSE(deprecating->context_actor.has_value());
  EXPECT_EQ(ErrorOf("documents deprecate", {"--entry-uuid=urn:uuid:1"}), "--reason is required");
  EXPECT_EQ(ErrorOf("documents deprecate", {"--reason=r"}), "--entry-uuid is required");
}

TEST(DocumentsTest, DeprecateForAMemberNamesTheActor) {
  absl::StatusOr<Action> action =
      PlanOf("documents deprecate", {"--entry-uuid=u", "--reason=r", "--actor-org=clinic-a",
                                     "--actor-user=jsmith", "--purpose=treatment"});
  const auto* call = CallOf<registry::DeprecateDocumentRequest, registry::DocumentEntry>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  ASSERT_TRUE(call->context_actor.has_value());
  EXPECT_EQ(call->context_actor->org(), "clinic-a");
  EXPECT_EQ(call->context_actor->user_id(), "jsmith");
  EXPECT_EQ(call->context_actor->role(), cm::ROLE_MEMBER_SYSTEM);
  EXPECT_EQ(call->context_purpose, cm::PURPOSE_OF_USE_TREATMENT);

  EXPECT_EQ(ErrorOf("documents deprecate", {"--entry-uuid=u", "--reason=r", "--actor-user=x"}),
            "--actor-user needs --actor-org");
  EXPECT_THAT(ErrorOf("documents deprecate",
                      {"--entry-uuid=u", "--reason=r", "--actor-org=a", "--actor-role=boss"}),
              HasSubstr("--actor-role must be one of clinician, "));
  EXPECT_THAT(ErrorOf("documents deprecate",
                      {"--entry-uuid=u", "--reason=r", "--actor-org=a", "--purpose=fun"}),
              HasSubstr("--purpose must be one of"));
}

}  // namespace
}  // namespace hie::hiectl
