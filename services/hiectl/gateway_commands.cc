#include "services/hiectl/gateway_commands.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/hiectl/consent_commands.h"
#include "services/hiectl/flag_values.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace cm = ::hie::common::v1;
namespace gv1 = ::hie::gateway::v1;

// The clinician the records are disclosed to, and why.
std::vector<ConfigKey> ClinicianKeys() {
  std::vector<ConfigKey> keys = SessionKeys(kGatewayTarget, "clinic-a");
  keys.push_back({"user", "", "the clinician's user id at your clinic (required)"});
  keys.push_back({"role", "clinician", "the clinician's role: clinician or clinical-staff"});
  keys.push_back({"purpose", "treatment", "purpose of use: treatment, or emergency"});
  keys.push_back({"break-glass-id", "", "with --purpose=emergency: the break-glass grant"});
  keys.push_back({"local-id", "", "your patient's id (MRN) at your clinic (required)"});
  return keys;
}

absl::StatusOr<cm::ClientContext> ClinicianContext(const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "user"));
  HIE_ASSIGN_OR_RETURN(int purpose, EnumFromLabel(cm::PurposeOfUse_descriptor(), "PURPOSE_OF_USE_",
                                                  flags.Get("purpose"), "purpose"));
  HIE_ASSIGN_OR_RETURN(int role,
                       EnumFromLabel(cm::Role_descriptor(), "ROLE_", flags.Get("role"), "role"));
  cm::ClientContext c;
  c.set_user_id(flags.Get("user"));
  c.set_user_role(static_cast<cm::Role>(role));
  c.set_purpose_of_use(static_cast<cm::PurposeOfUse>(purpose));
  c.set_break_glass_id(flags.Get("break-glass-id"));
  return c;
}

// Who at the clinic records or reads a patient's consent: purpose operations.
std::vector<ConfigKey> ClinicStaffKeys() {
  std::vector<ConfigKey> keys = SessionKeys(kGatewayTarget, "clinic-a");
  keys.push_back({"user", "", "your user id at your clinic (required; on the audit record)"});
  keys.push_back({"role", "administrative-staff",
                  "your role: administrative-staff, clinical-staff or clinician"});
  return keys;
}

absl::StatusOr<cm::ClientContext> ClinicStaffContext(const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "user"));
  HIE_ASSIGN_OR_RETURN(int role,
                       EnumFromLabel(cm::Role_descriptor(), "ROLE_", flags.Get("role"), "role"));
  cm::ClientContext c;
  c.set_user_id(flags.Get("user"));
  c.set_user_role(static_cast<cm::Role>(role));
  c.set_purpose_of_use(cm::PURPOSE_OF_USE_OPERATIONS);
  return c;
}

std::string StatusLabel(gv1::MemberStatus s) {
  return EnumLabel(gv1::MemberStatus_Name(s), "MEMBER_STATUS_");
}

std::string Millis(const google::protobuf::Duration& d) {
  return absl::StrFormat("%.0f ms",
                         google::protobuf::util::TimeUtil::DurationToNanoseconds(d) / 1e6);
}

std::string SourceLabel(gv1::EntrySource s) {
  switch (s) {
    case gv1::ENTRY_SOURCE_REGISTRY:
      return "registry";
    case gv1::ENTRY_SOURCE_MEMBER:
      return "live";
    case gv1::ENTRY_SOURCE_REGISTRY_AND_MEMBER:
      return "registry+live";
    default:
      return "-";
  }
}

std::string Text(const std::string& s, size_t width) {
  return s.empty() ? "-" : Truncate(s, width);
}

}  // namespace

absl::StatusOr<gv1::FindOutsideRecordsRequest> BuildFindOutsideRecordsRequest(const Config& flags) {
  gv1::FindOutsideRecordsRequest r;
  HIE_ASSIGN_OR_RETURN(*r.mutable_context(), ClinicianContext(flags));
  HIE_RETURN_IF_ERROR(Require(flags, "local-id"));
  r.set_local_id(flags.Get("local-id"));
  for (const std::string& org : ListValues(flags, "member")) r.add_member_orgs(org);
  HIE_ASSIGN_OR_RETURN(int32_t max, IntInRange(flags, "max-per-member", 0, 1000));
  r.set_max_results_per_member(max);
  return r;
}

