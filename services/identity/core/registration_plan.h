#pragma once

// What a registration decides, as pure functions: facts about the record and its match
// candidates in, a plan out. No store, no matcher, no clock; registration.cc gathers the facts
// inside the transaction and carries the plan out. The rules:
//
//  - Another record of the registering organisation is at most PROBABLE (CapSameOrgMatches): an
//    organisation has one record per patient unless it says otherwise with a source merge.
//  - Candidates are persons, each represented by its best-scoring record; persons the record was
//    declared not-a-match with are left out (CandidatesByPerson).
//  - A record's first version links to the best person when that is CERTAIN and no guard
//    separates the record from another of that person's records (PersonDisagreement: the batch
//    linker's cluster check; registration.cc demotes such a candidate to PROBABLE); otherwise it
//    founds a new person, and each PROBABLE/POSSIBLE person becomes a review question (at most
//    kMaxReviewTasksPerRegistration tasks).
//  - An update never moves a record by itself. An automatically linked record that no longer
//    matches its person with certainty (while the person has other records), or that now
//    matches another person with certainty, becomes one review question.
//  - An update older than the stored version (source event time) goes to history only: nothing
//    is decided and the index keeps the current version.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hie/identity/v1/identity.pb.h"
#include "services/identity/core/matcher.h"

namespace hie::identity {

inline constexpr int kMaxReviewTasksPerRegistration = 3;

// A person the record may belong to, represented by its best-matching record.
struct PersonCandidate {
  std::string person_id;
  const RecordMatch* match = nullptr;  // points into the matches it was ranked from
};

// Caps matches of records of `id`'s organisation at PROBABLE, with a KIND_SAME_SOURCE_ORG guard
// in their explanation.
void CapSameOrgMatches(const hie::common::v1::SourceId& id, std::vector<RecordMatch>* matches);

// The persons of `matches` (best first), each once, at its best record; `links[i]` is the link of
// matches[i] (nullopt: the record has none and is left out); `refused_persons` are left out.
std::vector<PersonCandidate> CandidatesByPerson(
    const std::vector<RecordMatch>& matches,
    const std::vector<std::optional<hie::identity::v1::Link>>& links,
    const std::set<std::string>& refused_persons);

// `others`: a registering record compared with each automatically linked record of the person
// its best candidate belongs to, but that best record. The batch linker lets a record join a
// cluster only when no guard separates it from any member; online, this is the same test
// (without the batch's mean and minimum scores: on the diverse generated population they sent
// twice as many right links to review as wrong ones). Returns the index of the first guarded
// comparison, or -1 when there is none.
int PersonDisagreement(const std::vector<RecordMatch>& others);

// An automatic link (by the matcher, or to a person the record founded) is re-examined on update;
// a manual one is not. The home facts below are needed only for automatic links.
bool IsAutomaticLink(const hie::identity::v1::Link& link);

struct RegistrationFacts {
  bool created = false;  // no version of the record was stored before
  bool stale = false;    // older than the stored version
  std::optional<hie::identity::v1::Link> current_link;  // of a stored record
  std::vector<PersonCandidate> candidates;              // CandidatesByPerson
  // For an automatic current link: how many records its person has, and one of them other than
  // this record (the last the store lists), if any.
  int home_links = 0;
  std::optional<hie::common::v1::SourceId> home_other;
};

enum class RegistrationAction {
  kKeepLink,         // the record stays where it is (or, stale and unlinked, nowhere)
  kLinkToCandidate,  // first version: link to `link_to`'s person
  kNewPerson,        // first version: found a person
};

// A question for a human: is the registered record the same patient as `right`?
struct ReviewQuestion {
  hie::common::v1::SourceId right;
  // Its person, when the candidates say; empty: the question is about the record's own person
  // or a candidate elsewhere, whose current link the store is asked for.
  std::string right_person;
  // The comparison to show; nullptr: compare the two records (the record's own person).
  const RecordMatch* match = nullptr;
};

struct RegistrationPlan {
  RegistrationAction action = RegistrationAction::kKeepLink;
  // UNCHANGED, LINKED or NEW_PERSON; NEW_PERSON becomes REVIEW once a question is asked.
  hie::identity::v1::MatchOutcome outcome = hie::identity::v1::MATCH_OUTCOME_UNCHANGED;
  std::string person_id;  // kKeepLink: the current person ("" if none); kLinkToCandidate: the
                          // candidate's person (merges are followed when it is locked)
  const PersonCandidate* link_to = nullptr;  // kLinkToCandidate
  bool index = false;  // the index gets the request's demographics for the record
  // Asked in order, skipping those whose right record is gone, until max_questions are asked.
  std::vector<ReviewQuestion> questions;
  int max_questions = 0;
};

// `facts.candidates` must outlive the plan (it points into them).
RegistrationPlan PlanRegistration(const RegistrationFacts& facts);

}  // namespace hie::identity
