#include "hie/mpi/linker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "hie/mpi/blocking.h"
#include "hie/mpi/text.h"

namespace hie::mpi {
namespace {

inline uint32_t PairA(uint64_t p) { return static_cast<uint32_t>(p >> 32); }
inline uint32_t PairB(uint64_t p) { return static_cast<uint32_t>(p); }
inline uint64_t MakePair(uint32_t a, uint32_t b) {
  return a < b ? (static_cast<uint64_t>(a) << 32) | b : (static_cast<uint64_t>(b) << 32) | a;
}

// Runs fn(begin, end, thread_index) over [0, n) split into `threads` contiguous parts.
template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(n / 1024) + 1));
  if (threads == 1) {
    fn(size_t{0}, n, 0);
    return;
  }
  std::vector<std::thread> pool;
  const size_t chunk = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    const size_t begin = std::min(n, chunk * t);
    const size_t end = std::min(n, begin + chunk);
    pool.emplace_back([=, &fn] { fn(begin, end, t); });
  }
  for (auto& th : pool) th.join();
}

// Sorts on two threads (halves sorted in parallel, then merged) when the input is large.
template <typename T>
void ParallelSort(std::vector<T>* v, int threads) {
  if (threads < 2 || v->size() < (1u << 16)) {
    std::sort(v->begin(), v->end());
    return;
  }
  const auto mid = v->begin() + static_cast<std::ptrdiff_t>(v->size() / 2);
  std::thread left([&] { std::sort(v->begin(), mid); });
  std::sort(mid, v->end());
  left.join();
  std::inplace_merge(v->begin(), mid, v->end());
}

class DisjointSets {
 public:
  explicit DisjointSets(size_t n) : parent_(n), members_(n) {
    std::iota(parent_.begin(), parent_.end(), 0u);
    for (uint32_t i = 0; i < n; ++i) members_[i] = {i};
  }
  uint32_t Find(uint32_t x) {
    while (parent_[x] != x) {
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }
  const std::vector<uint32_t>& Members(uint32_t root) const { return members_[root]; }
  void Union(uint32_t ra, uint32_t rb) {
    if (members_[ra].size() < members_[rb].size()) std::swap(ra, rb);
    parent_[rb] = ra;
    members_[ra].insert(members_[ra].end(), members_[rb].begin(), members_[rb].end());
    members_[rb].clear();
    members_[rb].shrink_to_fit();
  }

 private:
  std::vector<uint32_t> parent_;
  std::vector<std::vector<uint32_t>> members_;
};

// How many of the fields that tell two people of one name apart a record holds: birth date,
// street address, phone, SSN, e-mail.
int DistinguishingFields(const NormalizedRecord& r) {
  return (r.birth_date.year != 0 ? 1 : 0) + (r.address.empty() && r.house_number.empty() ? 0 : 1) +
         (r.phone.empty() ? 0 : 1) + (r.ssn.empty() ? 0 : 1) + (r.email.empty() ? 0 : 1);
}

// Per record, whether it is sparse: it holds at most one distinguishing field where the typical
// (median) record of the input holds at least three. Such a record cannot tell a person from a
// namesake, a twin or a relative at the same address, so it must never be what joins two of them.
// An input whose records all carry little (names and a birth date only) has no sparse records:
// there, every record is judged alike.
std::vector<uint8_t> SparseRecords(const std::vector<NormalizedRecord>& records) {
  std::array<size_t, 6> count{};
  for (const NormalizedRecord& r : records) ++count[static_cast<size_t>(DistinguishingFields(r))];
  size_t seen = 0;
  int median = 0;
  while (median < 5 && (seen += count[static_cast<size_t>(median)]) * 2 < records.size()) ++median;
  std::vector<uint8_t> sparse(records.size(), 0);
  if (median < 3) return sparse;
  for (size_t i = 0; i < records.size(); ++i) sparse[i] = DistinguishingFields(records[i]) <= 1;
  return sparse;
}

// A pair's guards: the model's, and where either record is sparse the online matcher's too (the
// household guard for a given name not alike with no birth date to tell the two apart).
uint32_t PairGuards(const std::vector<NormalizedRecord>& records,
                    const std::vector<uint8_t>& sparse, uint32_t a, uint32_t b,
                    const Comparison& c) {
  if (!sparse[a] && !sparse[b]) return c.guards;
  return c.guards | OnlineGuards(records[a], records[b], c);
}

// Greedy agglomeration over the auto-link pairs (strongest first), in two rounds:
//  1. Pairs of two informative (not sparse) records. A merge in which either cluster has more
//     than one record must be supported by all the cross pairs: no guard anywhere, a mean score
//     of at least cluster_mean_threshold and none below cluster_min_threshold, so one strong A-B
//     link and one strong B-C link cannot pull a dissimilar A and C together.
//  2. Pairs with a sparse record. The sparse side may join a cluster under the same test, but
//     two clusters that each hold an informative record never merge on a sparse record's pair:
//     round 1 has already weighed every direct link between them.
// Then every sparse record that links to a record of another cluster holding an informative
// record, at least as strongly as its best link into its own cluster less thresholds.margin,
// cannot tell the two persons apart: it is left alone and its links go to review.
class Clusterer {
 public:
  Clusterer(const std::vector<NormalizedRecord>& records, const std::vector<uint8_t>& sparse,
            const std::vector<uint8_t>* cross, const Model& model, const LinkOptions& options)
      : records_(records), sparse_(sparse), cross_(cross), model_(model), options_(options) {}

