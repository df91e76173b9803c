// hie-mpi link / eval / generate.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hie/mpi/csv.h"
#include "hie/mpi/eval.h"
#include "hie/mpi/generator.h"
#include "hie/mpi/linker.h"
#include "hie/mpi/nicknames.h"
#include "hie/mpi/normalize.h"
#include "mpi/tools/cli.h"

namespace hie::mpi::cli {
namespace {

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "hie-mpi %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

// Normalises `rows` on `threads` threads into `out` (appended, order kept).
void NormalizeAll(const Normalizer& normalizer, const std::vector<Record>& rows, int threads,
                  std::vector<NormalizedRecord>* out) {
  const size_t base = out->size();
  out->resize(base + rows.size());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(rows.size() / 2048) + 1));
  std::vector<std::thread> pool;
  const size_t chunk = (rows.size() + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const size_t begin = std::min(rows.size(), chunk * t);
      const size_t end = std::min(rows.size(), begin + chunk);
      for (size_t i = begin; i < end; ++i) (*out)[base + i] = normalizer.Normalize(rows[i]);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

int RunLink(const Args& args) {
  const double start = NowSeconds();
  const auto& inputs = args.All("input");
  if (inputs.empty() || !args.Has("output")) {
    std::fputs("hie-mpi link: --input and --output are required\n", stderr);
    return 2;
  }
  if (inputs.size() > 255) {
    std::fputs("hie-mpi link: at most 255 inputs\n", stderr);
    return 2;
  }
  ColumnMap map;
  if (args.Has("map")) {
    auto parsed = ParseColumnMap(args.Get("map"));
    if (!parsed.ok()) return Fail("link", parsed.status());
    map = *std::move(parsed);
  }
  LinkOptions options;
  const std::string mode = args.Get("mode", inputs.size() > 1 ? "link" : "dedupe");
  if (mode == "link") {
    options.mode = LinkMode::kLink;
    if (inputs.size() < 2) {
      std::fputs("hie-mpi link: --mode link needs at least two --input files\n", stderr);
      return 2;
    }
  } else if (mode == "dedupe") {
    options.mode = LinkMode::kDedupe;
  } else {
    std::fputs("hie-mpi link: --mode must be dedupe or link\n", stderr);
    return 2;
  }
  options.one_to_one = !args.Has("many-to-many");
  if (args.Has("auto-link")) {
    auto v = ParseDouble("auto-link", args.Get("auto-link"));
    if (!v.ok()) return Fail("link", v.status());
    options.thresholds.auto_link = *v;
  }
  if (args.Has("review")) {
    auto v = ParseDouble("review", args.Get("review"));
    if (!v.ok()) return Fail("link", v.status());
    options.thresholds.review = *v;
  }
  for (const auto& [name, target] :
       {std::pair<const char*, double*>{"cluster-mean", &options.cluster_mean_threshold},
        std::pair<const char*, double*>{"cluster-min", &options.cluster_min_threshold}}) {
    if (!args.Has(name)) continue;
    auto v = ParseDouble(name, args.Get(name));
    if (!v.ok()) return Fail("link", v.status());
    *target = *v;
  }
  NormalizerOptions norm_options;
  if (!ParseThreadsAndDateOrder(args, "link", &options.threads, &norm_options)) return 2;
  const bool quiet = args.Has("quiet");
  const bool tty = !quiet && isatty(STDERR_FILENO) != 0;
  auto nick = NicknameTable::LoadFile(args.Get("nicknames", DefaultToolNicknamePath()));
  if (!nick.ok()) return Fail("link", nick.status());
  const Normalizer normalizer(&*nick, norm_options);

  std::vector<std::string> ids;
  std::vector<NormalizedRecord> records;
  std::vector<uint8_t> source;
  absl::flat_hash_set<std::string> all_ids;
  int64_t bad_rows = 0;
  for (size_t f = 0; f < inputs.size(); ++f) {
    if (tty) std::fprintf(stderr, "\rreading %s ...", inputs[f].c_str());
    auto text = ReadFile(inputs[f]);
    if (!text.ok()) return Fail("link", text.status());
    std::vector<Record> rows;
    std::vector<RowError> errors;
    const absl::Status st = ReadRecordsCsv(
        *text, map, absl::StrCat("f", f + 1, ":"),
        [&](Record&& r, int64_t line) {
          if (!all_ids.insert(r.record_id).second) {
            errors.push_back({line, "record_id already used in an earlier input; row skipped"});
            return;
          }
          rows.push_back(std::move(r));
        },
        &errors);
    if (!st.ok()) {
      return Fail("link", absl::InvalidArgumentError(absl::StrCat(inputs[f], ": ", st.message())));
    }
    std::sort(errors.begin(), errors.end(),
              [](const RowError& a, const RowError& b) { return a.line < b.line; });
    for (size_t e = 0; e < errors.size(); ++e) {
      if (e < 20) {
        std::fprintf(stderr, "%s:%lld: %s\n", inputs[f].c_str(),
                     static_cast<long long>(errors[e].line), errors[e].message.c_str());
      }
    }
    if (errors.size() > 20) {
      std::fprintf(stderr, "%s: %zu more bad rows not shown\n", inputs[f].c_str(),
                   errors.size() - 20);
    }
    bad_rows += static_cast<int64_t>(errors.size());
    text = std::string();
    NormalizeAll(normalizer, rows, options.threads, &records);
    for (auto& r : rows) ids.push_back(std::move(r.record_id));
    source.resize(records.size(), static_cast<uint8_t>(f));
  }
  const double read_done = NowSeconds();
  if (tty) {
    options.progress = [](std::string_view stage, double fraction) {
      std::fprintf(stderr, "\r%-12.*s %5.1f%%   ", static_cast<int>(stage.size()), stage.data(),
                   100 * fraction);
    };
  }
  options.keep_candidates = args.Has("candidates-out");
  LinkResult result = Link(&records, &source, options);
  if (tty) std::fputs("\r", stderr);

  std::ofstream out(args.Get("output"), std::ios::binary);
  if (!out) return Fail("link", absl::NotFoundError("cannot write " + args.Get("output")));
  out << "record_id,cluster_id\n";
  for (size_t i = 0; i < ids.size(); ++i) {
    out << CsvEscape(ids[i]) << ',' << result.cluster[i] << '\n';
  }
  out.close();
  if (!out) return Fail("link", absl::DataLossError("error writing " + args.Get("output")));
  if (args.Has("review-out")) {
    std::ofstream rv(args.Get("review-out"), std::ios::binary);
    rv << "record_id_a,record_id_b,score,guards\n";
    for (const ScoredPair& p : result.review) {
      rv << CsvEscape(ids[p.a]) << ',' << CsvEscape(ids[p.b]) << ',' << p.score << ','
         << GuardNames(p.guards) << '\n';
    }
  }
  if (args.Has("candidates-out")) {
    std::ofstream cv(args.Get("candidates-out"), std::ios::binary);
    cv << "record_id_a,record_id_b\n";
    for (uint64_t p : result.candidates) {
      cv << CsvEscape(ids[p >> 32]) << ',' << CsvEscape(ids[p & 0xffffffffu]) << '\n';
    }
  }
  const double end = NowSeconds();
  if (args.Has("print-model")) {
    std::fputs("pairs by block key kind:", stderr);
    for (int k = 1; k < 16; ++k) {
      if (result.blocking.pairs_by_kind[k] != 0) {
        std::fprintf(stderr, " %d:%lld", k,
                     static_cast<long long>(result.blocking.pairs_by_kind[k]));
      }
    }
    std::fputc('\n', stderr);
    const Model model(result.params);
    std::fprintf(stderr, "lambda %.5f prior %.2f bits\n", result.params.lambda, model.prior());
    for (int f = 0; f < kNumFields; ++f) {
      const Field field = static_cast<Field>(f);
      std::fprintf(stderr, "%-12s", FieldName(field));
      for (int l = 1; l < NumLevels(field); ++l) {
        std::fprintf(stderr, " %s m=%.4f u=%.5f w=%+.2f |", LevelName(field, l),
                     result.params.m[f][l], result.params.u[f][l], model.weight(field, l));
      }
      std::fputc('\n', stderr);
    }
  }
  if (!quiet) {
    uint32_t clusters = 0;
    for (uint32_t c : result.cluster) clusters = std::max(clusters, c + 1);
    std::fprintf(stderr,
                 "records %zu (bad rows skipped %lld), mode %s%s, candidate pairs %lld "
                 "(oversized blocks %lld), EM %d iterations%s, lambda %.4g, auto-link pairs "
                 "%lld, guarded %lld, review %zu, rejected merges %lld, ambiguous sparse records "
                 "%lld, clusters %u\n"
                 "time %.3f s (read+normalise %.3f s, link %.3f s), %.0f records/s, peak RSS "
                 "%.1f MB\n",
                 records.size(), static_cast<long long>(bad_rows), mode.c_str(),
                 options.mode == LinkMode::kLink && options.one_to_one ? " one-to-one" : "",
                 static_cast<long long>(result.blocking.candidate_pairs),
                 static_cast<long long>(result.blocking.oversized_blocks), result.em.iterations,
                 result.em.converged ? "" : " (not converged)", result.params.lambda,
                 static_cast<long long>(result.auto_link_pairs),
                 static_cast<long long>(result.guarded_pairs), result.review.size(),
                 static_cast<long long>(result.rejected_merges),
                 static_cast<long long>(result.ambiguous_records), clusters, end - start,
                 read_done - start, end - read_done,
                 static_cast<double>(records.size()) / (end - start),
                 static_cast<double>(PeakRssBytes()) / 1e6);
    std::fputs("stages:", stderr);
    for (const auto& [stage, seconds] : result.stage_seconds) {
      std::fprintf(stderr, " %s %.3f s;", stage.c_str(), seconds);
    }
    std::fputc('\n', stderr);
  }
  return 0;
}

int RunEval(const Args& args) {
  if (!args.Has("clusters")) {
    std::fputs("hie-mpi eval: --clusters is required\n", stderr);
    return 2;
  }
  auto clusters_text = ReadFile(args.Get("clusters"));
  if (!clusters_text.ok()) return Fail("eval", clusters_text.status());
  auto predicted = ReadTwoColumns(*clusters_text, "", "");
  if (!predicted.ok()) return Fail("eval", predicted.status());
  std::vector<std::pair<std::string, std::string>> truth;
  if (args.Has("truth-from-id")) {
    // Every id in the file (both columns of a pair list) gets its entity from its own text.
    for (const auto& [a, b] : *predicted) {
      for (const std::string* id : {&a, &b}) {
        if (id == &b && !args.Has("pairs")) continue;
        const std::string entity = EntityFromRecordId(*id);
        if (entity.empty()) {
          return Fail("eval", absl::InvalidArgumentError(
                                  "--truth-from-id: a record id has no '-'-separated entity "
                                  "field"));
        }
        truth.emplace_back(*id, entity);
      }
    }
  } else if (args.Has("truth-pairs")) {
    auto text = ReadFile(args.Get("truth-pairs"));
    if (!text.ok()) return Fail("eval", text.status());
    auto pairs = ReadTwoColumns(*text, "", "");
    if (!pairs.ok()) return Fail("eval", pairs.status());
    truth = EntitiesFromPairs(*pairs);
  } else if (args.Has("truth")) {
    auto text = ReadFile(args.Get("truth"));
    if (!text.ok()) return Fail("eval", text.status());
    std::string id_col;
    std::string entity_col;
    if (args.Has("truth-columns")) {
      std::vector<std::string> cols = absl::StrSplit(args.Get("truth-columns"), ',');
      if (cols.size() != 2) {
        std::fputs("hie-mpi eval: --truth-columns expects id,entity\n", stderr);
        return 2;
      }
      id_col = cols[0];
      entity_col = cols[1];
    }
    auto t = ReadTwoColumns(*text, id_col, entity_col);
    if (!t.ok()) return Fail("eval", t.status());
    truth = *std::move(t);
  } else {
    std::fputs("hie-mpi eval: one of --truth, --truth-pairs, --truth-from-id is required\n",
               stderr);
    return 2;
  }
  // --pairs: the clusters file is a pair list (e.g. link --candidates-out): report how many
  // true pairs it contains (pairs completeness of blocking).
  const PairwiseMetrics m =
      args.Has("pairs") ? EvaluatePairs(truth, *predicted) : EvaluateClusters(truth, *predicted);
  std::printf(
      "true_pairs %lld\npredicted_pairs %lld\ntrue_positives %lld\nprecision %.6f\nrecall "
      "%.6f\nf1 %.6f\n",
      static_cast<long long>(m.true_pairs), static_cast<long long>(m.predicted_pairs),
      static_cast<long long>(m.true_positives), m.precision, m.recall, m.f1);
  if (args.Has("hard-pairs")) {
    // hard_pairs.csv of `generate`: record_id_a,record_id_b,kind. Count those put in one cluster.
    auto text = ReadFile(args.Get("hard-pairs"));
    if (!text.ok()) return Fail("eval", text.status());
    CsvReader reader(*text);
    std::vector<std::string> row;
    absl::Status st;
    absl::flat_hash_map<std::string, std::string> cluster_of(predicted->begin(), predicted->end());
    std::map<std::string, std::pair<int64_t, int64_t>> by_kind;  // kind -> (pairs, merged)
    bool header = true;
    while (reader.Next(&row, &st)) {
      if (header) {
        header = false;
        continue;
      }
      if (row.size() < 3) continue;
      auto& [pairs, merged] = by_kind[row[2]];
      ++pairs;
      auto a = cluster_of.find(row[0]);
      auto b = cluster_of.find(row[1]);
      if (a != cluster_of.end() && b != cluster_of.end() && a->second == b->second) ++merged;
    }
    if (!st.ok()) return Fail("eval", st);
    for (const auto& [kind, counts] : by_kind) {
      std::printf("hard_pairs_merged %s %lld of %lld\n", kind.c_str(),
                  static_cast<long long>(counts.second), static_cast<long long>(counts.first));
    }
  }
  return 0;
}

int RunGenerate(const Args& args) {
  if (!args.Has("persons") || !args.Has("out")) {
    std::fputs("hie-mpi generate: --persons and --out are required\n", stderr);
    return 2;
  }
  GeneratorOptions options;
  auto persons = ParseInt("persons", args.Get("persons"));
  if (!persons.ok() || *persons < 1) {
    std::fputs("hie-mpi generate: --persons expects a positive integer\n", stderr);
    return 2;
  }
  options.persons = *persons;
  auto seed = ParseInt("seed", args.Get("seed", "1"));
  if (!seed.ok()) return Fail("generate", seed.status());
  options.seed = static_cast<uint64_t>(*seed);
  const std::string profile = args.Get("profile", "default");
  if (!ApplyGeneratorProfile(profile, options)) {
    std::fprintf(stderr, "hie-mpi generate: unknown --profile '%s' (default or diverse)\n",
                 profile.c_str());
    return 2;
  }
  const GeneratedPopulation population = GeneratePopulation(options);
  const absl::Status st = WritePopulation(population, args.Get("out"));
  if (!st.ok()) return Fail("generate", st);
  std::fprintf(stderr, "wrote %zu records of %lld persons (%zu hard non-match pairs) to %s\n",
               population.records.size(), static_cast<long long>(options.persons),
               population.hard_pairs.size(), args.Get("out").c_str());
  return 0;
}

}  // namespace hie::mpi::cli
