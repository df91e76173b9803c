// libFuzzer target consent_fuzz: the first byte chooses the message (even: DecideRequest, odd:
// CreateDirectiveRequest), the rest is parsed as its serialized form; valid requests then run
// through the pure decision over a small fixed set of directives (a CreateDirectiveRequest's
// directive joins them). Validation must hold every invariant the decision relies on: no
// crash, no hang, obligations only on PERMIT, cache_ttl within 1 s.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "services/consent/core/decision.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/core/validation.h"

namespace {

using hie::consent::v1::ConsentDirective;
constexpr char kLabelSystem[] = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

std::vector<ConsentDirective> Fixed() {
  std::vector<ConsentDirective> out(3);
  for (int i = 0; i < 3; ++i) {
    ConsentDirective& d = out[i];
    d.set_directive_id("cd-" + std::to_string(i));
    d.mutable_patient()->set_org("clinic-a");
    d.mutable_patient()->set_local_id("MRN1");
    d.set_state(hie::consent::v1::DIRECTIVE_STATE_ACTIVE);
    d.mutable_effective_period()->mutable_start()->set_seconds(0);
  }
  out[0].set_effect(hie::consent::v1::EFFECT_PERMIT);
  out[1].set_effect(hie::consent::v1::EFFECT_DENY);
  auto* label = out[1].add_sensitivity_labels();
  label->set_system(kLabelSystem);
  label->set_code("ETH");
  out[2].set_effect(hie::consent::v1::EFFECT_DENY);
  out[2].add_custodian_orgs("clinic-x");
  return out;
}

hie::consent::v1::ConsentPolicy Policy(uint8_t selector) {
  hie::consent::v1::ConsentPolicy p;
  p.set_default_mode((selector & 2) ? hie::consent::v1::DEFAULT_MODE_OPT_IN
                                    : hie::consent::v1::DEFAULT_MODE_OPT_OUT);
  auto* label = p.add_protected_labels();
  label->set_system(kLabelSystem);
  label->set_code("ETH");
  if (selector & 4)
    p.add_purposes_exempt_from_consent(hie::common::v1::PURPOSE_OF_USE_PUBLIC_HEALTH);
  p.set_break_glass_reveals_protected(selector & 8);
  return p;
}

void Check(const hie::consent::v1::Decision& d) {
  if (d.effect() != hie::consent::v1::EFFECT_PERMIT && d.obligations_size() != 0) std::abort();
  if (hie::consent::FromProto(d.cache_ttl()) > hie::consent::kMaxCacheTtl) std::abort();
}

void Run(const hie::consent::v1::DecideRequest& r, const std::vector<ConsentDirective>& ds,
         uint8_t selector) {
  hie::consent::v1::ConsentPolicy policy = Policy(selector);
  hie::consent::DecisionRequest request;
  request.actor = r.context().actor();
  request.purpose = r.context().purpose_of_use();
  request.custodian_org = r.custodian_org();
  request.data_categories.assign(r.data_categories().begin(), r.data_categories().end());
  request.sensitivity_labels.assign(r.sensitivity_labels().begin(), r.sensitivity_labels().end());
  request.at = r.has_at() ? hie::consent::FromProto(r.at()) : absl::FromUnixSeconds(1767268800);
  hie::consent::BreakGlassFact fact;
  fact.grant.set_grant_id("bg-1");
  *fact.grant.mutable_actor() = request.actor;
  *fact.grant.mutable_start_time() = hie::consent::ToProto(request.at - absl::Minutes(1));
  *fact.grant.mutable_expire_time() = hie::consent::ToProto(request.at + absl::Minutes(1));
  fact.coverage = static_cast<hie::consent::BreakGlassFact::Coverage>(selector % 3);
  hie::consent::DecisionFacts facts{.policy = &policy,
                                    .break_glass = (selector & 16) ? &fact : nullptr,
                                    .view_fresh = (selector & 32) == 0};
  for (const auto& d : ds) facts.directives.push_back(&d);
  Check(hie::consent::Decide(request, facts, "dc-fuzz"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<ConsentDirective> directives = Fixed();
  if ((selector & 1) == 0) {
    hie::consent::v1::DecideRequest r;
    if (!r.ParseFromString(bytes) || !hie::consent::ValidateDecide(r).ok()) return 0;
    Run(r, directives, selector);
  } else {
    hie::consent::v1::CreateDirectiveRequest r;
    if (!r.ParseFromString(bytes) || !hie::consent::ValidateCreateDirective(r).ok()) return 0;
    ConsentDirective d = r.directive();
    d.set_directive_id("cd-new");
    d.set_state(hie::consent::v1::DIRECTIVE_STATE_ACTIVE);
    directives.push_back(d);
    hie::consent::v1::DecideRequest decide;
    decide.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
    decide.mutable_context()->mutable_actor()->set_org("clinic-b");
    *decide.add_patients() = d.patient();
    decide.set_custodian_org("clinic-a");
    *decide.mutable_at() = d.effective_period().start();
    Run(decide, directives, selector);
  }
  return 0;
}