absl::StatusOr<gv1::RetrieveDocumentRequest> BuildRetrieveDocumentRequest(const Config& flags) {
  gv1::RetrieveDocumentRequest r;
  HIE_ASSIGN_OR_RETURN(*r.mutable_context(), ClinicianContext(flags));
  for (const char* key : {"local-id", "member-org", "key", "out"}) {
    HIE_RETURN_IF_ERROR(Require(flags, key));
  }
  r.set_local_id(flags.Get("local-id"));
  r.set_member_org(flags.Get("member-org"));
  r.set_retrieve_key(flags.Get("key"));
  r.set_repository_unique_id(flags.Get("repository"));
  return r;
}

absl::StatusOr<gv1::BreakGlassRequest> BuildBreakGlassRequest(const Config& flags) {
  for (const char* key : {"user", "local-id", "reason", "reason-code"}) {
    HIE_RETURN_IF_ERROR(Require(flags, key));
  }
  gv1::BreakGlassRequest r;
  r.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_EMERGENCY);
  r.mutable_context()->set_user_role(cm::ROLE_CLINICIAN);
  r.mutable_context()->set_user_id(flags.Get("user"));
  r.set_local_id(flags.Get("local-id"));
  r.set_reason(flags.Get("reason"));
  HIE_ASSIGN_OR_RETURN(
      int code, EnumFromLabel(hie::consent::v1::BreakGlassReason_descriptor(),
                              "BREAK_GLASS_REASON_", flags.Get("reason-code"), "reason-code"));
  r.set_reason_code(static_cast<hie::consent::v1::BreakGlassReason>(code));
  if (!flags.Get("duration").empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(flags.Get("duration"), &d) || d <= absl::ZeroDuration()) {
      return Invalid("--duration must be a positive duration such as 30m or 2h");
    }
    r.mutable_requested_duration()->set_seconds(absl::ToInt64Seconds(d));
  }
  r.set_idempotency_key(flags.Get("idempotency-key"));
  return r;
}

absl::StatusOr<gv1::CreateConsentDirectiveRequest> BuildMemberDirectiveRequest(const Config& flags,
                                                                               absl::Time now) {
  HIE_RETURN_IF_ERROR(Require(flags, "local-id"));
  gv1::CreateConsentDirectiveRequest r;
  HIE_ASSIGN_OR_RETURN(*r.mutable_context(), ClinicStaffContext(flags));
  // The organisation is the certificate's: the gateway fills it in.
  r.mutable_directive()->mutable_patient()->set_local_id(flags.Get("local-id"));
  HIE_RETURN_IF_ERROR(FillDirective(flags, now, r.mutable_directive()));
  r.set_idempotency_key(flags.Get("idempotency-key"));
  return r;
}

absl::StatusOr<gv1::ListConsentDirectivesRequest> BuildMemberDirectiveListRequest(
    const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "local-id"));
  gv1::ListConsentDirectivesRequest r;
  HIE_ASSIGN_OR_RETURN(*r.mutable_context(), ClinicStaffContext(flags));
  r.set_local_id(flags.Get("local-id"));
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  r.set_page_size(page_size);
  r.set_page_token(flags.Get("page-token"));
  return r;
}

absl::StatusOr<gv1::RevokeConsentDirectiveRequest> BuildMemberDirectiveRevokeRequest(
    const Config& flags, const std::vector<std::string>& positionals) {
  if (positionals.size() != 1 || positionals[0].empty()) return Invalid("DIRECTIVE_ID is required");
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  gv1::RevokeConsentDirectiveRequest r;
  HIE_ASSIGN_OR_RETURN(*r.mutable_context(), ClinicStaffContext(flags));
  r.set_directive_id(positionals[0]);
  r.set_reason(flags.Get("reason"));
  r.set_idempotency_key(flags.Get("idempotency-key"));
  return r;
}

