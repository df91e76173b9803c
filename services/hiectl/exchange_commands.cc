#include "services/hiectl/exchange_commands.h"

#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/hiectl/flag_values.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace cm = ::hie::common::v1;

// The session flags, the operator's certificate, and --purpose/--user as the identity commands
// have them (the registry requires a purpose of use on reads).
std::vector<ConfigKey> ExchangeKeys(absl::string_view target, const std::string& default_user) {
  std::vector<ConfigKey> keys = SessionKeys(target, "operator");
  keys.push_back({"purpose", "operations",
                  "purpose of use: treatment, payment, operations, emergency, public-health, "
                  "research, patient-request"});
  keys.push_back({"user", default_user,
                  "your user id (context.actor.user_id); the hub takes it from your certificate's "
                  "CN and refuses another, so leave it empty"});
  return keys;
}

// A plan over one RPC: the request from `request`, printed with `render`.
template <typename Req, typename Resp>
absl::StatusOr<Action> CallPlan(absl::StatusOr<Req> request,
                                std::function<std::string(const Resp&)> render) {
  if (!request.ok()) return request.status();
  return UnaryCall<Req, Resp>{*std::move(request), std::move(render)};
}

// As CallPlan, for a list RPC: --all follows the pages.
template <typename Req, typename Resp>
absl::StatusOr<Action> ListPlan(const Config& flags, absl::StatusOr<Req> request,
                                std::function<std::string(const Resp&)> render) {
  if (!request.ok()) return request.status();
  HIE_ASSIGN_OR_RETURN(bool all, flags.GetBool("all"));
  UnaryCall<Req, Resp> call{*std::move(request), std::move(render)};
  call.all_pages = all;
  return call;
}

// --- Locator ------------------------------------------------------------------------------------

CommandSpec LocateSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kLocatorTarget, user);
  AppendKeys(keys,
             {{"source", "", "source record ORG:LOCAL_ID, comma-separated (repeatable; required)"},
              {"category", "",
               "only locations holding one of these data categories SYSTEM|CODE (or unknown "
               "ones), comma-separated (repeatable)"},
              {"active-since", "", "only locations with activity from this time (RFC 3339)"}});
  return {"locate",
          "--source ORG:ID [--source ...] [--category SYSTEM|CODE] [--active-since T]",
          "which members hold data for these source records (record locator)",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return CallPlan<locator::LocateRequest, locator::LocateResponse>(
                BuildLocateRequest(flags), RenderLocate);
          },
          {"source", "category"}};
}

CommandSpec ListLocationsSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kLocatorTarget, user);
  AppendKeys(keys,
             {{"org", "", "the member whose locations to list (required)"},
              {"include-removed", "false", "also list removed locations, with their removal"},
              {"active-since", "", "only locations with activity from this time (RFC 3339)"},
              {"active-until", "", "only locations with activity before this time (RFC 3339)"},
              kPageSize,
              kPageToken,
              kAll});
  return {"locations list",
          "--org ORG [--include-removed] [--page-size N] [--page-token T] [--all]",
          "the locations the locator holds for one member",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return ListPlan<locator::ListLocationsRequest, locator::ListLocationsResponse>(
                flags, BuildListLocationsRequest(flags), RenderLocations);
          }};
}

CommandSpec DeleteLocationSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kLocatorTarget, user);
  AppendKeys(keys, {{"source", "", "the location's source record ORG:LOCAL_ID (required)"},
                    {"reason-code", "",
                     "member-no-longer-holds (later activity brings it back) or patient-request "
                     "(nothing does) (required)"},
                    {"reason", "", "why (required; logged and audited, no patient data)"},
                    kIdempotencyKeyPrinted});
  return {"locations delete",
          "--source ORG:ID --reason-code CODE --reason TEXT [--idempotency-key K]",
          "remove a location from the record locator (leaves a tombstone)",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) -> absl::StatusOr<Action> {
            HIE_ASSIGN_OR_RETURN(locator::DeleteLocationRequest request,
                                 BuildDeleteLocationRequest(flags));
            std::string done = RenderLocationDeleted(request);
            UnaryCall<locator::DeleteLocationRequest, locator::DeleteLocationResponse> call{
                std::move(request),
                [done](const locator::DeleteLocationResponse&) { return done; }};
            call.print_idempotency_key = true;
            return call;
          }};
}

