#include "services/hiectl/audit_commands.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/hiectl/flag_values.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

// The server refuses longer event-time ranges.
constexpr absl::Duration kMaxSearchRange = absl::Hours(24 * 366);

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::vector<ConfigKey> AuditKeys() { return SessionKeys(kAuditTarget, "auditor"); }

// The patient flags: --org/--local-id pairs (repeatable) and --patient lists.
std::vector<ConfigKey> PatientKeys() {
  return {{"org", "", "patient: organisation of the record (repeatable, paired with --local-id)"},
          {"local-id", "", "patient: the organisation's patient id (MRN) (repeatable)"},
          {"patient", "", "patients as ORG:LOCAL_ID, comma-separated (repeatable)"}};
}

absl::StatusOr<Action> PlanSearch(absl::Time now, const Config& flags) {
  HIE_ASSIGN_OR_RETURN(audit::SearchEventsRequest request, BuildAuditSearchRequest(flags, now));
  HIE_ASSIGN_OR_RETURN(bool all, flags.GetBool("all"));
  auto call = PrivacyOfficeCall<audit::SearchEventsRequest, audit::SearchEventsResponse>(
      std::move(request), RenderAuditEvents);
  call.all_pages = all;
  return call;
}

absl::StatusOr<Action> PlanDisclosures(const Config& flags, const std::vector<std::string>&) {
  HIE_ASSIGN_OR_RETURN(audit::GetAccountingOfDisclosuresRequest request,
                       BuildDisclosuresRequest(flags));
  HIE_ASSIGN_OR_RETURN(bool all, flags.GetBool("all"));
  auto call = PrivacyOfficeCall<audit::GetAccountingOfDisclosuresRequest,
                                audit::GetAccountingOfDisclosuresResponse>(std::move(request),
                                                                           RenderDisclosures);
  call.all_pages = all;
  return call;
}

absl::StatusOr<Action> PlanVerify(const Config& flags, const std::vector<std::string>&) {
  HIE_ASSIGN_OR_RETURN(audit::VerifyRequest request, BuildVerifyRequest(flags));
  auto call = PrivacyOfficeCall<audit::VerifyRequest, audit::VerifyResult>(std::move(request),
                                                                           RenderVerifyResult);
  call.alarm = VerifyAlarm;
  return call;
}

// audit checkpoints: the list, or --create (sign the head now), or --keys (signing keys).
absl::StatusOr<Action> PlanCheckpoints(const Config& flags, const std::vector<std::string>&) {
  HIE_ASSIGN_OR_RETURN(bool create, flags.GetBool("create"));
  HIE_ASSIGN_OR_RETURN(bool keys, flags.GetBool("keys"));
  HIE_ASSIGN_OR_RETURN(bool all, flags.GetBool("all"));
  if (create && keys) return Invalid("give at most one of --create or --keys");
  if (create || keys) {
    for (const char* list_only : {"since", "until", "page-token"}) {
      if (!flags.Get(list_only).empty()) {
        return Invalid("--", list_only, " only applies to the checkpoint list");
      }
    }
    if (all || flags.Get("page-size") != "0") {
      return Invalid(all ? "--all" : "--page-size", " only applies to the checkpoint list");
    }
  }
  if (create) {
    return PrivacyOfficeCall<audit::CreateCheckpointRequest, audit::Checkpoint>({},
                                                                                RenderCheckpoint);
  }
  if (keys) {
    return PrivacyOfficeCall<audit::ListSigningKeysRequest, audit::ListSigningKeysResponse>(
        {}, RenderSigningKeys);
  }
  HIE_ASSIGN_OR_RETURN(audit::ListCheckpointsRequest request, BuildListCheckpointsRequest(flags));
  auto call = PrivacyOfficeCall<audit::ListCheckpointsRequest, audit::ListCheckpointsResponse>(
      std::move(request), RenderCheckpoints);
  call.all_pages = all;
  return call;
}

