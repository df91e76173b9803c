#include "services/hiectl/commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <variant>

#include "absl/strings/match.h"
#include "services/common/demographics.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace cm = ::hie::common::v1;

const CommandSpec& Spec(const std::string& name) {
  static const std::vector<CommandSpec>* specs = new std::vector<CommandSpec>(CommandSpecs("jdoe"));
  for (const CommandSpec& spec : *specs) {
    if (spec.name == name) return spec;
  }
  ADD_FAILURE() << "no command " << name;
  std::abort();
}

// Flags of `command` as an operator would type them.
absl::StatusOr<Config> Flags(const std::string& command, std::vector<std::string> args,
                             std::vector<const char*> env = {}) {
  const CommandSpec& spec = Spec(command);
  SplitArgs split = SplitCommandLine(args, spec.keys);
  env.push_back(nullptr);
  return LoadFlags(spec.keys, split.flags, env.data());
}

// --- Command table and argument splitting ------------------------------------------------------

TEST(FindCommandTest, FindsOneAndTwoWordCommands) {
  std::vector<CommandSpec> specs = CommandSpecs("u");
  absl::StatusOr<FoundCommand> review = FindCommand(specs, {"review", "show", "T-1"});
  ASSERT_TRUE(review.ok()) << review.status();
  EXPECT_EQ(review->spec.name, "review show");
  EXPECT_EQ(review->words, 2);
  absl::StatusOr<FoundCommand> resolve = FindCommand(specs, {"resolve", "--org=a"});
  ASSERT_TRUE(resolve.ok());
  EXPECT_EQ(resolve->spec.name, "resolve");
  EXPECT_EQ(resolve->words, 1);
}

TEST(FindCommandTest, UnknownCommandsAreNamed) {
  std::vector<CommandSpec> specs = CommandSpecs("u");
  EXPECT_THAT(std::string(FindCommand(specs, {"frobnicate"}).status().message()),
              HasSubstr("'frobnicate'"));
  EXPECT_THAT(std::string(FindCommand(specs, {"review"}).status().message()),
              HasSubstr("list, show"));
  EXPECT_THAT(std::string(FindCommand(specs, {"review", "delete"}).status().message()),
              HasSubstr("'review delete'"));
}

TEST(UsageTest, GeneralUsageListsEveryCommandAndCommandUsageItsFlags) {
  std::vector<CommandSpec> specs = CommandSpecs("u");
  std::string usage = GeneralUsage(specs);
  for (const char* name :
       {"health", "register", "resolve", "search", "review list", "review show", "review resolve",
        "link", "unlink", "merge", "unmerge", "person", "record", "history"}) {
    EXPECT_THAT(usage, HasSubstr(std::string("  ") + name + " ")) << name;
  }
  std::string search = CommandUsage(Spec("search"));
  EXPECT_THAT(search, HasSubstr("--explain"));
  EXPECT_THAT(search, HasSubstr("--only-certain"));
  EXPECT_THAT(search, HasSubstr("--purpose"));
  EXPECT_THAT(search, Not(HasSubstr("--reason")));
}

TEST(FindCommandTest, UnknownCommandMessagesAreExact) {
  std::vector<CommandSpec> specs = CommandSpecs("u");
  absl::Status unknown = FindCommand(specs, {"frobnicate", "--org=a"}).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.message(), "unknown command 'frobnicate'");
  EXPECT_EQ(FindCommand(specs, {"review"}).status().message(),
            "review needs a subcommand: list, show or resolve");
  EXPECT_EQ(FindCommand(specs, {"review", "delete"}).status().message(),
            "unknown command 'review delete'");
  EXPECT_EQ(FindCommand(specs, {}).status().message(), "no command given");
}

TEST(CommandTableTest, EveryCommandHasHelpFlagsAndAPlan) {
  std::vector<CommandSpec> specs = CommandSpecs("u");
  ASSERT_EQ(specs.size(), 41u);  // + outside-records, retrieve, break-glass, members x4,
                                 // patient-consent x3
  std::set<std::string> names;
  for (const CommandSpec& spec : specs) {
    EXPECT_TRUE(names.insert(spec.name).second) << "twice: " << spec.name;
    EXPECT_FALSE(spec.summary.empty()) << spec.name;
    EXPECT_TRUE(spec.plan != nullptr) << spec.name;
    EXPECT_EQ(spec.positionals > 0, absl::StrContains(spec.synopsis, "_ID")) << spec.name;
    ASSERT_FALSE(spec.keys.empty()) << spec.name;
    EXPECT_EQ(spec.keys.front().name, "target") << spec.name;
    std::set<std::string> keys;
    for (const ConfigKey& key : spec.keys) {
      EXPECT_FALSE(key.help.empty()) << spec.name << " --" << key.name;
      EXPECT_TRUE(keys.insert(key.name).second) << spec.name << " --" << key.name << " twice";
    }
  }
}

