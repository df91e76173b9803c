#pragma once

// Applies HL7 v2 ADT messages received over MLLP to the identity rules, and answers each with
// an ACK. This is the MllpHandler of the identity service's HL7 listener.
//
//   A01 A04 A08 A28 A31  RegisterSourceRecord of the PID patient
//   A40                  for each PID/MRG group: register the surviving patient, then
//                        MergeSourceRecords(survivor, MRG-1 prior id); an unknown prior id has
//                        nothing to supersede and is not an error
//   A37                  the two records are no longer one patient: when both are linked to the
//                        same person, the second is unlinked (with a not-a-match decision);
//                        otherwise nothing changes
//
// Identity of the sender: the organisation is the verified certificate's subject O (never
// MSH-4); only certificates with role `member` may feed (core/authorization.h, the same rules
// as gRPC). Source ids are (org, PID-3 MRN).
//
// Durability and retries: the operations commit before this returns, and the ACK is written
// only after it returns. Every operation's idempotency key derives from (org, MSH-10), so a
// message resent after a lost ACK is applied once and acknowledged the same way.
// Ordering: the record's source event time is EVN-2, else MSH-7; an update older than the stored
// version goes into history only.
//
// Outcomes (hl7/ack.h has the whole mapping): AA applied, with a warning ERR segment (severity W)
// for each identifier the service normalised away (the patient is registered without it); AE the
// message's own fault (ERR names the field, e.g. PID-7, or text not valid in the MSH-18 character
// set); AR a message the hub will not accept (unparseable, unsupported type or event, wrong role,
// an internal error); no ACK (connection closed, the sender resends) for transient server-side
// failures (database unavailable, read-only, out of resources, timeout).

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "services/identity/core/identity_manager.h"
#include "services/identity/hl7/adt.h"
#include "services/identity/hl7/mllp_server.h"

namespace hie::identity {

// The demographics of an ADT patient (pure; exposed for tests).
hie::common::v1::Demographics DemographicsOf(const hl7::AdtPatient& patient);

class Hl7Feed {
 public:
  // `manager` and `clock` must outlive the feed. Each message gets `timeout` to be applied.
  Hl7Feed(IdentityManager* manager, const Clock* clock,
          absl::Duration timeout = absl::Seconds(10));

  // Thread-safe; called once per MLLP frame.
  std::string Handle(const hl7::MllpPeer& peer, std::string_view message);

 private:
  // Applies `event`; identifiers the service dropped become `warnings` for the ACK.
  absl::Status Apply(const hl7::MllpPeer& peer, const hie::common::v1::Actor& actor,
                     const hl7::AdtEvent& event, std::vector<hl7::Hl7Error>* warnings);

  IdentityManager* manager_;
  const Clock* clock_;
  absl::Duration timeout_;
  std::atomic<uint64_t> ack_counter_{0};
};

}  // namespace hie::identity
