#include "services/identity/hl7/mllp_codec.h"

namespace hie::hl7 {

std::string MllpEncode(std::string_view message) {
  std::string frame;
  frame.reserve(message.size() + 3);
  frame.push_back(kMllpStart);
  frame.append(message);
  frame.push_back(kMllpEnd);
  frame.push_back(kMllpEndCr);
  return frame;
}

void MllpFrameDecoder::Feed(std::string_view bytes) {
  if (oversized_) {
    discarded_ += bytes.size();
    return;
  }
  size_t i = 0;
  while (i < bytes.size()) {
    switch (state_) {
      case State::kOutside: {
        size_t start = bytes.find(kMllpStart, i);
        if (start == std::string_view::npos) {
          discarded_ += bytes.size() - i;
          return;
        }
        discarded_ += start - i;
        state_ = State::kInFrame;
        current_.clear();
        i = start + 1;
        break;
      }
      case State::kInFrame: {
        size_t stop = bytes.find_first_of(std::string_view("\x0b\x1c", 2), i);
        size_t end = stop == std::string_view::npos ? bytes.size() : stop;
        if (current_.size() + (end - i) > max_frame_bytes_) {
          oversized_ = true;
          discarded_ += current_.size() + (bytes.size() - i);
          current_.clear();
          current_.shrink_to_fit();
          return;
        }
        current_.append(bytes.substr(i, end - i));
        i = end;
        if (stop == std::string_view::npos) return;
        if (bytes[stop] == kMllpStart) {  // a new frame before this one ended: resync
          discarded_ += current_.size();
          current_.clear();
        } else {  // the frame is complete at FS; a CR right after it is swallowed
          ready_.push_back(std::move(current_));
          current_.clear();
          state_ = State::kSawEnd;
        }
        i = stop + 1;
        break;
      }
      case State::kSawEnd:
        state_ = State::kOutside;
        if (bytes[i] == kMllpEndCr) ++i;  // else: tolerate a missing CR
        break;
    }
  }
}

bool MllpFrameDecoder::Next(std::string* frame) {
  if (ready_.empty()) return false;
  *frame = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

size_t MllpFrameDecoder::TakeDiscardedBytes() {
  size_t discarded = discarded_;
  discarded_ = 0;
  return discarded;
}

}  // namespace hie::hl7
