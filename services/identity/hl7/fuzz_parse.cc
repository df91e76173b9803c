// libFuzzer target for the HL7 v2 parser, ADT mapping and ACK builder (clang only, not in the
// default build):
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DHIE_HL7_FUZZ=ON
//   cmake --build build-fuzz --target hl7_fuzz && build-fuzz/services/identity/hl7/hl7_fuzz \
//       services/identity/hl7/testdata

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"
#include "services/identity/hl7/message.h"
#include "services/identity/hl7/mllp_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace hie::hl7;  // NOLINT(build/namespaces): a fuzz entry point
  std::vector<Hl7Error> errors;
  Hl7Result<Message> parsed = Message::Parse(input);
  if (parsed.ok()) {
    Hl7Result<AdtEvent> event = MapAdt(parsed.value());
    if (!event.ok()) errors.push_back(event.error());
  } else {
    errors.push_back(parsed.error());
  }
  AckContext ctx{"F1", absl::UnixEpoch()};
  std::string ack =
      BuildAckForRaw(input, errors.empty() ? AckCode::kAccept : AckCode::kReject, errors, ctx);
  if (AckCodeOf(ack).empty()) __builtin_trap();  // an ACK must always parse
  MllpFrameDecoder decoder(4096);
  decoder.Feed(input);
  std::string frame;
  while (decoder.Next(&frame)) {
  }
  return 0;
}
