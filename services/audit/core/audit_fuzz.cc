// libFuzzer target over the audit service's parsers of untrusted bytes (built with
// -DHIE_FUZZ=ON; scripts/test.sh runs it). The first byte picks the parser:
//   0  DecodeEvent (stored encodings read back): whatever it accepts must re-encode to the very
//      same bytes, so that a decoded event hashes as it was stored
//   1  a RecordBatchRequest from the wire: every event through ValidateEvent; what passes must
//      encode and decode back to an equal event
//   2  CheckpointFromText (the archive's files)
// Anything else: ignored. Crashes, leaks, timeouts and sanitizer reports are failures.

#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "services/audit/core/canonical.h"
#include "services/audit/core/operations.h"
#include "services/audit/store/checkpoint_directory.h"

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
    default:
      break;
  }
  return 0;
}
