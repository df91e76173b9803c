#include "services/identity/hl7/adt.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hie::hl7 {
namespace {

std::string Trim(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

std::string Field(const Segment& segment, int field, int rep = 0, int comp = 1, int sub = 1) {
  return Trim(segment.Get(field, rep, comp, sub));
}

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

PatientIdentifier ReadCx(const Segment& segment, int field, int rep) {
  PatientIdentifier id;
  id.id = Field(segment, field, rep, 1);
  id.assigning_authority = Field(segment, field, rep, 4, 1);
  if (id.assigning_authority.empty()) id.assigning_authority = Field(segment, field, rep, 4, 2);
  id.type_code = Field(segment, field, rep, 5);
  return id;
}

std::string ReadPhone(const Segment& segment, int field, int rep) {
  std::string old_style = Field(segment, field, rep, 1);
  if (!old_style.empty()) return old_style;
  std::string local = Field(segment, field, rep, 7);
  if (local.empty()) return "";
  std::string phone = absl::StrCat(Field(segment, field, rep, 6), local);
  std::string extension = Field(segment, field, rep, 8);
  if (!extension.empty()) absl::StrAppend(&phone, "x", extension);
  return phone;
}

void ReadPhones(const Segment& pid, int field, std::string* phone, std::string* email) {
  for (int rep = 0; rep < pid.RepetitionCount(field); ++rep) {
    if (phone->empty()) *phone = ReadPhone(pid, field, rep);
    std::string address = Field(pid, field, rep, 4);
    if (email->empty() && address.find('@') != std::string::npos) *email = address;
  }
}

// `occurrence` is the 1-based index of this PID in the message, for error locations.
Hl7Result<AdtPatient> ReadPatient(const Segment& pid, int occurrence) {
  AdtPatient patient;
  int first_with_id = -1;
  int first_mr = -1;
  for (int rep = 0; rep < pid.RepetitionCount(3); ++rep) {
    PatientIdentifier id = ReadCx(pid, 3, rep);
    if (id.id.empty()) continue;
    if (first_with_id < 0) first_with_id = static_cast<int>(patient.identifiers.size());
    if (first_mr < 0 && id.type_code == "MR") {
      first_mr = static_cast<int>(patient.identifiers.size());
    }
    patient.identifiers.push_back(std::move(id));
  }
  if (first_with_id < 0) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "PID", occurrence, 3,
                      "PID-3: patient identifier list is missing");
  }
  patient.local_id =
      patient.identifiers[static_cast<size_t>(first_mr >= 0 ? first_mr : first_with_id)];

  patient.family = Field(pid, 5, 0, 1, 1);
  patient.given = Field(pid, 5, 0, 2);
  patient.middle = Field(pid, 5, 0, 3);
  if (patient.family.empty() && patient.given.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "PID", occurrence, 5,
                      "PID-5: patient name has neither family nor given name");
  }
  patient.sex = Field(pid, 8);

  std::string birth = Field(pid, 7);
  if (!birth.empty()) {
    std::optional<NormalisedDate> date = NormaliseTsDate(birth);
    if (!date.has_value()) {
      return FieldError(ErrorCode::kDataTypeError, "PID", occurrence, 7,
                        "PID-7: birth date is not a valid TS", 1);
    }
    patient.birth_date = date->date;
    patient.birth_date_precision = date->precision;
  }

  std::string street = Field(pid, 11, 0, 1, 1);
  std::string street_name = Field(pid, 11, 0, 1, 2);
  if (!street_name.empty() && street.find(street_name) == std::string::npos) {
    street = street.empty() ? street_name : absl::StrCat(street, " ", street_name);
  }
  patient.address.street = street;
  patient.address.other_designation = Field(pid, 11, 0, 2);
  patient.address.city = Field(pid, 11, 0, 3);
  patient.address.state = Field(pid, 11, 0, 4);
  patient.address.zip = Field(pid, 11, 0, 5);
  patient.address.country = Field(pid, 11, 0, 6);

  ReadPhones(pid, 13, &patient.home_phone, &patient.email);
  ReadPhones(pid, 14, &patient.business_phone, &patient.email);

  patient.ssn = Field(pid, 19);
  if (patient.ssn.empty()) {
    for (const PatientIdentifier& id : patient.identifiers) {
      if (id.type_code == "SS") {
        patient.ssn = id.id;
        break;
      }
    }
  }

  std::string death = Field(pid, 29);
  if (!death.empty()) {
    std::optional<NormalisedDate> date = NormaliseTsDate(death);
    if (!date.has_value()) {
      return FieldError(ErrorCode::kDataTypeError, "PID", occurrence, 29,
                        "PID-29: date of death is not a valid TS", 1);
    }
    patient.death_date = date->date;
  }
  std::string indicator = Field(pid, 30);
  if (indicator == "Y") patient.deceased = true;
  if (indicator == "N") patient.deceased = false;
  return patient;
}

}  // namespace

