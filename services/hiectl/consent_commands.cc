#include "services/hiectl/consent_commands.h"

#include <utility>

#include "services/common/status_macros.h"
#include "services/hiectl/flag_values.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace cm = ::hie::common::v1;

std::vector<ConfigKey> ConsentKeys() { return SessionKeys(kConsentTarget, "auditor"); }

std::vector<ConfigKey> PatientKeys(const char* what) {
  return {
      {"org", "", absl::StrCat(what, ": organisation of the record (repeatable)")},
      {"local-id", "", absl::StrCat(what, ": the organisation's patient id (MRN) (repeatable)")},
      {"patient", "", absl::StrCat(what, " as ORG:LOCAL_ID, comma-separated (repeatable)")}};
}

// A list plan: `build` makes the request; --all follows the pages.
template <typename Req, typename Resp>
absl::StatusOr<Action> ListPlan(const Config& flags, absl::StatusOr<Req> request,
                                std::string (*render)(const Resp&)) {
  if (!request.ok()) return request.status();
  HIE_ASSIGN_OR_RETURN(bool all, flags.GetBool("all"));
  auto call = PrivacyOfficeCall<Req, Resp>(*std::move(request), render);
  call.all_pages = all;
  return call;
}

}  // namespace

std::vector<ConfigKey> DirectiveKeys() {
  return {{"effect", "", "permit or deny (required)"},
          {"actor-org", "", "recipient organisations it applies to, comma-separated (default any)"},
          {"custodian", "", "organisations whose data it covers, comma-separated (default any)"},
          {"purpose", "", "purposes of use it applies to, comma-separated (default any)"},
          {"category", "", "data categories SYSTEM|CODE, comma-separated (default all data)"},
          {"label", "", "sensitivity labels SYSTEM|CODE, comma-separated (default all data)"},
          {"from", "", "in force from (RFC 3339; default now)"},
          {"until", "", "in force until (RFC 3339; default until revoked)"},
          {"evidence", "", "reference to the signed consent form (e.g. its document unique id)"},
          {"comment", "", "free-text note (no patient data)"},
          kIdempotencyKey};
}

namespace {

CommandSpec CreateSpec(absl::Time now) {
  std::vector<ConfigKey> keys = ConsentKeys();
  keys.insert(keys.end(),
              {{"org", "", "patient: organisation of the record the directive is given against"},
               {"local-id", "", "patient: the organisation's patient id (MRN)"}});
  for (ConfigKey& key : DirectiveKeys()) keys.push_back(std::move(key));
  return {"consent directive create",
          "--org O --local-id ID --effect permit|deny [scope]",
          "record a patient's consent directive",
          0,
          keys,
          [now](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
            HIE_ASSIGN_OR_RETURN(consent::CreateDirectiveRequest request,
                                 BuildCreateDirectiveRequest(flags, now));
            return PrivacyOfficeCall<consent::CreateDirectiveRequest, consent::ConsentDirective>(
                std::move(request), RenderDirective);
          },
          {"actor-org", "custodian", "purpose", "category", "label"},
          {"purpose"}};
}

CommandSpec ListSpec() {
  std::vector<ConfigKey> keys = ConsentKeys();
  for (ConfigKey& key : PatientKeys("patient")) keys.push_back(std::move(key));
  keys.insert(keys.end(),
              {{"state", "", "active or revoked (default both)"}, kPageSize, kPageToken, kAll});
  return {"consent directive list",
          "--org O --local-id ID [--state active|revoked]",
          "a patient's consent directives (newest first)",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return ListPlan(flags, BuildListDirectivesRequest(flags), RenderDirectives);
          },
          {"org", "local-id", "patient"}};
}