// The action `command` plans for `args`, as Run would get it.
absl::StatusOr<Action> PlanOf(const std::string& command, const std::vector<std::string>& args) {
  const CommandSpec& spec = Spec(command);
  SplitArgs split = SplitCommandLine(args, spec.keys);
  absl::StatusOr<Config> flags = LoadFlags(spec.keys, split.flags, nullptr);
  if (!flags.ok()) return flags.status();
  return spec.plan(*flags, split.positionals);
}

template <typename Req, typename Resp>
const UnaryCall<Req, Resp>* CallOf(const absl::StatusOr<Action>& action) {
  return action.ok() ? std::get_if<UnaryCall<Req, Resp>>(&*action) : nullptr;
}

TEST(CommandTableTest, EachCommandPlansItsRpc) {
  EXPECT_TRUE((CallOf<id::ResolveRequest, id::ResolveResponse>(
      PlanOf("resolve", {"--org=a", "--local-id=1"}))));
  EXPECT_TRUE((CallOf<id::SearchPersonsRequest, id::SearchPersonsResponse>(
      PlanOf("search", {"--family=Smith"}))));
  EXPECT_TRUE(
      (CallOf<id::ListReviewTasksRequest, id::ListReviewTasksResponse>(PlanOf("review list", {}))));
  EXPECT_TRUE((CallOf<id::ResolveReviewTaskRequest, id::ResolveReviewTaskResponse>(
      PlanOf("review resolve", {"T-1", "--same", "--reason=r"}))));
  EXPECT_TRUE((CallOf<id::LinkRecordRequest, id::LinkRecordResponse>(
      PlanOf("link", {"--org=a", "--local-id=1", "--person=P", "--reason=r"}))));
  EXPECT_TRUE((CallOf<id::UnlinkRecordRequest, id::UnlinkRecordResponse>(
      PlanOf("unlink", {"--org=a", "--local-id=1", "--reason=r"}))));
  EXPECT_TRUE((CallOf<id::MergePersonsRequest, id::MergePersonsResponse>(
      PlanOf("merge", {"--survivor=P1", "--merged=P2", "--reason=r"}))));
  EXPECT_TRUE((CallOf<id::UnmergePersonsRequest, id::UnmergePersonsResponse>(
      PlanOf("unmerge", {"--event=E", "--reason=r"}))));
  EXPECT_TRUE((CallOf<id::GetSourceRecordRequest, id::SourceRecord>(
      PlanOf("record", {"--org=a", "--local-id=1"}))));
  EXPECT_TRUE(
      (CallOf<id::GetHistoryRequest, id::GetHistoryResponse>(PlanOf("history", {"--person=P"}))));

  absl::StatusOr<Action> show = PlanOf("review show", {"T-7"});
  ASSERT_TRUE((CallOf<id::GetReviewTaskRequest, id::ReviewTask>(show))) << show.status();
  EXPECT_EQ((CallOf<id::GetReviewTaskRequest, id::ReviewTask>(show)->request.task_id()), "T-7");
  absl::StatusOr<Action> person = PlanOf("person", {"P-1", "--full"});
  ASSERT_TRUE((CallOf<id::GetPersonRequest, id::Person>(person))) << person.status();
  EXPECT_EQ((CallOf<id::GetPersonRequest, id::Person>(person)->request.person_id()), "P-1");
}

TEST(CommandTableTest, HealthAndBulkRegisterAreTheirOwnActions) {
  absl::StatusOr<Action> health = PlanOf("health", {"--service=hie.identity.v1.IdentityService"});
  ASSERT_TRUE(health.ok()) << health.status();
  ASSERT_TRUE(std::holds_alternative<HealthCheck>(*health));
  EXPECT_EQ(std::get<HealthCheck>(*health).service, "hie.identity.v1.IdentityService");
  absl::StatusOr<Action> bulk = PlanOf("register", {"--file", "rows.csv", "--parallel=4"});
  ASSERT_TRUE(bulk.ok()) << bulk.status();
  EXPECT_TRUE(std::holds_alternative<BulkRegister>(*bulk));
}

TEST(CommandTableTest, RegisterAndSearchRenderWithTheirFlags) {
  id::RegisterSourceRecordResponse registered;
  registered.set_person_id("P-1");
  registered.mutable_decision()->set_outcome(id::MATCH_OUTCOME_NEW_PERSON);
  absl::StatusOr<Action> dry =
      PlanOf("register", {"--org=a", "--local-id=1", "--validate-only", "--explain"});
  const auto* call = CallOf<id::RegisterSourceRecordRequest, id::RegisterSourceRecordResponse>(dry);
  ASSERT_TRUE(call != nullptr) << dry.status();
  EXPECT_TRUE(call->request.validate_only());
  EXPECT_EQ(call->render(registered), RenderRegister(registered, true, true));
  absl::StatusOr<Action> search = PlanOf("search", {"--family=Smith", "--explain"});
  const auto* find = CallOf<id::SearchPersonsRequest, id::SearchPersonsResponse>(search);
  ASSERT_TRUE(find != nullptr) << search.status();
  id::SearchPersonsResponse found;
  found.add_matches()->mutable_candidate()->set_person_id("P-2");
  EXPECT_EQ(find->render(found), RenderSearch(found, true));
}

