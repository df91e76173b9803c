#pragma once

// The identity service's port to the matching engine: an in-memory index of the current
// version of every ACTIVE source record, and pairwise scoring with an explanation.
//
// Scores are posterior log2 odds; grades follow MatchExplanation: CERTAIN (auto-link allowed),
// PROBABLE / POSSIBLE (review), and candidates below the review threshold are not returned.
// A hard guard caps a pair at PROBABLE; only a not-a-match decision (which the matcher does not
// know about: the identity rules apply it) makes a pair CERTAINLY_NOT.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hie/identity/v1/identity.pb.h"

namespace hie::identity {

struct RecordMatch {
  hie::common::v1::SourceId source_id;
  double score = 0;
  hie::identity::v1::MatchGrade grade = hie::identity::v1::MATCH_GRADE_UNSPECIFIED;
  hie::identity::v1::MatchExplanation explanation;
};

class Matcher {
 public:
  virtual ~Matcher() = default;

  // Indexed records similar to `query`, best first, at most `limit`, graded POSSIBLE or better.
  // `self` (may be empty) is skipped. Thread-safe with concurrent Match calls.
  virtual std::vector<RecordMatch> Match(const hie::common::v1::SourceId& self,
                                         const hie::common::v1::Demographics& query,
                                         int limit) const = 0;

  // Scores one pair (any grade, CERTAINLY_NOT excluded), with the explanation.
  virtual RecordMatch Compare(const hie::common::v1::SourceId& a_id,
                              const hie::common::v1::Demographics& a,
                              const hie::common::v1::SourceId& b_id,
                              const hie::common::v1::Demographics& b) const = 0;

  // Adds or replaces the indexed version of a record; removes it.
  virtual absl::Status Upsert(const hie::common::v1::SourceId& id,
                              const hie::common::v1::Demographics& demographics) = 0;
  virtual absl::Status Remove(const hie::common::v1::SourceId& id) = 0;
  virtual size_t size() const = 0;

  // Keys that any two records similar enough to match share at least one of: registrations
  // lock them so that two registrations of one new patient are decided one after the other.
  virtual std::vector<std::string> LockKeys(
      const hie::common::v1::Demographics& demographics) const = 0;
};

}  // namespace hie::identity
