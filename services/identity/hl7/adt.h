#pragma once

// Pure mapping of a parsed HL7 v2 ADT message to an AdtEvent for the master patient index.
//
// Supported triggers (MSH-9.2; EVN-1 when MSH-9.2 is empty):
//   A01 A04 A08 A28 A31  register or update a patient      -> AdtAction::kRegisterOrUpdate
//   A40                  merge patient identifier list     -> AdtAction::kMerge
//   A37                  unlink patient information        -> AdtAction::kUnlink
// Anything else is an Hl7Error: 200 when MSH-9.1 is not "ADT", 201 for another ADT event.
// Whether such a message is acknowledged AR or AE is the caller's decision (DefaultAckCode in
// ack.h suggests AR).
//
// Required (error 101 naming the field): MSH-9, MSH-10, PID (segment) and PID-3 with a
// non-empty ID, PID-5 family or given name. A birth date or date of death that is not a valid
// TS is error 102 naming PID-7 / PID-29; so is a present EVN-2 or MSH-7 that is not a valid TS.
// Error texts never carry values.
//
// Text: every value is read with Segment::GetText (message.h): decoded from the character set
// MSH-18 declares. An unsupported MSH-18 is error 103 naming MSH-18; a value with bytes that are
// invalid in the character set, a control character, a malformed \X escape or an unsupported
// \C / any \M escape is error 102 located at the field (segment and occurrence, field,
// repetition, component). Every field the mapping reads is checked, returned or not.
// DefaultAckCode (ack.h) answers AE for 101, 102 and 103.
//
// Contract: every string in an AdtEvent (and in its patients, identifiers and addresses) is
// valid UTF-8 with no control character (C0 including tab, DEL, C1), unescaped and trimmed of
// surrounding ASCII spaces; absent values are "".
//
// Cost: linear in the message (parse and map a 1 MiB message in well under 100 ms of CPU).
// The first error found is returned.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "services/identity/hl7/message.h"

namespace hie::hl7 {

enum class AdtAction { kRegisterOrUpdate, kMerge, kUnlink };

// A CX identifier (PID-3, MRG-1).
struct PatientIdentifier {
  std::string id;                   // CX-1
  std::string assigning_authority;  // CX-4: HD namespace id, else its universal id
  std::string type_code;            // CX-5 (table 0203): "MR", "SS", "AN", ...
  int repetition = 1;               // which repetition of its field (1-based), for locating it
};

enum class DatePrecision { kNone, kYear, kMonth, kDay };

struct PostalAddress {            // PID-11, first repetition (XAD)
  std::string street;             // XAD-1 (SAD: street or mailing address [+ street name])
  std::string other_designation;  // XAD-2
  std::string city;               // XAD-3
  std::string state;              // XAD-4
  std::string zip;                // XAD-5
  std::string country;            // XAD-6
};

struct AdtPatient {
  int pid_occurrence = 1;  // which PID segment of the message (1-based), for locating errors
  // The PID-3 repetition that is the MRN: the first typed "MR", else the first with an id.
  PatientIdentifier local_id;
  std::vector<PatientIdentifier> identifiers;  // every PID-3 repetition with an id
  std::string family;                          // PID-5.1 (FN.1 surname), first repetition
  std::string given;                           // PID-5.2
  std::string middle;                          // PID-5.3
  std::string sex;                             // PID-8 (table 0001: F, M, U, ...)
  // PID-7 normalised to "YYYY-MM-DD"; "YYYY-MM" or "YYYY" when the TS has less precision, in
  // which case birth_date_precision says so (kNone when PID-7 is empty).
  std::string birth_date;
  DatePrecision birth_date_precision = DatePrecision::kNone;
  PostalAddress address;
  // XTN: the old-style XTN-1 when set, else XTN-6 area code + XTN-7 local number
  // (+ "x" XTN-8 extension). First repetition that has a number.
  std::string home_phone;        // PID-13
  std::string business_phone;    // PID-14
  std::string email;             // the first XTN-4 of PID-13/PID-14 that contains an '@'
  std::string ssn;               // PID-19, else a PID-3 identifier typed "SS"
  int ssn_repetition = 0;        // the PID-3 repetition the ssn came from; 0: PID-19 (or none)
  std::string death_date;        // PID-29 as "YYYY-MM-DD" (or less precise), "" when absent
  std::optional<bool> deceased;  // PID-30 "Y"/"N"; nullopt when absent or another value
};

// One A40 group: the surviving patient (PID) and the prior identifier merged into it (MRG-1).
struct AdtMerge {
  AdtPatient surviving;
  PatientIdentifier prior;    // MRG-1 (prior patient identifier list, first repetition)
  std::string prior_account;  // MRG-3 (prior account number), if sent
};

struct AdtEvent {
  std::string trigger;  // "A01", "A40", ...
  AdtAction action = AdtAction::kRegisterOrUpdate;
  std::string message_control_id;     // MSH-10
  std::string sending_application;    // MSH-3.1
  std::string sending_facility;       // MSH-4.1
  std::string receiving_application;  // MSH-5.1
  std::string receiving_facility;     // MSH-6.1
  std::string message_time;           // MSH-7 as sent (TS)
  std::string event_time;             // EVN-2 as sent, "" when absent
  // When the change happened at the source: EVN-2 (recorded date/time) when present, else MSH-7
  // (the message's date/time), parsed with ParseTsTime; nullopt when both are empty. Give it to
  // the store as the record's source event time, so that an older update cannot overwrite a
  // newer one. A TS without a UTC offset is taken as UTC.
  std::optional<absl::Time> effective_time;
  std::string version;  // MSH-12.1
  // The (first) patient. For A40, the surviving patient of the first group; for A37, the
  // first of the two patients to unlink.
  AdtPatient patient;
  std::vector<AdtMerge> merges;            // A40 only: every PID/MRG group, in order
  std::optional<AdtPatient> unlink_other;  // A37 only: the second PID (required)
};

// Maps `message` to an event, or the first error found.
[[nodiscard]] Hl7Result<AdtEvent> MapAdt(const Message& message);

// Calls `visit` with every string of `event` (patients, identifiers, addresses, merges and the
// unlinked patient included) and a name for it such as "merges[2].prior.id". For checks of the
// text contract (tests, the fuzz target); keep it in step with the structs above.
void ForEachText(
    const AdtEvent& event,
    const std::function<void(const std::string& name, const std::string& value)>& visit);

// Normalises a TS/DTM value to "YYYY[-MM[-DD]]", validating the whole value (time of day,
// fraction and UTC offset included). nullopt when it is not a valid TS. Exposed for tests.
struct NormalisedDate {
  std::string date;
  DatePrecision precision = DatePrecision::kNone;
};
std::optional<NormalisedDate> NormaliseTsDate(std::string_view ts);

// Parses a full TS/DTM value, YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], to an instant: the
// start of the stated precision ("2024" is 2024-01-01T00:00:00), minus the UTC offset when one
// is given and as UTC when none is (HL7 would mean the sender's local time, which the hub does
// not know). The fraction (1 to 4 digits) needs the seconds; offsets run to +/-14:59. nullopt
// when the value is not a valid TS (the same rules as NormaliseTsDate). Exposed for tests.
std::optional<absl::Time> ParseTsTime(std::string_view ts);

}  // namespace hie::hl7
