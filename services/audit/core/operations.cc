#include "services/audit/core/operations.h"

#include <future>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/audit/core/canonical.h"
#include "services/common/proto_time.h"
#include "services/common/random_id.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::audit {
namespace {

using ::hie::common::v1::Actor;
using ::hie::common::v1::PurposeOfUse;
using ::hie::common::v1::TimeRange;

constexpr size_t kMaxText = 256;
constexpr size_t kMaxDetailValue = 1024;
constexpr int kMaxDetails = 64;
constexpr int kMaxPatients = 100;
constexpr int kMaxObjects = 100;
constexpr int kMaxBatch = 1000;
constexpr int kMaxPageSize = 1000;
const absl::Duration kMaxSearchSpan = absl::Hours(24 * 366);
const absl::Duration kAccountingSpan = absl::Hours(24 * (365 * 6 + 2));

enum class Access { kWrite, kReadAccess, kIntegrity };

// Hub services that act for the staff member their request's context.actor names (the
// gateway, which has checked that member's certificate and role itself).
bool Delegates(const Caller& caller) {
  return caller.role == "service" && caller.common_name == "gateway";
}

// The staff actor the gateway names, for a read (`access` is not kWrite).
absl::StatusOr<Actor> DelegatedActor(const Actor& claimed, Access access) {
  if (!CheckText(claimed.org(), "context.actor.org", 128).ok() ||
      !CheckText(claimed.user_id(), "context.actor.user_id", 128).ok()) {
    return absl::PermissionDeniedError(
        "context.actor: the gateway must name the staff member it acts for (org and user_id)");
  }
  const bool officer = claimed.role() == hie::common::v1::ROLE_PRIVACY_OFFICER;
  const bool integrity_staff = claimed.role() == hie::common::v1::ROLE_HIE_OPERATOR ||
                               claimed.role() == hie::common::v1::ROLE_HIE_ADMIN;
  if (officer || (integrity_staff && access == Access::kIntegrity)) return claimed;
  return absl::PermissionDeniedError(access == Access::kReadAccess
                                         ? "context.actor.role: only privacy officers read the "
                                           "audit log"
                                         : "context.actor.role: not a role that verifies the "
                                           "audit log");
}

absl::StatusOr<Actor> Authorize(const Call& call, Access access) {
  const Caller& caller = call.caller;
  if (Delegates(caller) && access != Access::kWrite) {
    return DelegatedActor(call.claimed_actor, access);
  }
  Actor actor;
  actor.set_org(caller.org);
  actor.set_user_id(caller.common_name);
  if (caller.role == "service" && access == Access::kWrite) {
    actor.set_role(hie::common::v1::ROLE_HUB_SERVICE);
    return actor;
  }
  if (caller.role == "auditor" && access != Access::kWrite) {
    actor.set_role(hie::common::v1::ROLE_PRIVACY_OFFICER);
    return actor;
  }
  if (caller.role == "operator" && access == Access::kIntegrity) {
    actor.set_role(hie::common::v1::ROLE_HIE_OPERATOR);
    return actor;
  }
  if (caller.role == "admin" && access == Access::kIntegrity) {
    actor.set_role(hie::common::v1::ROLE_HIE_ADMIN);
    return actor;
  }
  switch (access) {
    case Access::kWrite:
      return absl::PermissionDeniedError("only hub services record audit events");
    case Access::kReadAccess:
      return absl::PermissionDeniedError("only privacy officers read the audit log");
    case Access::kIntegrity:
      return absl::PermissionDeniedError(
          "only privacy officers, HIE operators and administrators verify or sign the audit log");
  }
  return absl::PermissionDeniedError("not allowed");
}

absl::Status CheckTimestamp(const google::protobuf::Timestamp& ts, const std::string& field,
                            absl::Time now) {
  static const absl::Time kEarliest =
      absl::FromCivil(absl::CivilDay(2000, 1, 1), absl::UTCTimeZone());
  if (ts.nanos() < 0 || ts.nanos() > 999'999'999 || ts.seconds() < absl::ToUnixSeconds(kEarliest) ||
      ts.seconds() > absl::ToUnixSeconds(now + absl::Hours(24))) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be between 2000-01-01 and one day from now"));
  }
  return absl::OkStatus();
}

