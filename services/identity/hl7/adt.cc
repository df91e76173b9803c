#include "services/identity/hl7/adt.h"

#include <cctype>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hie::hl7 {
namespace {

// Reads values as trimmed UTF-8 text and keeps the first decoding error; after an error every
// read returns "" so callers check failed() once per block instead of after every read.
class Reader {
 public:
  std::string Text(const Segment& segment, int field, int rep = 0, int comp = 1, int sub = 1) {
    if (error_.has_value()) return "";
    Hl7Result<std::string> text = segment.GetText(field, rep, comp, sub);
    if (!text.ok()) {
      error_ = text.error();
      return "";
    }
    return std::string(absl::StripAsciiWhitespace(text.value()));
  }
  bool failed() const { return error_.has_value(); }
  const Hl7Error& error() const { return *error_; }

 private:
  std::optional<Hl7Error> error_;
};

Hl7Error FieldError(ErrorCode code, std::string segment_id, int segment_index, int field,
                    std::string text, int component = 0) {
  Hl7Error error;
  error.segment_id = std::move(segment_id);
  error.segment_index = segment_index;
  error.field = field;
  error.component = component;
  if (field > 0) error.repetition = 1;
  error.code = code;
  error.text = std::move(text);
  return error;
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int ToInt(std::string_view s) {
  int value = 0;
  for (char c : s) value = value * 10 + (c - '0');
  return value;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// A validated TS/DTM split into its parts; absent parts are at their minimum.
struct TsParts {
  int digits = 0;  // 4, 6, 8, 10, 12 or 14
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  int fraction_digits = 0;
  int fraction = 0;        // as written, e.g. 25 for ".25"
  int offset_minutes = 0;  // east of UTC; 0 when no offset is given
};

std::optional<TsParts> ParseTs(std::string_view ts) {
  size_t digits = 0;
  while (digits < ts.size() && std::isdigit(static_cast<unsigned char>(ts[digits]))) ++digits;
  std::string_view main = ts.substr(0, digits);
  std::string_view rest = ts.substr(digits);
  if (main.size() < 4 || main.size() > 14 || main.size() % 2 != 0) return std::nullopt;
  TsParts parts;
  parts.digits = static_cast<int>(main.size());
  if (!rest.empty() && rest[0] == '.') {
    size_t end = 1;
    while (end < rest.size() && std::isdigit(static_cast<unsigned char>(rest[end]))) ++end;
    if (main.size() != 14 || end == 1 || end > 5) return std::nullopt;
    parts.fraction_digits = static_cast<int>(end - 1);
    parts.fraction = ToInt(rest.substr(1, end - 1));
    rest.remove_prefix(end);
  }
  if (!rest.empty()) {
    if ((rest[0] != '+' && rest[0] != '-') || rest.size() != 5 || !AllDigits(rest.substr(1))) {
      return std::nullopt;
    }
    int hours = ToInt(rest.substr(1, 2));
    int minutes = ToInt(rest.substr(3, 2));
    if (hours > 14 || minutes > 59) return std::nullopt;
    parts.offset_minutes = (rest[0] == '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  parts.year = ToInt(main.substr(0, 4));
  if (parts.year == 0) return std::nullopt;
  if (main.size() >= 6) {
    parts.month = ToInt(main.substr(4, 2));
    if (parts.month < 1 || parts.month > 12) return std::nullopt;
  }
  if (main.size() >= 8) {
    parts.day = ToInt(main.substr(6, 2));
    if (parts.day < 1 || parts.day > DaysInMonth(parts.year, parts.month)) return std::nullopt;
  }
  if (main.size() >= 10) parts.hour = ToInt(main.substr(8, 2));
  if (main.size() >= 12) parts.minute = ToInt(main.substr(10, 2));
  if (main.size() >= 14) parts.second = ToInt(main.substr(12, 2));
  if (parts.hour > 23 || parts.minute > 59 || parts.second > 59) return std::nullopt;
  return parts;
}

PatientIdentifier ReadCx(Reader& r, const Segment& segment, int field, int rep) {
  PatientIdentifier id;
  id.id = r.Text(segment, field, rep, 1);
  id.assigning_authority = r.Text(segment, field, rep, 4, 1);
  if (id.assigning_authority.empty()) id.assigning_authority = r.Text(segment, field, rep, 4, 2);
  id.type_code = r.Text(segment, field, rep, 5);
  return id;
}

std::string ReadPhone(Reader& r, const Segment& segment, int field, int rep) {
  std::string old_style = r.Text(segment, field, rep, 1);
  if (!old_style.empty()) return old_style;
  std::string local = r.Text(segment, field, rep, 7);
  if (local.empty()) return "";
  std::string phone = absl::StrCat(r.Text(segment, field, rep, 6), local);
  std::string extension = r.Text(segment, field, rep, 8);
  if (!extension.empty()) absl::StrAppend(&phone, "x", extension);
  return phone;
}

void ReadPhones(Reader& r, const Segment& pid, int field, std::string* phone, std::string* email) {
  int count = pid.RepetitionCount(field);
  for (int rep = 0; rep < count; ++rep) {
    if (phone->empty()) *phone = ReadPhone(r, pid, field, rep);
    std::string address = r.Text(pid, field, rep, 4);
    if (email->empty() && address.find('@') != std::string::npos) *email = address;
  }
}

// PID-3: every identifier with an id, and the local id (the first MR, else the first). Error 101
// when no repetition has an id.
std::optional<Hl7Error> ReadIdentifiers(Reader& r, const Segment& pid, AdtPatient* patient) {
  int first_with_id = -1;
  int first_mr = -1;
  int count = pid.RepetitionCount(3);
  for (int rep = 0; rep < count; ++rep) {
    PatientIdentifier id = ReadCx(r, pid, 3, rep);
    if (id.id.empty()) continue;
    id.repetition = rep + 1;
    if (first_with_id < 0) first_with_id = static_cast<int>(patient->identifiers.size());
    if (first_mr < 0 && id.type_code == "MR") {
      first_mr = static_cast<int>(patient->identifiers.size());
    }
    patient->identifiers.push_back(std::move(id));
  }
  if (r.failed()) return r.error();
  if (first_with_id < 0) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "PID", pid.occurrence(), 3,
                      "PID-3: patient identifier list is missing");
  }
  patient->local_id =
      patient->identifiers[static_cast<size_t>(first_mr >= 0 ? first_mr : first_with_id)];
  return std::nullopt;
}

// PID-5 (error 101 without a family or given name), PID-8 and PID-7 (error 102 when it is not
// a valid TS).
std::optional<Hl7Error> ReadNameSexAndBirth(Reader& r, const Segment& pid, AdtPatient* patient) {
  patient->family = r.Text(pid, 5, 0, 1, 1);
  patient->given = r.Text(pid, 5, 0, 2);
  patient->middle = r.Text(pid, 5, 0, 3);
  if (r.failed()) return r.error();
  if (patient->family.empty() && patient->given.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "PID", pid.occurrence(), 5,
                      "PID-5: patient name has neither family nor given name");
  }
  patient->sex = r.Text(pid, 8);

  std::string birth = r.Text(pid, 7);
  if (r.failed()) return r.error();
  if (!birth.empty()) {
    std::optional<NormalisedDate> date = NormaliseTsDate(birth);
    if (!date.has_value()) {
      return FieldError(ErrorCode::kDataTypeError, "PID", pid.occurrence(), 7,
                        "PID-7: birth date is not a valid TS", 1);
    }
    patient->birth_date = date->date;
    patient->birth_date_precision = date->precision;
  }
  return std::nullopt;
}

// PID-11, first repetition. Errors are left in `r`.
void ReadAddress(Reader& r, const Segment& pid, PostalAddress* address) {
  std::string street = r.Text(pid, 11, 0, 1, 1);
  std::string street_name = r.Text(pid, 11, 0, 1, 2);
  if (!street_name.empty() && street.find(street_name) == std::string::npos) {
    street = street.empty() ? street_name : absl::StrCat(street, " ", street_name);
  }
  address->street = street;
  address->other_designation = r.Text(pid, 11, 0, 2);
  address->city = r.Text(pid, 11, 0, 3);
  address->state = r.Text(pid, 11, 0, 4);
  address->zip = r.Text(pid, 11, 0, 5);
  address->country = r.Text(pid, 11, 0, 6);
}

// PID-19, else the first PID-3 identifier typed SS. Errors are left in `r`.
void ReadSsn(Reader& r, const Segment& pid, AdtPatient* patient) {
  patient->ssn = r.Text(pid, 19);
  if (patient->ssn.empty()) {
    for (const PatientIdentifier& id : patient->identifiers) {
      if (id.type_code == "SS") {
        patient->ssn = id.id;
        patient->ssn_repetition = id.repetition;
        break;
      }
    }
  }
}

// PID-29 (error 102 when it is not a valid TS) and PID-30.
std::optional<Hl7Error> ReadDeath(Reader& r, const Segment& pid, AdtPatient* patient) {
  std::string death = r.Text(pid, 29);
  if (r.failed()) return r.error();
  if (!death.empty()) {
    std::optional<NormalisedDate> date = NormaliseTsDate(death);
    if (!date.has_value()) {
      return FieldError(ErrorCode::kDataTypeError, "PID", pid.occurrence(), 29,
                        "PID-29: date of death is not a valid TS", 1);
    }
    patient->death_date = date->date;
  }
  std::string indicator = r.Text(pid, 30);
  if (r.failed()) return r.error();
  if (indicator == "Y") patient->deceased = true;
  if (indicator == "N") patient->deceased = false;
  return std::nullopt;
}

// One PID segment. The reads share one Reader, so the first decoding error is the one returned,
// whichever helper made it.
Hl7Result<AdtPatient> ReadPatient(const Segment& pid) {
  Reader r;
  AdtPatient patient;
  patient.pid_occurrence = pid.occurrence();
  if (std::optional<Hl7Error> error = ReadIdentifiers(r, pid, &patient)) return *std::move(error);
  if (std::optional<Hl7Error> error = ReadNameSexAndBirth(r, pid, &patient)) {
    return *std::move(error);
  }
  ReadAddress(r, pid, &patient.address);
  ReadPhones(r, pid, 13, &patient.home_phone, &patient.email);
  ReadPhones(r, pid, 14, &patient.business_phone, &patient.email);
  ReadSsn(r, pid, &patient);
  if (std::optional<Hl7Error> error = ReadDeath(r, pid, &patient)) return *std::move(error);
  return patient;
}

// The action of an ADT trigger event; nullopt for a trigger this hub does not handle.
std::optional<AdtAction> ActionOf(std::string_view trigger) {
  if (trigger == "A01" || trigger == "A04" || trigger == "A08" || trigger == "A28" ||
      trigger == "A31") {
    return AdtAction::kRegisterOrUpdate;
  }
  if (trigger == "A40") return AdtAction::kMerge;
  if (trigger == "A37") return AdtAction::kUnlink;
  return std::nullopt;
}

// The header of `event` from MSH and EVN: ids, times as sent, trigger and action. Errors, in
// this order: MSH-18 unsupported (103), a value that does not decode (102), MSH-9 or MSH-10
// missing (101), a message type other than ADT (200), no trigger (101) or an unsupported one
// (201).
std::optional<Hl7Error> ReadHeader(const Message& message, AdtEvent* event) {
  const Segment& msh = message.segments()[0];  // Parse guarantees MSH first
  if (message.charset() == Charset::kUnsupported) {
    Hl7Result<std::string> refused = msh.GetText(18);  // error 103 naming MSH-18
    if (!refused.ok()) return refused.error();
  }
  Reader r;
  std::string type = r.Text(msh, 9, 0, 1);
  if (r.failed()) return r.error();
  if (type.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MSH", 1, 9,
                      "MSH-9: message type is missing", 1);
  }
  event->message_control_id = r.Text(msh, 10);
  if (r.failed()) return r.error();
  if (event->message_control_id.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MSH", 1, 10,
                      "MSH-10: message control id is missing");
  }
  event->sending_application = r.Text(msh, 3);
  event->sending_facility = r.Text(msh, 4);
  event->receiving_application = r.Text(msh, 5);
  event->receiving_facility = r.Text(msh, 6);
  event->message_time = r.Text(msh, 7);
  event->version = r.Text(msh, 12);
  const Segment* evn = message.Find("EVN");
  if (evn != nullptr) event->event_time = r.Text(*evn, 2);
  if (r.failed()) return r.error();

