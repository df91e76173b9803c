// hie-mpi bench: online match latency against an index of generated records.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "hie/mpi/generator.h"
#include "hie/mpi/linker.h"
#include "hie/mpi/match_index.h"
#include "hie/mpi/nicknames.h"
#include "mpi/tools/cli.h"

namespace hie::mpi::cli {

int RunBench(const Args& args) {
  auto records_arg = ParseInt("records", args.Get("records", "100000"));
  auto queries_arg = ParseInt("queries", args.Get("queries", "10000"));
  auto threads_arg = ParseInt("threads", args.Get("threads", "2"));
  auto seed_arg = ParseInt("seed", args.Get("seed", "7"));
  if (!records_arg.ok() || !queries_arg.ok() || !threads_arg.ok() || !seed_arg.ok() ||
      *records_arg < 1 || *queries_arg < 1 || *threads_arg < 1 || *threads_arg > 64) {
    std::fputs("hie-mpi bench: --records, --queries, --threads, --seed expect positive integers\n",
               stderr);
    return 2;
  }
  const size_t n = static_cast<size_t>(*records_arg);
  const size_t q = static_cast<size_t>(*queries_arg);
  auto nick = NicknameTable::LoadFile(args.Get("nicknames", DefaultToolNicknamePath()));
  if (!nick.ok()) {
    std::fprintf(stderr, "hie-mpi bench: %s\n", std::string(nick.status().message()).c_str());
    return 1;
  }

  double t0 = NowSeconds();
  GeneratorOptions gen;
  gen.seed = static_cast<uint64_t>(*seed_arg);
  gen.persons = static_cast<int64_t>((n + q) / 2 + 1);
  GeneratedPopulation population = GeneratePopulation(gen);
  while (population.records.size() < n + q) {  // fewer duplicates than expected: grow
    gen.persons = gen.persons * 5 / 4 + 1;
    population = GeneratePopulation(gen);
  }
  const double generate_s = NowSeconds() - t0;

  // Train on (a sample of) the records to be indexed.
  t0 = NowSeconds();
  const Normalizer normalizer(&*nick);
  const size_t sample = std::min<size_t>(n, 200'000);
  std::vector<NormalizedRecord> training;
  training.reserve(sample);
  for (size_t i = 0; i < sample; ++i) {
    training.push_back(normalizer.Normalize(population.records[i].record));
  }
  const TrainResult trained = TrainOnRecords(&training, TrainOptions{});
  std::vector<NormalizedRecord>().swap(training);
  const double train_s = NowSeconds() - t0;

  t0 = NowSeconds();
  MatchIndex index(trained.params, &*nick);
  for (size_t i = 0; i < n; ++i) {
    const absl::Status st = index.Add(population.records[i].record);
    if (!st.ok()) {
      std::fprintf(stderr, "hie-mpi bench: add failed: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  const double build_s = NowSeconds() - t0;

  absl::flat_hash_map<std::string, int64_t> person_of;
  for (size_t i = 0; i < n; ++i) {
    person_of[population.records[i].record.record_id] = population.records[i].person_id;
  }
  // Single-thread latency.
  std::vector<double> latency_us(q);
  int64_t auto_links = 0;
  int64_t auto_links_correct = 0;
  int64_t queries_with_match = 0;
  absl::flat_hash_map<int64_t, int> indexed_per_person;
  for (size_t i = 0; i < n; ++i) ++indexed_per_person[population.records[i].person_id];
  t0 = NowSeconds();
  for (size_t i = 0; i < q; ++i) {
    const LabelledRecord& lr = population.records[n + i];
    const double s = NowSeconds();
    const std::vector<MatchCandidate> result = index.Match(lr.record, 5);
    latency_us[i] = (NowSeconds() - s) * 1e6;
    if (indexed_per_person.contains(lr.person_id)) ++queries_with_match;
    if (!result.empty() && result[0].decision == Decision::kAutoLink) {
      ++auto_links;
      if (person_of[result[0].record_id] == lr.person_id) ++auto_links_correct;
    }
  }
  const double single_s = NowSeconds() - t0;
  std::vector<double> sorted = latency_us;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&sorted](double p) {
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1)))];
  };
  double mean = 0;
  for (double v : latency_us) mean += v;
  mean /= static_cast<double>(q);

  // Concurrent throughput: all threads query the shared index.
  const int threads = static_cast<int>(*threads_arg);
  std::atomic<size_t> next{0};
  t0 = NowSeconds();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < q; i = next++) {
        (void)index.Match(population.records[n + i].record, 5);
      }
    });
  }
  for (auto& th : pool) th.join();
  const double multi_s = NowSeconds() - t0;

  std::printf(
      "records indexed      %zu\n"
      "queries              %zu (%lld have a record of the same person indexed)\n"
      "generate             %.2f s\n"
      "train (EM on %zu)   %.2f s\n"
      "build index          %.2f s (%.0f adds/s)\n"
      "match latency        p50 %.1f us, p99 %.1f us, mean %.1f us, max %.1f us\n"
      "qps 1 thread         %.0f\n"
      "qps %d threads        %.0f\n"
      "auto-link decisions  %lld, of which correct %lld (precision %.4f, recall %.4f)\n"
      "peak RSS             %.1f MB (includes the generated population)\n",
      index.size(), q, static_cast<long long>(queries_with_match), generate_s, sample, train_s,
      build_s, static_cast<double>(n) / build_s, pct(0.5), pct(0.99), mean, sorted.back(),
      static_cast<double>(q) / single_s, threads, static_cast<double>(q) / multi_s,
      static_cast<long long>(auto_links), static_cast<long long>(auto_links_correct),
      auto_links == 0 ? 1.0 : static_cast<double>(auto_links_correct) / auto_links,
      queries_with_match == 0 ? 1.0
                              : static_cast<double>(auto_links_correct) / queries_with_match,
      static_cast<double>(PeakRssBytes()) / 1e6);
  return 0;
}

}  // namespace hie::mpi::cli
