#include "services/member/core/fault_plan.h"

#include <cmath>

namespace hie::member {

absl::Status CheckFaultOptions(const FaultOptions& o) {
  if (!(o.error_rate >= 0 && o.error_rate <= 1)) {
    return absl::InvalidArgumentError("fault-error-rate must be between 0 and 1");
  }
  if (o.latency < absl::ZeroDuration() || o.latency > absl::Hours(1)) {
    return absl::InvalidArgumentError("fault-latency-ms must be 0 to 3600000");
  }
  return absl::OkStatus();
}

double UniformDraw(uint64_t seed, uint64_t n) {
  uint64_t z = seed + (n + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

bool FaultPlan::active() const {
  return options_.black_hole || options_.hang || options_.error_rate > 0 ||
         options_.latency > absl::ZeroDuration();
}

FaultDecision FaultPlan::Next() {
  const uint64_t n = calls_.fetch_add(1, std::memory_order_relaxed);
  if (options_.black_hole) return {FaultAction::kBlackHole, absl::ZeroDuration()};
  if (options_.hang) return {FaultAction::kHang, absl::ZeroDuration()};
  const bool fail = options_.error_rate > 0 && UniformDraw(options_.seed, n) < options_.error_rate;
  return {fail ? FaultAction::kError : FaultAction::kAnswer, options_.latency};
}

}  // namespace hie::member