// A time range of a read: each bound set must be a valid timestamp between 1970 and 2255 (the
// span of int64 nanoseconds, in which the log keeps times).
absl::Status CheckRange(const TimeRange& range, const std::string& field) {
  for (const auto& [set, ts, name] : {std::tuple{range.has_start(), &range.start(), "start"},
                                      std::tuple{range.has_end(), &range.end(), "end"}}) {
    if (set && (ts->seconds() < 0 || ts->seconds() > 9'000'000'000 || ts->nanos() < 0 ||
                ts->nanos() > 999'999'999)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".", name, " must be a time between 1970 and 2255"));
    }
  }
  return absl::OkStatus();
}

bool IsEventIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
         c == '-';
}

absl::Status CheckSourceIds(const google::protobuf::RepeatedPtrField<SourceId>& ids,
                            const std::string& field, int max) {
  if (ids.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " has more than ", max, " entries"));
  }
  for (int i = 0; i < ids.size(); ++i) {
    std::string name = absl::StrCat(field, "[", i, "]");
    HIE_RETURN_IF_ERROR(CheckText(ids[i].org(), name + ".org", kMaxText));
    HIE_RETURN_IF_ERROR(CheckText(ids[i].local_id(), name + ".local_id", kMaxText));
  }
  return absl::OkStatus();
}

absl::Status CheckPageSize(int32_t page_size, const std::string& field) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be 0 to ", kMaxPageSize));
  }
  return absl::OkStatus();
}

// Page tokens: "v1.<event_time_ns>.<sequence>.<filter>", the filter being a digest of the
// request without its paging, so a token only continues the search that issued it.
std::string FilterDigest(google::protobuf::Message* request_copy) {
  std::string bytes;
  request_copy->SerializeToString(&bytes);
  return HexEncode(Sha256(bytes)).substr(0, 16);
}

absl::StatusOr<std::optional<std::pair<int64_t, int64_t>>> ParsePageToken(
    const std::string& token, const std::string& filter) {
  if (token.empty()) return std::nullopt;
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  int64_t time_ns = 0, sequence = 0;
  if (parts.size() != 4 || parts[0] != "v1" || !absl::SimpleAtoi(parts[1], &time_ns) ||
      !absl::SimpleAtoi(parts[2], &sequence) || parts[3] != filter) {
    return absl::InvalidArgumentError(
        "page_token is not a token this search issued (filters must stay the same)");
  }
  return std::make_pair(time_ns, sequence);
}

std::string PageToken(const v1::AuditEvent& last, const std::string& filter) {
  return absl::StrCat("v1.", TimestampNanos(last.event_time()), ".", last.sequence(), ".", filter);
}

absl::Status CheckDetails(const v1::AuditEvent& e, const std::string& field) {
  if (e.details_size() > kMaxDetails) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".details has more than ", kMaxDetails, " entries"));
  }
  for (const auto& [key, value] : e.details()) {
    HIE_RETURN_IF_ERROR(CheckText(key, field + ".details key", 64));
    for (char c : key) {
      if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
            absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_')) {
        return absl::InvalidArgumentError(field + ".details keys must be snake_case");
      }
    }
    HIE_RETURN_IF_ERROR(CheckOptionalText(value, field + ".details[" + key + "]", kMaxDetailValue));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEvent(const v1::AuditEvent& e, const std::string& field, absl::Time now) {
  if (e.event_id().empty() || e.event_id().size() > 128 ||
      !std::all_of(e.event_id().begin(), e.event_id().end(), IsEventIdChar)) {
    return absl::InvalidArgumentError(
        field + ".event_id is required: 1 to 128 characters of A-Z a-z 0-9 . _ : -");
  }
  if (!e.has_event_time()) return absl::InvalidArgumentError(field + ".event_time is required");
  HIE_RETURN_IF_ERROR(CheckTimestamp(e.event_time(), field + ".event_time", now));
  if (e.type() == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(e.type())) {
    return absl::InvalidArgumentError(field + ".type is required (a known EventType)");
  }
  if (e.outcome() == v1::OUTCOME_UNSPECIFIED || !v1::Outcome_IsValid(e.outcome())) {
    return absl::InvalidArgumentError(field + ".outcome is required (a known Outcome)");
  }
  if (!hie::common::v1::Role_IsValid(e.actor().role()) ||
      !hie::common::v1::PurposeOfUse_IsValid(e.purpose_of_use())) {
    return absl::InvalidArgumentError(field + ".actor.role or purpose_of_use is not a known value");
  }
  HIE_RETURN_IF_ERROR(CheckText(e.action(), field + ".action", kMaxText));
  HIE_RETURN_IF_ERROR(CheckText(e.actor().org(), field + ".actor.org", kMaxText));
  for (const auto& [value, name] :
       std::initializer_list<std::pair<const std::string*, const char*>>{
           {&e.status_code(), "status_code"},
           {&e.actor().user_id(), "actor.user_id"},
           {&e.request_id(), "request_id"},
           {&e.client_request_id(), "client_request_id"},
           {&e.person_id(), "person_id"},
           {&e.custodian_org(), "custodian_org"},
           {&e.recipient_org(), "recipient_org"},
           {&e.decision_id(), "decision_id"},
           {&e.directive_id(), "directive_id"},
           {&e.break_glass_id(), "break_glass_id"},
           {&e.source_service(), "source_service"},
           {&e.caller_subject(), "caller_subject"},
           {&e.network_address(), "network_address"}}) {
    HIE_RETURN_IF_ERROR(CheckOptionalText(*value, absl::StrCat(field, ".", name), kMaxText));
  }
  HIE_RETURN_IF_ERROR(CheckSourceIds(e.patients(), field + ".patients", kMaxPatients));
  if (e.objects_size() > kMaxObjects) {
    return absl::InvalidArgumentError(field + ".objects has more than 100 entries");
  }
  for (int i = 0; i < e.objects_size(); ++i) {
    std::string name = absl::StrCat(field, ".objects[", i, "]");
    HIE_RETURN_IF_ERROR(CheckText(e.objects(i).kind(), name + ".kind", 64));
    HIE_RETURN_IF_ERROR(CheckText(e.objects(i).id(), name + ".id", kMaxText));
  }
  return CheckDetails(e, field);
}