  // Fills `sets` from `edges` (sorted strongest first); counts into `result`.
  void Agglomerate(const std::vector<ScoredPair>& edges, DisjointSets* sets,
                   LinkResult* result) const {
    std::vector<ScoredPair> accepted;
    for (const bool sparse_round : {false, true}) {
      for (const ScoredPair& e : edges) {
        if ((sparse_[e.a] || sparse_[e.b]) != sparse_round) continue;
        const uint32_t ra = sets->Find(e.a);
        const uint32_t rb = sets->Find(e.b);
        if (ra == rb) continue;
        const auto& ma = sets->Members(ra);
        const auto& mb = sets->Members(rb);
        const bool bridge = sparse_round && HasInformative(ma) && HasInformative(mb);
        if (bridge || ((ma.size() > 1 || mb.size() > 1) && !CrossPairsSupport(ma, mb))) {
          ++result->rejected_merges;
          continue;
        }
        sets->Union(ra, rb);
        accepted.push_back(e);
      }
    }
    const std::vector<uint8_t> ambiguous = AmbiguousSparse(edges, sets);
    if (std::find(ambiguous.begin(), ambiguous.end(), 1) == ambiguous.end()) return;
    // Rebuild without the ambiguous records: the clusters they joined keep every other link.
    *sets = DisjointSets(records_.size());
    for (const ScoredPair& e : accepted) {
      if (!ambiguous[e.a] && !ambiguous[e.b]) sets->Union(sets->Find(e.a), sets->Find(e.b));
    }
    for (const ScoredPair& e : edges) {
      if (ambiguous[e.a] || ambiguous[e.b]) result->review.push_back(e);
    }
    result->ambiguous_records +=
        static_cast<int64_t>(std::count(ambiguous.begin(), ambiguous.end(), 1));
  }

 private:
  bool HasInformative(const std::vector<uint32_t>& members) const {
    return std::any_of(members.begin(), members.end(), [&](uint32_t x) { return !sparse_[x]; });
  }