TEST(CommandTableTest, PlanErrorsAreTheBuildersErrors) {
  EXPECT_EQ(PlanOf("link", {"--org=a", "--local-id=1", "--reason=r"}).status().message(),
            "--person is required");
  EXPECT_EQ(PlanOf("register", {"--org=a", "--local-id=1", "--explain=maybe"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanOf("review show", {""}).status().message(), "TASK_ID is required");
}

TEST(SplitCommandLineTest, BareBooleansBecomeTrueAndPositionalsAreSeparated) {
  const CommandSpec& spec = Spec("review resolve");
  SplitArgs split =
      SplitCommandLine({"T-9", "--same", "--reason", "same MRN", "--json", "--etag=e1"}, spec.keys);
  EXPECT_EQ(split.positionals, std::vector<std::string>({"T-9"}));
  EXPECT_EQ(split.flags, std::vector<std::string>(
                             {"--same=true", "--reason", "same MRN", "--json=true", "--etag=e1"}));
}

TEST(SplitCommandLineTest, ValueFlagConsumesItsValueEvenIfItLooksPositional) {
  const CommandSpec& spec = Spec("person");
  SplitArgs split = SplitCommandLine({"--user", "alice", "P-1", "--full"}, spec.keys);
  EXPECT_EQ(split.positionals, std::vector<std::string>({"P-1"}));
  absl::StatusOr<Config> config = LoadFlags(spec.keys, split.flags, nullptr);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Get("user"), "alice");
  EXPECT_TRUE(*config->GetBool("full"));
}

TEST(SplitCommandLineTest, UnknownFlagIsRejectedByConfig) {
  EXPECT_THAT(
      std::string(Flags("resolve", {"--org=a", "--local-id=1", "--famly=X"}).status().message()),
      HasSubstr("--famly"));
}

// --- Context ----------------------------------------------------------------------------------

TEST(ParsePurposeTest, MapsEveryDocumentedPurpose) {
  EXPECT_EQ(*ParsePurpose("treatment"), cm::PURPOSE_OF_USE_TREATMENT);
  EXPECT_EQ(*ParsePurpose("payment"), cm::PURPOSE_OF_USE_PAYMENT);
  EXPECT_EQ(*ParsePurpose("operations"), cm::PURPOSE_OF_USE_OPERATIONS);
  EXPECT_EQ(*ParsePurpose("emergency"), cm::PURPOSE_OF_USE_EMERGENCY);
  EXPECT_EQ(*ParsePurpose("public-health"), cm::PURPOSE_OF_USE_PUBLIC_HEALTH);
  EXPECT_EQ(*ParsePurpose("public_health"), cm::PURPOSE_OF_USE_PUBLIC_HEALTH);
  EXPECT_EQ(*ParsePurpose("research"), cm::PURPOSE_OF_USE_RESEARCH);
  EXPECT_EQ(*ParsePurpose("patient-request"), cm::PURPOSE_OF_USE_PATIENT_REQUEST);
  EXPECT_EQ(*ParsePurpose("system-administration"), cm::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
}

TEST(ParsePurposeTest, UnknownPurposeNamesTheFlag) {
  absl::StatusOr<cm::PurposeOfUse> purpose = ParsePurpose("curiosity");
  EXPECT_EQ(purpose.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(purpose.status().message()), HasSubstr("--purpose"));
  EXPECT_THAT(std::string(purpose.status().message()), HasSubstr("curiosity"));
}

TEST(BuildContextTest, DefaultsToOperationsAndTheDefaultUser) {
  absl::StatusOr<Config> flags = Flags("person", {"P-1"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<cm::RequestContext> context = BuildContext(*flags, "rid-1");
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(context->request_id(), "rid-1");
  EXPECT_EQ(context->purpose_of_use(), cm::PURPOSE_OF_USE_OPERATIONS);
  EXPECT_EQ(context->actor().user_id(), "jdoe");
  EXPECT_TRUE(context->actor().org().empty());  // the server takes it from the certificate
}

TEST(BuildContextTest, PurposeAndUserFromFlagsOrEnvironment) {
  absl::StatusOr<Config> flags = Flags("person", {"--purpose", "treatment"}, {"HIE_USER=alice"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<cm::RequestContext> context = BuildContext(*flags, "r");
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(context->purpose_of_use(), cm::PURPOSE_OF_USE_TREATMENT);
  EXPECT_EQ(context->actor().user_id(), "alice");
}

TEST(LoadFlagsTest, OnlySessionSettingsComeFromTheEnvironment) {
  absl::StatusOr<Config> flags =
      Flags("register", {"--org=a", "--local-id=1"},
            {"HIE_TARGET=hub:7001", "HIE_STATE=IL", "HIE_FAMILY=Smith", "HIE_JSON=true"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->Get("target"), "hub:7001");
  EXPECT_TRUE(*flags->GetBool("json"));
  EXPECT_EQ(flags->Get("state"), "");
  EXPECT_EQ(flags->Get("family"), "");
  // A filter default survives a stray variable too.
  flags = Flags("review list", {}, {"HIE_STATE=closed"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->Get("state"), "open");
  EXPECT_THAT(CommandUsage(Spec("review list")), HasSubstr("--target=localhost:7001"));
}

TEST(BuildContextTest, EmptyUserLeavesTheActorToTheCertificate) {
  absl::StatusOr<Config> flags = Flags("person", {"--user="});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<hie::common::v1::RequestContext> context = BuildContext(*flags, "r");
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_TRUE(context->actor().user_id().empty());
  EXPECT_EQ(context->request_id(), "r");
}

// --- Values -----------------------------------------------------------------------------------

TEST(NormalizeBirthDateTest, RewritesCommonExportLayouts) {
  EXPECT_EQ(NormalizeBirthDate("19840312"), "1984-03-12");
  EXPECT_EQ(NormalizeBirthDate("03/12/1984"), "1984-03-12");
  EXPECT_EQ(NormalizeBirthDate("3/2/1984"), "1984-03-02");
  EXPECT_EQ(NormalizeBirthDate("03.12.1984"), "1984-03-12");
  EXPECT_EQ(NormalizeBirthDate("1984-03-12"), "1984-03-12");
  EXPECT_EQ(NormalizeBirthDate("12/1984"), "12/1984") << "left for validation to refuse";
  EXPECT_EQ(NormalizeBirthDate("1984/03/12"), "1984/03/12");
  EXPECT_FALSE(ValidateBirthDate(NormalizeBirthDate("02/30/1984"), "birth_date").ok());
}

TEST(ValidateBirthDateTest, AcceptsFullAndPartialCalendarDates) {
  EXPECT_TRUE(ValidateBirthDate("1980-02-29", "--birth-date").ok());
  EXPECT_TRUE(ValidateBirthDate("1980-02", "--birth-date").ok());
  EXPECT_TRUE(ValidateBirthDate("1980", "--birth-date").ok());
  EXPECT_TRUE(ValidateBirthDate("", "--birth-date").ok());
}

TEST(ValidateBirthDateTest, RejectsMalformedAndImpossibleDates) {
  for (const char* bad : {"1981-02-29", "1980-13-01", "1980-04-31", "80-01-01", "1980/01/01",
                          "01-02-1980", "1980-1-5", "1980-01-01-01", "19x0-01-01", "1980-00"}) {
    absl::Status status = ValidateBirthDate(bad, "--birth-date");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), StartsWith("--birth-date ")) << bad;
  }
}

// The outside review: 139 rows of a clinic file were refused for the form of their SSN. Rows are
// never refused for an identifier: hiectl passes it on, the hub normalises or drops it.
TEST(BulkFileTest, SsnFormsNeverRefuseARow) {
  absl::StatusOr<BulkFile> file = ParseBulkFile(
      "org,local_id,family_name,ssn\n"
      "clinic-a,1,Smith,123456789\n"
      "clinic-a,2,Jones,123 45 6789\n"
      "clinic-a,3,Brown,12-345\n");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->errors.empty());
  ASSERT_EQ(file->rows.size(), 3u);
  EXPECT_EQ(file->rows[1].request.demographics().identifiers(0).value(), "123 45 6789");
}

// Cells that are not UTF-8 (a Latin-1 export) or hold control characters are refused with the
// line and column, never the value; --encoding=latin1 reads such a file correctly.
TEST(BulkFileTest, EncodingIsCheckedPerCellAndLatin1IsTranscoded) {
  const std::string latin1 =
      "org,local_id,family_name,given_name\n"
      "clinic-a,1,M\xFCller,J\xF6rg\n"
      "clinic-a,2,Smith,Ann\n"
      "clinic-a,3,Evil\x1b[2J,Ann\n";
  absl::StatusOr<BulkFile> as_utf8 = ParseBulkFile(latin1);
  ASSERT_TRUE(as_utf8.ok()) << as_utf8.status();
  ASSERT_EQ(as_utf8->errors.size(), 2u);
  EXPECT_EQ(as_utf8->errors[0].line, 2);
  EXPECT_THAT(as_utf8->errors[0].message, HasSubstr("column family_name is not valid UTF-8"));
  EXPECT_THAT(as_utf8->errors[0].message, Not(HasSubstr("ller")));
  EXPECT_EQ(as_utf8->errors[1].line, 4);
  EXPECT_THAT(as_utf8->errors[1].message, HasSubstr("control characters"));
  ASSERT_EQ(as_utf8->rows.size(), 1u);

  absl::StatusOr<BulkFile> as_latin1 = ParseBulkFile(latin1, CsvEncoding::kLatin1);
  ASSERT_TRUE(as_latin1.ok());
  ASSERT_EQ(as_latin1->rows.size(), 2u);
  EXPECT_EQ(as_latin1->rows[0].request.demographics().name().family(), "M\xC3\xBCller");
  EXPECT_EQ(as_latin1->rows[0].request.demographics().name().given(), "J\xC3\xB6rg");
  EXPECT_EQ(as_latin1->errors.size(), 1u);
  EXPECT_EQ(*ParseCsvEncoding("ISO-8859-1", "--encoding"), CsvEncoding::kLatin1);
  EXPECT_FALSE(ParseCsvEncoding("ebcdic", "--encoding").ok());
}

// A Windows export's curly apostrophe (0x92) is a C1 control in Latin-1, refused with a hint;
// read as Windows-1252 it is U+2019. A byte Windows-1252 leaves undefined (0x81) is refused.
TEST(BulkFileTest, Windows1252PunctuationIsTranscoded) {
  const std::string cp1252 =
      "org,local_id,family_name,given_name\n"
      "clinic-a,1,O\x92"
      "Brien,Se\xE1n\n"
      "clinic-a,2,Bad\x81,Ann\n";
  absl::StatusOr<BulkFile> as_latin1 = ParseBulkFile(cp1252, CsvEncoding::kLatin1);
  ASSERT_TRUE(as_latin1.ok()) << as_latin1.status();
  ASSERT_EQ(as_latin1->errors.size(), 2u);
  EXPECT_THAT(as_latin1->errors[0].message, HasSubstr("--encoding=windows-1252"));

  absl::StatusOr<BulkFile> as_cp1252 = ParseBulkFile(cp1252, CsvEncoding::kWindows1252);
  ASSERT_TRUE(as_cp1252.ok()) << as_cp1252.status();
  ASSERT_EQ(as_cp1252->rows.size(), 1u);
  EXPECT_EQ(as_cp1252->rows[0].request.demographics().name().family(),
            "O\xE2\x80\x99"
            "Brien");
  EXPECT_EQ(as_cp1252->rows[0].request.demographics().name().given(), "Se\xC3\xA1n");
  ASSERT_EQ(as_cp1252->errors.size(), 1u);
  EXPECT_EQ(as_cp1252->errors[0].line, 3);
  EXPECT_THAT(as_cp1252->errors[0].message, HasSubstr("control characters"));
  EXPECT_EQ(*ParseCsvEncoding("CP1252", "--encoding"), CsvEncoding::kWindows1252);
}

TEST(ParseSexTest, AcceptsNamesAndLetters) {
  EXPECT_EQ(*ParseSex("female", "--sex"), cm::SEX_FEMALE);
  EXPECT_EQ(*ParseSex("M", "--sex"), cm::SEX_MALE);
  EXPECT_EQ(*ParseSex("", "--sex"), cm::SEX_UNSPECIFIED);
  EXPECT_EQ(*ParseSex("unknown", "--sex"), cm::SEX_UNKNOWN);
  EXPECT_THAT(std::string(ParseSex("yes", "--sex").status().message()),
              StartsWith("--sex must be"));
}

TEST(ParseTimestampTest, ParsesRfc3339AndNamesTheFlagOnError) {
  absl::StatusOr<google::protobuf::Timestamp> ts =
      ParseTimestamp("2026-11-01T00:00:01.5Z", "--as-of");
  ASSERT_TRUE(ts.ok()) << ts.status();
  EXPECT_EQ(ts->seconds(), 1793491201);
  EXPECT_EQ(ts->nanos(), 500000000);
  EXPECT_THAT(std::string(ParseTimestamp("2026-11-01", "--as-of").status().message()),
              StartsWith("--as-of"));
}

// --- Requests ---------------------------------------------------------------------------------

TEST(BuildRegisterRequestTest, BuildsDemographicsFromFlags) {
  absl::StatusOr<Config> flags =
      Flags("register", {"--org",          "clinic-a",   "--local-id",    "MRN-1",
                         "--given",        "Ana",        "--family",      "Díaz",
                         "--sex",          "female",     "--birth-date",  "1980-03-04",
                         "--address-line", "1 Main St",  "--city",        "Springfield",
                         "--state",        "IL",         "--postal-code", "62701",
                         "--phone",        "555-0100",   "--email",       "ana@example.org",
                         "--ssn",          "123-45-6789"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<id::RegisterSourceRecordRequest> request = BuildRegisterRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->source_id().org(), "clinic-a");
  EXPECT_EQ(request->source_id().local_id(), "MRN-1");
  const cm::Demographics& d = request->demographics();
  EXPECT_EQ(d.name().given(), "Ana");
  EXPECT_EQ(d.name().family(), "Díaz");
  EXPECT_EQ(d.sex(), cm::SEX_FEMALE);
  EXPECT_EQ(d.birth_date(), "1980-03-04");
  ASSERT_EQ(d.addresses_size(), 1);
  EXPECT_EQ(d.addresses(0).lines(0), "1 Main St");
  EXPECT_EQ(d.addresses(0).postal_code(), "62701");
  EXPECT_EQ(d.phones(0).value(), "555-0100");
  EXPECT_EQ(d.emails(0).value(), "ana@example.org");
  ASSERT_EQ(d.identifiers_size(), 1);
  EXPECT_EQ(d.identifiers(0).system(), hie::kUsSsnSystem);
  EXPECT_EQ(d.identifiers(0).value(), "123-45-6789");
  EXPECT_TRUE(request->idempotency_key().empty());  // generated by the caller
  EXPECT_FALSE(request->validate_only());
}

TEST(BuildRegisterRequestTest, OmittedFieldsStayUnset) {
  absl::StatusOr<Config> flags = Flags("register", {"--org=a", "--local-id=1"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::RegisterSourceRecordRequest> request = BuildRegisterRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_FALSE(request->demographics().has_name());
  EXPECT_EQ(request->demographics().addresses_size(), 0);
  EXPECT_EQ(request->demographics().identifiers_size(), 0);
}

TEST(BuildRegisterRequestTest, ErrorsNameTheFlag) {
  absl::StatusOr<Config> flags =
      Flags("register", {"--org=a", "--local-id=1", "--birth-date=13/04/1980"});
  ASSERT_TRUE(flags.ok());
  absl::Status status = BuildRegisterRequest(*flags).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("--birth-date must be a real date"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("1980"))) << "no PHI in errors";

  flags = Flags("register", {"--org=a", "--family=X"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildRegisterRequest(*flags).status().message(), "--local-id is required");

  flags = Flags("register", {"--org=a", "--local-id=1", "--sex=x"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildRegisterRequest(*flags).status().message()),
              StartsWith("--sex must be"));
}

TEST(BuildRegisterRequestTest, ExplicitIdempotencyKeyAndDryRun) {
  absl::StatusOr<Config> flags =
      Flags("register", {"--org=a", "--local-id=1", "--idempotency-key=k1", "--validate-only"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<id::RegisterSourceRecordRequest> request = BuildRegisterRequest(*flags);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->idempotency_key(), "k1");
  EXPECT_TRUE(request->validate_only());
}

TEST(BuildResolveRequestTest, TargetOrgsAreSplitOnCommas) {
  absl::StatusOr<Config> flags =
      Flags("resolve", {"--org=a", "--local-id=1", "--target-org", "b, c"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::ResolveRequest> request = BuildResolveRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->target_orgs_size(), 2);
  EXPECT_EQ(request->target_orgs(0), "b");
  EXPECT_EQ(request->target_orgs(1), "c");
}

TEST(BuildSearchRequestTest, NeedsFamilyBirthDateOrSsnAndBoundsMax) {
  absl::StatusOr<Config> flags = Flags("search", {"--given=Ana"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildSearchRequest(*flags).status().message()), HasSubstr("--family"));

  flags = Flags("search", {"--family=Diaz", "--max=101"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildSearchRequest(*flags).status().message()),
              StartsWith("--max must be between"));

  flags = Flags("search", {"--family=Diaz", "--max", "5", "--only-certain", "--explain"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<id::SearchPersonsRequest> request = BuildSearchRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->max_results(), 5);
  EXPECT_TRUE(request->only_certain_matches());
  EXPECT_EQ(request->query().name().family(), "Diaz");
}

TEST(BuildListReviewTasksRequestTest, MapsStateAndOrder) {
  absl::StatusOr<Config> flags =
      Flags("review list", {"--state=different", "--order-by=score", "--page-size=20"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::ListReviewTasksRequest> request = BuildListReviewTasksRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->state(), id::REVIEW_TASK_STATE_RESOLVED_DIFFERENT);
  EXPECT_EQ(request->order_by(), "score desc");
  EXPECT_EQ(request->page_size(), 20);

  flags = Flags("review list", {});
  ASSERT_TRUE(flags.ok());
  request = BuildListReviewTasksRequest(*flags);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->state(), id::REVIEW_TASK_STATE_OPEN);
  EXPECT_EQ(request->order_by(), "create_time");
  EXPECT_EQ(request->page_size(), 0);

  flags = Flags("review list", {"--state=closed"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildListReviewTasksRequest(*flags).status().message()),
              StartsWith("--state"));
}

TEST(BuildResolveReviewTaskRequestTest, NeedsExactlyOneVerdictAndAReason) {
  absl::StatusOr<Config> flags = Flags("review resolve", {"--same", "--different", "--reason=x"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildResolveReviewTaskRequest(*flags, {"T-1"}).status().message()),
              HasSubstr("exactly one of --same or --different"));

  flags = Flags("review resolve", {"--different"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildResolveReviewTaskRequest(*flags, {"T-1"}).status().message(),
            "--reason is required");

  flags = Flags("review resolve", {"--different", "--reason", "twins", "--etag", "e7"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::ResolveReviewTaskRequest> request =
      BuildResolveReviewTaskRequest(*flags, {"T-1"});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->task_id(), "T-1");
  EXPECT_EQ(request->resolution(), id::ResolveReviewTaskRequest::RESOLUTION_DIFFERENT);
  EXPECT_EQ(request->reason(), "twins");
  EXPECT_EQ(request->expected_etag(), "e7");
}

TEST(BuildMergeRequestTest, RequiresDistinctPersonsAndReason) {
  absl::StatusOr<Config> flags = Flags("merge", {"--survivor=P1", "--merged=P1", "--reason=x"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildMergeRequest(*flags).status().message()), HasSubstr("different"));

  flags = Flags("merge", {"--survivor=P1", "--merged=P2"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildMergeRequest(*flags).status().message(), "--reason is required");

  flags = Flags("merge", {"--survivor=P1", "--merged=P2", "--reason=dup", "--force"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::MergePersonsRequest> request = BuildMergeRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->survivor_person_id(), "P1");
  EXPECT_EQ(request->merged_person_id(), "P2");
  EXPECT_TRUE(request->force());
}

TEST(BuildLinkAndUnlinkRequestTest, RequireTheirFlags) {
  absl::StatusOr<Config> flags = Flags("link", {"--org=a", "--local-id=1", "--reason=x"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildLinkRequest(*flags).status().message(), "--person is required");
  flags = Flags("unlink", {"--org=a", "--local-id=1"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildUnlinkRequest(*flags).status().message(), "--reason is required");
  flags = Flags("unmerge", {"--reason=x"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildUnmergeRequest(*flags).status().message(), "--event is required");
}

TEST(BuildGetPersonRequestTest, FullViewOnRequest) {
  absl::StatusOr<Config> flags = Flags("person", {"--full"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::GetPersonRequest> request = BuildGetPersonRequest(*flags, {"P-1"});
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->view(), id::PERSON_VIEW_FULL);
  flags = Flags("person", {});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildGetPersonRequest(*flags, {"P-1"})->view(), id::PERSON_VIEW_BASIC);
}

TEST(BuildGetHistoryRequestTest, PersonOrRecordNotBoth) {
  absl::StatusOr<Config> flags = Flags("history", {"--person=P1", "--org=a", "--local-id=1"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildGetHistoryRequest(*flags).status().message()),
              HasSubstr("either --person"));

  flags = Flags("history", {"--org=a"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(BuildGetHistoryRequest(*flags).status().message(), "--local-id is required");

  flags = Flags("history", {"--org=a", "--local-id=1", "--as-of=2026-11-01T00:00:00Z"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<id::GetHistoryRequest> request = BuildGetHistoryRequest(*flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->source_id().local_id(), "1");
  EXPECT_EQ(request->as_of().seconds(), 1793491200);

  flags = Flags("history", {"--person=P1", "--as-of=yesterday"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildGetHistoryRequest(*flags).status().message()),
              StartsWith("--as-of"));
}

TEST(BuildGetSourceRecordRequestTest, VersionMustBeAnInteger) {
  absl::StatusOr<Config> flags = Flags("record", {"--org=a", "--local-id=1", "--version=two"});
  ASSERT_TRUE(flags.ok());
  EXPECT_THAT(std::string(BuildGetSourceRecordRequest(*flags).status().message()),
              HasSubstr("--version"));
}

// --- Ids --------------------------------------------------------------------------------------

TEST(RandomIdTest, UuidV4LayoutAndDistinct) {
  std::mt19937_64 rng(42);
  std::string a = RandomId(rng), b = RandomId(rng);
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b') << a;
}

TEST(BulkIdempotencyKeyTest, DeterministicAndSensitiveToEveryField) {
  DemographicFields row = {{"org", "a"}, {"local_id", "1"}, {"family_name", "Diaz"}};
  std::string key = BulkIdempotencyKey(row);
  EXPECT_THAT(key, StartsWith("hiectl-csv-"));
  EXPECT_EQ(key.size(), 11u + 32u);
  EXPECT_EQ(key, BulkIdempotencyKey(row));
  // Pinned so that a change of the derivation (which would make re-runs register twice) fails.
  // (Computed independently: SHA-256 of "3:org1:a;8:local_id1:1;...11:family_name4:Diaz;...".)
  EXPECT_EQ(key, "hiectl-csv-d142b26f631123eb6a5e39f986151711");
  EXPECT_THAT(key, Not(HasSubstr("Diaz")));
  DemographicFields other_family = row;
  other_family["family_name"] = "Dias";
  EXPECT_NE(BulkIdempotencyKey(other_family), key);
  DemographicFields other_org = row;
  other_org["org"] = "b";
  EXPECT_NE(BulkIdempotencyKey(other_org), key);
  // Field boundaries matter: ("a1", "") differs from ("a", "1").
  EXPECT_NE(BulkIdempotencyKey({{"org", "a1"}, {"local_id", ""}}),
            BulkIdempotencyKey({{"org", "a"}, {"local_id", "1"}}));
  // An absent column and an empty one are the same row.
  DemographicFields with_empty = row;
  with_empty["email"] = "";
  EXPECT_EQ(BulkIdempotencyKey(with_empty), key);
}

// --- CSV --------------------------------------------------------------------------------------

TEST(ParseCsvTest, QuotedFieldsWithCommasQuotesAndNewlines) {
  absl::StatusOr<std::vector<CsvRecord>> records =
      ParseCsv("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n1,,3\n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].line, 1);
  EXPECT_EQ((*records)[1].fields, std::vector<std::string>({"x, y", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ((*records)[1].line, 2);
  EXPECT_EQ((*records)[2].fields, std::vector<std::string>({"1", "", "3"}));
  EXPECT_EQ((*records)[2].line, 5);  // after the two-line field and a blank line
}

TEST(ParseCsvTest, LastLineWithoutNewlineAndTrailingEmptyField) {
  absl::StatusOr<std::vector<CsvRecord>> records = ParseCsv("a,b\n1,");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].fields, std::vector<std::string>({"1", ""}));
}

TEST(ParseCsvTest, UnterminatedQuoteAndStrayTextReportTheLine) {
  EXPECT_EQ(ParseCsv("a\n\"open\n").status().message(), "line 2: unterminated quoted field");
  EXPECT_EQ(ParseCsv("a\nb\n\"x\"y\n").status().message(), "line 3: text after a closing quote");
}

constexpr char kHeader[] = "org,local_id,given_name,family_name,birth_date,ssn\n";

TEST(ParseBulkFileTest, GoodRowsBecomeRequestsBadRowsAreReportedWithTheirLine) {
  std::string csv = std::string(kHeader) +
                    "clinic-a,1,Ana,Díaz,1980-03-04,123-45-6789\n"  // line 2
                    "clinic-a,2,Bo,\"Smith, Jr\",1980-13-01,\n"     // line 3: bad date
                    "clinic-a,,Cy,Lee,,\n"                          // line 4: no local_id
                    "clinic-a,4,Di\n"                               // line 5: too few fields
                    "clinic-b,5,Ed,\"O'Neil\",1990,\n";             // line 6
  absl::StatusOr<BulkFile> file = ParseBulkFile(csv);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->rows.size(), 2u);
  EXPECT_EQ(file->rows[0].line, 2);
  EXPECT_EQ(file->rows[0].request.source_id().org(), "clinic-a");
  EXPECT_EQ(file->rows[0].request.demographics().name().family(), "Díaz");
  EXPECT_EQ(file->rows[0].request.demographics().identifiers(0).value(), "123-45-6789");
  EXPECT_THAT(file->rows[0].request.idempotency_key(), StartsWith("hiectl-csv-"));
  EXPECT_EQ(file->rows[1].line, 6);
  EXPECT_EQ(file->rows[1].request.demographics().birth_date(), "1990");
  ASSERT_EQ(file->errors.size(), 3u);
  EXPECT_EQ(file->errors[0].line, 3);
  EXPECT_THAT(file->errors[0].message, StartsWith("line 3: birth_date must be a real date"));
  EXPECT_EQ(file->errors[1].message, "line 4: local_id is empty");
  EXPECT_EQ(file->errors[2].message, "line 5: expected 6 fields, found 3");
}

TEST(ParseBulkFileTest, KeyDependsOnContentNotOnColumnOrderOrQuoting) {
  absl::StatusOr<BulkFile> a = ParseBulkFile("org,local_id,family_name\nx,1,Lee\n");
  absl::StatusOr<BulkFile> b = ParseBulkFile("family_name,local_id,org\n\"Lee\",1,x\n");
  absl::StatusOr<BulkFile> c = ParseBulkFile("org,local_id,family_name\nx,1,Li\n");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->rows[0].request.idempotency_key(), b->rows[0].request.idempotency_key());
  EXPECT_NE(a->rows[0].request.idempotency_key(), c->rows[0].request.idempotency_key());
}

TEST(ParseBulkFileTest, HeaderProblemsFailTheWholeFile) {
  EXPECT_THAT(std::string(ParseBulkFile("org,local_id,surname\n").status().message()),
              HasSubstr("unknown column 'surname'"));
  EXPECT_THAT(std::string(ParseBulkFile("org,given_name\n").status().message()),
              HasSubstr("needs a column 'local_id'"));
  EXPECT_THAT(std::string(ParseBulkFile("org,local_id,org\n").status().message()),
              HasSubstr("duplicate column 'org'"));
  EXPECT_THAT(std::string(ParseBulkFile("").status().message()), HasSubstr("empty"));
}

TEST(ParseBulkFileTest, ColumnsMayBeAbsentAndHeaderIsCaseInsensitiveWithBom) {
  absl::StatusOr<BulkFile> file = ParseBulkFile("\xEF\xBB\xBFOrg, Local_ID\nx,1\n");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->rows.size(), 1u);
  EXPECT_EQ(file->rows[0].request.source_id().local_id(), "1");
  EXPECT_FALSE(file->rows[0].request.demographics().has_name());
}

TEST(ExitCodeTest, TransportErrorsAreTwoServerErrorsOne) {
  EXPECT_EQ(ExitCodeForGrpcCode(0), 0);
  EXPECT_EQ(ExitCodeForGrpcCode(14), 2);  // UNAVAILABLE
  EXPECT_EQ(ExitCodeForGrpcCode(4), 2);   // DEADLINE_EXCEEDED
  EXPECT_EQ(ExitCodeForGrpcCode(5), 1);   // NOT_FOUND
  EXPECT_EQ(ExitCodeForGrpcCode(9), 1);   // FAILED_PRECONDITION
  EXPECT_EQ(ExitCodeForGrpcCode(3), 1);   // INVALID_ARGUMENT from the server
}

}  // namespace
}  // namespace hie::hiectl
