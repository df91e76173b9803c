#include "services/hiectl/commands.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "services/common/demographics.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/hiectl/audit_commands.h"
#include "services/hiectl/consent_commands.h"
#include "services/hiectl/directory_commands.h"
#include "services/hiectl/exchange_commands.h"
#include "services/hiectl/flag_values.h"
#include "services/hiectl/gateway_commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

using hie::common::v1::Demographics;
using hie::common::v1::PurposeOfUse;
using hie::common::v1::Sex;

// Flag name <-> CSV column of each demographic input, in canonical order.
struct DemographicInput {
  const char* flag;
  const char* column;
  const char* help;
};
constexpr DemographicInput kDemographicInputs[] = {
    {"given", "given_name", "given name(s)"},
    {"middle", "middle_name", "middle name(s) or initial"},
    {"family", "family_name", "family name"},
    {"sex", "sex", "female, male, other or unknown"},
    {"birth-date", "birth_date", "YYYY-MM-DD (or YYYY-MM, YYYY)"},
    {"address-line", "address_line", "street line of the home address"},
    {"city", "city", "city"},
    {"state", "state", "state"},
    {"postal-code", "postal_code", "postal code"},
    {"phone", "phone", "phone number"},
    {"email", "email", "e-mail address"},
    {"ssn", "ssn", "US SSN, NNN-NN-NNNN"},
};

std::vector<ConfigKey> ConnectionKeys() { return SessionKeys("localhost:7001", "operator"); }

std::vector<ConfigKey> IdentityKeys(const std::string& default_user) {
  std::vector<ConfigKey> keys = ConnectionKeys();
  keys.push_back({"purpose", "operations",
                  "purpose of use: treatment, payment, operations, emergency, public-health, "
                  "research, patient-request"});
  keys.push_back({"user", default_user,
                  "your user id (context.actor.user_id); the hub takes it from your certificate's "
                  "CN and refuses another, so leave it empty"});
  return keys;
}

void AddDemographics(std::vector<ConfigKey>& keys) {
  for (const DemographicInput& input : kDemographicInputs) {
    keys.push_back({input.flag, "", input.help});
  }
}

const ConfigKey kReason = {"reason", "", "why (required; kept in history, no patient data)"};

absl::StatusOr<bool> Bool(const Config& flags, const char* key) { return flags.GetBool(key); }

absl::StatusOr<hie::common::v1::SourceId> SourceIdFrom(const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "org"));
  HIE_RETURN_IF_ERROR(Require(flags, "local-id"));
  hie::common::v1::SourceId id;
  id.set_org(flags.Get("org"));
  id.set_local_id(flags.Get("local-id"));
  return id;
}

bool AllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

std::string FieldName(const DemographicInput& input, bool flag_style) {
  return flag_style ? absl::StrCat("--", input.flag) : std::string(input.column);
}

std::string Get(const DemographicFields& fields, absl::string_view column) {
  auto it = fields.find(column);
  return it == fields.end() ? std::string() : it->second;
}

}  // namespace

std::vector<ConfigKey> SessionKeys(absl::string_view default_target, absl::string_view cert_name) {
  return {
      {"target", std::string(default_target), "service address"},
      {"tls-ca", "var/certs/ca.pem", "CA bundle that signs the hub's certificates"},
      {"tls-cert", absl::StrCat("var/certs/", cert_name, ".pem"),
       "your certificate (empty: present none)"},
      {"tls-key", absl::StrCat("var/certs/", cert_name, ".key"), "your private key"},
      {"timeout", "5s", "deadline of each call"},
      {"json", "false", "print the response as JSON instead of tables"},
      {"gateway", "",
       "staff commands: send through hie-gateway at this address instead of --target"},
  };
}

// --- Commands ---------------------------------------------------------------------------------