// --- Registry -----------------------------------------------------------------------------------

// The DocumentQuery filters of documents find: {flag, help}. Codings are SYSTEM|CODE lists.
std::vector<ConfigKey> DocumentQueryKeys() {
  return {
      {"status", "", "approved, deprecated, comma-separated (default approved)"},
      {"class", "", "class codes SYSTEM|CODE (XDS classCode), comma-separated (repeatable)"},
      {"type", "", "type codes SYSTEM|CODE (XDS typeCode)"},
      {"format", "", "format codes SYSTEM|CODE (XDS formatCode)"},
      {"confidentiality", "", "entries carrying one of these confidentiality codes SYSTEM|CODE"},
      {"event", "", "event codes SYSTEM|CODE (XDS eventCodeList)"},
      {"practice-setting", "", "practice setting codes SYSTEM|CODE"},
      {"facility-type", "", "healthcare facility type codes SYSTEM|CODE"},
      {"created-since", "", "created at or after this time (RFC 3339)"},
      {"created-until", "", "created before this time (RFC 3339)"},
      {"service-start-since", "", "care started at or after this time (RFC 3339)"},
      {"service-start-until", "", "care started before this time (RFC 3339)"},
      {"service-stop-since", "", "care ended at or after this time (RFC 3339)"},
      {"service-stop-until", "", "care ended before this time (RFC 3339)"},
      {"author-institution", "", "author institution (substring, case-insensitive)"},
  };
}

CommandSpec FindDocumentsSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kRegistryTarget, user);
  keys.push_back({"patient", "",
                  "patient records ORG:LOCAL_ID, comma-separated (repeatable; required: "
                  "typically every record of the person)"});
  AppendKeys(keys, DocumentQueryKeys());
  AppendKeys(keys, {kPageSize, kPageToken, kAll});
  return {"documents find",
          "--patient ORG:ID [--patient ...] [filters] [--page-size N] [--all]",
          "document entries of patients (newest first)",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return ListPlan<registry::FindDocumentsRequest, registry::FindDocumentsResponse>(
                flags, BuildFindDocumentsRequest(flags), RenderDocuments);
          },
          {"patient", "status", "class", "type", "format", "confidentiality", "event",
           "practice-setting", "facility-type"}};
}

CommandSpec GetDocumentsSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kRegistryTarget, user);
  AppendKeys(keys, {{"entry-uuid", "", "entry uuids, comma-separated (repeatable)"},
                    {"unique-id", "", "document unique ids, comma-separated (repeatable)"}});
  return {"documents get",
          "(--entry-uuid U | --unique-id X) ...",
          "document entries by entry uuid or unique id",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return CallPlan<registry::GetDocumentsRequest, registry::GetDocumentsResponse>(
                BuildGetDocumentsRequest(flags), RenderGetDocuments);
          },
          {"entry-uuid", "unique-id"}};
}

CommandSpec RelatedDocumentsSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kRegistryTarget, user);
  AppendKeys(keys, {{"entry-uuid", "", "the entry (required)"},
                    {"type", "",
                     "association types, comma-separated: replace, append, transform, "
                     "transform-and-replace, signs (default all)"}});
  return {"documents related",
          "--entry-uuid U [--type replace|append|transform|transform-and-replace|signs]",
          "associations of a document entry and the entries at their other end",
          0,
          keys,
          [](const Config& flags, const std::vector<std::string>&) {
            return CallPlan<registry::GetRelatedDocumentsRequest,
                            registry::GetRelatedDocumentsResponse>(
                BuildRelatedDocumentsRequest(flags), RenderRelatedDocuments);
          },
          {"type"}};
}