std::string RenderBreakGlass(const gv1::BreakGlassResponse& grant, const std::string& local_id,
                             const std::string& user) {
  return absl::StrCat(
      KeyValues({{"grant", grant.grant_id()},
                 {"expires", grant.has_expire_time() ? FormatTime(grant.expire_time()) : "-"},
                 {"review", "queued for the privacy officer"}}),
      "use it with: hiectl outside-records --local-id ", local_id, " --user ", user,
      " --purpose emergency --break-glass-id ", grant.grant_id(), "\n");
}

std::string RenderMemberResult(const gv1::MemberResult& r) {
  std::string out = absl::StrCat(
      PrintableText(r.member_org()),
      r.member_display_name().empty() ? "" : " (" + PrintableText(r.member_display_name()) + ")",
      ": ", StatusLabel(r.status()), ", ", r.entries_size(),
      r.entries_size() == 1 ? " entry" : " entries", r.truncated() ? " (more exist)" : "", ", ",
      Millis(r.latency()), r.detail().empty() ? "" : ", " + PrintableText(r.detail()), "\n");
  if (r.entries_size() == 0) return out;
  Table table({"created", "class", "title", "from", "--member-org", "--key"});
  for (int i = 0; i < r.entries_size(); ++i) {
    const registry::DocumentEntry& e = r.entries(i);
    const std::string key =
        e.location().retrieve_key().empty() ? e.unique_id() : e.location().retrieve_key();
    table.AddRow(
        {FormatTime(e.creation_time()),
         Text(e.class_code().display().empty() ? e.class_code().code() : e.class_code().display(),
              24),
         Text(e.title(), 32),
         SourceLabel(i < r.entry_sources_size() ? r.entry_sources(i)
                                                : gv1::ENTRY_SOURCE_UNSPECIFIED),
         Text(e.location().member_org(), 24), Text(key, 48)});
  }
  return out + table.Render("  ");
}

std::string RenderQuerySummary(const gv1::QuerySummary& s) {
  Table table({"member", "status", "entries", "latency", "detail"});
  table.RightAlign(2).RightAlign(3);
  for (const gv1::MemberSummary& m : s.members()) {
    table.AddRow({Text(m.member_org(), 32), StatusLabel(m.status()), absl::StrCat(m.entries()),
                  Millis(m.latency()), Text(m.detail(), 32)});
  }
  return absl::StrCat("\n", table.Render(), "\n", s.members_total(), " members: ", s.members_ok(),
                      " ok, ", s.members_no_data(), " no data, ", s.members_timeout(), " timeout, ",
                      s.members_unavailable(), " unavailable, ", s.members_circuit_open(),
                      " circuit open, ", s.members_denied(), " denied by consent; ",
                      s.entries_total(), " entries in ", Millis(s.elapsed()),
                      s.partial() ? " (PARTIAL: some members did not answer)" : "", "\nrequest id ",
                      PrintableText(s.request_id()), "\n");
}