absl::Status AuditOperations::RecordAccess(
    const Call& call, const std::string& rpc,
    const google::protobuf::RepeatedPtrField<SourceId>& patients,
    std::map<std::string, std::string> details) {
  absl::StatusOr<Actor> actor = Authorize(call, Access::kIntegrity);
  if (!actor.ok()) actor = Authorize(call, Access::kReadAccess);
  v1::AuditEvent e;
  e.set_event_id(RandomId("audit-access", 2));
  SetTimestamp(now_(), e.mutable_event_time());
  e.set_type(v1::EVENT_TYPE_AUDIT_ACCESS);
  e.set_action("audit." + rpc);
  e.set_outcome(v1::OUTCOME_SUCCESS);
  if (actor.ok()) *e.mutable_actor() = *actor;
  e.set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  e.set_request_id(call.request_id);
  *e.mutable_patients() = patients;
  e.set_source_service("audit");
  e.set_caller_subject(absl::StrCat("O=", call.caller.org, ",OU=", call.caller.role,
                                    ",CN=", call.caller.common_name));
  e.set_network_address(call.peer_address);
  for (auto& [key, value] : details) (*e.mutable_details())[key] = std::move(value);
  absl::Status status = log_->Append({std::move(e)}, call.deadline).status();
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the audit log cannot record this read, so it is refused: ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::AuditEvent>> AuditOperations::CheckBatch(
    const Call& call, const v1::RecordBatchRequest& request) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kWrite).status());
  if (request.events_size() == 0 || request.events_size() > kMaxBatch) {
    return absl::InvalidArgumentError("events must hold 1 to 1000 events");
  }
  std::vector<v1::AuditEvent> events(request.events().begin(), request.events().end());
  const absl::Time now = now_();
  for (size_t i = 0; i < events.size(); ++i) {
    std::string field = absl::StrCat("events[", i, "]");
    HIE_RETURN_IF_ERROR(ValidateEvent(events[i], field, now));
    if (!events[i].source_service().empty() &&
        events[i].source_service() != call.caller.common_name) {
      return absl::PermissionDeniedError(
          field + ".source_service must be empty or the calling service's own name");
    }
    events[i].set_source_service(call.caller.common_name);
    // The audit service's own events have predictable ids (identity-<sequence>): a producer
    // taking one first would make the follower's event a conflict and stop the feed.
    for (const char* reserved : {"identity-", "audit-"}) {
      if (events[i].event_id().rfind(reserved, 0) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(field,
                         ".event_id: the prefixes identity- and audit- are reserved for the audit "
                         "service's own events (producers use UUIDs)"));
      }
    }
  }
  return events;
}