namespace {

const ConfigKey kOrg = {"org", "", "organisation of the record"};
const ConfigKey kLocalId = {"local-id", "", "the organisation's patient id (MRN)"};

// Calls `build` with what it reads: the flags, the positional arguments or both.
template <typename Build>
auto CallBuilder(const Build& build, const Config& flags,
                 const std::vector<std::string>& positionals) {
  if constexpr (std::is_invocable_v<Build, const Config&, const std::vector<std::string>&>) {
    return build(flags, positionals);
  } else if constexpr (std::is_invocable_v<Build, const Config&>) {
    return build(flags);
  } else {
    return build(positionals);
  }
}

// The plan of a command that is one identity RPC: `build` makes the request (from flags,
// positionals or both), `render` prints the response.
template <typename Build, typename Resp>
Plan Unary(Build build, std::string (*render)(const Resp&)) {
  return [build, render](const Config& flags,
                         const std::vector<std::string>& positionals) -> absl::StatusOr<Action> {
    auto request = CallBuilder(build, flags, positionals);
    if (!request.ok()) return request.status();
    using Req = std::decay_t<decltype(*request)>;
    return UnaryCall<Req, Resp>{*std::move(request), render};
  };
}

absl::StatusOr<Action> PlanHealth(const Config& flags, const std::vector<std::string>&) {
  return HealthCheck{flags.Get("service")};
}

absl::StatusOr<Action> PlanRegister(const Config& flags, const std::vector<std::string>&) {
  if (!flags.Get("file").empty()) return BulkRegister{};
  HIE_ASSIGN_OR_RETURN(id::RegisterSourceRecordRequest request, BuildRegisterRequest(flags));
  HIE_ASSIGN_OR_RETURN(bool explain, flags.GetBool("explain"));
  const bool validate_only = request.validate_only();
  return UnaryCall<id::RegisterSourceRecordRequest, id::RegisterSourceRecordResponse>{
      std::move(request), [validate_only, explain](const id::RegisterSourceRecordResponse& r) {
        return RenderRegister(r, validate_only, explain);
      }};
}

absl::StatusOr<Action> PlanSearch(const Config& flags, const std::vector<std::string>&) {
  HIE_ASSIGN_OR_RETURN(id::SearchPersonsRequest request, BuildSearchRequest(flags));
  const bool explain = *flags.GetBool("explain");  // validated by BuildSearchRequest
  return UnaryCall<id::SearchPersonsRequest, id::SearchPersonsResponse>{
      std::move(request),
      [explain](const id::SearchPersonsResponse& r) { return RenderSearch(r, explain); }};
}

// The table, in `hiectl --help` order, in four parts to keep each short. A command is one
// entry: {name, synopsis, summary, positionals, flags, plan}.

// health, and registering and finding records.
void AddRecordCommands(const std::string& user, std::vector<CommandSpec>& specs) {
  {
    std::vector<ConfigKey> keys = ConnectionKeys();
    keys.push_back({"service", "", "the gRPC service name to check (empty: the whole server)"});
    specs.push_back({"health", "", "check a service's health", 0, keys, PlanHealth});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {kOrg, kLocalId});
    AddDemographics(keys);
    AppendKeys(keys, {kIdempotencyKey,
                      {"validate-only", "false", "match but store nothing (dry run)"},
                      {"explain", "false", "show each candidate's match explanation"},
                      {"file", "", "bulk: CSV file with a header row (see README)"},
                      {"parallel", "1", "bulk: calls in flight at once (1-16)"},
                      {"encoding", "utf-8",
                       "bulk: how the file encodes text: utf-8, windows-1252 or latin1"}});
    specs.push_back({"register", "(--org O --local-id ID [demographics] | --file F.csv)",
                     "register a source record (or a CSV file of them) and match it", 0, keys,
                     PlanRegister});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {kOrg,
                      kLocalId,
                      {"target-org", "", "only cross-references at these orgs (comma-separated)"},
                      {"include-inactive", "false", "also list superseded and inactive records"}});
    specs.push_back({"resolve", "--org O --local-id ID",
                     "person and cross-references of a source record", 0, keys,
                     Unary(BuildResolveRequest, RenderResolve)});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AddDemographics(keys);
    AppendKeys(keys, {{"only-certain", "false", "only CERTAIN matches"},
                      {"max", "0", "at most N candidates (1-100; default 10)"},
                      {"explain", "false", "show each candidate's match explanation"}});
    specs.push_back(
        {"search", "[demographics]", "find persons matching demographics", 0, keys, PlanSearch});
  }
}

// The operator's review queue.
void AddReviewCommands(const std::string& user, std::vector<CommandSpec>& specs) {
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys,
               {{"state", "open", "open, same, different or obsolete"},
                {"org", "", "only tasks with a record of this org"},
                {"person", "", "only tasks involving this person"},
                {"order-by", "create_time", "create_time (oldest first) or score (best first)"},
                {"page-size", "0", "tasks per page (1-500; default 50)"},
                {"page-token", "", "page to fetch (printed under the previous page)"}});
    specs.push_back({"review list", "", "list review tasks (the operator queue)", 0, keys,
                     Unary(BuildListReviewTasksRequest, RenderReviewList)});
  }
  specs.push_back({"review show", "TASK_ID", "both records of a review task and the explanation", 1,
                   IdentityKeys(user), Unary(BuildGetReviewTaskRequest, RenderReviewTask)});
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {{"same", "false", "the two records are the same person"},
                      {"different", "false", "the two records are different people"},
                      kReason,
                      {"etag", "", "the task's etag as you saw it (fails if it changed since)"},
                      kIdempotencyKey});
    specs.push_back({"review resolve", "TASK_ID (--same | --different) --reason TEXT",
                     "resolve a review task", 1, keys,
                     Unary(BuildResolveReviewTaskRequest, RenderResolveReview)});
  }
}

