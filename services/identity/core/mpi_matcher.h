#pragma once

// Matcher backed by the mpi/ engine (hie::mpi::MatchIndex), in process.

#include <memory>

#include "hie/mpi/match_index.h"
#include "hie/mpi/nicknames.h"
#include "services/identity/core/matcher.h"

namespace hie::identity {

// The engine's view of a record: the demographics mapped onto hie::mpi::Record. The first
// address, phone and e-mail are used; the SSN comes from an identifier of type NATIONAL_ID or
// system urn:oid:2.16.840.1.113883.4.1.
hie::mpi::Record ToEngineRecord(const hie::common::v1::SourceId& id,
                                const hie::common::v1::Demographics& d);

class MpiMatcher : public Matcher {
 public:
  // `nicknames` must outlive the matcher.
  MpiMatcher(const hie::mpi::ModelParams& params, const hie::mpi::NicknameTable* nicknames,
             hie::mpi::MatchIndexOptions options = {});

  // Prepare normalises the record once (hie::mpi::MatchIndex::Normalize); the methods taking a
  // PreparedRecord accept only records this matcher prepared.
  std::shared_ptr<const PreparedRecord> Prepare(
      const hie::common::v1::SourceId& id,
      const hie::common::v1::Demographics& demographics) const override;
  std::vector<RecordMatch> Match(const PreparedRecord& query, int limit) const override;
  RecordMatch Compare(const PreparedRecord& a, const PreparedRecord& b) const override;
  std::optional<RecordMatch> CompareIndexed(const PreparedRecord& a,
                                            const hie::common::v1::SourceId& b) const override;
  absl::Status Upsert(const PreparedRecord& record) override;
  absl::Status Remove(const hie::common::v1::SourceId& id) override;
  size_t size() const override { return index_.size(); }
  std::vector<std::string> LockKeys(const PreparedRecord& record) const override;
  // The Demographics overloads (Prepare, then the above).
  using Matcher::Compare;
  using Matcher::LockKeys;
  using Matcher::Match;
  using Matcher::Upsert;

  // What explanations report as model_version: the engine's scoring ("mpi-fs-1") and its
  // parameters, "default" (the engine's untrained ones) or "params-" and 8 hex digits of a
  // hash of their text form, so that an operator can tell which trained file scored a pair.
  const std::string& model_version() const { return model_version_; }

 private:
  hie::identity::v1::MatchExplanation ToProto(const hie::mpi::Explanation& e, double score,
                                              hie::identity::v1::MatchGrade grade) const;
  hie::identity::v1::MatchGrade GradeOf(double score, hie::mpi::Decision decision) const;
  // Compare's work on two normalised records; `b_id` is b's.
  RecordMatch CompareNormalized(const hie::mpi::NormalizedRecord& a,
                                const hie::mpi::NormalizedRecord& b,
                                const hie::common::v1::SourceId& b_id) const;

  std::string model_version_;
  hie::mpi::MatchIndexOptions options_;
  hie::mpi::Model model_;
  hie::mpi::MatchIndex index_;
};

}  // namespace hie::identity
