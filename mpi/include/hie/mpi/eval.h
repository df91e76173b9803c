#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hie::mpi {

// Pairwise evaluation of a matcher against ground truth (see shared/data/README.md, "How to
// score"): every unordered pair of records sharing an entity is a true pair, every pair sharing
// a predicted cluster is a predicted pair.
struct PairwiseMetrics {
  int64_t true_pairs = 0;
  int64_t predicted_pairs = 0;
  int64_t true_positives = 0;
  double precision = 0;  // 1 when nothing is predicted
  double recall = 0;     // 1 when there are no true pairs
  double f1 = 0;
};

// `truth` maps record id -> entity key, `clusters` record id -> cluster key. Records missing
// from one side count as singletons there. Computed from the contingency table, so it is
// linear in the number of records.
PairwiseMetrics EvaluateClusters(const std::vector<std::pair<std::string, std::string>>& truth,
                                 const std::vector<std::pair<std::string, std::string>>& clusters);

// Recall-style evaluation of an explicit pair list (e.g. the candidate pairs of blocking: the
// recall is then the pairs completeness). Duplicate pairs count once.
PairwiseMetrics EvaluatePairs(const std::vector<std::pair<std::string, std::string>>& truth,
                              const std::vector<std::pair<std::string, std::string>>& pairs);

// Turns a list of true pairs into record -> entity (connected components of the pairs).
std::vector<std::pair<std::string, std::string>> EntitiesFromPairs(
    const std::vector<std::pair<std::string, std::string>>& pairs);

// The entity key encoded in a FEBRL ("rec-123-dup-0") or JeMPI ("rec-00000123-bbb-4") record
// id: the second '-'-separated field; "" if the id has no such field.
std::string EntityFromRecordId(const std::string& record_id);

}  // namespace hie::mpi