// Manual corrections: link, unlink, merge, unmerge.
void AddCorrectionCommands(const std::string& user, std::vector<CommandSpec>& specs) {
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {kOrg,
                      kLocalId,
                      {"person", "", "target person id"},
                      kReason,
                      {"etag", "", "the target person's etag (fails if it changed since)"},
                      kIdempotencyKey});
    specs.push_back({"link", "--org O --local-id ID --person P --reason TEXT",
                     "link a source record to a person", 0, keys,
                     Unary(BuildLinkRequest, RenderLink)});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {kOrg,
                      kLocalId,
                      kReason,
                      {"etag", "", "the current person's etag (fails if it changed since)"},
                      kIdempotencyKey});
    specs.push_back({"unlink", "--org O --local-id ID --reason TEXT",
                     "split a source record off its person onto a new person", 0, keys,
                     Unary(BuildUnlinkRequest, RenderUnlink)});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {{"survivor", "", "person that keeps all the records"},
                      {"merged", "", "person merged away"},
                      kReason,
                      {"force", "false", "merge even though a hard guard fires"},
                      {"survivor-etag", "", "the survivor's etag (fails if it changed since)"},
                      {"merged-etag", "", "the merged person's etag (fails if it changed since)"},
                      kIdempotencyKey});
    specs.push_back({"merge", "--survivor P1 --merged P2 --reason TEXT [--force]",
                     "merge two persons", 0, keys, Unary(BuildMergeRequest, RenderMerge)});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {{"event", "", "the merge event id (printed by merge, shown by history)"},
                      kReason,
                      kIdempotencyKey});
    specs.push_back({"unmerge", "--event E --reason TEXT", "undo one merge", 0, keys,
                     Unary(BuildUnmergeRequest, RenderUnmerge)});
  }
}

// Looking up persons, records and their history.
void AddLookupCommands(const std::string& user, std::vector<CommandSpec>& specs) {
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    keys.push_back({"full", "false", "include the golden record with provenance"});
    specs.push_back({"person", "PERSON_ID [--full]", "show a person and its links", 1, keys,
                     Unary(BuildGetPersonRequest, RenderPerson)});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {kOrg, kLocalId, {"version", "0", "version to show (0: latest)"}});
    specs.push_back({"record", "--org O --local-id ID [--version N]", "show a source record", 0,
                     keys, Unary(BuildGetSourceRecordRequest, RenderSourceRecord)});
  }
  {
    std::vector<ConfigKey> keys = IdentityKeys(user);
    AppendKeys(keys, {{"person", "", "history of this person"},
                      {"org", "", "or of this record: organisation"},
                      {"local-id", "", "or of this record: patient id (MRN)"},
                      {"as-of", "",
                       "state and events as of this time (RFC 3339, e.g. 2026-11-01T00:00:00Z)"},
                      {"page-size", "0", "events per page (1-1000; default 100)"},
                      {"page-token", "", "page to fetch (printed under the previous page)"}});
    specs.push_back({"history", "(--person P | --org O --local-id ID) [--as-of RFC3339]",
                     "identity events of a person or record", 0, keys,
                     Unary(BuildGetHistoryRequest, RenderHistory)});
  }
}

}  // namespace

std::vector<CommandSpec> CommandSpecs(const std::string& default_user, absl::Time now) {
  std::vector<CommandSpec> specs;
  AddRecordCommands(default_user, specs);
  AddReviewCommands(default_user, specs);
  AddCorrectionCommands(default_user, specs);
  AddLookupCommands(default_user, specs);
  AddAuditCommands(now, specs);
  AddConsentCommands(now, specs);
  AddExchangeCommands(default_user, specs);
  AddGatewayCommands(now, specs);
  AddDirectoryCommands(specs);
  return specs;
}