  if (type != "ADT") {
    return FieldError(ErrorCode::kUnsupportedMessageType, "MSH", 1, 9,
                      "MSH-9: message type is not supported (only ADT)", 1);
  }
  event->trigger = r.Text(msh, 9, 0, 2);
  if (event->trigger.empty() && evn != nullptr) event->trigger = r.Text(*evn, 1);
  if (r.failed()) return r.error();
  if (event->trigger.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MSH", 1, 9,
                      "MSH-9: trigger event is missing", 2);
  }
  std::optional<AdtAction> action = ActionOf(event->trigger);
  if (!action.has_value()) {
    return FieldError(ErrorCode::kUnsupportedEventCode, "MSH", 1, 9,
                      "MSH-9: trigger event is not supported", 2);
  }
  event->action = *action;
  return std::nullopt;
}

// event->effective_time: EVN-2 when present, else MSH-7. Both are checked when present (error
// 102, MSH-7 first).
std::optional<Hl7Error> ReadEffectiveTime(AdtEvent* event) {
  std::optional<absl::Time> message_time;
  if (!event->message_time.empty()) {
    message_time = ParseTsTime(event->message_time);
    if (!message_time.has_value()) {
      return FieldError(ErrorCode::kDataTypeError, "MSH", 1, 7,
                        "MSH-7: date/time of message is not a valid TS", 1);
    }
  }
  event->effective_time = message_time;
  if (!event->event_time.empty()) {
    event->effective_time = ParseTsTime(event->event_time);
    if (!event->effective_time.has_value()) {
      return FieldError(ErrorCode::kDataTypeError, "EVN", 1, 2,
                        "EVN-2: recorded date/time is not a valid TS", 1);
    }
  }
  return std::nullopt;
}