CommandSpec SearchSpec(absl::Time now) {
  std::vector<ConfigKey> keys = AuditKeys();
  for (ConfigKey& key : PatientKeys()) keys.push_back(std::move(key));
  keys.insert(
      keys.end(),
      {{"person", "", "events about this person id"},
       {"actor-org", "", "events by this organisation"},
       {"user", "", "events by this user id (with --actor-org for an unambiguous user)"},
       {"custodian", "", "disclosures of this organisation's data"},
       {"type", "",
        "event types, comma-separated: query, disclosure, consent-decision, "
        "consent-change, break-glass, identity-change, publication, admin-action, "
        "audit-access, security"},
       {"outcome", "", "outcomes, comma-separated: success, denied, failure, partial"},
       {"purpose", "", "purposes of use, comma-separated: treatment, payment, operations, ..."},
       {"request-id", "", "events of this request id"},
       {"break-glass-only", "false", "only events under a break-glass grant"},
       {"since", "", "events from this time (RFC 3339; default 24 hours before --until or now)"},
       {"until", "", "events before this time (RFC 3339; default now)"},
       {"page-size", "0", "events per page (1-1000; default 100)"},
       kPageToken,
       kAll});
  return {"audit search",
          "[--org O --local-id ID]... [filters] [--since T] [--until T] [--all]",
          "search the audit log (newest first)",
          0,
          keys,
          [now](const Config& flags, const std::vector<std::string>&) {
            return PlanSearch(now, flags);
          },
          {"org", "local-id", "patient", "type", "outcome", "purpose"},
          {"purpose", "user"}};
}

CommandSpec DisclosuresSpec() {
  std::vector<ConfigKey> keys = AuditKeys();
  for (ConfigKey& key : PatientKeys()) keys.push_back(std::move(key));
  keys.insert(keys.end(),
              {{"since", "", "disclosures from this time (RFC 3339; default six years back)"},
               {"until", "", "disclosures before this time (RFC 3339; default now)"},
               {"exclude-tpo", "false",
                "leave out treatment, payment and operations (HIPAA 164.528 accounting)"},
               {"page-size", "0", "disclosures per page (1-1000)"},
               kPageToken,
               kAll});
  return {"audit disclosures",
          "--org O --local-id ID [--since T] [--until T] [--exclude-tpo]",
          "accounting of disclosures of a patient's data",
          0,
          keys,
          PlanDisclosures,
          {"org", "local-id", "patient"}};
}

CommandSpec VerifySpec() {
  std::vector<ConfigKey> keys = AuditKeys();
  for (ConfigKey& key : keys) {
    if (key.name == "timeout") key.default_value = "300s";  // a long range takes a while
  }
  keys.insert(keys.end(), {{"from", "0", "first sequence to verify (0: the first event)"},
                           {"to", "0", "last sequence to verify (0: the current head)"},
                           {"skip-checkpoints", "false", "check hashes only, not signatures"}});
  return {"audit verify",
          "[--from N] [--to N] [--skip-checkpoints]",
          "verify the audit hash chain (exit status 3 when not VALID)",
          0,
          keys,
          PlanVerify};
}

CommandSpec CheckpointsSpec() {
  std::vector<ConfigKey> keys = AuditKeys();
  keys.insert(keys.end(), {{"create", "false", "sign the current head now (HIE admins only)"},
                           {"keys", "false", "list the checkpoint signing keys instead"},
                           {"since", "", "checkpoints created from this time (RFC 3339)"},
                           {"until", "", "checkpoints created before this time (RFC 3339)"},
                           {"page-size", "0", "checkpoints per page (1-1000)"},
                           kPageToken,
                           kAll});
  return {"audit checkpoints",
          "[--create | --keys]",
          "signed checkpoints of the chain (--create one, --keys)",
          0,
          keys,
          PlanCheckpoints};
}

}  // namespace

void AddAuditCommands(absl::Time now, std::vector<CommandSpec>& specs) {
  specs.push_back(SearchSpec(now));
  specs.push_back(DisclosuresSpec());
  specs.push_back(VerifySpec());
  specs.push_back(CheckpointsSpec());
}

