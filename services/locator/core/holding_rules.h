#pragma once

// The rules of a holding: what each piece of evidence (a report, an identity event, a registry
// change) and each removal does to what the locator knows of one source record. Pure; the
// use cases (locator_operations.h) read holdings, apply these, and write them back.
//
//  - Evidence merges: data categories are added (never removed), last activity only moves
//    forward, first seen only backward, origins accumulate. Every step is commutative and
//    idempotent, so a replayed or reordered feed changes nothing more. Document counts are
//    deltas the callers compute exactly once (document marks, idempotency keys).
//  - A holding is listed (appears in answers) when it is not removed and an identity record,
//    a document or an administrator's report stands behind it; one with none of these
//    disappears from answers (it stays stored).
//  - Removal leaves a tombstone (reason code, note, time, who). REMOVAL_REASON_PATIENT_REQUEST
//    is final: evidence still keeps the counts exact, but nothing lists the holding again.
//    REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS is lifted by evidence that the member holds data
//    (`asserts_holding`) from after the removal: learnt after the removal's time and, from a
//    feed, at a position beyond where that feed stood when the holding was removed (so neither
//    a replay nor a clock running ahead elsewhere lifts it with older evidence; a clock running
//    behind can only keep it removed, which the member's next report mends). A replay of older
//    evidence leaves it removed.
//  - At most kMaxHoldingCategories categories are kept (the first in (system, code) order).

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hie/identity/v1/identity.pb.h"
#include "hie/registry/v1/registry.pb.h"
#include "services/locator/store/locator_store.h"

namespace hie::locator {

inline constexpr size_t kMaxHoldingCategories = 64;

// What one piece of evidence says about one source record.
struct Evidence {
  v1::LocationOrigin origin = v1::LOCATION_ORIGIN_UNSPECIFIED;
  std::vector<common::v1::Coding> categories;  // to add
  std::optional<absl::Time> activity_time;     // last activity advances to it
  absl::Time learnt_time;                      // when the hub learnt it
  bool asserts_holding = true;                 // the member holds data (now)
  // Where it came from in a followed feed (neither: a report).
  std::optional<int64_t> identity_sequence;
  std::optional<std::pair<int64_t, std::string>> registry_position;
  std::optional<bool> identity_record;         // identity's record is current / gone
  int64_t registry_documents_delta = 0;
  int64_t reported_documents_delta = 0;
  bool admin_asserted = false;
};

enum class Applied {
  kApplied,
  kRemoved,         // the holding stays removed (counts were still kept exact)
  kPatientRemoved,  // ... and removed at the patient's request
};

// A new, empty holding of `id`.
Holding NewHolding(const common::v1::SourceId& id);

// Applies `e` to `h`, updating h->listed.
Applied ApplyEvidence(const Evidence& e, Holding* h);

struct Removal {
  v1::RemovalReason reason_code = v1::REMOVAL_REASON_UNSPECIFIED;
  std::string reason;
  absl::Time time;
  common::v1::Actor by;
  // Where the followed feeds stood (applied through) when it was removed.
  int64_t identity_position = 0;
  std::pair<int64_t, std::string> registry_position;
};

// Removes `h` (`known`: it was stored before). NOT_FOUND when there is nothing to remove: the
// holding is unknown or not listed (for a patient's request an unknown or unlisted holding
// still gets its tombstone, so a feed arriving later cannot create it), or it is already
// removed (a member's removal may still be raised to a patient's request, never lowered).
absl::Status ApplyRemoval(const Removal& r, bool known, Holding* h);

bool ListedNow(const Holding& h);

// The holding as answered: document_count filled in.
v1::RecordLocation Answer(const Holding& h);

// What an identity event says, per source record (with its sequence): a first or new version
// is a current
// identity record (activity at the event time); a record superseded by its source (ADT A40,
// the first source id) no longer is. Other events say nothing here (persons do not matter).
std::vector<std::pair<common::v1::SourceId, Evidence>> EvidenceOf(
    const hie::identity::v1::IdentityEvent& event);

// What a registry change says about its patient's record, given whether the entry counted
// before (nullopt: never seen); the caller sets its registry_position. Sets *counts_now. A first
// sight of an APPROVED entry is a publication (its categories, activity at its service stop, else
// creation time, learnt at its submission time); a deprecation only lowers the count.
Evidence EvidenceOf(const hie::registry::v1::DocumentEntry& entry, std::optional<bool> counted,
                    bool* counts_now);

}  // namespace hie::locator
