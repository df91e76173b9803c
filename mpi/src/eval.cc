#include "hie/mpi/eval.h"

#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace hie::mpi {
namespace {

int64_t Choose2(int64_t n) { return n * (n - 1) / 2; }

void Finish(PairwiseMetrics* m) {
  m->precision = m->predicted_pairs == 0
                     ? 1.0
                     : static_cast<double>(m->true_positives) / m->predicted_pairs;
  m->recall =
      m->true_pairs == 0 ? 1.0 : static_cast<double>(m->true_positives) / m->true_pairs;
  m->f1 = m->precision + m->recall == 0
              ? 0
              : 2 * m->precision * m->recall / (m->precision + m->recall);
}

}  // namespace

PairwiseMetrics EvaluateClusters(
    const std::vector<std::pair<std::string, std::string>>& truth,
    const std::vector<std::pair<std::string, std::string>>& clusters) {
  PairwiseMetrics m;
  absl::flat_hash_map<std::string, int64_t> entity_ids;
  absl::flat_hash_map<std::string, int64_t> record_entity;
  absl::flat_hash_map<int64_t, int64_t> entity_size;
  for (const auto& [record, entity] : truth) {
    const int64_t id = entity_ids.emplace(entity, static_cast<int64_t>(entity_ids.size()))
                           .first->second;
    if (record_entity.emplace(record, id).second) ++entity_size[id];
  }
  for (const auto& [id, size] : entity_size) m.true_pairs += Choose2(size);
  absl::flat_hash_map<std::string, int64_t> cluster_size;
  absl::flat_hash_map<std::pair<std::string, int64_t>, int64_t> cell;
  absl::flat_hash_set<std::string> seen;
  for (const auto& [record, cluster] : clusters) {
    if (!seen.insert(record).second) continue;
    ++cluster_size[cluster];
    auto it = record_entity.find(record);
    if (it != record_entity.end()) ++cell[{cluster, it->second}];
  }
  for (const auto& [c, size] : cluster_size) m.predicted_pairs += Choose2(size);
  for (const auto& [key, count] : cell) m.true_positives += Choose2(count);
  Finish(&m);
  return m;
}

PairwiseMetrics EvaluatePairs(const std::vector<std::pair<std::string, std::string>>& truth,
                              const std::vector<std::pair<std::string, std::string>>& pairs) {
  PairwiseMetrics m;
  absl::flat_hash_map<std::string, std::string> entity;
  absl::flat_hash_map<std::string, int64_t> entity_size;
  for (const auto& [record, e] : truth) {
    if (entity.emplace(record, e).second) ++entity_size[e];
  }
  for (const auto& [e, size] : entity_size) m.true_pairs += Choose2(size);
  absl::flat_hash_set<std::pair<std::string, std::string>> distinct;
  for (auto [a, b] : pairs) {
    if (a == b) continue;
    if (b < a) std::swap(a, b);
    if (!distinct.emplace(a, b).second) continue;
    ++m.predicted_pairs;
    auto ia = entity.find(a);
    auto ib = entity.find(b);
    if (ia != entity.end() && ib != entity.end() && ia->second == ib->second) ++m.true_positives;
  }
  Finish(&m);
  return m;
}

std::vector<std::pair<std::string, std::string>> EntitiesFromPairs(
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  absl::flat_hash_map<std::string, size_t> index;
  std::vector<std::string> names;
  auto id = [&](const std::string& s) {
    auto [it, inserted] = index.emplace(s, names.size());
    if (inserted) names.push_back(s);
    return it->second;
  };
  std::vector<std::pair<size_t, size_t>> edges;
  for (const auto& [a, b] : pairs) edges.emplace_back(id(a), id(b));
  std::vector<size_t> parent(names.size());
  std::iota(parent.begin(), parent.end(), size_t{0});
  auto find = [&parent](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const auto& [a, b] : edges) parent[find(a)] = find(b);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], names[find(i)]);
  return out;
}

std::string EntityFromRecordId(const std::string& record_id) {
  const size_t first = record_id.find('-');
  if (first == std::string::npos) return "";
  const size_t second = record_id.find('-', first + 1);
  return record_id.substr(first + 1, second == std::string::npos ? std::string::npos
                                                                   : second - first - 1);
}

}  // namespace hie::mpi