  bool CrossPairsSupport(const std::vector<uint32_t>& ma, const std::vector<uint32_t>& mb) const {
    constexpr size_t kMaxCrossPairs = 4096;
    if (ma.size() * mb.size() > kMaxCrossPairs) return false;
    double sum = 0;
    double min_score = 1e300;
    int64_t compared = 0;
    for (uint32_t x : ma) {
      for (uint32_t y : mb) {
        if (cross_ != nullptr && (*cross_)[x] == (*cross_)[y]) continue;
        const Comparison c = Compare(records_[x], records_[y]);
        if (PairGuards(records_, sparse_, x, y, c) != 0) return false;
        const double s = model_.Score(records_[x], records_[y], c);
        sum += s;
        min_score = std::min(min_score, s);
        ++compared;
      }
    }
    const double mean = compared == 0 ? 0.0 : sum / static_cast<double>(compared);
    return mean >= options_.cluster_mean_threshold && min_score >= options_.cluster_min_threshold;
  }

  // 1 for each sparse record in a cluster of several that links to another cluster's record,
  // that cluster holding an informative record, within thresholds.margin of its best own link.
  std::vector<uint8_t> AmbiguousSparse(const std::vector<ScoredPair>& edges,
                                       DisjointSets* sets) const {
    const size_t n = records_.size();
    constexpr float kNone = -1e30f;
    std::vector<float> own_best(n, kNone);
    std::vector<float> other_best(n, kNone);
    for (const ScoredPair& e : edges) {
      const uint32_t ra = sets->Find(e.a);
      const uint32_t rb = sets->Find(e.b);
      for (const auto& [x, rx, ry] : {std::tuple{e.a, ra, rb}, std::tuple{e.b, rb, ra}}) {
        if (!sparse_[x]) continue;
        if (rx == ry) {
          own_best[x] = std::max(own_best[x], e.score);
        } else if (HasInformative(sets->Members(ry))) {
          other_best[x] = std::max(other_best[x], e.score);
        }
      }
    }
    std::vector<uint8_t> ambiguous(n, 0);
    const double margin = options_.thresholds.margin;
    for (uint32_t x = 0; x < n; ++x) {
      ambiguous[x] = sparse_[x] && own_best[x] != kNone && other_best[x] != kNone &&
                     other_best[x] >= own_best[x] - margin;
    }
    return ambiguous;
  }

  const std::vector<NormalizedRecord>& records_;
  const std::vector<uint8_t>& sparse_;
  const std::vector<uint8_t>* cross_;
  const Model& model_;
  const LinkOptions& options_;
};

}  // namespace

