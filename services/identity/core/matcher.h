#pragma once

// The identity service's port to the matching engine: an in-memory index of the current
// version of every ACTIVE source record, and pairwise scoring with an explanation.
//
// Scores are posterior log2 odds; grades follow MatchExplanation: CERTAIN (auto-link allowed),
// PROBABLE / POSSIBLE (review), and candidates below the review threshold are not returned.
// A hard guard caps a pair at PROBABLE; only a not-a-match decision (which the matcher does not
// know about: the identity rules apply it) makes a pair CERTAINLY_NOT.

#include <memory>
#include <optional>
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

// A record made ready for matching by Matcher::Prepare (for the mpi engine: normalised), so
// that the steps of one registration (LockKeys, Match, Compare, Upsert, and Match again when
// the store retries the transaction) do not each redo that work. Opaque: only the Matcher that
// prepared it can read it; giving it to another is a programming error. Immutable, so it may be
// shared between threads.
class PreparedRecord {
 public:
  virtual ~PreparedRecord() = default;

 protected:
  PreparedRecord() = default;
};

class Matcher {
 public:
  virtual ~Matcher() = default;

  // `demographics` of the record `id` (may be empty: a query that is no record) made ready for
  // the methods below. Thread-safe.
  virtual std::shared_ptr<const PreparedRecord> Prepare(
      const hie::common::v1::SourceId& id,
      const hie::common::v1::Demographics& demographics) const = 0;

  // Indexed records similar to `query`, best first, at most `limit`, graded POSSIBLE or better.
  // The query's own record (if its id is not empty) is skipped. Thread-safe with concurrent
  // Match calls.
  virtual std::vector<RecordMatch> Match(const PreparedRecord& query, int limit) const = 0;

  // Scores one pair (any grade, CERTAINLY_NOT excluded), with the explanation; source_id is b's.
  virtual RecordMatch Compare(const PreparedRecord& a, const PreparedRecord& b) const = 0;
  // Compare against the indexed version of `b` (the same answer as Compare with b prepared from
  // that version), without reading or preparing b again; nullopt when b is not indexed.
  // Thread-safe with concurrent Match calls.
  virtual std::optional<RecordMatch> CompareIndexed(const PreparedRecord& a,
                                                    const hie::common::v1::SourceId& b) const = 0;

  // Adds or replaces the indexed version of a record (under the id it was prepared with);
  // removes it.
  virtual absl::Status Upsert(const PreparedRecord& record) = 0;
  virtual absl::Status Remove(const hie::common::v1::SourceId& id) = 0;
  virtual size_t size() const = 0;

  // Keys that any two records similar enough to match share at least one of: registrations
  // lock them so that two registrations of one new patient are decided one after the other.
  // They do not depend on the record's id.
  virtual std::vector<std::string> LockKeys(const PreparedRecord& record) const = 0;

  // The same for demographics prepared by the call itself (Prepare, then the method above):
  // for a record used once. `self` may be empty.
  std::vector<RecordMatch> Match(const hie::common::v1::SourceId& self,
                                 const hie::common::v1::Demographics& query, int limit) const {
    return Match(*Prepare(self, query), limit);
  }
  RecordMatch Compare(const hie::common::v1::SourceId& a_id, const hie::common::v1::Demographics& a,
                      const hie::common::v1::SourceId& b_id,
                      const hie::common::v1::Demographics& b) const {
    return Compare(*Prepare(a_id, a), *Prepare(b_id, b));
  }
  absl::Status Upsert(const hie::common::v1::SourceId& id,
                      const hie::common::v1::Demographics& demographics) {
    return Upsert(*Prepare(id, demographics));
  }
  std::vector<std::string> LockKeys(const hie::common::v1::Demographics& demographics) const {
    return LockKeys(*Prepare(hie::common::v1::SourceId(), demographics));
  }
};

}  // namespace hie::identity
