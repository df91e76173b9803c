#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "hie/mpi/model.h"
#include "hie/mpi/normalize.h"
#include "hie/mpi/record.h"

namespace hie::mpi {

// Compare(a, b) with the stricter OnlineGuards added: how MatchIndex compares two records.
Comparison CompareOnline(const NormalizedRecord& a, const NormalizedRecord& b);

// The online default: a record is linked once, on its own, without the batch linker's whole-
// cluster checks, so an automatic link needs one bit more than in batch (posterior log2 odds >= 5,
// P ~ 0.97, instead of 4). Measured through identity on both generated populations
// (docs/benchmarks.md, issue 15): the diverse population's wrong links cluster at 4-5 bits.
inline Thresholds OnlineThresholds() {
  Thresholds t;
  t.auto_link = 5.0;
  return t;
}

struct MatchIndexOptions {
  Thresholds thresholds = OnlineThresholds();
  // Blocks (records sharing one key) larger than this are not scanned by Match: such keys
  // (a very common name and birth year) say little, and the other keys still apply.
  int max_block_size = 256;
  // The same for the broad key kinds (given name + birth year, family name + initial).
  int max_broad_block_size = 32;
};

struct MatchCandidate {
  std::string record_id;
  double score = 0;  // posterior log2 odds
  Decision decision = Decision::kNew;
  Explanation explanation;
};

// The online index: records can be added, updated and removed, and a record matched against all
// indexed records in about a millisecond at a million records.
//
// Records come in two forms: a Record, which each call normalises, or a NormalizedRecord made
// by Normalize once and then given to any number of Add, Update, Upsert and Match calls (a
// caller that matches, then indexes the same record normalises it once). Both forms give the
// same results.
//
// Thread safety: Normalize, Match (and size) may run concurrently with each other; Add, Update,
// Upsert and Remove take an exclusive lock. Normalisation happens outside the lock.
class MatchIndex {
 public:
  // `nicknames` (may be null) must outlive the index. `params` usually come from Train on a
  // representative batch of records.
  MatchIndex(const ModelParams& params, const NicknameTable* nicknames,
             MatchIndexOptions options = {}, NormalizerOptions normalizer_options = {});

  // The record as the index compares it (with the index's nicknames and normaliser options),
  // for the NormalizedRecord overloads below. Its *_freq fields are not set: Match annotates
  // its own copy of a query with the frequencies of the moment.
  NormalizedRecord Normalize(const Record& record) const;

  // INVALID_ARGUMENT for an empty record_id, ALREADY_EXISTS if the id is indexed.
  [[nodiscard]] absl::Status Add(const Record& record);
  // Replaces the record with the same record_id; NOT_FOUND if there is none.
  [[nodiscard]] absl::Status Update(const Record& record);
  // The same for a record normalised by Normalize, indexed under `record_id`. Any *_freq
  // values in `record` are ignored.
  [[nodiscard]] absl::Status Add(std::string_view record_id, NormalizedRecord record);
  [[nodiscard]] absl::Status Update(std::string_view record_id, NormalizedRecord record);
  // Update, or Add if the id is not indexed, under one lock. INVALID_ARGUMENT for an empty id.
  [[nodiscard]] absl::Status Upsert(std::string_view record_id, NormalizedRecord record);
  // NOT_FOUND if there is no record with this id.
  [[nodiscard]] absl::Status Remove(std::string_view record_id);

  // The best `limit` indexed records for `query`, best first, each with its score, decision and
  // explanation. A record with the query's own record_id is skipped. Margin rule: when the two
  // best candidates would both be auto-linked, their scores are within thresholds.margin bits
  // and they do not themselves score as one person, neither is auto-linked (both go to review).
  // Guarded neighbour rule: a candidate that would be auto-linked with another indexed record
  // that a guard separates from the query is not auto-linked either (review): the two are
  // probably one person, and the query must not join that person automatically.
  std::vector<MatchCandidate> Match(const Record& query, int limit) const;
  // The same for a query normalised by Normalize; `record_id` is the query's own id (skipped),
  // or empty.
  std::vector<MatchCandidate> Match(std::string_view record_id, const NormalizedRecord& query,
                                    int limit) const;

  // A copy of the indexed record `record_id` as the index compares it (its *_freq fields are not
  // set: the same as Normalize of what was indexed), or nullopt when it is not indexed.
  std::optional<NormalizedRecord> Find(std::string_view record_id) const;

  size_t size() const;

 private:
  struct Postings {
    uint32_t head;
    uint32_t count;
  };
  struct Node {
    uint32_t slot;
    uint32_t next;
  };
  static constexpr uint32_t kNil = UINT32_MAX;

  // Match on a query this call owns (annotated in place).
  std::vector<MatchCandidate> MatchOwned(std::string_view record_id, NormalizedRecord q,
                                         int limit) const;
  // Indexes `n` under a new slot; the id must not be indexed. Exclusive lock held.
  void AddLocked(std::string_view record_id, NormalizedRecord n);
  void ReplaceLocked(uint32_t slot, NormalizedRecord n);  // exclusive lock held
  void Insert(uint32_t slot);                             // exclusive lock held
  void Erase(uint32_t slot);                              // exclusive lock held
  uint32_t NewNode(uint32_t slot, uint32_t next);

  const Model model_;
  const Normalizer normalizer_;
  const MatchIndexOptions options_;

  mutable std::shared_mutex mu_;
  std::vector<NormalizedRecord> records_;  // by slot
  std::vector<std::string> ids_;           // by slot; "" = free slot
  std::vector<uint32_t> free_slots_;
  absl::flat_hash_map<std::string, uint32_t> slot_of_;
  absl::flat_hash_map<uint64_t, Postings> postings_;
  std::vector<Node> nodes_;
  uint32_t free_node_ = kNil;
  FrequencyTable frequencies_;
};

}  // namespace hie::mpi