// With --actor-org the call names the member actor it is made for: only a delegating service's
// certificate (the gateway's) may, and only a member actor may deprecate.
absl::StatusOr<Action> PlanDeprecate(const Config& flags) {
  HIE_ASSIGN_OR_RETURN(registry::DeprecateDocumentRequest request,
                       BuildDeprecateDocumentRequest(flags));
  UnaryCall<registry::DeprecateDocumentRequest, registry::DocumentEntry> call{std::move(request),
                                                                              RenderDocumentEntry};
  call.print_idempotency_key = true;
  if (flags.Get("actor-org").empty()) {
    for (const char* key : {"actor-user", "actor-role"}) {
      if (!flags.Get(key).empty()) return Invalid("--", key, " needs --actor-org");
    }
    return call;
  }
  HIE_ASSIGN_OR_RETURN(call.context_purpose, ParsePurpose(flags.Get("purpose")));
  cm::Actor actor;
  actor.set_org(flags.Get("actor-org"));
  actor.set_user_id(flags.Get("actor-user"));
  const std::string role =
      flags.Get("actor-role").empty() ? "member-system" : flags.Get("actor-role");
  HIE_ASSIGN_OR_RETURN(int value,
                       EnumFromLabel(cm::Role_descriptor(), "ROLE_", role, "actor-role"));
  actor.set_role(static_cast<cm::Role>(value));
  call.context_actor = std::move(actor);
  return call;
}

CommandSpec DeprecateSpec(const std::string& user) {
  std::vector<ConfigKey> keys = ExchangeKeys(kRegistryTarget, user);
  AppendKeys(keys,
             {{"entry-uuid", "", "the entry to deprecate (required)"},
              {"reason", "", "why (required; kept with the entry, no patient data)"},
              {"actor-org", "",
               "the publishing member acted for (needs the gateway's certificate; the registry "
               "lets only a member deprecate its own documents)"},
              {"actor-user", "", "with --actor-org: the member's user"},
              {"actor-role", "", "with --actor-org: the actor's role (default member-system)"},
              kIdempotencyKeyPrinted});
  return {
      "documents deprecate",
      "--entry-uuid U --reason TEXT [--idempotency-key K] [--actor-org ORG]",
      "withdraw a document entry (status deprecated, not replaced)",
      0,
      keys,
      [](const Config& flags, const std::vector<std::string>&) { return PlanDeprecate(flags); }};
}

// "--KEY must not list more than 1000 entries" when `n` is over kMaxIdsPerCall.
absl::Status AtMost(size_t n, absl::string_view what) {
  if (n > static_cast<size_t>(kMaxIdsPerCall)) {
    return Invalid(what, " must not list more than ", kMaxIdsPerCall, " entries (got ", n, ")");
  }
  return absl::OkStatus();
}

// The codings of list flag --KEY appended to `out`.
absl::Status AddCodings(const Config& flags, absl::string_view key,
                        google::protobuf::RepeatedPtrField<cm::Coding>* out) {
  HIE_ASSIGN_OR_RETURN(std::vector<cm::Coding> codings, CodingsFrom(flags, key));
  for (cm::Coding& coding : codings) *out->Add() = std::move(coding);
  return absl::OkStatus();
}

// Calls `set` with the time range of the two flags when one of them is given; otherwise the
// request's range stays unset.
template <typename Set>
absl::Status SetRange(const Config& flags, absl::string_view since, absl::string_view until,
                      Set set) {
  HIE_ASSIGN_OR_RETURN(cm::TimeRange range, TimeRangeFrom(flags, since, until));
  if (range.has_start() || range.has_end()) set(std::move(range));
  return absl::OkStatus();
}