absl::StatusOr<FoundCommand> FindCommand(const std::vector<CommandSpec>& specs,
                                         const std::vector<std::string>& args) {
  if (args.empty()) return absl::NotFoundError("no command given");
  for (const CommandSpec& spec : specs) {
    std::vector<std::string> words = absl::StrSplit(spec.name, ' ');
    if (words.size() > args.size()) continue;
    if (std::equal(words.begin(), words.end(), args.begin())) {
      return FoundCommand{spec, static_cast<int>(words.size())};
    }
  }
  // A command group ("review", "audit", "consent directive"): name its subcommands.
  for (size_t depth = std::min<size_t>(args.size(), 2); depth > 0; --depth) {
    std::string group = absl::StrJoin(args.begin(), args.begin() + depth, " ") + " ";
    std::vector<std::string> subcommands;
    for (const CommandSpec& spec : specs) {
      if (!spec.name.starts_with(group)) continue;
      std::string next = spec.name.substr(group.size());
      next = next.substr(0, next.find(' '));
      if (std::find(subcommands.begin(), subcommands.end(), next) == subcommands.end()) {
        subcommands.push_back(next);
      }
    }
    if (subcommands.empty()) continue;
    if (args.size() == depth || args[depth].starts_with("-")) {
      std::string last = subcommands.back();
      subcommands.pop_back();
      return absl::NotFoundError(
          absl::StrCat(group, "needs a subcommand: ", absl::StrJoin(subcommands, ", "),
                       subcommands.empty() ? "" : " or ", last));
    }
    return absl::NotFoundError(absl::StrCat("unknown command '", group, args[depth], "'"));
  }
  return absl::NotFoundError(absl::StrCat("unknown command '", args[0], "'"));
}

std::string GeneralUsage(const std::vector<CommandSpec>& specs) {
  std::string out =
      "usage: hiectl COMMAND [flags]      (hiectl COMMAND --help lists the flags)\n\n"
      "commands:\n";
  size_t width = 0;
  for (const CommandSpec& spec : specs) width = std::max(width, spec.name.size());
  for (const CommandSpec& spec : specs) {
    absl::StrAppend(&out, "  ", spec.name, std::string(width - spec.name.size() + 2, ' '),
                    spec.summary, "\n");
  }
  absl::StrAppend(&out,
                  "\nEvery command connects with mutual TLS (--tls-ca, --tls-cert, --tls-key).\n"
                  "Exit status: 0 success, 1 the server answered with an error, 2 usage or "
                  "transport error,\n3 the answer is an alarm (audit verify: the chain is not "
                  "VALID).\n");
  return out;
}

namespace {
bool FromEnvironment(const CommandSpec& spec, const std::string& key) {
  return IsEnvironmentKey(key) &&
         std::find(spec.own_keys.begin(), spec.own_keys.end(), key) == spec.own_keys.end();
}
}  // namespace

std::string CommandUsage(const CommandSpec& spec) {
  std::string out = absl::StrCat("hiectl ", spec.name, spec.synopsis.empty() ? "" : " ",
                                 spec.synopsis, "\n  ", spec.summary, "\n\n");
  absl::StrAppend(&out, "flags (those marked [env] may also be set in the environment, e.g. ",
                  Config::EnvName(spec.keys.front().name), "):\n");
  size_t width = 0;
  std::vector<std::string> lefts;
  for (const ConfigKey& key : spec.keys) {
    lefts.push_back(key.default_value.empty() || key.default_value == "false"
                        ? absl::StrCat("--", key.name)
                        : absl::StrCat("--", key.name, "=", key.default_value));
    width = std::max(width, lefts.back().size());
  }
  for (size_t i = 0; i < spec.keys.size(); ++i) {
    absl::StrAppend(&out, "  ", lefts[i], std::string(width - lefts[i].size() + 2, ' '),
                    spec.keys[i].help, FromEnvironment(spec, spec.keys[i].name) ? " [env]" : "",
                    "\n");
  }
  return out;
}

SplitArgs SplitCommandLine(const std::vector<std::string>& args, const std::vector<ConfigKey>& keys,
                           const std::vector<std::string>& repeatable) {
  std::set<std::string, std::less<>> booleans;
  for (const ConfigKey& key : keys) {
    if (key.default_value == "false") booleans.insert(key.name);
  }
  SplitArgs out;
  std::map<std::string, size_t> repeated;  // repeatable key -> its entry in out.flags
  // A repeatable key's later values are appended to its first occurrence, "--key=v1<sep>v2".
  auto repeat = [&](const std::string& name, const std::string& value) {
    if (std::find(repeatable.begin(), repeatable.end(), name) == repeatable.end()) return false;
    if (auto [it, fresh] = repeated.try_emplace(name, out.flags.size()); !fresh) {
      absl::StrAppend(&out.flags[it->second], std::string(1, kRepeatSeparator), value);
    } else {
      out.flags.push_back(absl::StrCat("--", name, "=", value));
    }
    return true;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.flags.push_back(arg);
    } else if (arg.size() > 2 && arg.starts_with("--")) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        if (!repeat(arg.substr(2, eq - 2), arg.substr(eq + 1))) out.flags.push_back(arg);
      } else if (booleans.contains(arg.substr(2))) {
        out.flags.push_back(arg + "=true");
      } else if (i + 1 < args.size() && repeat(arg.substr(2), args[i + 1])) {
        ++i;
      } else {
        out.flags.push_back(arg);
        if (i + 1 < args.size()) out.flags.push_back(args[++i]);
      }
    } else {
      out.positionals.push_back(arg);
    }
  }
  return out;
}

