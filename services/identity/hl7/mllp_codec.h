#pragma once

// MLLP (Minimal Lower Layer Protocol) framing, pure and independent of sockets:
//   <VT 0x0B> message bytes <FS 0x1C><CR 0x0D>
//
// MllpFrameDecoder accepts bytes as they arrive (a frame may be split across reads, several
// frames may come in one read) and yields complete frames in order. Bytes outside a frame are
// counted and dropped. A VT inside a frame restarts the frame (the partial one is dropped and
// counted). A frame is complete at its FS; the CR after it is expected but, when missing, the
// following byte is treated as outside any frame. A frame that grows beyond max_frame_bytes puts
// the decoder in the oversized state, after which it yields nothing more: the connection should
// answer AR and close.
//
// Not thread-safe; one decoder per connection.

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace hie::hl7 {

inline constexpr char kMllpStart = '\x0b';
inline constexpr char kMllpEnd = '\x1c';
inline constexpr char kMllpEndCr = '\x0d';

// Wraps one message in an MLLP frame.
std::string MllpEncode(std::string_view message);

class MllpFrameDecoder {
 public:
  explicit MllpFrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Consumes `bytes`; completed frames become available through Next().
  void Feed(std::string_view bytes);
  // Moves the next complete frame's payload into *frame; false when there is none.
  bool Next(std::string* frame);

  // True once a frame exceeded max_frame_bytes (sticky).
  bool oversized() const { return oversized_; }
  // Bytes dropped (outside frames, abandoned partial frames) since the last call; resets.
  size_t TakeDiscardedBytes();
  // True while a frame has started but not ended.
  bool in_frame() const { return state_ == State::kInFrame; }

 private:
  enum class State { kOutside, kInFrame, kSawEnd };
  size_t max_frame_bytes_;
  State state_ = State::kOutside;
  std::string current_;
  std::deque<std::string> ready_;
  size_t discarded_ = 0;
  bool oversized_ = false;
};

}  // namespace hie::hl7
