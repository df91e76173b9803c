#include "services/consent/core/policy_config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/consent/core/time_proto.h"

namespace hie::consent {

absl::StatusOr<v1::ConsentPolicy> BuildPolicy(const PolicySettings& s) {
  v1::ConsentPolicy p;
  if (s.default_mode == "opt-out") {
    p.set_default_mode(v1::DEFAULT_MODE_OPT_OUT);
  } else if (s.default_mode == "opt-in") {
    p.set_default_mode(v1::DEFAULT_MODE_OPT_IN);
  } else {
    return absl::InvalidArgumentError("--default-mode must be opt-out or opt-in");
  }
  for (absl::string_view item : absl::StrSplit(s.protected_labels, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(item, absl::MaxSplits('|', 1));
    hie::common::v1::Coding* c = p.add_protected_labels();
    if (parts.second.empty()) {
      c->set_system(kActCodeSystem);
      c->set_code(std::string(parts.first));
    } else {
      c->set_system(std::string(parts.first));
      c->set_code(std::string(parts.second));
    }
    if (c->system().empty() || c->code().empty()) {
      return absl::InvalidArgumentError("--protected-labels has an empty system or code");
    }
  }
  for (absl::string_view name : absl::StrSplit(s.exempt_purposes, ',', absl::SkipEmpty())) {
    hie::common::v1::PurposeOfUse purpose;
    if (!hie::common::v1::PurposeOfUse_Parse(
            absl::StrCat("PURPOSE_OF_USE_", absl::AsciiStrToUpper(name)), &purpose) ||
        purpose == hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
      return absl::InvalidArgumentError("--exempt-purposes names an unknown purpose");
    }
    p.add_purposes_exempt_from_consent(purpose);
  }
  if (s.max_break_glass <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--max-break-glass must be positive");
  }
  *p.mutable_max_break_glass_duration() = ToProtoDuration(s.max_break_glass);
  p.set_break_glass_reveals_protected(s.break_glass_reveals_protected);
  p.set_mask_denied_custodians(s.mask_denied_custodians);
  if (!s.policy_version.empty()) {
    p.set_policy_version(s.policy_version);
  } else {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a over the settings' encoding
    for (unsigned char c : p.SerializeAsString()) h = (h ^ c) * 1099511628211ULL;
    p.set_policy_version(absl::StrFormat("p-%016x", h));
  }
  return p;
}

}  // namespace hie::consent