// One A40 group into *merge: the MRG segment `mrg` and its PID `pid` (the first PID's patient,
// `first_patient`, is copied, not read again). Filled in place: no AdtMerge is moved.
std::optional<Hl7Error> ReadMerge(const Segment& mrg, const Segment& pid, const Segment& first_pid,
                                  const AdtPatient& first_patient, AdtMerge* merge) {
  if (&pid == &first_pid) {
    merge->surviving = first_patient;
  } else {
    Hl7Result<AdtPatient> surviving = ReadPatient(pid);
    if (!surviving.ok()) return surviving.error();
    merge->surviving = std::move(surviving).value();
  }
  Reader r;
  merge->prior = ReadCx(r, mrg, 1, 0);
  merge->prior_account = r.Text(mrg, 3);
  if (r.failed()) return r.error();
  if (merge->prior.id.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MRG", mrg.occurrence(), 1,
                      "MRG-1: prior patient identifier list is missing");
  }
  return std::nullopt;
}

// event->merges of an A40: each PID followed by its MRG (PD1/PV1 may sit between them). Error
// 100 for an MRG without a PID before it or for no MRG at all.
std::optional<Hl7Error> ReadMerges(const Message& message, const Segment& first_pid,
                                   AdtEvent* event) {
  size_t mrgs = 0;
  for (const Segment& segment : message.segments()) mrgs += segment.id() == "MRG";
  event->merges.reserve(mrgs);
  const Segment* current_pid = nullptr;
  for (const Segment& segment : message.segments()) {
    if (segment.id() == "PID") {
      current_pid = &segment;
    } else if (segment.id() == "MRG") {
      if (current_pid == nullptr) {
        return FieldError(ErrorCode::kSegmentSequenceError, "MRG", segment.occurrence(), 0,
                          "MRG: merge segment without a preceding PID");
      }
      AdtMerge merge;
      if (std::optional<Hl7Error> error =
              ReadMerge(segment, *current_pid, first_pid, event->patient, &merge)) {
        return error;
      }
      event->merges.push_back(std::move(merge));
      current_pid = nullptr;
    }
  }
  if (event->merges.empty()) {
    return FieldError(ErrorCode::kSegmentSequenceError, "MRG", 1, 0,
                      "MRG: merge segment is missing");
  }
  return std::nullopt;
}

}  // namespace