CommandSpec RevokeSpec() {
  std::vector<ConfigKey> keys = ConsentKeys();
  keys.insert(keys.end(),
              {{"reason", "", "why (required; kept in history, no patient data)"},
               {"etag", "", "the directive's etag as you saw it (fails if it changed since)"},
               kIdempotencyKey});
  return {"consent directive revoke",
          "DIRECTIVE_ID --reason TEXT [--etag E]",
          "revoke a consent directive",
          1,
          keys,
          [](const Config& flags,
             const std::vector<std::string>& positionals) -> absl::StatusOr<Action> {
            HIE_ASSIGN_OR_RETURN(consent::RevokeDirectiveRequest request,
                                 BuildRevokeDirectiveRequest(flags, positionals));
            return PrivacyOfficeCall<consent::RevokeDirectiveRequest, consent::ConsentDirective>(
                std::move(request), RenderDirective);
          }};
}

CommandSpec GrantListSpec() {
  std::vector<ConfigKey> keys = ConsentKeys();
  keys.insert(keys.end(), {{"state", "pending",
                            "review states, comma-separated: pending, appropriate, "
                            "inappropriate, or all"},
                           {"actor-org", "", "only grants of users of this organisation"}});
  for (ConfigKey& key : PatientKeys("only grants for this patient")) keys.push_back(key);
  keys.insert(keys.end(), {{"since", "", "grants started from this time (RFC 3339)"},
                           {"until", "", "grants started before this time (RFC 3339)"},
                           kPageSize,
                           kPageToken,
                           kAll});
  return {"consent break-glass list",
          "[--state pending|appropriate|inappropriate|all]",
          "break-glass grants (the privacy officer's review queue)",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return ListPlan(flags, BuildListGrantsRequest(flags), RenderGrants);
          },
          {"org", "local-id", "patient", "state"}};
}

CommandSpec GrantReviewSpec() {
  std::vector<ConfigKey> keys = ConsentKeys();
  keys.insert(keys.end(),
              {{"appropriate", "false", "the access was appropriate"},
               {"inappropriate", "false", "the access was not appropriate"},
               {"notes", "", "review notes (required; no more patient data than needed)"},
               kIdempotencyKey});
  return {"consent break-glass review",
          "GRANT_ID (--appropriate | --inappropriate) --notes TEXT",
          "record the review of a break-glass grant",
          1,
          keys,
          [](const Config& flags,
             const std::vector<std::string>& positionals) -> absl::StatusOr<Action> {
            HIE_ASSIGN_OR_RETURN(consent::ReviewBreakGlassRequest request,
                                 BuildReviewGrantRequest(flags, positionals));
            return PrivacyOfficeCall<consent::ReviewBreakGlassRequest, consent::BreakGlassGrant>(
                std::move(request), RenderGrant);
          }};
}

CommandSpec DecideSpec() {
  std::vector<ConfigKey> keys = ConsentKeys();
  for (ConfigKey& key : PatientKeys("patient (every record of the person)")) keys.push_back(key);
  keys.insert(keys.end(),
              {{"custodian", "", "the member holding the data (required)"},
               {"purpose", "", "purpose of use of the disclosure (required)"},
               {"recipient", "",
                "organisation asking, as the gateway would present it (needs the gateway's "
                "certificate); default: the certificate's holder"},
               {"recipient-role", "clinician", "role of the recipient user"},
               {"recipient-user", "", "user at the recipient organisation"},
               {"category", "", "data categories SYSTEM|CODE of the data asked for"},
               {"label", "", "sensitivity labels SYSTEM|CODE of the data asked for"}});
  return {"consent decide",
          "--org O --local-id ID --custodian C --purpose P [--recipient ORG]",
          "what consent decides for a disclosure now, and why",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
            HIE_ASSIGN_OR_RETURN(consent::DecideRequest request, BuildDecideRequest(flags));
            HIE_ASSIGN_OR_RETURN(std::vector<cm::PurposeOfUse> purposes,
                                 EnumList<cm::PurposeOfUse>(flags, "purpose", "PURPOSE_OF_USE_"));
            if (purposes.size() != 1) return Invalid("--purpose is required (one purpose)");
            auto call = PrivacyOfficeCall<consent::DecideRequest, consent::Decision>(
                std::move(request), RenderDecision);
            call.context_purpose = purposes[0];
            if (!flags.Get("recipient").empty()) {
              cm::Actor actor;
              actor.set_org(flags.Get("recipient"));
              actor.set_user_id(flags.Get("recipient-user"));
              HIE_ASSIGN_OR_RETURN(int role,
                                   EnumFromLabel(cm::Role_descriptor(), "ROLE_",
                                                 flags.Get("recipient-role"), "recipient-role"));
              actor.set_role(static_cast<cm::Role>(role));
              call.context_actor = std::move(actor);
            }
            return call;
          },
          {"org", "local-id", "patient", "category", "label"},
          {"purpose"}};
}

}  // namespace