std::vector<uint64_t> CandidatePairs(const std::vector<NormalizedRecord>& records,
                                     const std::vector<uint8_t>* source, int max_block_size,
                                     BlockingStats* stats, int threads) {
  BlockingStats local;
  std::vector<std::vector<std::pair<uint64_t, uint32_t>>> parts(
      static_cast<size_t>(std::max(1, threads)));
  ParallelFor(records.size(), threads, [&](size_t begin, size_t end, int t) {
    auto& out = parts[static_cast<size_t>(t)];
    out.reserve((end - begin) * 12);
    std::vector<uint64_t> keys;
    for (size_t i = begin; i < end; ++i) {
      keys.clear();
      AppendBlockKeys(records[i], &keys);
      for (uint64_t k : keys) out.emplace_back(k, static_cast<uint32_t>(i));
    }
  });
  std::vector<std::pair<uint64_t, uint32_t>> entries;
  size_t total = 0;
  for (const auto& part : parts) total += part.size();
  entries.reserve(total);
  for (auto& part : parts) {
    entries.insert(entries.end(), part.begin(), part.end());
    std::vector<std::pair<uint64_t, uint32_t>>().swap(part);
  }
  local.keys = static_cast<int64_t>(entries.size());
  ParallelSort(&entries, threads);
  // Inside a large block, records are compared only with their kWindow neighbours in an order
  // by given name and birth date (sorted neighbourhood): linear instead of quadratic work, and
  // similar records still meet. The order is a 64-bit key per record: the first five letters of
  // the given name, then the birth date.
  constexpr size_t kWindow = 8;
  constexpr size_t kNarrowWindow = 5;
  std::vector<uint64_t> order(records.size());
  ParallelFor(records.size(), threads, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) {
      const NormalizedRecord& r = records[i];
      uint64_t v = 0;
      for (size_t k = 0; k < 5; ++k) {
        v = (v << 8) | (k < r.given.size() ? static_cast<unsigned char>(r.given[k]) : 0u);
      }
      const uint64_t date = static_cast<uint64_t>(r.birth_date.year) * 512 +
                            static_cast<uint64_t>(r.birth_date.month) * 32 +
                            static_cast<uint64_t>(r.birth_date.day);
      order[i] = (v << 21) | (date & 0x1FFFFF);
    }
  });
  // Blocks are independent: split the sorted entries at block boundaries, one part per thread.
  const int parts_count = std::max(1, threads);
  std::vector<size_t> cut(static_cast<size_t>(parts_count) + 1, entries.size());
  cut[0] = 0;
  for (int t = 1; t < parts_count; ++t) {
    size_t c = std::max(cut[t - 1], entries.size() * static_cast<size_t>(t) / parts_count);
    while (c > cut[t - 1] && c < entries.size() && entries[c].first == entries[c - 1].first) ++c;
    cut[t] = c;
  }
  std::vector<std::vector<uint64_t>> part_pairs(static_cast<size_t>(parts_count));
  std::vector<BlockingStats> part_stats(static_cast<size_t>(parts_count));
  std::vector<std::thread> workers;
  auto emit = [&](int t) {
    auto& pairs = part_pairs[static_cast<size_t>(t)];
    BlockingStats& st = part_stats[static_cast<size_t>(t)];
    std::vector<uint32_t> block;
    for (size_t b = cut[t]; b < cut[t + 1];) {
      size_t e = b + 1;
      while (e < cut[t + 1] && entries[e].first == entries[b].first) ++e;
      const size_t size = e - b;
      ++st.blocks;
      if (static_cast<int64_t>(size) > max_block_size) {
        ++st.oversized_blocks;
        st.oversized_records += static_cast<int64_t>(size);
        b = e;
        continue;
      }
      block.clear();
      for (size_t i = b; i < e; ++i) block.push_back(entries[i].second);
      // The broad keys (given name + year, family name + initial) get a narrow window.
      const int kind = BlockKeyKind(entries[b].first);
      const size_t max_window = (kind == 12 || kind == 14) ? kNarrowWindow : kWindow;
      size_t window = size;
      if (size > 2 * max_window) {
        std::sort(block.begin(), block.end(), [&order](uint32_t x, uint32_t y) {
          return order[x] != order[y] ? order[x] < order[y] : x < y;
        });
        window = max_window;
      }
      const size_t before = pairs.size();
      for (size_t i = 0; i < size; ++i) {
        const size_t last = std::min(size, i + 1 + window);
        for (size_t j = i + 1; j < last; ++j) {
          const uint32_t x = block[i];
          const uint32_t y = block[j];
          if (source != nullptr && (*source)[x] == (*source)[y]) continue;
          pairs.push_back(MakePair(x, y));
        }
      }
      st.pairs_by_kind[kind] += static_cast<int64_t>(pairs.size() - before);
      b = e;
    }
  };
  for (int t = 1; t < parts_count; ++t) workers.emplace_back(emit, t);
  emit(0);
  for (auto& w : workers) w.join();
  std::vector<uint64_t> pairs;
  size_t total_pairs = 0;
  for (const auto& part : part_pairs) total_pairs += part.size();
  pairs.reserve(total_pairs);
  for (int t = 0; t < parts_count; ++t) {
    auto& part = part_pairs[static_cast<size_t>(t)];
    pairs.insert(pairs.end(), part.begin(), part.end());
    std::vector<uint64_t>().swap(part);
    const BlockingStats& st = part_stats[static_cast<size_t>(t)];
    local.blocks += st.blocks;
    local.oversized_blocks += st.oversized_blocks;
    local.oversized_records += st.oversized_records;
    for (size_t k = 0; k < st.pairs_by_kind.size(); ++k) local.pairs_by_kind[k] += st.pairs_by_kind[k];
  }
  std::vector<std::pair<uint64_t, uint32_t>>().swap(entries);
  ParallelSort(&pairs, threads);
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  local.candidate_pairs = static_cast<int64_t>(pairs.size());
  if (stats != nullptr) *stats = local;
  return pairs;
}