namespace {

absl::StatusOr<v1::RecordBatchResponse> BatchResponse(
    const absl::StatusOr<std::vector<AppendResult>>& results) {
  HIE_RETURN_IF_ERROR(results.status());
  v1::RecordBatchResponse response;
  for (const AppendResult& r : *results) {
    v1::RecordResponse* out = response.add_results();
    out->set_sequence(r.sequence);
    out->set_hash(r.hash);
    SetTimestamp(r.record_time, out->mutable_record_time());
  }
  return response;
}

v1::RecordBatchRequest BatchOfOne(const v1::RecordRequest& request) {
  v1::RecordBatchRequest batch;
  *batch.add_events() = request.event();
  return batch;
}

// A batch of one's answer as Record's: "events[0]" in a message is "event".
absl::StatusOr<v1::RecordResponse> SingleResponse(
    const absl::StatusOr<v1::RecordBatchResponse>& response) {
  if (!response.ok()) {
    std::string message(response.status().message());
    if (message.rfind("events[0]", 0) == 0) message.replace(0, 9, "event");
    return absl::Status(response.status().code(), message);
  }
  return response->results(0);
}

}  // namespace

absl::StatusOr<v1::RecordBatchResponse> AuditOperations::RecordBatch(
    const Call& call, const v1::RecordBatchRequest& request) {
  std::promise<absl::StatusOr<v1::RecordBatchResponse>> answer;
  std::future<absl::StatusOr<v1::RecordBatchResponse>> answered = answer.get_future();
  RecordBatchAsync(call, request, [&answer](absl::StatusOr<v1::RecordBatchResponse> response) {
    answer.set_value(std::move(response));
  });
  return answered.get();
}

void AuditOperations::RecordBatchAsync(const Call& call, const v1::RecordBatchRequest& request,
                                       Done<v1::RecordBatchResponse> done) {
  absl::StatusOr<std::vector<v1::AuditEvent>> events = CheckBatch(call, request);
  if (!events.ok()) {
    done(events.status());
    return;
  }
  log_->AppendAsync(*std::move(events), call.deadline,
                    [done = std::move(done)](absl::StatusOr<std::vector<AppendResult>> results) {
                      done(BatchResponse(results));
                    });
}

void AuditOperations::RecordAsync(const Call& call, const v1::RecordRequest& request,
                                  Done<v1::RecordResponse> done) {
  RecordBatchAsync(call, BatchOfOne(request),
                   [done = std::move(done)](absl::StatusOr<v1::RecordBatchResponse> response) {
                     done(SingleResponse(response));
                   });
}

absl::StatusOr<std::pair<absl::Time, absl::Time>> SearchSpan(const TimeRange& range,
                                                             absl::Time now) {
  if (!range.has_start()) return absl::InvalidArgumentError("event_time.start is required");
  HIE_RETURN_IF_ERROR(CheckRange(range, "event_time"));
  absl::Time start = FromTimestamp(range.start());
  absl::Time end = range.has_end() ? FromTimestamp(range.end()) : now;
  if (end <= start) return absl::InvalidArgumentError("event_time is empty or inverted");
  if (end - start > kMaxSearchSpan) {
    return absl::InvalidArgumentError("event_time spans more than 366 days");
  }
  return std::make_pair(start, end);
}