absl::StatusOr<consent::DecideRequest> BuildDecideRequest(const Config& flags) {
  consent::DecideRequest request;
  HIE_ASSIGN_OR_RETURN(std::vector<cm::SourceId> patients, PatientsFrom(flags));
  if (patients.empty()) {
    return Invalid("give the patient: --org with --local-id (or --patient ORG:LOCAL_ID)");
  }
  for (cm::SourceId& patient : patients) *request.add_patients() = std::move(patient);
  HIE_RETURN_IF_ERROR(Require(flags, "custodian"));
  request.set_custodian_org(flags.Get("custodian"));
  HIE_ASSIGN_OR_RETURN(std::vector<cm::Coding> categories, CodingsFrom(flags, "category"));
  for (cm::Coding& coding : categories) *request.add_data_categories() = std::move(coding);
  HIE_ASSIGN_OR_RETURN(std::vector<cm::Coding> labels, CodingsFrom(flags, "label"));
  for (cm::Coding& coding : labels) *request.add_sensitivity_labels() = std::move(coding);
  return request;
}

void AddConsentCommands(absl::Time now, std::vector<CommandSpec>& specs) {
  specs.push_back(CreateSpec(now));
  specs.push_back(ListSpec());
  specs.push_back(RevokeSpec());
  specs.push_back(GrantListSpec());
  specs.push_back(GrantReviewSpec());
  specs.push_back(DecideSpec());
}