void AnnotateFrequencies(std::vector<NormalizedRecord>* records) {
  FrequencyTable table;
  for (const auto& r : *records) table.Add(r);
  for (auto& r : *records) table.Annotate(&r);
}

namespace {

// Fields each block key kind is built from (bit per Field); EM over the pairs of one kind
// ignores these fields, whose agreement there is forced by the blocking, not evidence.
uint32_t FieldsOfKeyKind(int kind) {
  auto bit = [](Field f) { return 1u << static_cast<int>(f); };
  switch (kind) {
    case 1: return bit(Field::kFamily) | bit(Field::kBirthDate);
    case 2: return bit(Field::kGiven) | bit(Field::kBirthDate);
    case 3: return bit(Field::kBirthDate) | bit(Field::kPostalCode);
    case 4: return bit(Field::kPhone);
    case 5: return bit(Field::kSsn);
    case 6: return bit(Field::kEmail);
    case 7: return bit(Field::kGiven) | bit(Field::kFamily);
    case 8: return bit(Field::kFamily) | bit(Field::kPostalCode);
    case 9: return bit(Field::kAddress) | bit(Field::kPostalCode);
    case 10: return bit(Field::kBirthDate) | bit(Field::kGiven) | bit(Field::kFamily);
    case 11: return bit(Field::kGiven) | bit(Field::kPostalCode);
    case 12: return bit(Field::kGiven) | bit(Field::kBirthDate);
    case 13: return bit(Field::kEmail);
    case 14: return bit(Field::kFamily) | bit(Field::kGiven);
    default: return 0;
  }
}

uint64_t MaskPattern(uint64_t key, uint32_t excluded_fields) {
  for (int f = 0; f < kNumFields; ++f) {
    if (excluded_fields >> f & 1) key &= ~(uint64_t{7} << (3 * f));
  }
  return key;
}

std::vector<PatternCount> ToPatterns(const absl::flat_hash_map<uint64_t, double>& counts) {
  std::vector<PatternCount> patterns;
  patterns.reserve(counts.size());
  for (const auto& [key, count] : counts) patterns.push_back({key, count});
  std::sort(patterns.begin(), patterns.end(),
            [](const PatternCount& x, const PatternCount& y) { return x.key < y.key; });
  return patterns;
}

}  // namespace