absl::StatusOr<Config> LoadFlags(const std::vector<ConfigKey>& keys,
                                 const std::vector<std::string>& flags, const char* const* envp,
                                 const std::vector<std::string>& own_keys) {
  std::vector<const char*> argv = {"hiectl"};
  for (const std::string& flag : flags) argv.push_back(flag.c_str());
  std::vector<std::string> allowed;
  for (const ConfigKey& key : keys) {
    if (IsEnvironmentKey(key.name) &&
        std::find(own_keys.begin(), own_keys.end(), key.name) == own_keys.end()) {
      allowed.push_back(Config::EnvName(key.name) + "=");
    }
  }
  std::vector<const char*> env;
  for (const char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    for (const std::string& prefix : allowed) {
      if (absl::StartsWith(*e, prefix)) env.push_back(*e);
    }
  }
  env.push_back(nullptr);
  return Config::Load(keys, static_cast<int>(argv.size()), argv.data(), env.data());
}

bool IsEnvironmentKey(absl::string_view key) {
  static const std::set<std::string, std::less<>> kKeys = {
      "target", "tls-ca", "tls-cert", "tls-key", "timeout", "json", "purpose", "user"};
  return kKeys.contains(key);
}

// --- Values -----------------------------------------------------------------------------------

absl::StatusOr<PurposeOfUse> ParsePurpose(absl::string_view text) {
  std::string name = absl::StrReplaceAll(absl::AsciiStrToLower(text), {{"_", "-"}});
  static const std::map<std::string, PurposeOfUse, std::less<>> kPurposes = {
      {"treatment", hie::common::v1::PURPOSE_OF_USE_TREATMENT},
      {"payment", hie::common::v1::PURPOSE_OF_USE_PAYMENT},
      {"operations", hie::common::v1::PURPOSE_OF_USE_OPERATIONS},
      {"emergency", hie::common::v1::PURPOSE_OF_USE_EMERGENCY},
      {"public-health", hie::common::v1::PURPOSE_OF_USE_PUBLIC_HEALTH},
      {"research", hie::common::v1::PURPOSE_OF_USE_RESEARCH},
      {"patient-request", hie::common::v1::PURPOSE_OF_USE_PATIENT_REQUEST},
      {"care-coordination", hie::common::v1::PURPOSE_OF_USE_CARE_COORDINATION},
      {"legal", hie::common::v1::PURPOSE_OF_USE_LEGAL},
      {"system-administration", hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION},
  };
  auto it = kPurposes.find(name);
  if (it == kPurposes.end()) {
    return Invalid(
        "--purpose must be one of treatment, payment, operations, emergency, "
        "public-health, research, patient-request (got '",
        text, "')");
  }
  return it->second;
}

absl::StatusOr<Sex> ParseSex(absl::string_view text, absl::string_view what) {
  if (absl::StripAsciiWhitespace(text).empty()) return hie::common::v1::SEX_UNSPECIFIED;
  if (std::optional<Sex> sex = hie::SexFromCode({text.data(), text.size()})) return *sex;
  return Invalid(what, " must be female, male, other or unknown (got '", text, "')");
}

std::string NormalizeBirthDate(absl::string_view text) {
  if (text.size() == 8 && AllDigits(text)) {
    return absl::StrCat(text.substr(0, 4), "-", text.substr(4, 2), "-", text.substr(6, 2));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::ByAnyChar("/.-"));
  if (parts.size() == 3 && parts[2].size() == 4 && parts[0].size() <= 2 && parts[1].size() <= 2 &&
      !parts[0].empty() && !parts[1].empty() && AllDigits(parts[0]) && AllDigits(parts[1]) &&
      AllDigits(parts[2])) {
    auto two = [](absl::string_view p) {
      return p.size() == 1 ? absl::StrCat("0", p) : std::string(p);
    };
    return absl::StrCat(parts[2], "-", two(parts[0]), "-", two(parts[1]));
  }
  return std::string(text);
}

absl::Status ValidateBirthDate(absl::string_view text, absl::string_view what) {
  if (text.empty() || hie::IsValidDate({text.data(), text.size()})) return absl::OkStatus();
  // The value itself is not echoed: it is PHI, and error output gets pasted into tickets.
  return Invalid(what,
                 " must be a real date YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY (or YYYY-MM, YYYY)");
}

absl::StatusOr<google::protobuf::Timestamp> ParseTimestamp(absl::string_view text,
                                                           absl::string_view what) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return Invalid(what, " must be an RFC 3339 time such as 2026-11-01T00:00:00Z (got '",
                   absl::StrCat(text, "')"));
  }
  return ToTimestamp(time);
}

