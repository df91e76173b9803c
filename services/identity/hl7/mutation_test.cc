// Mutation testing of the parser, the ADT mapping and the ACK builder: seeded random byte flips,
// insertions, deletions and truncations of real samples. Every case must end in an event or a
// structured error (never a crash, hang or exception), and an ACK must always be buildable.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"
#include "services/identity/hl7/charset.h"
#include "services/identity/hl7/message.h"

namespace hie::hl7 {
namespace {

std::vector<std::string> LoadSamples() {
  std::vector<std::string> samples;
  for (const auto& entry : std::filesystem::directory_iterator(HIE_HL7_TESTDATA_DIR)) {
    if (entry.path().extension() != ".hl7") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    samples.push_back(bytes.str());
  }
  return samples;
}

std::string Mutate(std::string s, std::mt19937& rng) {
  static constexpr char kInteresting[] = "|^~\\&\r\n\x0b\x1c\xEF\xBB\xBF XF0MSHPIDMRG";
  std::uniform_int_distribution<int> op_dist(0, 5);
  int ops = std::uniform_int_distribution<int>(1, 8)(rng);
  for (int i = 0; i < ops && !s.empty(); ++i) {
    std::uniform_int_distribution<size_t> pos_dist(0, s.size() - 1);
    size_t pos = pos_dist(rng);
    switch (op_dist(rng)) {
      case 0:  // flip a random byte
        s[pos] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
        break;
      case 1:  // flip one bit
        s[pos] = static_cast<char>(s[pos] ^ (1 << std::uniform_int_distribution<int>(0, 7)(rng)));
        break;
      case 2:  // insert a delimiter-ish character
        s.insert(
            pos, 1,
            kInteresting[std::uniform_int_distribution<size_t>(0, sizeof(kInteresting) - 2)(rng)]);
        break;
      case 3:  // delete a range
        s.erase(pos, std::uniform_int_distribution<size_t>(1, 40)(rng));
        break;
      case 4:  // truncate
        s.resize(pos);
        break;
      case 5: {  // duplicate a slice elsewhere
        size_t len = std::min<size_t>(s.size() - pos, 64);
        std::string slice = s.substr(pos, len);
        s.insert(pos_dist(rng), slice);
        break;
      }
    }
  }
  return s;
}

TEST(MutationTest, NeverCrashesAndAlwaysDecides) {
  std::vector<std::string> samples = LoadSamples();
  ASSERT_GE(samples.size(), 10u);
  std::mt19937 rng(20261122);
  int events = 0;
  int errors = 0;
  constexpr int kCases = 20000;
  AckContext ctx;
  ctx.control_id = "A1";
  ctx.now = absl::UnixEpoch();
  for (int i = 0; i < kCases; ++i) {
    const std::string& sample = samples[static_cast<size_t>(i) % samples.size()];
    std::string input = Mutate(sample, rng);
    Hl7Result<Message> parsed = Message::Parse(input);
    std::vector<Hl7Error> found;
    if (parsed.ok()) {
      Hl7Result<AdtEvent> event = MapAdt(parsed.value());
      if (event.ok()) {
        ++events;
        EXPECT_FALSE(event.value().message_control_id.empty());
        EXPECT_FALSE(event.value().patient.local_id.id.empty());
        // The text contract of adt.h, whatever bytes the mutation put in.
        ForEachText(event.value(), [&](const std::string& name, const std::string& value) {
          EXPECT_TRUE(IsValidUtf8(value)) << "case " << i << ": " << name;
          EXPECT_FALSE(HasControlCharacter(value)) << "case " << i << ": " << name;
        });
      } else {
        found.push_back(event.error());
      }
    } else {
      found.push_back(parsed.error());
    }
    if (!found.empty()) {
      ++errors;
      EXPECT_FALSE(found[0].text.empty()) << "case " << i;
      int code = static_cast<int>(found[0].code);
      EXPECT_TRUE(code == 100 || code == 101 || code == 102 || code == 103 || code == 200 ||
                  code == 201 || code == 207)
          << code;
    }
    std::string ack = BuildAckForRaw(
        input, found.empty() ? AckCode::kAccept : DefaultAckCode(found[0]), found, ctx);
    std::string code = AckCodeOf(ack);
    ASSERT_TRUE(code == "AA" || code == "AE" || code == "AR") << "case " << i << ": " << ack;
    EXPECT_TRUE(IsValidUtf8(ack)) << "case " << i;
  }
  EXPECT_EQ(events + errors, kCases);
  // The mutations are mild enough that both outcomes occur; a parser that rejects everything
  // (or accepts everything) would fail here.
  EXPECT_GT(events, kCases / 20);
  EXPECT_GT(errors, kCases / 20);
}

}  // namespace
}  // namespace hie::hl7
