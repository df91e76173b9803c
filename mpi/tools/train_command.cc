// hie-mpi train: estimates the model on a sample of records and writes a parameters file.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "hie/mpi/csv.h"
#include "hie/mpi/linker.h"
#include "hie/mpi/model_params_file.h"
#include "hie/mpi/nicknames.h"
#include "hie/mpi/normalize.h"
#include "mpi/tools/cli.h"

namespace hie::mpi::cli {

int RunTrain(const Args& args) {
  const auto& inputs = args.All("input");
  if (inputs.empty() || !args.Has("out")) {
    std::fputs("hie-mpi train: --input and --out are required\n", stderr);
    return 2;
  }
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "hie-mpi train: %s\n", std::string(status.message()).c_str());
    return 1;
  };
  ColumnMap map;
  if (args.Has("map")) {
    auto parsed = ParseColumnMap(args.Get("map"));
    if (!parsed.ok()) return fail(parsed.status());
    map = *std::move(parsed);
  }
  TrainOptions options;
  int64_t index_size = 0;
  for (const auto& [name, target] : {std::pair<const char*, int64_t*>{"index-size", &index_size}}) {
    if (!args.Has(name)) continue;
    auto v = ParseInt(name, args.Get(name));
    if (!v.ok() || *v < 2) {
      std::fprintf(stderr, "hie-mpi train: --%s expects an integer >= 2\n", name);
      return 2;
    }
    *target = *v;
  }
  NormalizerOptions norm_options;
  if (!ParseThreadsAndDateOrder(args, "train", &options.threads, &norm_options)) return 2;
  auto nick = NicknameTable::LoadFile(args.Get("nicknames", DefaultToolNicknamePath()));
  if (!nick.ok()) return fail(nick.status());
  const Normalizer normalizer(&*nick, norm_options);

  const double start = NowSeconds();
  std::vector<NormalizedRecord> records;
  absl::flat_hash_set<std::string> ids;
  int64_t bad_rows = 0;
  for (size_t f = 0; f < inputs.size(); ++f) {
    auto text = ReadFile(inputs[f]);
    if (!text.ok()) return fail(text.status());
    std::vector<RowError> errors;
    const absl::Status st = ReadRecordsCsv(
        *text, map, absl::StrCat("f", f + 1, ":"),
        [&](Record&& r, int64_t) {
          if (!ids.insert(r.record_id).second) {
            ++bad_rows;
            return;
          }
          records.push_back(normalizer.Normalize(r));
        },
        &errors);
    if (!st.ok())
      return fail(absl::InvalidArgumentError(absl::StrCat(inputs[f], ": ", st.message())));
    bad_rows += static_cast<int64_t>(errors.size());
  }
  if (records.size() < 2) {
    return fail(absl::InvalidArgumentError("at least two records are needed to train"));
  }
  // As `link` trains: term frequencies, the same candidate pairs, u from random pairs, m and
  // lambda by EM.
  AnnotateFrequencies(&records);
  BlockingStats blocking;
  const std::vector<uint64_t> candidates =
      CandidatePairs(records, nullptr, LinkOptions().max_block_size, &blocking, options.threads);
  TrainResult trained = Train(records, nullptr, candidates, options);
  // lambda is the probability that two random records match. A record has about the same number
  // of matches in any index, so for an index of N records the prior of one pair scales as 1/N.
  const double trained_lambda = trained.params.lambda;
  if (index_size > 0) {
    trained.params.lambda = std::clamp(trained_lambda * static_cast<double>(records.size() - 1) /
                                           static_cast<double>(index_size - 1),
                                       1e-12, 0.5);
  }
  const std::string comment = absl::StrCat(
      "trained on ", records.size(), " records, ", candidates.size(), " candidate pairs; lambda ",
      trained_lambda, index_size > 0 ? absl::StrCat(" rescaled to an index of ", index_size) : "");
  if (absl::Status st = WriteModelParamsFile(trained.params, args.Get("out"), comment); !st.ok()) {
    return fail(st);
  }
  if (!args.Has("quiet")) {
    const Model model(trained.params);
    std::fprintf(stderr,
                 "records %zu (bad rows skipped %lld), candidate pairs %lld, EM %d iterations%s, "
                 "lambda %.4g (prior %.2f bits)%s, %.1f s; wrote %s\n",
                 records.size(), static_cast<long long>(bad_rows),
                 static_cast<long long>(candidates.size()), trained.em.iterations,
                 trained.em.converged ? "" : " (not converged)", trained.params.lambda,
                 model.prior(),
                 index_size > 0 ? absl::StrCat(" for an index of ", index_size).c_str() : "",
                 NowSeconds() - start, args.Get("out").c_str());
    for (int f = 0; f < kNumFields; ++f) {
      const Field field = static_cast<Field>(f);
      std::fprintf(stderr, "%-12s", FieldName(field));
      for (int l = 1; l < NumLevels(field); ++l) {
        std::fprintf(stderr, " %s w=%+.2f", LevelName(field, l), model.weight(field, l));
      }
      std::fputc('\n', stderr);
    }
  }
  return 0;
}

}  // namespace hie::mpi::cli