namespace {

// patient-consent create|list|revoke.
void AddMemberConsentCommands(absl::Time now, std::vector<CommandSpec>& specs) {
  const ConfigKey local_id = {"local-id", "", "your patient's id (MRN) at your clinic (required)"};
  {
    std::vector<ConfigKey> keys = ClinicStaffKeys();
    keys.push_back(local_id);
    for (ConfigKey& key : DirectiveKeys()) keys.push_back(std::move(key));
    specs.push_back(
        {"patient-consent create",
         "--local-id ID --user U --effect permit|deny [scope]",
         "record your patient's consent directive at the hub (gateway)",
         0,
         keys,
         [now](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildMemberDirectiveRequest(flags, now));
           return MemberConsentCall{std::move(request)};
         },
         {"actor-org", "custodian", "purpose", "category", "label"},
         {"purpose"}});
  }
  {
    std::vector<ConfigKey> keys = ClinicStaffKeys();
    keys.insert(keys.end(),
                {local_id,
                 {"page-size", "0", "entries per page (1-1000; default 100)"},
                 {"page-token", "", "page to fetch (printed under the previous page)"}});
    specs.push_back(
        {"patient-consent list", "--local-id ID --user U",
         "your patient's consent directives, newest first (gateway)", 0, keys,
         [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildMemberDirectiveListRequest(flags));
           return MemberConsentCall{std::move(request)};
         }});
  }
  {
    std::vector<ConfigKey> keys = ClinicStaffKeys();  // the directive id says whose it is
    keys.insert(keys.end(), {{"reason", "", "why (required; kept in history, no patient data)"},
                             {"idempotency-key", "", "retry key (default: a new one)"}});
    specs.push_back({"patient-consent revoke", "DIRECTIVE_ID --user U --reason TEXT",
                     "revoke a directive your clinic recorded (gateway)", 1, keys,
                     [](const Config& flags,
                        const std::vector<std::string>& positionals) -> absl::StatusOr<Action> {
                       HIE_ASSIGN_OR_RETURN(auto request,
                                            BuildMemberDirectiveRevokeRequest(flags, positionals));
                       return MemberConsentCall{std::move(request)};
                     }});
  }
}

}  // namespace

void AddGatewayCommands(absl::Time now, std::vector<CommandSpec>& specs) {
  {
    std::vector<ConfigKey> keys = ClinicianKeys();
    keys.push_back({"member", "", "only these member orgs, comma-separated (repeatable)"});
    keys.push_back({"max-per-member", "0", "entries per member (1-1000; default 100)"});
    specs.push_back(
        {"outside-records",
         "--local-id ID --user U [--member ORG] [--timeout 5s]",
         "your patient's records at other members, as each member answers (gateway)",
         0,
         keys,
         [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildFindOutsideRecordsRequest(flags));
           return OutsideRecordsQuery{std::move(request)};
         },
         {"member"},
         {"user", "purpose"}});
  }
  {
    std::vector<ConfigKey> keys = ClinicianKeys();
    keys.push_back({"member-org", "", "the member holding the document (required)"});
    keys.push_back({"key", "", "the document's retrieve key, as outside-records shows it"});
    keys.push_back({"repository", "", "the member's repository (default: its only one)"});
    keys.push_back({"out", "", "file to write the content to (required; replaced when checked)"});
    specs.push_back(
        {"retrieve",
         "--local-id ID --member-org ORG --key K --out FILE --user U",
         "one outside document, its size and SHA-256 checked (gateway)",
         0,
         keys,
         [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildRetrieveDocumentRequest(flags));
           return DocumentRetrieval{std::move(request), flags.Get("out")};
         },
         {},
         {"user", "purpose"}});
  }
  {
    std::vector<ConfigKey> keys = SessionKeys(kGatewayTarget, "clinic-a");
    keys.push_back({"user", "", "the clinician breaking the glass (required)"});
    keys.push_back({"local-id", "", "your patient's id (MRN) at your clinic (required)"});
    keys.push_back({"reason", "", "why, in words (required; reviewed by the privacy officer)"});
    keys.push_back({"reason-code", "",
                    "life-threatening, patient-unable-to-consent, urgent-medication-review or "
                    "other-emergency (required)"});
    keys.push_back({"duration", "", "how long (e.g. 30m; default and maximum: the policy's)"});
    keys.push_back({"idempotency-key", "", "retry key (default: a new one)"});
    specs.push_back(
        {"break-glass",
         "--local-id ID --user U --reason R --reason-code C [--duration 30m]",
         "emergency access to your patient's outside records, audited and reviewed (gateway)",
         0,
         keys,
         [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
           HIE_ASSIGN_OR_RETURN(auto request, BuildBreakGlassRequest(flags));
           return GlassBreak{std::move(request)};
         },
         {},
         {"user"}});
  }
  AddMemberConsentCommands(now, specs);
}

}  // namespace hie::hiectl
