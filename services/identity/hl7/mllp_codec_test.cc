#include "services/identity/hl7/mllp_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace hie::hl7 {
namespace {

std::vector<std::string> Drain(MllpFrameDecoder& decoder) {
  std::vector<std::string> frames;
  std::string frame;
  while (decoder.Next(&frame)) frames.push_back(frame);
  return frames;
}

TEST(MllpCodecTest, EncodeWrapsTheMessage) {
  EXPECT_EQ(MllpEncode("MSH|x"), std::string("\x0bMSH|x\x1c\x0d"));
}

TEST(MllpCodecTest, OneFrame) {
  MllpFrameDecoder decoder(1024);
  decoder.Feed(MllpEncode("hello"));
  EXPECT_EQ(Drain(decoder), std::vector<std::string>{"hello"});
  EXPECT_EQ(decoder.TakeDiscardedBytes(), 0u);
  EXPECT_FALSE(decoder.in_frame());
}

TEST(MllpCodecTest, FramesSplitAtEveryPossibleByte) {
  std::string stream = MllpEncode("first message") + MllpEncode("second");
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    MllpFrameDecoder decoder(1024);
    decoder.Feed(std::string_view(stream).substr(0, cut));
    std::vector<std::string> frames = Drain(decoder);
    decoder.Feed(std::string_view(stream).substr(cut));
    for (std::string& f : Drain(decoder)) frames.push_back(f);
    EXPECT_EQ(frames, (std::vector<std::string>{"first message", "second"})) << cut;
    EXPECT_EQ(decoder.TakeDiscardedBytes(), 0u) << cut;
  }
}

TEST(MllpCodecTest, ByteByByteAndCoalesced) {
  std::string stream = MllpEncode("a") + MllpEncode("bb") + MllpEncode("ccc");
  MllpFrameDecoder decoder(1024);
  std::vector<std::string> frames;
  for (char c : stream) {
    decoder.Feed(std::string_view(&c, 1));
    for (std::string& f : Drain(decoder)) frames.push_back(f);
  }
  EXPECT_EQ(frames, (std::vector<std::string>{"a", "bb", "ccc"}));
  MllpFrameDecoder coalesced(1024);
  coalesced.Feed(stream);
  EXPECT_EQ(Drain(coalesced), (std::vector<std::string>{"a", "bb", "ccc"}));
}

TEST(MllpCodecTest, BytesOutsideFramesAreCountedAndDropped) {
  MllpFrameDecoder decoder(1024);
  decoder.Feed("junk" + MllpEncode("m1") + "\r\n" + MllpEncode("m2") + "xy");
  EXPECT_EQ(Drain(decoder), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(decoder.TakeDiscardedBytes(), 8u);
  EXPECT_EQ(decoder.TakeDiscardedBytes(), 0u);
}

TEST(MllpCodecTest, StartInsideAFrameResyncs) {
  MllpFrameDecoder decoder(1024);
  decoder.Feed(std::string("\x0bpartial") + MllpEncode("whole"));
  EXPECT_EQ(Drain(decoder), std::vector<std::string>{"whole"});
  EXPECT_EQ(decoder.TakeDiscardedBytes(), 7u);
}

TEST(MllpCodecTest, EndWithoutCrStillEndsTheFrame) {
  MllpFrameDecoder decoder(1024);
  decoder.Feed(std::string("\x0bone\x1c"));
  EXPECT_EQ(Drain(decoder), std::vector<std::string>{"one"});  // complete at FS
  decoder.Feed(std::string("\x0btwo\x1c\x0d"));
  EXPECT_EQ(Drain(decoder), std::vector<std::string>{"two"});
}

TEST(MllpCodecTest, OversizedFrameIsStickyAndBounded) {
  MllpFrameDecoder decoder(10);
  decoder.Feed(MllpEncode("0123456789"));  // exactly the limit: fine
  EXPECT_EQ(Drain(decoder), std::vector<std::string>{"0123456789"});
  EXPECT_FALSE(decoder.oversized());
  decoder.Feed(std::string("\x0b") + "01234");
  decoder.Feed("567890");
  EXPECT_TRUE(decoder.oversized());
  decoder.Feed(MllpEncode("ok"));
  EXPECT_TRUE(Drain(decoder).empty());
}

TEST(MllpCodecTest, RandomChunkingPreservesFrames) {
  std::mt19937 rng(7);
  std::vector<std::string> messages;
  std::string stream;
  for (int i = 0; i < 200; ++i) {
    messages.push_back(
        std::string(static_cast<size_t>(rng() % 300), 'a' + static_cast<char>(i % 26)));
    stream += MllpEncode(messages.back());
  }
  MllpFrameDecoder decoder(1024);
  std::vector<std::string> frames;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t n = std::min<size_t>(stream.size() - pos, 1 + rng() % 700);
    decoder.Feed(std::string_view(stream).substr(pos, n));
    pos += n;
    for (std::string& f : Drain(decoder)) frames.push_back(f);
  }
  EXPECT_EQ(frames, messages);
}

}  // namespace
}  // namespace hie::hl7
