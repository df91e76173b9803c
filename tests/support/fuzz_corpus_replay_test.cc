// Replays a committed fuzz corpus through a fuzz target's entry point in the ordinary unit-test
// build, so the nasty seeds are exercised on every run without clang or libFuzzer. A test
// target compiles this file beside the fuzz target's source, with HIE_FUZZ_CORPUS (the corpus
// directory) and HIE_FUZZ_MIN_SEEDS (how many seeds it must find) defined.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(FuzzCorpusTest, EverySeedRunsCleanly) {
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HIE_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
              0)
        << entry.path().filename();
    ++seeds;
  }
  EXPECT_GE(seeds, HIE_FUZZ_MIN_SEEDS);
}

}  // namespace
