// The audit and consent commands of the table: flags -> requests, flag errors (naming the flag,
// never echoing a patient id), defaults (target, certificate, time), repeatable flags.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <variant>

#include "services/hiectl/audit_commands.h"
#include "services/hiectl/commands.h"
#include "services/hiectl/consent_commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

namespace cm = ::hie::common::v1;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);

const CommandSpec& Spec(const std::string& name) {
  static const std::vector<CommandSpec>* specs =
      new std::vector<CommandSpec>(CommandSpecs("jdoe", kNow));
  for (const CommandSpec& spec : *specs) {
    if (spec.name == name) return spec;
  }
  ADD_FAILURE() << "no command " << name;
  std::abort();
}

absl::StatusOr<Config> Flags(const std::string& command, const std::vector<std::string>& args,
                             std::vector<const char*> env = {}) {
  const CommandSpec& spec = Spec(command);
  SplitArgs split = SplitCommandLine(args, spec.keys, spec.repeatable);
  env.push_back(nullptr);
  return LoadFlags(spec.keys, split.flags, env.data(), spec.own_keys);
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

// --- Table ---------------------------------------------------------------------------------

TEST(AuditConsentTableTest, TargetsAndTheAuditorCertificateByService) {
  for (const char* name :
       {"audit search", "audit disclosures", "audit verify", "audit checkpoints"}) {
    std::string usage = CommandUsage(Spec(name));
    EXPECT_THAT(usage, HasSubstr("--target=localhost:7005")) << name;
    EXPECT_THAT(usage, HasSubstr("--tls-cert=var/certs/auditor.pem")) << name;
    EXPECT_THAT(usage, HasSubstr("--tls-key=var/certs/auditor.key")) << name;
  }
  for (const char* name :
       {"consent directive create", "consent directive list", "consent directive revoke",
        "consent break-glass list", "consent break-glass review"}) {
    std::string usage = CommandUsage(Spec(name));
    EXPECT_THAT(usage, HasSubstr("--target=localhost:7004")) << name;
    EXPECT_THAT(usage, HasSubstr("--tls-cert=var/certs/auditor.pem")) << name;
  }
  // The identity commands keep the operator's.
  EXPECT_THAT(CommandUsage(Spec("resolve")), HasSubstr("--tls-cert=var/certs/operator.pem"));
  // Verify may run long.
  EXPECT_THAT(CommandUsage(Spec("audit verify")), HasSubstr("--timeout=300s"));
}

TEST(AuditConsentTableTest, GroupsNameTheirSubcommands) {
  std::vector<CommandSpec> specs = CommandSpecs("u", kNow);
  EXPECT_EQ(FindCommand(specs, {"audit"}).status().message(),
            "audit needs a subcommand: search, disclosures, verify or checkpoints");
  EXPECT_EQ(FindCommand(specs, {"consent"}).status().message(),
            "consent needs a subcommand: directive, break-glass or decide");
  EXPECT_EQ(FindCommand(specs, {"consent", "directive", "--help"}).status().message(),
            "consent directive needs a subcommand: create, list or revoke");
  EXPECT_EQ(FindCommand(specs, {"consent", "directive", "delete"}).status().message(),
            "unknown command 'consent directive delete'");
  absl::StatusOr<FoundCommand> found = FindCommand(specs, {"consent", "break-glass", "review"});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->words, 3);
}

