// hie-mpi: the command-line tool for linking, evaluating, generating and benchmarking.
#include <cstdio>
#include <cstring>
#include <string>

#include "mpi/tools/cli.h"

namespace {

constexpr const char* kUsage = R"(usage: hie-mpi <command> [options]

commands:
  link      --input FILE.csv [--input FILE2.csv] --output clusters.csv [--map dst=src,...]
            [--mode dedupe|link] [--many-to-many] [--auto-link BITS] [--review BITS]
            [--review-out FILE] [--candidates-out FILE] [--threads N] [--nicknames FILE]
            [--date-order mdy|dmy] [--quiet]
  eval      --clusters FILE (--truth FILE [--truth-columns id,entity] | --truth-pairs FILE |
            --truth-from-id) [--pairs]
  generate  --persons N --seed S --out DIR [--profile default|diverse]
            diverse: 12 orgs, 0.74 further records per person, 5% sparse further records,
            namesakes born within 3 years, 12% Vietnamese names, 15% mixed-case records,
            Spanish surname particles, hard non-match pairs 0.10 x persons
  bench     --records N [--queries Q] [--threads T]
  train     --input FILE.csv [--input ...] --out params.txt [--map dst=src,...]
            [--index-size N] [--threads N] [--nicknames FILE] [--date-order mdy|dmy] [--quiet]
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::FILE* out = argc < 2 ? stderr : stdout;
    std::fputs(kUsage, out);
    std::fprintf(out, "\nnicknames (without --nicknames): %s\n",
                 hie::mpi::cli::DefaultToolNicknamePath().c_str());
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> flags = {"many-to-many", "quiet", "truth-from-id", "pairs",
                                          "one-to-one", "print-model"};
  auto args = hie::mpi::cli::ParseArgs(argc, argv, 2, flags);
  if (!args.ok()) {
    std::fprintf(stderr, "hie-mpi %s: %s\n", command.c_str(),
                 std::string(args.status().message()).c_str());
    return 2;
  }
  if (command == "link") return hie::mpi::cli::RunLink(*args);
  if (command == "eval") return hie::mpi::cli::RunEval(*args);
  if (command == "generate") return hie::mpi::cli::RunGenerate(*args);
  if (command == "bench") return hie::mpi::cli::RunBench(*args);
  if (command == "train") return hie::mpi::cli::RunTrain(*args);
  std::fprintf(stderr, "hie-mpi: unknown command '%s'\n%s", command.c_str(), kUsage);
  return 2;
}
