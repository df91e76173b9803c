#include "services/audit/core/chain_verifier.h"

#include "absl/strings/str_cat.h"

namespace hie::audit {

int64_t EncodedSequence(std::string_view encoding) {
  constexpr size_t kOffset = 17;  // 16 bytes of magic, 1 of version
  if (encoding.size() < kOffset + 8) return -1;
  uint64_t v = 0;
  for (size_t i = kOffset; i < kOffset + 8; ++i) v = (v << 8) | static_cast<uint8_t>(encoding[i]);
  return static_cast<int64_t>(v);
}

bool ChainVerifier::Fail(v1::VerifyResult::Status status, int64_t sequence, std::string detail) {
  status_ = status;
  first_bad_ = sequence;
  detail_ = std::move(detail);
  return false;
}

bool ChainVerifier::Add(const ChainRow& row) {
  if (!ok()) return false;
  if (row.sequence > next_) {
    return Fail(
        v1::VerifyResult::STATUS_GAP, next_,
        absl::StrCat("sequence ", next_, " is missing (the next stored is ", row.sequence, ")"));
  }
  if (row.sequence < next_) {
    return Fail(v1::VerifyResult::STATUS_CHAIN_BROKEN, row.sequence,
                absl::StrCat("sequence ", row.sequence, " is stored more than once"));
  }
  if (ChainHash(row.previous_hash, row.encoding) != row.hash) {
    return Fail(v1::VerifyResult::STATUS_HASH_MISMATCH, next_,
                absl::StrCat("event ", next_, " does not hash to its stored hash (altered)"));
  }
  if (row.previous_hash != previous_hash_) {
    return Fail(v1::VerifyResult::STATUS_CHAIN_BROKEN, next_,
                absl::StrCat("event ", next_,
                             " does not follow the event before it (previous_hash differs)"));
  }
  if (EncodedSequence(row.encoding) != next_) {
    return Fail(v1::VerifyResult::STATUS_CHAIN_BROKEN, next_,
                absl::StrCat("the event stored at ", next_, " was written as sequence ",
                             EncodedSequence(row.encoding), " (moved)"));
  }
  previous_hash_ = row.hash;
  ++next_;
  ++checked_;
  return true;
}

void ChainVerifier::Finish(int64_t last_sequence) {
  if (ok() && next_ <= last_sequence) {
    Fail(v1::VerifyResult::STATUS_GAP, next_,
         absl::StrCat("events ", next_, "..", last_sequence, " are missing"));
  }
}

}  // namespace hie::audit