// The session's --purpose and --user variables must not become audit search's filters.
TEST(AuditConsentTableTest, OwnFiltersNeverComeFromTheEnvironment) {
  absl::StatusOr<Config> flags =
      Flags("audit search", {}, {"HIE_PURPOSE=treatment", "HIE_USER=jdoe", "HIE_TARGET=h:1"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->Get("purpose"), "");
  EXPECT_EQ(flags->Get("user"), "");
  EXPECT_EQ(flags->Get("target"), "h:1");
  std::string usage = CommandUsage(Spec("audit search"));
  EXPECT_THAT(usage, HasSubstr("--target=localhost:7005"));
  EXPECT_THAT(usage, Not(HasSubstr("comma-separated: treatment, payment, operations, ... [env]")));
}

// --- audit search --------------------------------------------------------------------------

TEST(AuditSearchTest, EveryFilterAndTheDefaultDay) {
  absl::StatusOr<Action> action = PlanOf("audit search", {"--org",
                                                          "clinic-a",
                                                          "--local-id",
                                                          "1",
                                                          "--org=clinic-b",
                                                          "--local-id=2,3",
                                                          "--patient",
                                                          "clinic-c:9:x, clinic-d:4",
                                                          "--person=P-1",
                                                          "--actor-org=clinic-z",
                                                          "--user=drno",
                                                          "--custodian=clinic-a",
                                                          "--type=disclosure,break_glass",
                                                          "--type",
                                                          "Identity-Change",
                                                          "--outcome=denied",
                                                          "--purpose=emergency,treatment",
                                                          "--request-id=r-1",
                                                          "--break-glass-only",
                                                          "--page-size=500",
                                                          "--all"});
  const auto* call = CallOf<audit::SearchEventsRequest, audit::SearchEventsResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  const audit::SearchEventsRequest& r = call->request;
  EXPECT_THAT(r.patients(), ElementsAre(IsSource("clinic-a", "1"), IsSource("clinic-b", "2,3"),
                                        IsSource("clinic-c", "9:x"), IsSource("clinic-d", "4")));
  EXPECT_EQ(r.person_id(), "P-1");
  EXPECT_EQ(r.actor_org(), "clinic-z");
  EXPECT_EQ(r.actor_user_id(), "drno");
  EXPECT_EQ(r.custodian_org(), "clinic-a");
  EXPECT_THAT(r.types(), ElementsAre(audit::EVENT_TYPE_DISCLOSURE, audit::EVENT_TYPE_BREAK_GLASS,
                                     audit::EVENT_TYPE_IDENTITY_CHANGE));
  EXPECT_THAT(r.outcomes(), ElementsAre(audit::OUTCOME_DENIED));
  EXPECT_THAT(r.purposes(),
              ElementsAre(cm::PURPOSE_OF_USE_EMERGENCY, cm::PURPOSE_OF_USE_TREATMENT));
  EXPECT_EQ(r.request_id(), "r-1");
  EXPECT_TRUE(r.break_glass_only());
  EXPECT_EQ(r.event_time().start().seconds(), absl::ToUnixSeconds(kNow - absl::Hours(24)));
  EXPECT_FALSE(r.event_time().has_end());
  EXPECT_EQ(r.page_size(), 500);
  EXPECT_TRUE(call->all_pages);
  EXPECT_EQ(call->context_purpose, cm::PURPOSE_OF_USE_OPERATIONS);
}

TEST(AuditSearchTest, TimeRange) {
  absl::StatusOr<Action> action =
      PlanOf("audit search", {"--until=2026-01-10T00:00:00Z", "--person=P"});
  const auto* call = CallOf<audit::SearchEventsRequest, audit::SearchEventsResponse>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  absl::Time until = absl::FromCivil(absl::CivilDay(2026, 1, 10), absl::UTCTimeZone());
  EXPECT_EQ(call->request.event_time().start().seconds(),
            absl::ToUnixSeconds(until - absl::Hours(24)));
  EXPECT_EQ(call->request.event_time().end().seconds(), absl::ToUnixSeconds(until));
  EXPECT_FALSE(call->all_pages);

  EXPECT_EQ(
      ErrorOf("audit search", {"--since=2026-01-10T00:00:00Z", "--until=2026-01-09T00:00:00Z"}),
      "--until must be after --since");
  EXPECT_EQ(
      ErrorOf("audit search", {"--since=2024-01-01T00:00:00Z", "--until=2026-01-09T00:00:00Z"}),
      "--since must be at most 366 days before --until");
  EXPECT_THAT(ErrorOf("audit search", {"--since=yesterday"}), HasSubstr("--since must be an RFC"));
}

TEST(AuditSearchTest, ErrorsNameTheFlagNeverThePatient) {
  EXPECT_EQ(ErrorOf("audit search", {"--org=a", "--local-id=MRN-777", "--org=b"}),
            "give --org and --local-id the same number of times (in pairs)");
  EXPECT_EQ(ErrorOf("audit search", {"--local-id=MRN-777"}), "--local-id needs --org");
  std::string bad = ErrorOf("audit search", {"--patient=a:1,MRN-777"});
  EXPECT_EQ(bad, "--patient entries must be ORG:LOCAL_ID (entry 2 is not)");
  EXPECT_THAT(bad, Not(HasSubstr("MRN-777")));
  EXPECT_THAT(ErrorOf("audit search", {"--type=frob"}),
              HasSubstr("--type must be one of query, disclosure, "));
  EXPECT_THAT(ErrorOf("audit search", {"--outcome=unspecified"}),
              HasSubstr("--outcome must be one of success, denied, failure, partial"));
  EXPECT_THAT(ErrorOf("audit search", {"--purpose=curiosity"}), HasSubstr("--purpose must be"));
  EXPECT_EQ(ErrorOf("audit search", {"--page-size=5000"}),
            "--page-size must be between 1 and 1000");
}

// --- audit disclosures, verify, checkpoints ---------------------------------------------------

TEST(AuditDisclosuresTest, PatientRequiredRangeAndTpo) {
  absl::StatusOr<Action> action =
      PlanOf("audit disclosures",
             {"--org=clinic-a", "--local-id=1", "--exclude-tpo", "--since=2026-01-01T00:00:00Z"});
  const auto* call =
      CallOf<audit::GetAccountingOfDisclosuresRequest, audit::GetAccountingOfDisclosuresResponse>(
          action);
  ASSERT_TRUE(call != nullptr) << action.status();
  EXPECT_THAT(call->request.patients(), ElementsAre(IsSource("clinic-a", "1")));
  EXPECT_TRUE(call->request.exclude_treatment_payment_operations());
  EXPECT_TRUE(call->request.disclosure_time().has_start());
  EXPECT_FALSE(call->request.disclosure_time().has_end());
  EXPECT_THAT(ErrorOf("audit disclosures", {}), HasSubstr("give the patient: --org"));
}

TEST(AuditVerifyTest, RangeAndTheAlarm) {
  absl::StatusOr<Action> action =
      PlanOf("audit verify", {"--from=10", "--to=20", "--skip-checkpoints"});
  const auto* call = CallOf<audit::VerifyRequest, audit::VerifyResult>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  EXPECT_EQ(call->request.from_sequence(), 10);
  EXPECT_EQ(call->request.to_sequence(), 20);
  EXPECT_TRUE(call->request.skip_checkpoints());
  ASSERT_TRUE(call->alarm != nullptr);
  audit::VerifyResult result;
  result.set_status(audit::VerifyResult::STATUS_VALID);
  EXPECT_EQ(call->alarm(result), "");
  result.set_status(audit::VerifyResult::STATUS_CHAIN_BROKEN);
  result.set_first_bad_sequence(15);
  result.set_detail("previous_hash differs");
  EXPECT_EQ(call->alarm(result),
            "audit chain is not valid: chain-broken at sequence 15: previous_hash differs");
  EXPECT_EQ(call->render(result), RenderVerifyResult(result));

  EXPECT_EQ(ErrorOf("audit verify", {"--from=30", "--to=20"}), "--from must not be after --to");
  EXPECT_THAT(ErrorOf("audit verify", {"--from=-1"}), HasSubstr("--from must be 0"));
  EXPECT_EQ(ErrorOf("audit verify", {"--to=x"}), "--to must be an integer");
}

TEST(AuditCheckpointsTest, ListCreateOrKeys) {
  absl::StatusOr<Action> list = PlanOf("audit checkpoints", {"--since=2026-01-01T00:00:00Z"});
  const auto* listing = CallOf<audit::ListCheckpointsRequest, audit::ListCheckpointsResponse>(list);
  ASSERT_TRUE(listing != nullptr) << list.status();
  EXPECT_TRUE(listing->request.create_time().has_start());
  EXPECT_TRUE((CallOf<audit::CreateCheckpointRequest, audit::Checkpoint>(
      PlanOf("audit checkpoints", {"--create"}))));
  EXPECT_TRUE((CallOf<audit::ListSigningKeysRequest, audit::ListSigningKeysResponse>(
      PlanOf("audit checkpoints", {"--keys"}))));
  EXPECT_EQ(ErrorOf("audit checkpoints", {"--create", "--keys"}),
            "give at most one of --create or --keys");
  EXPECT_EQ(ErrorOf("audit checkpoints", {"--keys", "--since=2026-01-01T00:00:00Z"}),
            "--since only applies to the checkpoint list");
  EXPECT_EQ(ErrorOf("audit checkpoints", {"--create", "--all"}),
            "--all only applies to the checkpoint list");
}

// --- consent ---------------------------------------------------------------------------------

TEST(ConsentDirectiveCreateTest, BuildsTheDirective) {
  absl::StatusOr<Action> action = PlanOf(
      "consent directive create",
      {"--org=clinic-a", "--local-id=1", "--effect=deny", "--actor-org=clinic-b,clinic-c",
       "--actor-org", "clinic-d", "--custodian=clinic-e", "--purpose=research",
       "--category=http://loinc.org|11488-4", "--label",
       "http://terminology.hl7.org/CodeSystem/v3-ActCode|SUD", "--until=2027-01-01T00:00:00Z",
       "--evidence=doc-7", "--comment=signed form", "--idempotency-key=k-1"});
  const auto* call = CallOf<consent::CreateDirectiveRequest, consent::ConsentDirective>(action);
  ASSERT_TRUE(call != nullptr) << action.status();
  const consent::ConsentDirective& d = call->request.directive();
  EXPECT_THAT(d.patient(), IsSource("clinic-a", "1"));
  EXPECT_EQ(d.effect(), consent::EFFECT_DENY);
  EXPECT_THAT(d.actor_orgs(), ElementsAre("clinic-b", "clinic-c", "clinic-d"));
  EXPECT_THAT(d.custodian_orgs(), ElementsAre("clinic-e"));
  EXPECT_THAT(d.purposes(), ElementsAre(cm::PURPOSE_OF_USE_RESEARCH));
  ASSERT_EQ(d.data_categories_size(), 1);
  EXPECT_EQ(d.data_categories(0).system(), "http://loinc.org");
  EXPECT_EQ(d.data_categories(0).code(), "11488-4");
  ASSERT_EQ(d.sensitivity_labels_size(), 1);
  EXPECT_EQ(d.sensitivity_labels(0).code(), "SUD");
  EXPECT_EQ(d.effective_period().start().seconds(), absl::ToUnixSeconds(kNow));
  EXPECT_TRUE(d.effective_period().has_end());
  EXPECT_EQ(d.evidence_reference(), "doc-7");
  EXPECT_EQ(d.comment(), "signed form");
  EXPECT_EQ(call->request.idempotency_key(), "k-1");
  EXPECT_EQ(call->context_purpose, cm::PURPOSE_OF_USE_OPERATIONS);
}

TEST(ConsentDirectiveCreateTest, ErrorsNameTheFlag) {
  EXPECT_EQ(ErrorOf("consent directive create", {"--org=a", "--effect=permit"}),
            "--local-id is required");
  EXPECT_EQ(ErrorOf("consent directive create", {"--org=a", "--local-id=1"}),
            "--effect is required (permit or deny)");
  EXPECT_EQ(ErrorOf("consent directive create",
                    {"--org=a", "--local-id=1", "--effect=permit", "--category=11488-4"}),
            "--category entries must be SYSTEM|CODE, e.g. http://loinc.org|11488-4 (entry 1 is "
            "not)");
  EXPECT_EQ(ErrorOf("consent directive create",
                    {"--org=a", "--local-id=1", "--effect=permit", "--from=2026-02-01T00:00:00Z",
                     "--until=2026-01-01T00:00:00Z"}),
            "--until must be after --from");
}

TEST(ConsentDecideTest, AsksForOnePurposeAndNamesTheRecipientOnlyWhenGiven) {
  absl::StatusOr<Action> plain =
      PlanOf("consent decide", {"--patient=clinic-a:1,clinic-b:2", "--custodian=clinic-a",
                                "--purpose=treatment", "--label=http://terminology.hl7.org|PSY"});
  const auto* call = CallOf<consent::DecideRequest, consent::Decision>(plain);
  ASSERT_TRUE(call != nullptr) << plain.status();
  EXPECT_THAT(call->request.patients(),
              ElementsAre(IsSource("clinic-a", "1"), IsSource("clinic-b", "2")));
  EXPECT_EQ(call->request.custodian_org(), "clinic-a");
  EXPECT_EQ(call->request.sensitivity_labels_size(), 1);
  EXPECT_EQ(call->context_purpose, hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  EXPECT_FALSE(call->context_actor.has_value());

  absl::StatusOr<Action> for_recipient =
      PlanOf("consent decide", {"--org=clinic-a", "--local-id=1", "--custodian=clinic-a",
                                "--purpose=treatment", "--recipient=clinic-z"});
  call = CallOf<consent::DecideRequest, consent::Decision>(for_recipient);
  ASSERT_TRUE(call != nullptr) << for_recipient.status();
  ASSERT_TRUE(call->context_actor.has_value());
  EXPECT_EQ(call->context_actor->org(), "clinic-z");
  EXPECT_EQ(call->context_actor->role(), hie::common::v1::ROLE_CLINICIAN);

  EXPECT_THAT(ErrorOf("consent decide", {"--org=a", "--local-id=1", "--purpose=treatment"}),
              HasSubstr("--custodian"));
  EXPECT_THAT(ErrorOf("consent decide", {"--org=a", "--local-id=1", "--custodian=a"}),
              HasSubstr("--purpose"));
  EXPECT_THAT(ErrorOf("consent decide",
                      {"--org=a", "--local-id=1", "--custodian=a", "--purpose=treatment,payment"}),
              HasSubstr("one purpose"));
}

TEST(ConsentDirectiveTest, ListAndRevoke) {
  absl::StatusOr<Action> list = PlanOf(
      "consent directive list", {"--patient=clinic-a:1,clinic-b:2", "--state=active", "--all"});
  const auto* listing =
      CallOf<consent::ListDirectivesRequest, consent::ListDirectivesResponse>(list);
  ASSERT_TRUE(listing != nullptr) << list.status();
  EXPECT_THAT(listing->request.patients(),
              ElementsAre(IsSource("clinic-a", "1"), IsSource("clinic-b", "2")));
  EXPECT_THAT(listing->request.states(), ElementsAre(consent::DIRECTIVE_STATE_ACTIVE));
  EXPECT_TRUE(listing->all_pages);
  EXPECT_THAT(ErrorOf("consent directive list", {}), HasSubstr("give the patient"));
  EXPECT_THAT(ErrorOf("consent directive list", {"--org=a", "--local-id=1", "--state=gone"}),
              HasSubstr("--state must be one of active, revoked"));

  absl::StatusOr<Action> revoke =
      PlanOf("consent directive revoke", {"cd-1", "--reason", "patient asked", "--etag=e3"});
  const auto* revoking = CallOf<consent::RevokeDirectiveRequest, consent::ConsentDirective>(revoke);
  ASSERT_TRUE(revoking != nullptr) << revoke.status();
  EXPECT_EQ(revoking->request.directive_id(), "cd-1");
  EXPECT_EQ(revoking->request.reason(), "patient asked");
  EXPECT_EQ(revoking->request.etag(), "e3");
  EXPECT_TRUE(revoking->request.idempotency_key().empty());  // the adapter generates one
  EXPECT_EQ(ErrorOf("consent directive revoke", {"cd-1"}), "--reason is required");
}

TEST(ConsentBreakGlassTest, ListDefaultsToPendingAndReviewNeedsAVerdict) {
  absl::StatusOr<Action> list = PlanOf("consent break-glass list", {"--actor-org=clinic-b"});
  const auto* listing =
      CallOf<consent::ListBreakGlassGrantsRequest, consent::ListBreakGlassGrantsResponse>(list);
  ASSERT_TRUE(listing != nullptr) << list.status();
  EXPECT_THAT(listing->request.review_states(),
              ElementsAre(consent::BREAK_GLASS_REVIEW_STATE_PENDING));
  EXPECT_EQ(listing->request.actor_org(), "clinic-b");
  list = PlanOf("consent break-glass list", {"--state=all"});
  listing =
      CallOf<consent::ListBreakGlassGrantsRequest, consent::ListBreakGlassGrantsResponse>(list);
  ASSERT_TRUE(listing != nullptr) << list.status();
  EXPECT_TRUE(listing->request.review_states().empty());

  absl::StatusOr<Action> review =
      PlanOf("consent break-glass review", {"bg-1", "--inappropriate", "--notes=no emergency"});
  const auto* reviewing =
      CallOf<consent::ReviewBreakGlassRequest, consent::BreakGlassGrant>(review);
  ASSERT_TRUE(reviewing != nullptr) << review.status();
  EXPECT_EQ(reviewing->request.grant_id(), "bg-1");
  EXPECT_EQ(reviewing->request.review_state(), consent::BREAK_GLASS_REVIEW_STATE_INAPPROPRIATE);
  EXPECT_EQ(reviewing->request.notes(), "no emergency");
  EXPECT_EQ(ErrorOf("consent break-glass review", {"bg-1", "--notes=n"}),
            "give exactly one of --appropriate or --inappropriate");
  EXPECT_EQ(ErrorOf("consent break-glass review", {"bg-1", "--appropriate"}),
            "--notes is required");
}

}  // namespace
}  // namespace hie::hiectl
