#pragma once

// The consent policy from configuration values (main.cc's keys), checked. Pure.
//   default_mode       "opt-out" | "opt-in"
//   protected_labels   "SYSTEM|CODE,..." (a code without "SYSTEM|" uses the HL7 v3 ActCode
//                      system http://terminology.hl7.org/CodeSystem/v3-ActCode)
//   exempt_purposes    "public_health,legal,..." (PurposeOfUse names without the prefix)
//   max_break_glass    positive duration
// policy_version: as given, or when empty "p-" + a hash of the settings (so that it changes
// whenever the configuration does).

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/consent/v1/consent.pb.h"

namespace hie::consent {

inline constexpr char kActCodeSystem[] = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

struct PolicySettings {
  std::string default_mode = "opt-out";
  std::string protected_labels = "ETH,HIV,PSY,SDV,SEX";
  std::string exempt_purposes;
  absl::Duration max_break_glass = absl::Hours(1);
  bool break_glass_reveals_protected = false;
  bool mask_denied_custodians = false;
  std::string policy_version;
};

absl::StatusOr<v1::ConsentPolicy> BuildPolicy(const PolicySettings& settings);

}  // namespace hie::consent