const std::vector<std::string>& CsvColumns() {
  static const std::vector<std::string>* columns = [] {
    auto* c = new std::vector<std::string>{"org", "local_id"};
    for (const DemographicInput& input : kDemographicInputs) c->push_back(input.column);
    return c;
  }();
  return *columns;
}

absl::StatusOr<Demographics> BuildDemographics(const DemographicFields& fields, bool flag_style) {
  std::map<std::string, std::string, std::less<>> names;  // column -> how errors name it
  for (const DemographicInput& input : kDemographicInputs) {
    names[input.column] = FieldName(input, flag_style);
  }
  Demographics d;
  std::string given = Get(fields, "given_name"), middle = Get(fields, "middle_name"),
              family = Get(fields, "family_name");
  if (!given.empty() || !middle.empty() || !family.empty()) {
    d.mutable_name()->set_given(given);
    d.mutable_name()->set_middle(middle);
    d.mutable_name()->set_family(family);
  }
  absl::StatusOr<Sex> sex = ParseSex(Get(fields, "sex"), names["sex"]);
  if (!sex.ok()) return sex.status();
  d.set_sex(*sex);
  std::string birth_date =
      NormalizeBirthDate(absl::StripAsciiWhitespace(Get(fields, "birth_date")));
  HIE_RETURN_IF_ERROR(ValidateBirthDate(birth_date, names["birth_date"]));
  d.set_birth_date(birth_date);
  std::string line = Get(fields, "address_line"), city = Get(fields, "city"),
              state = Get(fields, "state"), postal = Get(fields, "postal_code");
  if (!line.empty() || !city.empty() || !state.empty() || !postal.empty()) {
    hie::common::v1::Address* address = d.add_addresses();
    if (!line.empty()) address->add_lines(line);
    address->set_city(city);
    address->set_state(state);
    address->set_postal_code(postal);
    address->set_use(hie::common::v1::Address::USE_HOME);
  }
  if (std::string phone = Get(fields, "phone"); !phone.empty()) d.add_phones()->set_value(phone);
  if (std::string email = Get(fields, "email"); !email.empty()) d.add_emails()->set_value(email);
  // Passed on as written: the hub normalises SSN forms and drops (with a warning) what it
  // cannot use, so a patient is never refused for an identifier.
  std::string ssn(absl::StripAsciiWhitespace(Get(fields, "ssn")));
  if (!ssn.empty()) {
    hie::common::v1::Identifier* identifier = d.add_identifiers();
    identifier->set_system(hie::kUsSsnSystem);
    identifier->set_value(ssn);
    identifier->set_type(hie::common::v1::Identifier::TYPE_NATIONAL_ID);
  }
  return d;
}

// --- Ids --------------------------------------------------------------------------------------

std::string RandomId(std::mt19937_64& rng) {
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~uint64_t{0xF000}) | uint64_t{0x4000};            // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // RFC 4122 variant
  std::string hex = absl::StrFormat("%016x%016x", hi, lo);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