std::optional<NormalisedDate> NormaliseTsDate(std::string_view ts) {
  std::optional<TsParts> parts = ParseTs(ts);
  if (!parts.has_value()) return std::nullopt;
  NormalisedDate out;
  out.date = std::string(ts.substr(0, 4));
  out.precision = DatePrecision::kYear;
  if (parts->digits >= 6) {
    out.date += "-" + std::string(ts.substr(4, 2));
    out.precision = DatePrecision::kMonth;
  }
  if (parts->digits >= 8) {
    out.date += "-" + std::string(ts.substr(6, 2));
    out.precision = DatePrecision::kDay;
  }
  return out;
}

std::optional<absl::Time> ParseTsTime(std::string_view ts) {
  std::optional<TsParts> p = ParseTs(ts);
  if (!p.has_value()) return std::nullopt;
  absl::Time t =
      absl::FromCivil(absl::CivilSecond(p->year, p->month, p->day, p->hour, p->minute, p->second),
                      absl::UTCTimeZone());
  int64_t fraction_us = p->fraction;
  for (int k = p->fraction_digits; k < 6; ++k) fraction_us *= 10;
  return t + absl::Microseconds(fraction_us) - absl::Minutes(p->offset_minutes);
}

Hl7Result<AdtEvent> MapAdt(const Message& message) {
  AdtEvent event;
  if (std::optional<Hl7Error> error = ReadHeader(message, &event)) return *std::move(error);
  if (std::optional<Hl7Error> error = ReadEffectiveTime(&event)) return *std::move(error);

  std::vector<const Segment*> pids = message.FindAll("PID");
  if (pids.empty()) {
    return FieldError(ErrorCode::kSegmentSequenceError, "PID", 1, 0,
                      "PID: patient identification segment is missing");
  }
  Hl7Result<AdtPatient> first = ReadPatient(*pids[0]);
  if (!first.ok()) return first.error();
  event.patient = std::move(first).value();

  if (event.action == AdtAction::kMerge) {
    if (std::optional<Hl7Error> error = ReadMerges(message, *pids[0], &event)) {
      return *std::move(error);
    }
  } else if (event.action == AdtAction::kUnlink) {
    if (pids.size() < 2) {
      return FieldError(ErrorCode::kSegmentSequenceError, "PID", 2, 0,
                        "PID: unlink needs a second patient identification segment");
    }
    Hl7Result<AdtPatient> other = ReadPatient(*pids[1]);
    if (!other.ok()) return other.error();
    event.unlink_other = std::move(other).value();
  }
  return event;
}

