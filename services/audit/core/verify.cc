// AuditLog::Verify: the chain over a range, then the checkpoints in it (audit_log.h).

#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/audit/core/audit_log.h"
#include "services/audit/core/canonical.h"
#include "services/audit/core/chain_verifier.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

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

// One chunk of a verification: rows [from, to], seeded by the horizon's hash or by the stored
// row from - 1 (read as the chunk's first row; the chunk before verified it).
struct ChunkCheck {
  int64_t from = 0;
  int64_t to = 0;
  std::optional<std::string> seed;        // set: the previous hash is known (the horizon)
  std::map<int64_t, std::string> hashes;  // wanted sequence -> hash seen (checkpoint sequences)
  std::optional<ChainVerifier> verifier;
  bool seed_missing = false;
  absl::Status scan_status;

  void Run(AuditStore* store, absl::Time deadline) {
    if (seed) verifier.emplace(from, *seed);
    bool broken = false;
    absl::Status scan =
        store->ScanChain(verifier ? from : from - 1, to, deadline, [&](const ChainRow& row) {
          if (!verifier) {
            seed_missing = row.sequence != from - 1;
            verifier.emplace(from, row.hash);
            if (!seed_missing) return absl::OkStatus();
          }
          if (!verifier->Add(row)) {
            broken = true;
            return absl::CancelledError("chain broken");
          }
          if (auto it = hashes.find(row.sequence); it != hashes.end()) it->second = row.hash;
          return absl::OkStatus();
        });
    if (!verifier) verifier.emplace(from, "");
    if (!scan.ok() && !broken) scan_status = scan;
    if (scan_status.ok() && !seed_missing) verifier->Finish(to);
  }
};

// [from, to] in `parallelism` chunks (one when shorter than `min_events`).
std::vector<ChunkCheck> SplitRange(int64_t from, int64_t to, const RetentionHorizon& horizon,
                                   int parallelism, int64_t min_events) {
  std::vector<ChunkCheck> chunks;
  if (to < from) return chunks;
  const int64_t n = to - from + 1;
  const int64_t parts = n < min_events ? 1 : std::clamp<int64_t>(parallelism, 1, n);
  for (int64_t i = 0; i < parts; ++i) {
    ChunkCheck c;
    c.from = from + n * i / parts;
    c.to = from + n * (i + 1) / parts - 1;
    if (c.from == horizon.first_sequence) c.seed = horizon.previous_hash;
    chunks.push_back(std::move(c));
  }
  return chunks;
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

  // The range in chunks verified at once, each on its own connection (scanning is what Verify
  // spends its time on); the first failure in sequence order is the answer.
  std::vector<ChunkCheck> chunks = SplitRange(from, to, horizon, options_.verify_parallelism,
                                              options_.verify_parallel_min_events);
  for (ChunkCheck& chunk : chunks) {
    for (auto it = hashes.lower_bound(chunk.from); it != hashes.end() && it->first <= chunk.to;
         ++it) {
      chunk.hashes[it->first];
    }
  }
  std::vector<std::thread> threads;
  for (size_t i = 1; i < chunks.size(); ++i) {
    threads.emplace_back([&, i] { chunks[i].Run(store_, deadline); });
  }
  if (!chunks.empty()) chunks[0].Run(store_, deadline);
  for (auto& t : threads) t.join();
  int64_t verified_to = from - 1;
  int64_t checked = 0;
  for (ChunkCheck& chunk : chunks) {
    HIE_RETURN_IF_ERROR(chunk.scan_status);
    checked += chunk.verifier->events_checked();
    for (auto& [sequence, hash] : hashes) {
      if (auto it = chunk.hashes.find(sequence); it != chunk.hashes.end()) hash = it->second;
    }
    if (chunk.seed_missing) {
      Report(&result, v1::VerifyResult::STATUS_GAP, chunk.from - 1,
             absl::StrCat("sequence ", chunk.from - 1, " (before the range) is missing"));
      break;
    }
    verified_to = chunk.verifier->next_sequence() - 1;
    if (!chunk.verifier->ok()) {
      Report(&result, chunk.verifier->status(), chunk.verifier->first_bad_sequence(),
             chunk.verifier->detail());
      break;
    }
  }
  result.set_events_checked(checked);
  if (!options.skip_checkpoints) {
    // Hashes the scan could not vouch for (at or after a break) are not compared.
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