std::string BulkIdempotencyKey(const DemographicFields& row) {
  // Length-prefixed so that ("ab","c") and ("a","bc") differ.
  std::string canonical;
  for (const std::string& column : CsvColumns()) {
    std::string value = Get(row, column);
    absl::StrAppend(&canonical, column.size(), ":", column, value.size(), ":", value, ";");
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  std::string key = "hiectl-csv-";
  for (int i = 0; i < 16; ++i) absl::StrAppend(&key, absl::Hex(digest[i], absl::kZeroPad2));
  return key;
}

// --- Requests ---------------------------------------------------------------------------------

absl::StatusOr<hie::common::v1::RequestContext> BuildContext(const Config& flags,
                                                             const std::string& request_id) {
  absl::StatusOr<PurposeOfUse> purpose = ParsePurpose(flags.Get("purpose"));
  if (!purpose.ok()) return purpose.status();
  // An empty user is allowed: the server then names the certificate's holder (its CN).
  hie::common::v1::RequestContext context;
  context.set_request_id(request_id);
  context.set_purpose_of_use(*purpose);
  context.mutable_actor()->set_user_id(flags.Get("user"));
  return context;
}

namespace {

DemographicFields DemographicFlags(const Config& flags) {
  DemographicFields fields;
  for (const DemographicInput& input : kDemographicInputs) {
    fields[input.column] = flags.Get(input.flag);
  }
  return fields;
}

}  // namespace

absl::StatusOr<id::RegisterSourceRecordRequest> BuildRegisterRequest(const Config& flags) {
  id::RegisterSourceRecordRequest request;
  absl::StatusOr<hie::common::v1::SourceId> source = SourceIdFrom(flags);
  if (!source.ok()) return source.status();
  *request.mutable_source_id() = *source;
  absl::StatusOr<Demographics> demographics = BuildDemographics(DemographicFlags(flags), true);
  if (!demographics.ok()) return demographics.status();
  *request.mutable_demographics() = *demographics;
  absl::StatusOr<bool> validate_only = Bool(flags, "validate-only");
  if (!validate_only.ok()) return validate_only.status();
  request.set_validate_only(*validate_only);
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<id::ResolveRequest> BuildResolveRequest(const Config& flags) {
  id::ResolveRequest request;
  absl::StatusOr<hie::common::v1::SourceId> source = SourceIdFrom(flags);
  if (!source.ok()) return source.status();
  *request.mutable_source_id() = *source;
  for (absl::string_view org :
       absl::StrSplit(flags.Get("target-org"), ',', absl::SkipWhitespace())) {
    request.add_target_orgs(std::string(absl::StripAsciiWhitespace(org)));
  }
  absl::StatusOr<bool> inactive = Bool(flags, "include-inactive");
  if (!inactive.ok()) return inactive.status();
  request.set_include_inactive(*inactive);
  return request;
}

absl::StatusOr<id::SearchPersonsRequest> BuildSearchRequest(const Config& flags) {
  id::SearchPersonsRequest request;
  absl::StatusOr<Demographics> query = BuildDemographics(DemographicFlags(flags), true);
  if (!query.ok()) return query.status();
  if (flags.Get("family").empty() && flags.Get("birth-date").empty() && flags.Get("ssn").empty()) {
    return Invalid("search needs at least one of --family, --birth-date or --ssn");
  }
  *request.mutable_query() = *query;
  absl::StatusOr<bool> only_certain = Bool(flags, "only-certain");
  if (!only_certain.ok()) return only_certain.status();
  request.set_only_certain_matches(*only_certain);
  if (flags.Get("max") != "0") {
    absl::StatusOr<int32_t> max = IntInRange(flags, "max", 1, 100);
    if (!max.ok()) return max.status();
    request.set_max_results(*max);
  }
  absl::StatusOr<bool> explain = Bool(flags, "explain");  // rendering only; validated here
  if (!explain.ok()) return explain.status();
  return request;
}

absl::StatusOr<id::ListReviewTasksRequest> BuildListReviewTasksRequest(const Config& flags) {
  id::ListReviewTasksRequest request;
  const std::string& state = flags.Get("state");
  if (state == "open") {
    request.set_state(id::REVIEW_TASK_STATE_OPEN);
  } else if (state == "same") {
    request.set_state(id::REVIEW_TASK_STATE_RESOLVED_SAME);
  } else if (state == "different") {
    request.set_state(id::REVIEW_TASK_STATE_RESOLVED_DIFFERENT);
  } else if (state == "obsolete") {
    request.set_state(id::REVIEW_TASK_STATE_OBSOLETE);
  } else {
    return Invalid("--state must be open, same, different or obsolete (got '", state, "')");
  }
  request.set_org(flags.Get("org"));
  request.set_person_id(flags.Get("person"));
  const std::string& order = flags.Get("order-by");
  if (order == "create_time" || order == "create-time") {
    request.set_order_by("create_time");
  } else if (order == "score") {
    request.set_order_by("score desc");
  } else {
    return Invalid("--order-by must be create_time or score (got '", order, "')");
  }
  if (flags.Get("page-size") != "0") {
    absl::StatusOr<int32_t> size = IntInRange(flags, "page-size", 1, 500);
    if (!size.ok()) return size.status();
    request.set_page_size(*size);
  }
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<id::GetReviewTaskRequest> BuildGetReviewTaskRequest(
    const std::vector<std::string>& positionals) {
  if (positionals.size() != 1 || positionals[0].empty()) return Invalid("TASK_ID is required");
  id::GetReviewTaskRequest request;
  request.set_task_id(positionals[0]);
  return request;
}

absl::StatusOr<id::ResolveReviewTaskRequest> BuildResolveReviewTaskRequest(
    const Config& flags, const std::vector<std::string>& positionals) {
  if (positionals.size() != 1 || positionals[0].empty()) return Invalid("TASK_ID is required");
  absl::StatusOr<bool> same = Bool(flags, "same");
  if (!same.ok()) return same.status();
  absl::StatusOr<bool> different = Bool(flags, "different");
  if (!different.ok()) return different.status();
  if (*same == *different) return Invalid("give exactly one of --same or --different");
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  id::ResolveReviewTaskRequest request;
  request.set_task_id(positionals[0]);
  request.set_resolution(*same ? id::ResolveReviewTaskRequest::RESOLUTION_SAME
                               : id::ResolveReviewTaskRequest::RESOLUTION_DIFFERENT);
  request.set_reason(flags.Get("reason"));
  request.set_expected_etag(flags.Get("etag"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<id::LinkRecordRequest> BuildLinkRequest(const Config& flags) {
  id::LinkRecordRequest request;
  absl::StatusOr<hie::common::v1::SourceId> source = SourceIdFrom(flags);
  if (!source.ok()) return source.status();
  HIE_RETURN_IF_ERROR(Require(flags, "person"));
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  *request.mutable_source_id() = *source;
  request.set_person_id(flags.Get("person"));
  request.set_reason(flags.Get("reason"));
  request.set_expected_etag(flags.Get("etag"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<id::UnlinkRecordRequest> BuildUnlinkRequest(const Config& flags) {
  id::UnlinkRecordRequest request;
  absl::StatusOr<hie::common::v1::SourceId> source = SourceIdFrom(flags);
  if (!source.ok()) return source.status();
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  *request.mutable_source_id() = *source;
  request.set_reason(flags.Get("reason"));
  request.set_expected_etag(flags.Get("etag"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<id::MergePersonsRequest> BuildMergeRequest(const Config& flags) {
  for (const char* key : {"survivor", "merged", "reason"}) {
    HIE_RETURN_IF_ERROR(Require(flags, key));
  }
  if (flags.Get("survivor") == flags.Get("merged")) {
    return Invalid("--survivor and --merged must be different persons");
  }
  absl::StatusOr<bool> force = Bool(flags, "force");
  if (!force.ok()) return force.status();
  id::MergePersonsRequest request;
  request.set_survivor_person_id(flags.Get("survivor"));
  request.set_merged_person_id(flags.Get("merged"));
  request.set_reason(flags.Get("reason"));
  request.set_force(*force);
  request.set_survivor_expected_etag(flags.Get("survivor-etag"));
  request.set_merged_expected_etag(flags.Get("merged-etag"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<id::UnmergePersonsRequest> BuildUnmergeRequest(const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "event"));
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  id::UnmergePersonsRequest request;
  request.set_merge_event_id(flags.Get("event"));
  request.set_reason(flags.Get("reason"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<id::GetPersonRequest> BuildGetPersonRequest(
    const Config& flags, const std::vector<std::string>& positionals) {
  if (positionals.size() != 1 || positionals[0].empty()) return Invalid("PERSON_ID is required");
  absl::StatusOr<bool> full = Bool(flags, "full");
  if (!full.ok()) return full.status();
  id::GetPersonRequest request;
  request.set_person_id(positionals[0]);
  request.set_view(*full ? id::PERSON_VIEW_FULL : id::PERSON_VIEW_BASIC);
  return request;
}

absl::StatusOr<id::GetSourceRecordRequest> BuildGetSourceRecordRequest(const Config& flags) {
  id::GetSourceRecordRequest request;
  absl::StatusOr<hie::common::v1::SourceId> source = SourceIdFrom(flags);
  if (!source.ok()) return source.status();
  *request.mutable_source_id() = *source;
  absl::StatusOr<int64_t> version = flags.GetInt("version");
  if (!version.ok()) return version.status();
  if (*version < 0) return Invalid("--version must be 0 (latest) or a positive version");
  request.set_version(*version);
  return request;
}

absl::StatusOr<id::GetHistoryRequest> BuildGetHistoryRequest(const Config& flags) {
  id::GetHistoryRequest request;
  bool by_person = !flags.Get("person").empty();
  bool by_record = !flags.Get("org").empty() || !flags.Get("local-id").empty();
  if (by_person == by_record) {
    return Invalid("give either --person or --org with --local-id");
  }
  if (by_person) {
    request.set_person_id(flags.Get("person"));
  } else {
    absl::StatusOr<hie::common::v1::SourceId> source = SourceIdFrom(flags);
    if (!source.ok()) return source.status();
    *request.mutable_source_id() = *source;
  }
  if (!flags.Get("as-of").empty()) {
    absl::StatusOr<google::protobuf::Timestamp> as_of =
        ParseTimestamp(flags.Get("as-of"), "--as-of");
    if (!as_of.ok()) return as_of.status();
    *request.mutable_as_of() = *as_of;
  }
  if (flags.Get("page-size") != "0") {
    absl::StatusOr<int32_t> size = IntInRange(flags, "page-size", 1, 1000);
    if (!size.ok()) return size.status();
    request.set_page_size(*size);
  }
  request.set_page_token(flags.Get("page-token"));
  return request;
}

int ExitCodeForGrpcCode(int code) {
  switch (code) {
    case 0:  // OK
      return 0;
    case 1:   // CANCELLED
    case 4:   // DEADLINE_EXCEEDED
    case 14:  // UNAVAILABLE
      return 2;
    default:
      return 1;
  }
}

}  // namespace hie::hiectl