absl::StatusOr<audit::SearchEventsRequest> BuildAuditSearchRequest(const Config& flags,
                                                                   absl::Time now) {
  audit::SearchEventsRequest request;
  HIE_ASSIGN_OR_RETURN(std::vector<hie::common::v1::SourceId> patients, PatientsFrom(flags));
  for (hie::common::v1::SourceId& patient : patients) *request.add_patients() = std::move(patient);
  request.set_person_id(flags.Get("person"));
  request.set_actor_org(flags.Get("actor-org"));
  request.set_actor_user_id(flags.Get("user"));
  request.set_custodian_org(flags.Get("custodian"));
  request.set_request_id(flags.Get("request-id"));
  HIE_ASSIGN_OR_RETURN(std::vector<audit::EventType> types,
                       EnumList<audit::EventType>(flags, "type", "EVENT_TYPE_"));
  for (audit::EventType type : types) request.add_types(type);
  HIE_ASSIGN_OR_RETURN(std::vector<audit::Outcome> outcomes,
                       EnumList<audit::Outcome>(flags, "outcome", "OUTCOME_"));
  for (audit::Outcome outcome : outcomes) request.add_outcomes(outcome);
  HIE_ASSIGN_OR_RETURN(
      std::vector<hie::common::v1::PurposeOfUse> purposes,
      EnumList<hie::common::v1::PurposeOfUse>(flags, "purpose", "PURPOSE_OF_USE_"));
  for (hie::common::v1::PurposeOfUse purpose : purposes) request.add_purposes(purpose);
  HIE_ASSIGN_OR_RETURN(bool break_glass_only, flags.GetBool("break-glass-only"));
  request.set_break_glass_only(break_glass_only);

  HIE_ASSIGN_OR_RETURN(std::optional<google::protobuf::Timestamp> until,
                       OptionalTime(flags, "until"));
  const absl::Time end = until.has_value() ? ToTime(*until) : now;
  HIE_ASSIGN_OR_RETURN(*request.mutable_event_time(),
                       TimeRangeFrom(flags, "since", "until", end - absl::Hours(24)));
  if (end - ToTime(request.event_time().start()) > kMaxSearchRange) {
    return Invalid("--since must be at most 366 days before ",
                   until.has_value() ? "--until" : "now");
  }
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<audit::GetAccountingOfDisclosuresRequest> BuildDisclosuresRequest(
    const Config& flags) {
  audit::GetAccountingOfDisclosuresRequest request;
  HIE_ASSIGN_OR_RETURN(std::vector<hie::common::v1::SourceId> patients, PatientsFrom(flags));
  if (patients.empty()) {
    return Invalid("give the patient: --org with --local-id (or --patient ORG:LOCAL_ID)");
  }
  for (hie::common::v1::SourceId& patient : patients) *request.add_patients() = std::move(patient);
  HIE_ASSIGN_OR_RETURN(hie::common::v1::TimeRange range, TimeRangeFrom(flags, "since", "until"));
  if (range.has_start() || range.has_end()) *request.mutable_disclosure_time() = range;
  HIE_ASSIGN_OR_RETURN(bool exclude_tpo, flags.GetBool("exclude-tpo"));
  request.set_exclude_treatment_payment_operations(exclude_tpo);
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<audit::VerifyRequest> BuildVerifyRequest(const Config& flags) {
  HIE_ASSIGN_OR_RETURN(int64_t from, flags.GetInt("from"));
  HIE_ASSIGN_OR_RETURN(int64_t to, flags.GetInt("to"));
  if (from < 0) return Invalid("--from must be 0 (the first event) or a sequence number");
  if (to < 0) return Invalid("--to must be 0 (the current head) or a sequence number");
  if (to > 0 && from > to) return Invalid("--from must not be after --to");
  HIE_ASSIGN_OR_RETURN(bool skip, flags.GetBool("skip-checkpoints"));
  audit::VerifyRequest request;
  request.set_from_sequence(from);
  request.set_to_sequence(to);
  request.set_skip_checkpoints(skip);
  return request;
}

absl::StatusOr<audit::ListCheckpointsRequest> BuildListCheckpointsRequest(const Config& flags) {
  audit::ListCheckpointsRequest request;
  HIE_ASSIGN_OR_RETURN(hie::common::v1::TimeRange range, TimeRangeFrom(flags, "since", "until"));
  if (range.has_start() || range.has_end()) *request.mutable_create_time() = range;
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

std::string VerifyAlarm(const audit::VerifyResult& result) {
  if (result.status() == audit::VerifyResult::STATUS_VALID) return "";
  std::string alarm =
      absl::StrCat("audit chain is not valid: ", VerifyStatusLabel(result.status()));
  if (result.first_bad_sequence() > 0) {
    absl::StrAppend(&alarm, " at sequence ", result.first_bad_sequence());
  }
  if (!result.detail().empty()) absl::StrAppend(&alarm, ": ", result.detail());
  return alarm;
}

}  // namespace hie::hiectl