absl::StatusOr<registry::DocumentQuery> BuildDocumentQuery(const Config& flags) {
  registry::DocumentQuery q;
  HIE_ASSIGN_OR_RETURN(
      std::vector<registry::AvailabilityStatus> statuses,
      EnumList<registry::AvailabilityStatus>(flags, "status", "AVAILABILITY_STATUS_"));
  for (registry::AvailabilityStatus status : statuses) q.add_statuses(status);
  HIE_RETURN_IF_ERROR(AddCodings(flags, "class", q.mutable_class_codes()));
  HIE_RETURN_IF_ERROR(AddCodings(flags, "type", q.mutable_type_codes()));
  HIE_RETURN_IF_ERROR(AddCodings(flags, "format", q.mutable_format_codes()));
  HIE_RETURN_IF_ERROR(AddCodings(flags, "confidentiality", q.mutable_confidentiality_codes()));
  HIE_RETURN_IF_ERROR(AddCodings(flags, "event", q.mutable_event_codes()));
  HIE_RETURN_IF_ERROR(AddCodings(flags, "practice-setting", q.mutable_practice_setting_codes()));
  HIE_RETURN_IF_ERROR(
      AddCodings(flags, "facility-type", q.mutable_healthcare_facility_type_codes()));
  HIE_RETURN_IF_ERROR(SetRange(flags, "created-since", "created-until", [&q](cm::TimeRange r) {
    *q.mutable_creation_time() = std::move(r);
  }));
  HIE_RETURN_IF_ERROR(
      SetRange(flags, "service-start-since", "service-start-until",
               [&q](cm::TimeRange r) { *q.mutable_service_start_time() = std::move(r); }));
  HIE_RETURN_IF_ERROR(
      SetRange(flags, "service-stop-since", "service-stop-until",
               [&q](cm::TimeRange r) { *q.mutable_service_stop_time() = std::move(r); }));
  q.set_author_institution(flags.Get("author-institution"));
  return q;
}

// The one entry uuid of --entry-uuid.
absl::StatusOr<std::string> OneEntryUuid(const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "entry-uuid"));
  std::vector<std::string> uuids = ListValues(flags, "entry-uuid");
  if (uuids.size() != 1) return Invalid("--entry-uuid takes one entry uuid");
  return uuids[0];
}

}  // namespace

void AddExchangeCommands(const std::string& default_user, std::vector<CommandSpec>& specs) {
  specs.push_back(LocateSpec(default_user));
  specs.push_back(ListLocationsSpec(default_user));
  specs.push_back(DeleteLocationSpec(default_user));
  specs.push_back(FindDocumentsSpec(default_user));
  specs.push_back(GetDocumentsSpec(default_user));
  specs.push_back(RelatedDocumentsSpec(default_user));
  specs.push_back(DeprecateSpec(default_user));
}

absl::StatusOr<locator::LocateRequest> BuildLocateRequest(const Config& flags) {
  locator::LocateRequest request;
  HIE_ASSIGN_OR_RETURN(std::vector<cm::SourceId> sources, SourceIdsFrom(flags, "source"));
  if (sources.empty()) return Invalid("--source is required (ORG:LOCAL_ID)");
  HIE_RETURN_IF_ERROR(AtMost(sources.size(), "--source"));
  for (cm::SourceId& source : sources) *request.add_source_ids() = std::move(source);
  HIE_RETURN_IF_ERROR(AddCodings(flags, "category", request.mutable_data_categories()));
  HIE_ASSIGN_OR_RETURN(std::optional<google::protobuf::Timestamp> since,
                       OptionalTime(flags, "active-since"));
  if (since.has_value()) *request.mutable_active_since() = *since;
  return request;
}

