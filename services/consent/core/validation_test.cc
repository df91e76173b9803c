// Request checks name the field and never the value.

#include "services/consent/core/validation.h"

#include <gtest/gtest.h>

namespace hie::consent {
namespace {

v1::DecideRequest Valid() {
  v1::DecideRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  auto* p = r.add_patients();
  p->set_org("clinic-a");
  p->set_local_id("MRN1");
  r.set_custodian_org("clinic-b");
  return r;
}

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(std::string(s.message()).rfind(field, 0), 0u) << s.message();
}

TEST(ValidationTest, DecideFieldsAreCheckedByName) {
  EXPECT_TRUE(ValidateDecide(Valid()).ok());
  auto r = Valid();
  r.clear_patients();
  ExpectInvalid(ValidateDecide(r), "patients");
  r = Valid();
  for (int i = 0; i < 1000; ++i) *r.add_patients() = r.patients(0);
  ExpectInvalid(ValidateDecide(r), "patients");
  r = Valid();
  r.mutable_patients(0)->set_local_id("MRN 1");
  ExpectInvalid(ValidateDecide(r), "patients[0].local_id");
  r = Valid();
  r.set_custodian_org(std::string("clinic-\xff", 8));
  ExpectInvalid(ValidateDecide(r), "custodian_org");
  r = Valid();
  r.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED);
  ExpectInvalid(ValidateDecide(r), "context.purpose_of_use");
  r = Valid();
  r.add_sensitivity_labels()->set_code("ETH");
  ExpectInvalid(ValidateDecide(r), "sensitivity_labels[0].system");
  r = Valid();
  r.mutable_at()->set_nanos(-1);
  ExpectInvalid(ValidateDecide(r), "at");
  r = Valid();
  r.mutable_context()->set_request_id("a\nb");
  ExpectInvalid(ValidateDecide(r), "context.request_id");
}

TEST(ValidationTest, DirectivePeriodsMustNotBeEmptyOrInverted) {
  v1::CreateDirectiveRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.set_idempotency_key("k");
  auto* d = r.mutable_directive();
  d->mutable_patient()->set_org("clinic-a");
  d->mutable_patient()->set_local_id("MRN1");
  d->set_effect(v1::EFFECT_DENY);
  ExpectInvalid(ValidateCreateDirective(r), "directive.effective_period.start");
  d->mutable_effective_period()->mutable_start()->set_seconds(100);
  EXPECT_TRUE(ValidateCreateDirective(r).ok());
  d->mutable_effective_period()->mutable_end()->set_seconds(100);
  ExpectInvalid(ValidateCreateDirective(r), "directive.effective_period");
  d->mutable_effective_period()->mutable_end()->set_seconds(50);
  ExpectInvalid(ValidateCreateDirective(r), "directive.effective_period");
  d->mutable_effective_period()->clear_end();
  d->set_comment(std::string(2000, 'x'));
  ExpectInvalid(ValidateCreateDirective(r), "directive.comment");
  d->clear_comment();
  r.clear_idempotency_key();
  ExpectInvalid(ValidateCreateDirective(r), "idempotency_key");
}

TEST(ValidationTest, BreakGlassNeedsEmergencyAReasonCodeAndAPositiveDuration) {
  v1::BreakGlassRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  r.set_idempotency_key("k");
  auto* p = r.add_patients();
  p->set_org("clinic-a");
  p->set_local_id("MRN1");
  r.set_reason("unconscious");
  ExpectInvalid(ValidateBreakGlass(r), "context.purpose_of_use");
  r.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_EMERGENCY);
  ExpectInvalid(ValidateBreakGlass(r), "reason_code");
  r.set_reason_code(v1::BREAK_GLASS_REASON_LIFE_THREATENING);
  EXPECT_TRUE(ValidateBreakGlass(r).ok());
  r.mutable_requested_duration()->set_seconds(-5);
  ExpectInvalid(ValidateBreakGlass(r), "requested_duration");
}

TEST(ValidationTest, BatchDecideLimitsCustodians) {
  v1::BatchDecideRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  auto* p = r.add_patients();
  p->set_org("clinic-a");
  p->set_local_id("MRN1");
  ExpectInvalid(ValidateBatchDecide(r), "custodian_orgs");
  for (int i = 0; i < 201; ++i) r.add_custodian_orgs("clinic-" + std::to_string(i));
  ExpectInvalid(ValidateBatchDecide(r), "custodian_orgs");
}

}  // namespace
}  // namespace hie::consent
