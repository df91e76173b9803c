// Replays the committed fuzz corpus (fuzz_corpus/) through the fuzz target's entry point in the
// ordinary unit-test build, so the nasty seeds are exercised without clang or libFuzzer.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(ConsentFuzzCorpusTest, EverySeedRunsCleanly) {
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HIE_CONSENT_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
              0)
        << entry.path().filename();
    ++seeds;
  }
  EXPECT_GE(seeds, 20);
}

}  // namespace