absl::StatusOr<locator::ListLocationsRequest> BuildListLocationsRequest(const Config& flags) {
  HIE_RETURN_IF_ERROR(Require(flags, "org"));
  locator::ListLocationsRequest request;
  request.set_org(flags.Get("org"));
  HIE_ASSIGN_OR_RETURN(bool include_removed, flags.GetBool("include-removed"));
  request.set_include_removed(include_removed);
  HIE_RETURN_IF_ERROR(SetRange(flags, "active-since", "active-until", [&request](cm::TimeRange r) {
    *request.mutable_last_activity_time() = std::move(r);
  }));
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<locator::DeleteLocationRequest> BuildDeleteLocationRequest(const Config& flags) {
  HIE_ASSIGN_OR_RETURN(std::vector<cm::SourceId> sources, SourceIdsFrom(flags, "source"));
  if (sources.size() != 1) return Invalid("--source is required: one ORG:LOCAL_ID");
  if (flags.Get("reason-code").empty()) {
    return Invalid("--reason-code is required (member-no-longer-holds or patient-request)");
  }
  HIE_ASSIGN_OR_RETURN(int reason_code,
                       EnumFromLabel(locator::RemovalReason_descriptor(), "REMOVAL_REASON_",
                                     flags.Get("reason-code"), "reason-code"));
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  locator::DeleteLocationRequest request;
  *request.mutable_source_id() = std::move(sources[0]);
  request.set_reason_code(static_cast<locator::RemovalReason>(reason_code));
  request.set_reason(flags.Get("reason"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

absl::StatusOr<registry::FindDocumentsRequest> BuildFindDocumentsRequest(const Config& flags) {
  registry::FindDocumentsRequest request;
  HIE_ASSIGN_OR_RETURN(std::vector<cm::SourceId> patients, SourceIdsFrom(flags, "patient"));
  if (patients.empty()) return Invalid("--patient is required (ORG:LOCAL_ID)");
  HIE_RETURN_IF_ERROR(AtMost(patients.size(), "--patient"));
  for (cm::SourceId& patient : patients) *request.add_patients() = std::move(patient);
  HIE_ASSIGN_OR_RETURN(*request.mutable_query(), BuildDocumentQuery(flags));
  HIE_ASSIGN_OR_RETURN(int32_t page_size, PageSize(flags, 1000));
  request.set_page_size(page_size);
  request.set_page_token(flags.Get("page-token"));
  return request;
}

absl::StatusOr<registry::GetDocumentsRequest> BuildGetDocumentsRequest(const Config& flags) {
  registry::GetDocumentsRequest request;
  for (const std::string& uuid : ListValues(flags, "entry-uuid")) request.add_entry_uuids(uuid);
  for (const std::string& id : ListValues(flags, "unique-id")) request.add_unique_ids(id);
  const size_t n = request.entry_uuids_size() + request.unique_ids_size();
  if (n == 0) return Invalid("give --entry-uuid or --unique-id (at least one id)");
  HIE_RETURN_IF_ERROR(AtMost(n, "--entry-uuid and --unique-id together"));
  return request;
}

absl::StatusOr<registry::GetRelatedDocumentsRequest> BuildRelatedDocumentsRequest(
    const Config& flags) {
  registry::GetRelatedDocumentsRequest request;
  HIE_ASSIGN_OR_RETURN(*request.mutable_entry_uuid(), OneEntryUuid(flags));
  HIE_ASSIGN_OR_RETURN(std::vector<registry::AssociationType> types,
                       EnumList<registry::AssociationType>(flags, "type", "ASSOCIATION_TYPE_"));
  for (registry::AssociationType type : types) request.add_types(type);
  return request;
}

absl::StatusOr<registry::DeprecateDocumentRequest> BuildDeprecateDocumentRequest(
    const Config& flags) {
  registry::DeprecateDocumentRequest request;
  HIE_ASSIGN_OR_RETURN(*request.mutable_entry_uuid(), OneEntryUuid(flags));
  HIE_RETURN_IF_ERROR(Require(flags, "reason"));
  request.set_reason(flags.Get("reason"));
  request.set_idempotency_key(flags.Get("idempotency-key"));
  return request;
}

}  // namespace hie::hiectl
