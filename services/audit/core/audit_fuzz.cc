// libFuzzer target over the audit service's parsers of untrusted bytes (built with
// -DHIE_FUZZ=ON; scripts/test.sh runs it). The first byte picks the parser:
//   0  DecodeEvent (stored encodings read back): whatever it accepts must re-encode to the very
//      same bytes, so that a decoded event hashes as it was stored
//   1  a RecordBatchRequest from the wire: every event through ValidateEvent; what passes must
//      encode and decode back to an equal event
//   2  CheckpointFromText (the archive's files)
//   3  pg::BinaryCopyParser (the chain as PostgreSQL streams it to Verify): the stream parsed
//      whole and in pieces of 1 to 16 bytes (the next byte says) must give the same tuples and
//      the same verdict
// Anything else: ignored. Crashes, leaks, timeouts and sanitizer reports are failures.

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "services/audit/core/canonical.h"
#include "services/audit/core/operations.h"
#include "services/audit/store/checkpoint_directory.h"
#include "services/common/pg/binary_copy.h"

namespace {

// The tuples `stream` parses to (fields joined, NULL as "~") and whether it was accepted.
std::pair<std::string, bool> ParseCopy(std::string_view stream, size_t piece) {
  hie::pg::BinaryCopyParser parser;
  std::string tuples;
  auto row = [&](const hie::pg::CopyFields& fields) {
    for (const auto& f : fields) {
      tuples += f ? std::string(*f) : "~";
      tuples += '|';
    }
    tuples += '\n';
    return absl::OkStatus();
  };
  for (size_t at = 0; at < stream.size(); at += piece) {
    const std::string_view part = stream.substr(at, piece);
    if (!parser.Feed(absl::string_view(part.data(), part.size()), row).ok()) return {tuples, false};
  }
  return {tuples, parser.Finish().ok()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hie::audit;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 0: {
      absl::StatusOr<v1::AuditEvent> event = DecodeEvent(input);
      if (event.ok() && EncodeEvent(*event) != input) std::abort();
      break;
    }
    case 1: {
      v1::RecordBatchRequest request;
      if (!request.ParseFromArray(input.data(), static_cast<int>(input.size()))) break;
      const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
      for (const auto& e : request.events()) {
        if (!ValidateEvent(e, "events[0]", now).ok()) continue;
        absl::StatusOr<v1::AuditEvent> back = DecodeEvent(EncodeEvent(e));
        v1::AuditEvent expected = e;
        expected.clear_hash();
        expected.clear_previous_hash();
        if (!back.ok() || !google::protobuf::util::MessageDifferencer::Equals(*back, expected)) {
          std::abort();
        }
      }
      break;
    }
    case 2:
      (void)CheckpointFromText(input);
      break;
    case 3: {
      if (input.empty()) break;
      const size_t piece = 1 + static_cast<unsigned char>(input[0]) % 16;
      const std::string_view stream = input.substr(1);
      auto whole = ParseCopy(stream, std::max<size_t>(1, stream.size()));
      auto pieces = ParseCopy(stream, piece);
      // A rejected stream may stop at different tuples; an accepted one must agree exactly.
      if (whole.second != pieces.second || (whole.second && whole.first != pieces.first)) {
        std::abort();
      }
      break;
    }
    default:
      break;
  }
  return 0;
}
