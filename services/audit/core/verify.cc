// AuditLog::Verify: the chain over a range, then the checkpoints in it (audit_log.h).

#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/audit/core/audit_log.h"
#include "services/audit/core/chain_verifier.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

// Records a failure unless an earlier one (lower sequence) is already recorded.
void Report(v1::VerifyResult* result, v1::VerifyResult::Status status, int64_t sequence,
            std::string detail) {
  if (result->status() != v1::VerifyResult::STATUS_VALID &&
      result->first_bad_sequence() <= sequence) {
    return;
  }
  result->set_status(status);
  result->set_first_bad_sequence(sequence);
  result->set_detail(std::move(detail));
}

}  // namespace

absl::StatusOr<v1::VerifyResult> AuditLog::Verify(const VerifyOptions& options,
                                                  absl::Time deadline) {
  HIE_ASSIGN_OR_RETURN(ChainHead head, store_->Head(deadline));
  HIE_ASSIGN_OR_RETURN(RetentionHorizon horizon, store_->Horizon(deadline));
  const int64_t from = std::max<int64_t>(options.from_sequence == 0 ? 1 : options.from_sequence,
                                         horizon.first_sequence);
  const int64_t to =
      options.to_sequence == 0 ? head.sequence : std::min(options.to_sequence, head.sequence);
  if (from > head.sequence && head.sequence > 0) {
    return absl::OutOfRangeError(
        absl::StrCat("from_sequence: ", from, " is beyond the head (", head.sequence, ")"));
  }
  v1::VerifyResult result;
  result.set_status(v1::VerifyResult::STATUS_VALID);
  result.set_from_sequence(from);
  result.set_to_sequence(to);
  SetTimestamp(options_.now(), result.mutable_verify_time());

  // Checkpoints to check, so the scan can keep the chain's hash at their sequences.
  std::vector<v1::Checkpoint> checkpoints;
  if (!options.skip_checkpoints) {
    HIE_ASSIGN_OR_RETURN(checkpoints, store_->CheckpointsIn(from, to, deadline));
    if (archive_ != nullptr) {
      HIE_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> archived, archive_->In(from, to));
      checkpoints.insert(checkpoints.end(), archived.begin(), archived.end());
    }
  }
  std::map<int64_t, std::string> hashes;  // sequence -> chain hash, at checkpoint sequences
  for (const auto& c : checkpoints) hashes[c.sequence()];

  std::optional<ChainVerifier> verifier;
  if (from == horizon.first_sequence) verifier.emplace(from, horizon.previous_hash);
  bool seed_missing = false;
  if (to >= from) {
    int64_t scan_from = verifier ? from : from - 1;
    bool broken = false;
    absl::Status scan = store_->ScanChain(scan_from, to, deadline, [&](const ChainRow& row) {
      if (!verifier) {  // the row before the range seeds the previous hash
        if (row.sequence != from - 1) seed_missing = true;
        verifier.emplace(from, row.hash);
        if (row.sequence == from - 1) return absl::OkStatus();
      }
      if (!verifier->Add(row)) {
        broken = true;
        return absl::CancelledError("chain broken");
      }
      if (auto it = hashes.find(row.sequence); it != hashes.end()) it->second = row.hash;
      return absl::OkStatus();
    });
    if (!scan.ok() && !broken) return scan;
  }
  if (!verifier) verifier.emplace(from, "");
  if (seed_missing) {
    Report(&result, v1::VerifyResult::STATUS_GAP, from - 1,
           absl::StrCat("sequence ", from - 1, " (before the range) is missing"));
  }
  verifier->Finish(to);
  result.set_events_checked(verifier->events_checked());
  if (!verifier->ok()) {
    Report(&result, verifier->status(), verifier->first_bad_sequence(), verifier->detail());
  }
  if (!options.skip_checkpoints) {
    // Hashes the scan could not vouch for (at or after a break) are not compared.
    const int64_t verified_to = verifier->next_sequence() - 1;
    HIE_RETURN_IF_ERROR(CheckCheckpoints(checkpoints, verified_to, hashes, &result, deadline));
    if (archive_ != nullptr && to == head.sequence) {
      HIE_ASSIGN_OR_RETURN(std::optional<v1::Checkpoint> latest, archive_->Latest());
      if (latest && latest->sequence() > head.sequence) {
        Report(&result, v1::VerifyResult::STATUS_GAP, head.sequence + 1,
               absl::StrCat("the chain ends at ", head.sequence,
                            " but a checkpoint kept outside the database signs sequence ",
                            latest->sequence(), " (events cut from the tail)"));
      }
    }
  }
  return result;
}

absl::Status AuditLog::CheckCheckpoints(const std::vector<v1::Checkpoint>& checkpoints,
                                        int64_t verified_to,
                                        const std::map<int64_t, std::string>& hashes,
                                        v1::VerifyResult* result, absl::Time deadline) {
  // Keys kept outside the database win: the database's could have been rewritten with the rows.
  std::map<std::string, std::string> keys;
  HIE_ASSIGN_OR_RETURN(std::vector<v1::SigningKey> stored, store_->ListSigningKeys(deadline));
  for (const auto& k : stored) keys[k.key_id()] = k.public_key_pem();
  if (archive_ != nullptr) {
    HIE_ASSIGN_OR_RETURN(std::vector<v1::SigningKey> archived, archive_->Keys());
    for (const auto& k : archived) keys[k.key_id()] = k.public_key_pem();
  }
  int64_t checked = 0;
  for (const v1::Checkpoint& c : checkpoints) {
    if (c.sequence() > verified_to) continue;  // the chain broke before it: reported already
    ++checked;
    auto key = keys.find(c.key_id());
    if (key == keys.end()) {
      Report(result, v1::VerifyResult::STATUS_CHECKPOINT_INVALID, c.sequence(),
             absl::StrCat("checkpoint ", c.sequence(), " is signed by unknown key ", c.key_id()));
      continue;
    }
    std::string message =
        EncodeCheckpoint(c.sequence(), c.head_hash(),
                         absl::FromUnixNanos(TimestampNanos(c.create_time())), c.key_id());
    absl::StatusOr<bool> valid = VerifySignature(key->second, message, c.signature());
    if (!valid.ok() || !*valid) {
      Report(result, v1::VerifyResult::STATUS_CHECKPOINT_INVALID, c.sequence(),
             absl::StrCat("checkpoint ", c.sequence(), ": signature does not verify"));
      continue;
    }
    auto hash = hashes.find(c.sequence());
    if (hash == hashes.end() || hash->second != c.head_hash()) {
      Report(result, v1::VerifyResult::STATUS_CHECKPOINT_INVALID, c.sequence(),
             absl::StrCat("checkpoint ", c.sequence(),
                          " signs a head hash the chain does not have (rewritten)"));
    }
  }
  result->set_checkpoints_checked(checked);
  return absl::OkStatus();
}

}  // namespace hie::audit