absl::StatusOr<consent::CreateDirectiveRequest> BuildCreateDirectiveRequest(const Config& flags,
                                                                            absl::Time now) {
  HIE_RETURN_IF_ERROR(Require(flags, "org"));
  HIE_RETURN_IF_ERROR(Require(flags, "local-id"));
  consent::CreateDirectiveRequest request;
  consent::ConsentDirective& d = *request.mutable_directive();
  d.mutable_patient()->set_org(flags.Get("org"));
  d.mutable_patient()->set_local_id(flags.Get("local-id"));
  HIE_RETURN_IF_ERROR(FillDirective(flags, now, &d));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::Status FillDirective(const Config& flags, absl::Time now, consent::ConsentDirective* out) {
  if (flags.Get("effect").empty()) return Invalid("--effect is required (permit or deny)");
  consent::ConsentDirective& d = *out;
  HIE_ASSIGN_OR_RETURN(int effect, EnumFromLabel(consent::Effect_descriptor(), "EFFECT_",
                                                 flags.Get("effect"), "effect"));
  d.set_effect(static_cast<consent::Effect>(effect));
  for (const std::string& org : ListValues(flags, "actor-org")) d.add_actor_orgs(org);
  for (const std::string& org : ListValues(flags, "custodian")) d.add_custodian_orgs(org);
  HIE_ASSIGN_OR_RETURN(std::vector<cm::PurposeOfUse> purposes,
                       EnumList<cm::PurposeOfUse>(flags, "purpose", "PURPOSE_OF_USE_"));
  for (cm::PurposeOfUse purpose : purposes) d.add_purposes(purpose);
  HIE_ASSIGN_OR_RETURN(std::vector<cm::Coding> categories, CodingsFrom(flags, "category"));
  for (cm::Coding& coding : categories) *d.add_data_categories() = std::move(coding);
  HIE_ASSIGN_OR_RETURN(std::vector<cm::Coding> labels, CodingsFrom(flags, "label"));
  for (cm::Coding& coding : labels) *d.add_sensitivity_labels() = std::move(coding);
  HIE_ASSIGN_OR_RETURN(*d.mutable_effective_period(), TimeRangeFrom(flags, "from", "until", now));
  d.set_evidence_reference(flags.Get("evidence"));
  d.set_comment(flags.Get("comment"));
  return absl::OkStatus();
}

absl::StatusOr<consent::ListDirectivesRequest> BuildListDirectivesRequest(const Config& flags) {
  consent::ListDirectivesRequest request;
  HIE_ASSIGN_OR_RETURN(std::vector<cm::SourceId> patients, PatientsFrom(flags));
  if (patients.empty()) {
    return Invalid("give the patient: --org with --local-id (or --patient ORG:LOCAL_ID)");
  }
  for (cm::SourceId& patient : patients) *request.add_patients() = std::move(patient);
  HIE_ASSIGN_OR_RETURN(std::vector<consent::DirectiveState> states,
                       EnumList<consent::DirectiveState>(flags, "state", "DIRECTIVE_STATE_"));
  for (consent::DirectiveState state : states) request.add_states(state);
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<consent::RevokeDirectiveRequest> BuildRevokeDirectiveRequest(
    const Config& flags, const std::vector<std::string>& positionals) {
  if (positionals.size() != 1 || positionals[0].empty()) return Invalid("DIRECTIVE_ID is required");
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  consent::RevokeDirectiveRequest request;
  request.set_directive_id(positionals[0]);
  request.set_reason(flags.Get("reason"));
  request.set_etag(flags.Get("etag"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<consent::ListBreakGlassGrantsRequest> BuildListGrantsRequest(const Config& flags) {
  consent::ListBreakGlassGrantsRequest request;
  if (ListValues(flags, "state") != std::vector<std::string>{"all"}) {
    HIE_ASSIGN_OR_RETURN(
        std::vector<consent::BreakGlassReviewState> states,
        EnumList<consent::BreakGlassReviewState>(flags, "state", "BREAK_GLASS_REVIEW_STATE_"));
    for (consent::BreakGlassReviewState state : states) request.add_review_states(state);
  }
  request.set_actor_org(flags.Get("actor-org"));
  HIE_ASSIGN_OR_RETURN(std::vector<cm::SourceId> patients, PatientsFrom(flags));
  for (cm::SourceId& patient : patients) *request.add_patients() = std::move(patient);
  HIE_ASSIGN_OR_RETURN(cm::TimeRange range, TimeRangeFrom(flags, "since", "until"));
  if (range.has_start() || range.has_end()) *request.mutable_start_time() = range;
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<consent::ReviewBreakGlassRequest> BuildReviewGrantRequest(
    const Config& flags, const std::vector<std::string>& positionals) {
  if (positionals.size() != 1 || positionals[0].empty()) return Invalid("GRANT_ID is required");
  HIE_ASSIGN_OR_RETURN(bool appropriate, OneOf(flags, "appropriate", "inappropriate"));
  HIE_RETURN_IF_ERROR(Require(flags, "notes"));
  consent::ReviewBreakGlassRequest request;
  request.set_grant_id(positionals[0]);
  request.set_review_state(appropriate ? consent::BREAK_GLASS_REVIEW_STATE_APPROPRIATE
                                       : consent::BREAK_GLASS_REVIEW_STATE_INAPPROPRIATE);
  request.set_notes(flags.Get("notes"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

}  // namespace hie::hiectl
