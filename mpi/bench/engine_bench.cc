// Micro-benchmarks of the engine's hot paths (Google Benchmark). Figures, not assertions:
//   build-mpi/mpi/mpi_bench --benchmark_min_time=0.2
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "hie/mpi/generator.h"
#include "hie/mpi/model.h"
#include "hie/mpi/nicknames.h"
#include "hie/mpi/normalize.h"
#include "hie/mpi/text.h"

namespace hie::mpi {
namespace {

const std::vector<LabelledRecord>& Population() {
  static const auto* records = [] {
    GeneratorOptions options;
    options.persons = 2000;
    options.seed = 11;
    return new std::vector<LabelledRecord>(GeneratePopulation(options).records);
  }();
  return *records;
}

const NicknameTable& Nicknames() {
  static const auto* table = [] {
    auto t = NicknameTable::LoadFile(DefaultNicknamePath());
    return new NicknameTable(t.ok() ? *std::move(t) : NicknameTable());
  }();
  return *table;
}

void BM_JaroWinkler(benchmark::State& state) {
  const char* names[] = {"MARTHA", "MARHTA", "JOHNSON", "JONSON", "WILLIAMS", "XAVIER"};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(JaroWinkler(names[i % 6], names[(i + 1) % 6]));
    ++i;
  }
}
BENCHMARK(BM_JaroWinkler);

void BM_Normalize(benchmark::State& state) {
  const Normalizer normalizer(&Nicknames());
  const auto& pop = Population();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(normalizer.Normalize(pop[i++ % pop.size()].record));
  }
}
BENCHMARK(BM_Normalize);

// Compare + Score over pairs of generated records (mostly non-matches, like candidates).
void BM_CompareAndScore(benchmark::State& state) {
  const Normalizer normalizer(&Nicknames());
  std::vector<NormalizedRecord> records;
  for (const auto& r : Population()) records.push_back(normalizer.Normalize(r.record));
  const Model model;
  size_t i = 0;
  for (auto _ : state) {
    const NormalizedRecord& a = records[i % records.size()];
    const NormalizedRecord& b = records[(i * 7 + 1) % records.size()];
    const Comparison c = Compare(a, b);
    benchmark::DoNotOptimize(model.Score(a, b, c));
    ++i;
  }
}
BENCHMARK(BM_CompareAndScore);

}  // namespace
}  // namespace hie::mpi

BENCHMARK_MAIN();