std::optional<NormalisedDate> NormaliseTsDate(std::string_view ts) {
  size_t digits = 0;
  while (digits < ts.size() && std::isdigit(static_cast<unsigned char>(ts[digits]))) ++digits;
  std::string_view main = ts.substr(0, digits);
  std::string_view rest = ts.substr(digits);
  if (main.size() < 4 || main.size() > 14 || main.size() % 2 != 0) return std::nullopt;
  if (!rest.empty() && rest[0] == '.') {
    size_t end = 1;
    while (end < rest.size() && std::isdigit(static_cast<unsigned char>(rest[end]))) ++end;
    if (main.size() != 14 || end == 1 || end > 5) return std::nullopt;
    rest.remove_prefix(end);
  }
  if (!rest.empty()) {
    if ((rest[0] != '+' && rest[0] != '-') || rest.size() != 5 || !AllDigits(rest.substr(1))) {
      return std::nullopt;
    }
    if (ToInt(rest.substr(1, 2)) > 14 || ToInt(rest.substr(3, 2)) > 59) return std::nullopt;
  }
  int year = ToInt(main.substr(0, 4));
  if (year == 0) return std::nullopt;
  NormalisedDate out;
  out.date = std::string(main.substr(0, 4));
  out.precision = DatePrecision::kYear;
  if (main.size() >= 6) {
    int month = ToInt(main.substr(4, 2));
    if (month < 1 || month > 12) return std::nullopt;
    out.date += "-" + std::string(main.substr(4, 2));
    out.precision = DatePrecision::kMonth;
    if (main.size() >= 8) {
      int day = ToInt(main.substr(6, 2));
      if (day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
      out.date += "-" + std::string(main.substr(6, 2));
      out.precision = DatePrecision::kDay;
    }
  }
  if (main.size() >= 10 && ToInt(main.substr(8, 2)) > 23) return std::nullopt;
  if (main.size() >= 12 && ToInt(main.substr(10, 2)) > 59) return std::nullopt;
  if (main.size() >= 14 && ToInt(main.substr(12, 2)) > 59) return std::nullopt;
  return out;
}

Hl7Result<AdtEvent> MapAdt(const Message& message) {
  const Segment& msh = message.segments()[0];  // Parse guarantees MSH first
  std::string type = Field(msh, 9, 0, 1);
  if (type.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MSH", 1, 9,
                      "MSH-9: message type is missing", 1);
  }
  AdtEvent event;
  event.message_control_id = Field(msh, 10);
  if (event.message_control_id.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MSH", 1, 10,
                      "MSH-10: message control id is missing");
  }
  event.sending_application = Field(msh, 3);
  event.sending_facility = Field(msh, 4);
  event.receiving_application = Field(msh, 5);
  event.receiving_facility = Field(msh, 6);
  event.message_time = Field(msh, 7);
  event.version = Field(msh, 12);
  const Segment* evn = message.Find("EVN");
  if (evn != nullptr) event.event_time = Field(*evn, 2);

  if (type != "ADT") {
    return FieldError(ErrorCode::kUnsupportedMessageType, "MSH", 1, 9,
                      "MSH-9: message type is not supported (only ADT)", 1);
  }
  event.trigger = Field(msh, 9, 0, 2);
  if (event.trigger.empty() && evn != nullptr) event.trigger = Field(*evn, 1);
  if (event.trigger.empty()) {
    return FieldError(ErrorCode::kRequiredFieldMissing, "MSH", 1, 9,
                      "MSH-9: trigger event is missing", 2);
  }
  const std::string& t = event.trigger;
  if (t == "A01" || t == "A04" || t == "A08" || t == "A28" || t == "A31") {
    event.action = AdtAction::kRegisterOrUpdate;
  } else if (t == "A40") {
    event.action = AdtAction::kMerge;
  } else if (t == "A37") {
    event.action = AdtAction::kUnlink;
  } else {
    return FieldError(ErrorCode::kUnsupportedEventCode, "MSH", 1, 9,
                      "MSH-9: trigger event is not supported", 2);
  }

  std::vector<const Segment*> pids = message.FindAll("PID");
  if (pids.empty()) {
    Hl7Error error = FieldError(ErrorCode::kSegmentSequenceError, "PID", 1, 0,
                                "PID: patient identification segment is missing");
    return error;
  }
  Hl7Result<AdtPatient> first = ReadPatient(*pids[0], 1);
  if (!first.ok()) return first.error();
  event.patient = std::move(first).value();

  if (event.action == AdtAction::kMerge) {
    // Each PID is followed by its MRG (PD1/PV1 may sit between them).
    const std::vector<Segment>& segments = message.segments();
    int pid_index = 0;
    int mrg_index = 0;
    const Segment* current_pid = nullptr;
    for (const Segment& segment : segments) {
      if (segment.id() == "PID") {
        current_pid = &segment;
        ++pid_index;
      } else if (segment.id() == "MRG") {
        ++mrg_index;
        if (current_pid == nullptr) {
          return FieldError(ErrorCode::kSegmentSequenceError, "MRG", mrg_index, 0,
                            "MRG: merge segment without a preceding PID");
        }
        Hl7Result<AdtPatient> surviving = ReadPatient(*current_pid, pid_index);
        if (!surviving.ok()) return surviving.error();
        AdtMerge merge;
        merge.surviving = std::move(surviving).value();
        merge.prior = ReadCx(segment, 1, 0);
        merge.prior_account = Field(segment, 3);
        if (merge.prior.id.empty()) {
          return FieldError(ErrorCode::kRequiredFieldMissing, "MRG", mrg_index, 1,
                            "MRG-1: prior patient identifier list is missing");
        }
        event.merges.push_back(std::move(merge));
        current_pid = nullptr;
      }
    }
    if (event.merges.empty()) {
      return FieldError(ErrorCode::kSegmentSequenceError, "MRG", 1, 0,
                        "MRG: merge segment is missing");
    }
  } else if (event.action == AdtAction::kUnlink) {
    if (pids.size() < 2) {
      return FieldError(ErrorCode::kSegmentSequenceError, "PID", 2, 0,
                        "PID: unlink needs a second patient identification segment");
    }
    Hl7Result<AdtPatient> other = ReadPatient(*pids[1], 2);
    if (!other.ok()) return other.error();
    event.unlink_other = std::move(other).value();
  }
  return event;
}

}  // namespace hie::hl7
