#pragma once

// Hostile HL7 messages of up to 1 MiB (the MLLP frame limit) built to find superlinear work in
// parsing, mapping and acknowledging: tens of thousands of repetitions, a megabyte of
// components, subcomponents or escapes, thousands of segments or A40 groups. Shared by hl7_test
// (which asserts a generous CPU bound per message) and `hl7_bench --worst-case` (which prints
// the real figures; the target is 100 ms of CPU per message).
//
// Not for production code. Pure; deterministic.

#include <string>
#include <string_view>
#include <vector>

#include "services/identity/hl7/message.h"

namespace hie::hl7 {

struct WorstCase {
  std::string name;
  std::string message;
  // The limits the case is parsed with: the defaults, or raised to let a bigger structure in.
  ParseLimits limits;
  // What HandleForWorstCase must answer: MSA-1 ("AA", "AE", "AR") and, unless 0, ERR-3.1.
  std::string expected_ack;
  int expected_error = 0;
};

// Every case, each at most 1 MiB.
std::vector<WorstCase> WorstCases();

// What the service does with a frame: Message::Parse with `limits`, MapAdt, and the ACK
// (BuildAckForRaw / BuildAck with DefaultAckCode / BuildAckForStatus(OK)).
std::string HandleForWorstCase(std::string_view bytes, const ParseLimits& limits);

// CPU time consumed by the calling thread so far, in seconds (CLOCK_THREAD_CPUTIME_ID).
double ThreadCpuSeconds();

}  // namespace hie::hl7