absl::StatusOr<v1::SearchEventsResponse> AuditOperations::SearchEvents(
    const Call& call, const v1::SearchEventsRequest& request) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kReadAccess).status());
  HIE_RETURN_IF_ERROR(CheckSourceIds(request.patients(), "patients", kMaxPatients));
  for (const auto& [value, name] :
       std::initializer_list<std::pair<const std::string*, const char*>>{
           {&request.person_id(), "person_id"},
           {&request.actor_org(), "actor_org"},
           {&request.actor_user_id(), "actor_user_id"},
           {&request.custodian_org(), "custodian_org"},
           {&request.request_id(), "request_id"}}) {
    HIE_RETURN_IF_ERROR(CheckOptionalText(*value, name, kMaxText));
  }
  HIE_RETURN_IF_ERROR(CheckPageSize(request.page_size(), "page_size"));
  if (request.patients().empty() && request.person_id().empty() && request.actor_org().empty() &&
      request.actor_user_id().empty() && request.custodian_org().empty() &&
      request.types().empty() && request.outcomes().empty() && request.purposes().empty() &&
      request.request_id().empty() && !request.break_glass_only()) {
    return absl::InvalidArgumentError(
        "at least one filter is required (patients, person_id, actor_org, actor_user_id, "
        "custodian_org, types, outcomes, purposes, request_id, break_glass_only)");
  }
  HIE_ASSIGN_OR_RETURN(auto span, SearchSpan(request.event_time(), now_()));
  v1::SearchEventsRequest filter = request;
  filter.clear_page_token();
  filter.clear_page_size();
  filter.clear_context();
  const std::string digest = FilterDigest(&filter);
  EventQuery query;
  HIE_ASSIGN_OR_RETURN(query.before, ParsePageToken(request.page_token(), digest));
  query.patients.assign(request.patients().begin(), request.patients().end());
  query.actor_org = request.actor_org();
  query.actor_user_id = request.actor_user_id();
  query.custodian_org = request.custodian_org();
  for (int t : request.types()) query.types.push_back(static_cast<v1::EventType>(t));
  for (int o : request.outcomes()) query.outcomes.push_back(static_cast<v1::Outcome>(o));
  for (int p : request.purposes()) query.purposes.push_back(static_cast<PurposeOfUse>(p));
  query.request_id = request.request_id();
  query.break_glass_only = request.break_glass_only();
  std::tie(query.event_time_start, query.event_time_end) = span;
  const int page = request.page_size() == 0 ? 100 : request.page_size();
  query.limit = page + 1;
  HIE_RETURN_IF_ERROR(RecordAccess(call, "SearchEvents", request.patients(),
                                   {{"person_id", request.person_id()},
                                    {"actor_org", request.actor_org()},
                                    {"actor_user_id", request.actor_user_id()}}));
  HIE_ASSIGN_OR_RETURN(std::vector<v1::AuditEvent> events,
                       log_->Search(std::move(query), request.person_id(), call.deadline));
  v1::SearchEventsResponse response;
  for (int i = 0; i < static_cast<int>(events.size()) && i < page; ++i) {
    *response.add_events() = std::move(events[i]);
  }
  if (static_cast<int>(events.size()) > page) {
    response.set_next_page_token(PageToken(response.events(page - 1), digest));
  }
  return response;
}

absl::StatusOr<v1::GetAccountingOfDisclosuresResponse> AuditOperations::GetAccountingOfDisclosures(
    const Call& call, const v1::GetAccountingOfDisclosuresRequest& request) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kReadAccess).status());
  if (request.patients().empty()) return absl::InvalidArgumentError("patients is required");
  HIE_RETURN_IF_ERROR(CheckSourceIds(request.patients(), "patients", kMaxPatients));
  HIE_RETURN_IF_ERROR(CheckPageSize(request.page_size(), "page_size"));
  const absl::Time now = now_();
  const auto& range = request.disclosure_time();
  HIE_RETURN_IF_ERROR(CheckRange(range, "disclosure_time"));
  EventQuery query;
  query.event_time_start = range.has_start() ? FromTimestamp(range.start()) : now - kAccountingSpan;
  query.event_time_end = range.has_end() ? FromTimestamp(range.end()) : absl::InfiniteFuture();
  if (query.event_time_end <= query.event_time_start) {
    return absl::InvalidArgumentError("disclosure_time is empty or inverted");
  }
  v1::GetAccountingOfDisclosuresRequest filter = request;
  filter.clear_page_token();
  filter.clear_page_size();
  filter.clear_context();
  const std::string digest = FilterDigest(&filter);
  HIE_ASSIGN_OR_RETURN(query.before, ParsePageToken(request.page_token(), digest));
  query.patients.assign(request.patients().begin(), request.patients().end());
  query.types = {v1::EVENT_TYPE_DISCLOSURE};
  query.outcomes = {v1::OUTCOME_SUCCESS, v1::OUTCOME_PARTIAL};
  if (request.exclude_treatment_payment_operations()) {
    for (int p = hie::common::v1::PurposeOfUse_MIN; p <= hie::common::v1::PurposeOfUse_MAX; ++p) {
      if (p != hie::common::v1::PURPOSE_OF_USE_TREATMENT &&
          p != hie::common::v1::PURPOSE_OF_USE_PAYMENT &&
          p != hie::common::v1::PURPOSE_OF_USE_OPERATIONS &&
          hie::common::v1::PurposeOfUse_IsValid(p)) {
        query.purposes.push_back(static_cast<PurposeOfUse>(p));
      }
    }
  }
  const int page = request.page_size() == 0 ? 100 : request.page_size();
  query.limit = page + 1;
  HIE_RETURN_IF_ERROR(RecordAccess(call, "GetAccountingOfDisclosures", request.patients(), {}));
  HIE_ASSIGN_OR_RETURN(std::vector<v1::AuditEvent> events,
                       log_->Search(std::move(query), "", call.deadline));
  v1::GetAccountingOfDisclosuresResponse response;
  for (int i = 0; i < static_cast<int>(events.size()) && i < page; ++i) {
    const v1::AuditEvent& e = events[i];
    v1::Disclosure* d = response.add_disclosures();
    *d->mutable_disclosure_time() = e.event_time();
    *d->mutable_recipient() = e.actor();
    if (!e.recipient_org().empty()) d->mutable_recipient()->set_org(e.recipient_org());
    d->set_purpose_of_use(e.purpose_of_use());
    d->set_custodian_org(e.custodian_org());
    *d->mutable_objects() = e.objects();
    d->set_break_glass(!e.break_glass_id().empty());
    d->set_event_id(e.event_id());
    d->set_request_id(e.request_id());
  }
  if (static_cast<int>(events.size()) > page) {
    response.set_next_page_token(PageToken(events[page - 1], digest));
  }
  return response;
}