namespace {

using Visit = std::function<void(const std::string&, const std::string&)>;

void VisitIdentifier(const std::string& prefix, const PatientIdentifier& id, const Visit& visit) {
  visit(prefix + ".id", id.id);
  visit(prefix + ".assigning_authority", id.assigning_authority);
  visit(prefix + ".type_code", id.type_code);
}

void VisitPatient(const std::string& prefix, const AdtPatient& p, const Visit& visit) {
  VisitIdentifier(prefix + ".local_id", p.local_id, visit);
  for (size_t i = 0; i < p.identifiers.size(); ++i) {
    VisitIdentifier(absl::StrCat(prefix, ".identifiers[", i, "]"), p.identifiers[i], visit);
  }
  visit(prefix + ".family", p.family);
  visit(prefix + ".given", p.given);
  visit(prefix + ".middle", p.middle);
  visit(prefix + ".sex", p.sex);
  visit(prefix + ".birth_date", p.birth_date);
  visit(prefix + ".address.street", p.address.street);
  visit(prefix + ".address.other_designation", p.address.other_designation);
  visit(prefix + ".address.city", p.address.city);
  visit(prefix + ".address.state", p.address.state);
  visit(prefix + ".address.zip", p.address.zip);
  visit(prefix + ".address.country", p.address.country);
  visit(prefix + ".home_phone", p.home_phone);
  visit(prefix + ".business_phone", p.business_phone);
  visit(prefix + ".email", p.email);
  visit(prefix + ".ssn", p.ssn);
  visit(prefix + ".death_date", p.death_date);
}

}  // namespace

void ForEachText(const AdtEvent& event, const Visit& visit) {
  visit("trigger", event.trigger);
  visit("message_control_id", event.message_control_id);
  visit("sending_application", event.sending_application);
  visit("sending_facility", event.sending_facility);
  visit("receiving_application", event.receiving_application);
  visit("receiving_facility", event.receiving_facility);
  visit("message_time", event.message_time);
  visit("event_time", event.event_time);
  visit("version", event.version);
  VisitPatient("patient", event.patient, visit);
  for (size_t i = 0; i < event.merges.size(); ++i) {
    std::string prefix = absl::StrCat("merges[", i, "]");
    VisitPatient(prefix + ".surviving", event.merges[i].surviving, visit);
    VisitIdentifier(prefix + ".prior", event.merges[i].prior, visit);
    visit(prefix + ".prior_account", event.merges[i].prior_account);
  }
  if (event.unlink_other.has_value()) VisitPatient("unlink_other", *event.unlink_other, visit);
}

}  // namespace hie::hl7
