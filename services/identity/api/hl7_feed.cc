#include "services/identity/api/hl7_feed.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/demographics.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/identity/core/identifiers.h"
#include "services/identity/hl7/ack.h"

namespace hie::identity {
namespace {

using ::hie::common::v1::Demographics;

SourceId SourceOf(const hl7::MllpPeer& peer, const hl7::PatientIdentifier& id) {
  SourceId source;
  source.set_org(peer.org);
  source.set_local_id(id.id);
  return source;
}

// Where DemographicsOf put each identifier: {field, repetition} of the PID field it came from
// (PID-3 and its repetition, or PID-19).
std::vector<std::pair<int, int>> IdentifierOrigins(const hl7::AdtPatient& p) {
  std::vector<std::pair<int, int>> origins;
  for (const hl7::PatientIdentifier& id : p.identifiers) {
    if (id.type_code != "SS") origins.emplace_back(3, id.repetition);
  }
  if (!p.ssn.empty()) {
    origins.push_back(p.ssn_repetition == 0 ? std::pair{19, 0} : std::pair{3, p.ssn_repetition});
  }
  return origins;
}

// The service's warning about demographics.identifiers[i] as an HL7 warning (ERR, severity W)
// located at the patient's PID segment and the field and repetition the identifier came from.
hl7::Hl7Error WarningOf(const hl7::AdtPatient& patient, const hie::common::v1::FieldWarning& w) {
  hl7::Hl7Error error;
  error.segment_id = "PID";
  error.segment_index = patient.pid_occurrence;
  error.code = hl7::ErrorCode::kDataTypeError;
  error.severity = hl7::Severity::kWarning;
  error.field = 3;
  int index = -1;
  size_t open = w.field().rfind("identifiers[");
  if (open != std::string::npos) {
    (void)absl::SimpleAtoi(w.field().substr(open + 12, w.field().find(']', open) - open - 12),
                           &index);
  }
  std::vector<std::pair<int, int>> origins = IdentifierOrigins(patient);
  if (index >= 0 && index < static_cast<int>(origins.size())) {
    error.field = origins[index].first;
    error.repetition = origins[index].second;
  }
  error.text = absl::StrCat(error.Location(), ": ", w.message());
  return error;
}

}  // namespace

Demographics DemographicsOf(const hl7::AdtPatient& p) {
  Demographics d;
  d.mutable_name()->set_given(p.given);
  d.mutable_name()->set_middle(p.middle);
  d.mutable_name()->set_family(p.family);
  d.set_sex(hie::SexFromCode(p.sex).value_or(hie::common::v1::SEX_UNSPECIFIED));
  d.set_birth_date(p.birth_date);
  const hl7::PostalAddress& a = p.address;
  if (!a.street.empty() || !a.city.empty() || !a.zip.empty()) {
    auto* address = d.add_addresses();
    if (!a.street.empty()) address->add_lines(a.street);
    if (!a.other_designation.empty()) address->add_lines(a.other_designation);
    address->set_city(a.city);
    address->set_state(a.state);
    address->set_postal_code(a.zip);
    address->set_country(a.country);
    address->set_use(hie::common::v1::Address::USE_HOME);
  }
  if (!p.home_phone.empty()) {
    auto* phone = d.add_phones();
    phone->set_value(p.home_phone);
    phone->set_use(hie::common::v1::ContactPoint::USE_HOME);
  }
  if (!p.business_phone.empty()) {
    auto* phone = d.add_phones();
    phone->set_value(p.business_phone);
    phone->set_use(hie::common::v1::ContactPoint::USE_WORK);
  }
  if (!p.email.empty()) d.add_emails()->set_value(p.email);
  for (const hl7::PatientIdentifier& id : p.identifiers) {
    if (id.type_code == "SS") continue;  // added once below
    auto* identifier = d.add_identifiers();
    identifier->set_value(id.id);
    identifier->set_assigning_authority(id.assigning_authority);
    identifier->set_system(absl::StrCat(hie::kHl7v2AuthorityPrefix, id.assigning_authority));
    identifier->set_type(id.type_code == "MR"
                             ? hie::common::v1::Identifier::TYPE_MEDICAL_RECORD_NUMBER
                             : hie::common::v1::Identifier::TYPE_OTHER);
  }
  if (!p.ssn.empty()) {
    auto* ssn = d.add_identifiers();
    ssn->set_system(hie::kUsSsnSystem);
    ssn->set_value(p.ssn);
    ssn->set_type(hie::common::v1::Identifier::TYPE_NATIONAL_ID);
  }
  d.set_deceased_date(p.death_date.size() == 10 ? p.death_date : "");
  d.set_deceased(p.deceased.value_or(false) && p.death_date.empty());
  return d;
}

Hl7Feed::Hl7Feed(IdentityManager* manager, const Clock* clock, absl::Duration timeout)
    : manager_(manager), clock_(clock), timeout_(timeout) {}

namespace {

// The registration a PID segment asks for (the caller sets context and idempotency key).
v1::RegisterSourceRecordRequest RegistrationOf(const hl7::MllpPeer& peer,
                                               const hl7::AdtEvent& event,
                                               const hl7::AdtPatient& patient) {
  v1::RegisterSourceRecordRequest request;
  *request.mutable_source_id() = SourceOf(peer, patient.local_id);
  *request.mutable_demographics() = DemographicsOf(patient);
  // EVN-2 (else MSH-7): an update the sender made earlier than the stored one goes into
  // history only, so messages delivered out of order cannot overwrite newer demographics.
  if (event.effective_time.has_value()) {
    const absl::Time t = *event.effective_time;
    request.mutable_source_event_time()->set_seconds(absl::ToUnixSeconds(t));
    request.mutable_source_event_time()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(absl::ToUnixSeconds(t)))));
  }
  return request;
}

}  // namespace

