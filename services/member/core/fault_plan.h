#pragma once

// Fault injection for a member endpoint, the way a real member fails: slow answers, errors,
// calls accepted and never finished. Pure and deterministic: the decision for the n-th call
// depends only on the options (seed included) and n, so a test or benchmark can predict it.
//
// Faults apply to the data RPCs (FindDocuments, RetrieveDocument). GetCapabilities and the
// health service always answer: a gateway's directory and a load balancer still see the
// process, as with a member whose front end is up and whose records system is stuck.
//
//   black_hole  the call is accepted and nothing is ever sent (no headers, no message) until the
//               client gives up (deadline or cancel) or the server shuts down;
//   hang        the call starts answering (initial metadata; for RetrieveDocument the header
//               message too) and then never finishes, likewise;
//   error_rate  with that probability a call fails UNAVAILABLE (after the latency);
//   latency     every other call is answered that much later.
// black_hole wins over hang, which wins over error_rate.

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hie::member {

struct FaultOptions {
  absl::Duration latency = absl::ZeroDuration();
  double error_rate = 0;  // 0..1
  bool hang = false;
  bool black_hole = false;
  uint64_t seed = 1;
};

enum class FaultAction { kAnswer, kError, kHang, kBlackHole };

struct FaultDecision {
  FaultAction action = FaultAction::kAnswer;
  absl::Duration delay = absl::ZeroDuration();  // before answering or failing
};

// INVALID_ARGUMENT naming the option: error_rate outside 0..1 (or NaN), latency negative or
// above one hour.
absl::Status CheckFaultOptions(const FaultOptions& options);

class FaultPlan {
 public:
  explicit FaultPlan(FaultOptions options) : options_(options) {}

  // Thread-safe.
  FaultDecision Next();
  // True when some call may be delayed or fail.
  bool active() const;
  const FaultOptions& options() const { return options_; }

 private:
  const FaultOptions options_;
  std::atomic<uint64_t> calls_{0};
};

// The n-th draw of the plan's generator as a double in [0, 1) (splitmix64 of seed and n).
double UniformDraw(uint64_t seed, uint64_t n);

}  // namespace hie::member
