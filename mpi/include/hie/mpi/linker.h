#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "hie/mpi/model.h"
#include "hie/mpi/normalize.h"

namespace hie::mpi {

// Batch record linkage: blocking -> unsupervised estimation (u from random pairs, m and lambda
// by EM over the candidate pairs) -> scoring on several threads -> clustering.

struct BlockingStats {
  int64_t keys = 0;
  int64_t blocks = 0;
  int64_t oversized_blocks = 0;     // blocks skipped because larger than max_block_size
  int64_t oversized_records = 0;    // record-key entries in skipped blocks
  int64_t candidate_pairs = 0;      // distinct pairs after deduplication
  std::array<int64_t, 16> pairs_by_kind{};  // pairs each key kind produced (before dedup)
};

// All distinct pairs (i < j, encoded (i << 32) | j, sorted) that share a block key, skipping
// blocks larger than `max_block_size`. Blocks of more than 16 records are not compared all
// against all: each record meets its 8 neighbours in given-name/birth-date order (5 for the
// broad key kinds 12 and 14). With `source` non-null only pairs whose sources differ
// are produced (linkage across files).
std::vector<uint64_t> CandidatePairs(const std::vector<NormalizedRecord>& records,
                                     const std::vector<uint8_t>* source, int max_block_size,
                                     BlockingStats* stats, int threads = 1);

struct TrainOptions {
  int64_t random_pairs = 100'000;  // pairs sampled for u
  int64_t max_em_pairs = 250'000;  // candidate pairs sampled for EM
  uint64_t seed = 42;
  int threads = 2;
  EmOptions em;
};
struct TrainResult {
  ModelParams params;
  EmResult em;
};

// Estimates the model from unlabelled data: u from random pairs (across sources when `source`
// is given), then m and lambda by EM over `candidates`. `records` must be TF-annotated.
TrainResult Train(const std::vector<NormalizedRecord>& records,
                  const std::vector<uint8_t>* source, const std::vector<uint64_t>& candidates,
                  const TrainOptions& options);

// Convenience for callers without their own candidate pairs (e.g. to build a MatchIndex):
// annotates term frequencies, blocks and trains on `records`.
TrainResult TrainOnRecords(std::vector<NormalizedRecord>* records, const TrainOptions& options,
                           int max_block_size = 1000);

// Sets every record's term frequencies from the records themselves.
void AnnotateFrequencies(std::vector<NormalizedRecord>* records);

enum class LinkMode : uint8_t {
  kDedupe,  // find duplicates among all records
  kLink,    // link records across sources only (each source assumed free of duplicates)
};

struct LinkOptions {
  LinkMode mode = LinkMode::kDedupe;
  // kLink only: each record links to at most one record of another source (best scores first).
  bool one_to_one = true;
  Thresholds thresholds;
  // Two clusters merge only if no cross pair triggers a guard, the mean score over all their
  // cross pairs reaches cluster_mean_threshold and the weakest reaches cluster_min_threshold
  // (resists chaining through one weak link). A sparse record never joins two clusters that
  // each hold an informative record, and one that cannot tell two such clusters apart (links
  // within thresholds.margin) stays alone, its pairs in review (see Link in linker.cc).
  double cluster_mean_threshold = 0.0;
  double cluster_min_threshold = -10.0;
  int max_block_size = 5000;
  int threads = 2;
  TrainOptions train;
  bool keep_candidates = false;
  // Called with a stage name and a fraction done in [0, 1]; may be empty.
  std::function<void(std::string_view stage, double fraction)> progress;
};

struct ScoredPair {
  uint32_t a;
  uint32_t b;
  float score;
  uint32_t guards;
};

struct LinkResult {
  std::vector<uint32_t> cluster;  // per record: dense cluster id
  ModelParams params;
  EmResult em;
  BlockingStats blocking;
  int64_t auto_link_pairs = 0;     // pairs at or above the auto-link threshold without guards
  int64_t guarded_pairs = 0;       // pairs above auto-link that a guard stopped
  int64_t rejected_merges = 0;     // cluster merges refused by the cluster-level check
  // Sparse records (at most one of birth date, address, phone, SSN, e-mail) left alone because
  // they link about as strongly to another person's cluster as to their own; their pairs are in
  // `review`.
  int64_t ambiguous_records = 0;
  // Pairs for clerical review: those Decide sends there (the review band without a guard, one
  // guard above auto-link) and the links of the ambiguous sparse records.
  std::vector<ScoredPair> review;
  std::vector<uint64_t> candidates;  // only with keep_candidates
  std::vector<std::pair<std::string, double>> stage_seconds;  // wall time per stage
};

// Links `records` (normalised; annotated with term frequencies here). `source` (may be null in
// kDedupe mode, required in kLink mode) gives each record's input file.
LinkResult Link(std::vector<NormalizedRecord>* records, const std::vector<uint8_t>* source,
                const LinkOptions& options);

}  // namespace hie::mpi