// Maps the event to one IdentityManager call (the rules of merges and unlinks are the core's);
// one idempotency key per message: its sender's org and MSH-10.
absl::Status Hl7Feed::Apply(const hl7::MllpPeer& peer, const hie::common::v1::Actor& actor,
                            const hl7::AdtEvent& event, std::vector<hl7::Hl7Error>* warnings) {
  CallContext call;
  call.actor = actor;
  call.request_id = absl::StrCat("hl7-", peer.connection_id, "-", event.message_control_id);
  call.deadline = absl::Now() + timeout_;
  hie::common::v1::RequestContext context;
  context.set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
  context.set_request_id(call.request_id);
  const std::string key = absl::StrCat("hl7:", peer.org, ":", event.message_control_id);
  auto warn = [&](const hl7::AdtPatient& patient, const v1::RegisterSourceRecordResponse& r) {
    for (const hie::common::v1::FieldWarning& w : r.warnings()) {
      warnings->push_back(WarningOf(patient, w));
    }
  };
  switch (event.action) {
    case hl7::AdtAction::kRegisterOrUpdate: {
      v1::RegisterSourceRecordRequest request = RegistrationOf(peer, event, event.patient);
      *request.mutable_context() = context;
      request.set_idempotency_key(key);
      HIE_ASSIGN_OR_RETURN(v1::RegisterSourceRecordResponse response,
                           manager_->Register(call, request));
      warn(event.patient, response);
      return absl::OkStatus();
    }
    case hl7::AdtAction::kMerge: {
      std::vector<IdentityManager::SourceMergeGroup> groups;
      for (const hl7::AdtMerge& group : event.merges) {
        IdentityManager::SourceMergeGroup& g = groups.emplace_back();
        g.survivor = RegistrationOf(peer, event, group.surviving);
        // An MRG that names no prior id, or the surviving id itself, carries no merge.
        if (!group.prior.id.empty() && group.prior.id != group.surviving.local_id.id) {
          g.superseded = SourceOf(peer, group.prior);
        }
      }
      HIE_ASSIGN_OR_RETURN(std::vector<v1::RegisterSourceRecordResponse> responses,
                           manager_->MergeFromSource(call, context, std::move(groups), key));
      for (size_t i = 0; i < responses.size() && i < event.merges.size(); ++i) {
        warn(event.merges[i].surviving, responses[i]);
      }
      return absl::OkStatus();
    }
    case hl7::AdtAction::kUnlink: {
      if (!event.unlink_other.has_value()) {
        return absl::InvalidArgumentError("A37 needs a second PID");
      }
      v1::UnlinkRecordRequest unlink;
      *unlink.mutable_context() = context;
      *unlink.mutable_source_id() = SourceOf(peer, event.unlink_other->local_id);
      unlink.set_reason("ADT A37 unlink from the source");
      unlink.set_idempotency_key(key);
      return manager_->UnlinkFromSource(call, SourceOf(peer, event.patient.local_id), unlink)
          .status();
    }
  }
  return absl::InternalError("unhandled ADT action");
}

std::string Hl7Feed::Handle(const hl7::MllpPeer& peer, std::string_view message) {
  hl7::AckContext ack_context;
  ack_context.control_id = absl::StrFormat("HIE%d%06d", absl::ToUnixSeconds(clock_->Now()),
                                           ack_counter_.fetch_add(1) % 1000000);
  ack_context.now = clock_->Now();
  hl7::Hl7Result<hl7::Message> parsed = hl7::Message::Parse(message);
  if (!parsed.ok()) {
    return hl7::BuildAckForRaw(message, hl7::AckCode::kReject, {parsed.error()}, ack_context);
  }
  const hl7::Message& original = parsed.value();
  absl::StatusOr<hie::common::v1::Actor> actor =
      ActorForCall({peer.org, peer.role, peer.common_name}, {}, Channel::kHl7, Operation::kRegister,
                   AuthorizationPolicy{});
  if (!actor.ok()) return hl7::BuildAckForStatus(original, actor.status(), ack_context);
  hl7::Hl7Result<hl7::AdtEvent> event = hl7::MapAdt(original);
  if (!event.ok()) {
    return hl7::BuildAck(original, hl7::DefaultAckCode(event.error()), {event.error()},
                         ack_context);
  }
  std::vector<hl7::Hl7Error> warnings;
  absl::Status status = Apply(peer, *actor, event.value(), &warnings);
  if (!status.ok()) {
    Log(LogLevel::kWarning, "hl7_apply_failed",
        {{"control_id", event.value().message_control_id},
         {"trigger", event.value().trigger},
         {"code", absl::StatusCodeToString(status.code())}});
  }
  return hl7::BuildAckForStatus(original, status, warnings, ack_context);
}

}  // namespace hie::identity