absl::StatusOr<v1::VerifyResult> AuditOperations::Verify(const Call& call,
                                                         const v1::VerifyRequest& request) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kIntegrity).status());
  if (request.from_sequence() < 0 || request.to_sequence() < 0 ||
      (request.to_sequence() != 0 && request.to_sequence() < request.from_sequence())) {
    return absl::InvalidArgumentError("from_sequence and to_sequence must be 0 or 1 <= from <= to");
  }
  HIE_RETURN_IF_ERROR(RecordAccess(call, "Verify", {},
                                   {{"from_sequence", absl::StrCat(request.from_sequence())},
                                    {"to_sequence", absl::StrCat(request.to_sequence())}}));
  return log_->Verify({request.from_sequence(), request.to_sequence(), request.skip_checkpoints()},
                      call.deadline);
}

absl::StatusOr<v1::Checkpoint> AuditOperations::CreateCheckpoint(
    const Call& call, const v1::CreateCheckpointRequest&) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kIntegrity).status());
  HIE_RETURN_IF_ERROR(RecordAccess(call, "CreateCheckpoint", {}, {}));
  return log_->CreateCheckpoint(call.deadline);
}

absl::StatusOr<v1::ListCheckpointsResponse> AuditOperations::ListCheckpoints(
    const Call& call, const v1::ListCheckpointsRequest& request) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kIntegrity).status());
  HIE_RETURN_IF_ERROR(CheckPageSize(request.page_size(), "page_size"));
  std::optional<int64_t> before;
  if (!request.page_token().empty()) {
    int64_t sequence = 0;
    if (!absl::SimpleAtoi(absl::StripPrefix(request.page_token(), "v1."), &sequence) ||
        request.page_token().rfind("v1.", 0) != 0) {
      return absl::InvalidArgumentError("page_token is not a token this listing issued");
    }
    before = sequence;
  }
  const auto& range = request.create_time();
  HIE_RETURN_IF_ERROR(CheckRange(range, "create_time"));
  const int page = request.page_size() == 0 ? 100 : request.page_size();
  HIE_RETURN_IF_ERROR(RecordAccess(call, "ListCheckpoints", {}, {}));
  HIE_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> checkpoints,
                       log_->store()->ListCheckpoints(
                           range.has_start() ? FromTimestamp(range.start()) : absl::InfinitePast(),
                           range.has_end() ? FromTimestamp(range.end()) : absl::InfiniteFuture(),
                           before, page + 1, call.deadline));
  v1::ListCheckpointsResponse response;
  for (int i = 0; i < static_cast<int>(checkpoints.size()) && i < page; ++i) {
    *response.add_checkpoints() = checkpoints[i];
  }
  if (static_cast<int>(checkpoints.size()) > page) {
    response.set_next_page_token(absl::StrCat("v1.", checkpoints[page - 1].sequence()));
  }
  return response;
}

absl::StatusOr<v1::ListSigningKeysResponse> AuditOperations::ListSigningKeys(
    const Call& call, const v1::ListSigningKeysRequest&) {
  HIE_RETURN_IF_ERROR(Authorize(call, Access::kIntegrity).status());
  HIE_ASSIGN_OR_RETURN(std::vector<v1::SigningKey> keys,
                       log_->store()->ListSigningKeys(call.deadline));
  v1::ListSigningKeysResponse response;
  for (auto& key : keys) *response.add_keys() = std::move(key);
  return response;
}

}  // namespace hie::audit