TrainResult Train(const std::vector<NormalizedRecord>& records,
                  const std::vector<uint8_t>* source, const std::vector<uint64_t>& candidates,
                  const TrainOptions& options) {
  TrainResult result;
  result.params = Model::DefaultParams();
  const size_t n = records.size();
  if (n < 2) return result;
  // 1. u from random pairs (deterministic: splitmix sequence from the seed).
  std::vector<std::pair<uint32_t, uint32_t>> random_pairs;
  random_pairs.reserve(static_cast<size_t>(options.random_pairs));
  uint64_t state = options.seed;
  int64_t attempts = 0;
  while (static_cast<int64_t>(random_pairs.size()) < options.random_pairs &&
         attempts < options.random_pairs * 4) {
    ++attempts;
    const uint32_t a = static_cast<uint32_t>(Mix64(state++) % n);
    const uint32_t b = static_cast<uint32_t>(Mix64(state++) % n);
    if (a == b) continue;
    if (source != nullptr && (*source)[a] == (*source)[b]) continue;
    random_pairs.emplace_back(a, b);
  }
  std::vector<Comparison> random(random_pairs.size());
  ParallelFor(random.size(), options.threads, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) {
      random[i] = Compare(records[random_pairs[i].first], records[random_pairs[i].second]);
    }
  });
  EstimateU(random, &result.params);

  // 2. m by EM, separately over the pairs each block key kind produced, ignoring the fields that
  // kind is built from (their agreement is forced by blocking, so among candidates it says
  // nothing about matches); u stays the random-pair u. The m of a field is the average of the
  // estimates of the kinds that do not use it, weighted by their estimated number of matches.
  absl::flat_hash_map<uint64_t, double> all_counts;
  std::array<absl::flat_hash_map<uint64_t, double>, 16> kind_counts;
  const size_t step =
      std::max<size_t>(1, candidates.size() / static_cast<size_t>(options.max_em_pairs));
  const size_t samples = (candidates.size() + step - 1) / step;
  // Block keys of every record, computed once (CSR layout), to find the key kinds a pair shares.
  std::vector<uint32_t> key_offsets(n + 1, 0);
  std::vector<uint64_t> all_keys;
  if (samples > 0) {
    std::vector<std::vector<uint64_t>> per_thread(static_cast<size_t>(std::max(1, options.threads)));
    std::vector<uint32_t> counts(n, 0);
    ParallelFor(n, options.threads, [&](size_t begin, size_t end, int t) {
      auto& out = per_thread[static_cast<size_t>(t)];
      for (size_t i = begin; i < end; ++i) {
        const size_t before = out.size();
        AppendBlockKeys(records[i], &out);
        counts[i] = static_cast<uint32_t>(out.size() - before);
      }
    });
    for (size_t i = 0; i < n; ++i) key_offsets[i + 1] = key_offsets[i] + counts[i];
    all_keys.reserve(key_offsets[n]);
    for (auto& part : per_thread) all_keys.insert(all_keys.end(), part.begin(), part.end());
  }
  auto shared_kinds = [&](uint32_t x, uint32_t y) {
    uint32_t kinds = 0;
    const uint64_t* a = all_keys.data() + key_offsets[x];
    const uint64_t* a_end = all_keys.data() + key_offsets[x + 1];
    const uint64_t* b = all_keys.data() + key_offsets[y];
    const uint64_t* b_end = all_keys.data() + key_offsets[y + 1];
    while (a != a_end && b != b_end) {  // both sorted
      if (*a == *b) {
        kinds |= 1u << BlockKeyKind(*a);
        ++a;
        ++b;
      } else if (*a < *b) {
        ++a;
      } else {
        ++b;
      }
    }
    return kinds;
  };
  std::vector<std::pair<uint64_t, uint32_t>> sample(samples);  // (pattern, shared key kinds)
  ParallelFor(samples, options.threads, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) {
      const uint64_t p = candidates[i * step];
      const NormalizedRecord& a = records[PairA(p)];
      const NormalizedRecord& b = records[PairB(p)];
      sample[i] = {PatternKey(Compare(a, b)), shared_kinds(PairA(p), PairB(p))};
    }
  });
  const double sampled = static_cast<double>(samples);
  for (const auto& [key, kinds] : sample) {
    all_counts[key] += 1;
    for (int k = 1; k < 16; ++k) {
      if (kinds >> k & 1) kind_counts[k][MaskPattern(key, FieldsOfKeyKind(k))] += 1;
    }
  }
  std::array<std::array<double, kMaxLevels>, kNumFields> m_sum{};
  std::array<double, kNumFields> m_weight{};
  EmOptions em = options.em;
  em.estimate_u = false;
  result.em.converged = true;
  for (int k = 1; k < 16; ++k) {
    double total = 0;
    for (const auto& [key, count] : kind_counts[k]) total += count;
    if (total < 50) continue;  // too few pairs to say anything
    ModelParams p = result.params;
    p.lambda = 0.1;
    const EmResult r = RunEm(ToPatterns(kind_counts[k]), em, &p);
    result.em.iterations += r.iterations;
    result.em.converged = result.em.converged && r.converged;
    const double matches = p.lambda * total;
    const uint32_t excluded = FieldsOfKeyKind(k);
    for (int f = 0; f < kNumFields; ++f) {
      if (excluded >> f & 1) continue;
      for (int l = 1; l < NumLevels(static_cast<Field>(f)); ++l) m_sum[f][l] += matches * p.m[f][l];
      m_weight[f] += matches;
    }
  }
  for (int f = 0; f < kNumFields; ++f) {
    if (m_weight[f] <= 0) continue;
    for (int l = 1; l < NumLevels(static_cast<Field>(f)); ++l) {
      result.params.m[f][l] = m_sum[f][l] / m_weight[f];
    }
  }

  // 3. lambda = the probability that two random records match: the expected number of matches
  // among the candidates (non-candidates are taken as non-matches) over all comparable pairs.
  double total_pairs = static_cast<double>(n) * static_cast<double>(n - 1) / 2;
  if (source != nullptr) {
    std::array<double, 256> per_source{};
    for (uint8_t s : *source) per_source[s] += 1;
    double same = 0;
    for (double c : per_source) same += c * (c - 1) / 2;
    total_pairs -= same;
  }
  const double scale = static_cast<double>(candidates.size()) / std::max(1.0, sampled);
  const std::vector<PatternCount> patterns = ToPatterns(all_counts);
  std::vector<double> bayes_factor(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) {
    const auto levels = PatternLevels(patterns[i].key);
    double log_bf = 0;
    for (int f = 0; f < kNumFields; ++f) {
      if (levels[f] == 0) continue;
      log_bf += std::log(std::max(result.params.m[f][levels[f]], 1e-6) /
                         std::max(result.params.u[f][levels[f]], 1e-6));
    }
    bayes_factor[i] = std::exp(std::min(log_bf, 700.0));
  }
  double lambda = std::max(1.0, static_cast<double>(n) / 4) / std::max(1.0, total_pairs);
  for (int it = 0; it < 100; ++it) {
    const double prior_odds = lambda / (1 - lambda);
    double expected = 0;
    for (size_t i = 0; i < patterns.size(); ++i) {
      const double odds = prior_odds * bayes_factor[i];
      expected += patterns[i].count * scale * odds / (1 + odds);
    }
    const double next = std::clamp(expected / std::max(1.0, total_pairs), 1e-12, 0.5);
    if (std::abs(next - lambda) < 1e-3 * lambda) {
      lambda = next;
      break;
    }
    lambda = next;
  }
  result.params.lambda = lambda;
  return result;
}

