#pragma once

// Verifies a run of the chain, row by row, as the store returns it (pure: no I/O).
//
// For each row, in the order given, against the expected next sequence s and the expected
// previous hash p (the hash of s - 1, or of the retention horizon):
//   row.sequence > s                        GAP at s (rows deleted)
//   row.sequence < s                        CHAIN_BROKEN at row.sequence (a row inserted or
//                                           duplicated)
//   SHA-256(row.previous_hash || encoding)
//       != row.hash                         HASH_MISMATCH at s (the row was edited)
//   row.previous_hash != p                  CHAIN_BROKEN at s (a row before it was removed,
//                                           replaced or re-hashed)
//   encoding's own sequence != s            CHAIN_BROKEN at s (a row moved: reordered)
// The first failure ends verification; its sequence is the first bad one. An editor who also
// recomputes the edited row's hash is caught at the next row (its previous_hash no longer
// matches); one who re-hashes the whole rest of the chain is caught by the signed checkpoints
// after the edit (core/audit_log.h), and a truncated tail by the checkpoints kept outside the
// database.

#include <cstdint>
#include <string>

#include "services/audit/store/audit_store.h"

namespace hie::audit {

class ChainVerifier {
 public:
  // Verifies from `first_sequence`, whose previous_hash must be `previous_hash`.
  ChainVerifier(int64_t first_sequence, std::string previous_hash)
      : next_(first_sequence), previous_hash_(std::move(previous_hash)) {}

  // Checks one row; false once the chain is broken (later rows are ignored).
  bool Add(const ChainRow& row);
  // Called after the last row: rows must have reached `last_sequence` (GAP otherwise).
  void Finish(int64_t last_sequence);

  bool ok() const { return status_ == v1::VerifyResult::STATUS_VALID; }
  v1::VerifyResult::Status status() const { return status_; }
  int64_t first_bad_sequence() const { return first_bad_; }
  const std::string& detail() const { return detail_; }
  int64_t events_checked() const { return checked_; }
  // The next sequence expected, and the hash of the one before it (the last verified row's).
  int64_t next_sequence() const { return next_; }
  const std::string& last_hash() const { return previous_hash_; }

 private:
  bool Fail(v1::VerifyResult::Status status, int64_t sequence, std::string detail);

  int64_t next_;
  std::string previous_hash_;
  int64_t checked_ = 0;
  v1::VerifyResult::Status status_ = v1::VerifyResult::STATUS_VALID;
  int64_t first_bad_ = 0;
  std::string detail_;
};

// The sequence written inside an encoding (bytes 17..24), or -1 when it is too short.
int64_t EncodedSequence(std::string_view encoding);

}  // namespace hie::audit