TrainResult TrainOnRecords(std::vector<NormalizedRecord>* records, const TrainOptions& options,
                           int max_block_size) {
  AnnotateFrequencies(records);
  const std::vector<uint64_t> pairs =
      CandidatePairs(*records, nullptr, max_block_size, nullptr, options.threads);
  return Train(*records, nullptr, pairs, options);
}

LinkResult Link(std::vector<NormalizedRecord>* records_ptr, const std::vector<uint8_t>* source,
                const LinkOptions& options) {
  std::vector<NormalizedRecord>& records = *records_ptr;
  LinkResult result;
  const size_t n = records.size();
  result.cluster.resize(n);
  std::iota(result.cluster.begin(), result.cluster.end(), 0u);
  if (n < 2) return result;
  auto last = std::chrono::steady_clock::now();
  std::string current = "frequencies";
  auto progress = [&](std::string_view stage, double f) {
    if (f == 0 && stage != current) {  // a new stage starts: close the previous one
      const auto now = std::chrono::steady_clock::now();
      result.stage_seconds.emplace_back(current, std::chrono::duration<double>(now - last).count());
      last = now;
      current = std::string(stage);
    }
    if (options.progress) options.progress(stage, f);
  };
  const std::vector<uint8_t>* cross = options.mode == LinkMode::kLink ? source : nullptr;

  progress("frequencies", 0);
  AnnotateFrequencies(&records);
  progress("blocking", 0);
  std::vector<uint64_t> pairs =
      CandidatePairs(records, cross, options.max_block_size, &result.blocking, options.threads);
  progress("training", 0);
  TrainOptions train = options.train;
  train.threads = options.threads;
  TrainResult trained = Train(records, cross, pairs, train);
  result.params = trained.params;
  result.em = trained.em;
  const Model model(trained.params);
  const Thresholds& t = options.thresholds;

  progress("scoring", 0);
  const std::vector<uint8_t> sparse = SparseRecords(records);
  constexpr size_t kPrefetchDistance = 8;
  const double keep_floor = std::min(t.review, t.auto_link);
  std::vector<std::vector<ScoredPair>> kept(static_cast<size_t>(std::max(1, options.threads)));
  ParallelFor(pairs.size(), options.threads, [&](size_t begin, size_t end, int th) {
    auto& out = kept[static_cast<size_t>(th)];
    for (size_t i = begin; i < end; ++i) {
      const uint32_t a = PairA(pairs[i]);
      const uint32_t b = PairB(pairs[i]);
      // Pairs are sorted by their first record, so the second is a random access into a large
      // array: fetch the record a few pairs ahead (its fixed part spans several cache lines).
      if (i + kPrefetchDistance < end) {
        const char* next =
            reinterpret_cast<const char*>(&records[PairB(pairs[i + kPrefetchDistance])]);
        for (size_t line = 0; line < sizeof(NormalizedRecord); line += 64) {
          __builtin_prefetch(next + line);
        }
      }
      const Comparison c = Compare(records[a], records[b]);
      const double s = model.Score(records[a], records[b], c);
      if (s >= keep_floor) {
        out.push_back({a, b, static_cast<float>(s), PairGuards(records, sparse, a, b, c)});
      }
      if (th == 0 && (i - begin) % 65536 == 0 && end > begin) {
        progress("scoring", static_cast<double>(i - begin) / static_cast<double>(end - begin));
      }
    }
  });
  if (options.keep_candidates) {
    result.candidates = std::move(pairs);
  } else {
    std::vector<uint64_t>().swap(pairs);
  }
  std::vector<ScoredPair> edges;
  for (auto& part : kept) {
    for (const ScoredPair& p : part) {
      const Decision d = Decide(p.score, p.guards, t);
      if (p.guards != 0 && p.score >= t.auto_link) ++result.guarded_pairs;
      if (d == Decision::kAutoLink) {
        edges.push_back(p);
      } else if (d == Decision::kReview) {
        result.review.push_back(p);
      }
    }
    std::vector<ScoredPair>().swap(part);
  }
  result.auto_link_pairs = static_cast<int64_t>(edges.size());
  std::sort(edges.begin(), edges.end(), [](const ScoredPair& x, const ScoredPair& y) {
    return x.score != y.score ? x.score > y.score : MakePair(x.a, x.b) < MakePair(y.a, y.b);
  });

  progress("clustering", 0);
  DisjointSets sets(n);
  if (options.mode == LinkMode::kLink && options.one_to_one) {
    std::vector<uint8_t> used(n, 0);
    for (const ScoredPair& e : edges) {
      if (used[e.a] || used[e.b]) continue;
      used[e.a] = used[e.b] = 1;
      sets.Union(sets.Find(e.a), sets.Find(e.b));
    }
  } else {
    const Clusterer clusterer(records, sparse, cross, model, options);
    clusterer.Agglomerate(edges, &sets, &result);
  }
  // Dense cluster ids in record order.
  std::vector<uint32_t> id_of_root(n, UINT32_MAX);
  uint32_t next = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t r = sets.Find(i);
    if (id_of_root[r] == UINT32_MAX) id_of_root[r] = next++;
    result.cluster[i] = id_of_root[r];
  }
  progress("done", 0);
  if (options.progress) options.progress("done", 1);
  return result;
}

}  // namespace hie::mpi
