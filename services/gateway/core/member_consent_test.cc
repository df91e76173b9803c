// A member's consent work through the gateway: directives only for the caller's own patients,
// another org's directive answered NOT_FOUND and never revoked, break-glass only by a named
// clinician, for an emergency, for a patient the caller fed.

#include "services/gateway/core/member_consent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/gateway/core/fake_hub_for_tests.h"
#include "services/gateway/core/member_writes.h"

namespace hie::gateway {
namespace {

using testing::FakeConsent;
using ::testing::HasSubstr;
using testing::Id;

PeerIdentity Member(const std::string& org) { return {org, "member", org + "-emr"}; }

common::v1::ClientContext Client(common::v1::PurposeOfUse purpose, common::v1::Role role,
                                 const std::string& user = "dr-who") {
  common::v1::ClientContext c;
  c.set_purpose_of_use(purpose);
  c.set_user_role(role);
  c.set_user_id(user);
  return c;
}

common::v1::RequestContext WriteContext(const std::string& org) {
  auto context = MemberWriteContext(
      Member(org),
      Client(common::v1::PURPOSE_OF_USE_OPERATIONS, common::v1::ROLE_ADMINISTRATIVE_STAFF), "gw-1",
      absl::Now());
  EXPECT_TRUE(context.ok()) << context.status();
  return *context;
}

common::v1::RequestContext EmergencyContext(const std::string& org) {
  auto context = BreakGlassContext(
      Member(org), Client(common::v1::PURPOSE_OF_USE_EMERGENCY, common::v1::ROLE_CLINICIAN), "gw-2",
      absl::Now());
  EXPECT_TRUE(context.ok()) << context.status();
  return *context;
}

v1::BreakGlassRequest Glass(const std::string& local_id) {
  v1::BreakGlassRequest r;
  r.set_local_id(local_id);
  r.set_reason("unconscious in the emergency department");
  r.set_reason_code(consent::v1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
  r.set_idempotency_key("bg-key-1");
  return r;
}

TEST(MemberConsentTest, ADirectiveIsRecordedAgainstTheCallersOwnPatientOnly) {
  v1::CreateConsentDirectiveRequest r;
  r.set_idempotency_key("k1");
  r.mutable_directive()->mutable_patient()->set_local_id("a-1");
  r.mutable_directive()->set_effect(consent::v1::EFFECT_DENY);
  auto own = DirectiveCreationOf(WriteContext("clinic-a"), r);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->directive().patient().org(), "clinic-a");  // filled in from the certificate
  EXPECT_EQ(own->context().actor().org(), "clinic-a");

  r.mutable_directive()->mutable_patient()->set_org("clinic-b");
  auto other = DirectiveCreationOf(WriteContext("clinic-a"), r);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.status().message(), HasSubstr("directive.patient.org"));

  r.mutable_directive()->mutable_patient()->set_org("");
  r.set_idempotency_key("");
  EXPECT_THAT(DirectiveCreationOf(WriteContext("clinic-a"), r).status().message(),
              HasSubstr("idempotency_key"));
}

TEST(MemberConsentTest, ListingNamesOnlyTheCallersRecord) {
  v1::ListConsentDirectivesRequest r;
  r.set_local_id("a-1");
  auto listing = DirectiveListingOf(WriteContext("clinic-a"), r);
  ASSERT_TRUE(listing.ok()) << listing.status();
  ASSERT_EQ(listing->patients_size(), 1);
  EXPECT_EQ(listing->patients(0).org(), "clinic-a");
  EXPECT_EQ(listing->patients(0).local_id(), "a-1");
  r.set_local_id("");
  EXPECT_THAT(DirectiveListingOf(WriteContext("clinic-a"), r).status().message(),
              HasSubstr("local_id"));
}

TEST(MemberConsentTest, ListingIsAuditedBeforeItAnswers) {
  testing::FakeHub hub;
  FakeConsent consent;
  v1::ListConsentDirectivesRequest r;
  r.set_local_id("a-1");
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  auto listed =
      ListOwnDirectives(WriteContext("clinic-a"), r, consent, hub, "ev-1", absl::Now(), deadline);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(hub.audited.size(), 1u);
  EXPECT_EQ(hub.audited[0].action(), "gateway.ListConsentDirectives");
  EXPECT_EQ(hub.audited[0].patients(0).local_id(), "a-1");
  hub.audit_failures = 1;
  EXPECT_EQ(
      ListOwnDirectives(WriteContext("clinic-a"), r, consent, hub, "ev-2", absl::Now(), deadline)
          .status()
          .code(),
      absl::StatusCode::kUnavailable);
}

TEST(MemberConsentTest, AnotherOrgsDirectiveIsNotFoundAndNeverRevoked) {
  FakeConsent consent;
  v1::RevokeConsentDirectiveRequest r;
  r.set_directive_id("dir-b");
  r.set_reason("patient changed their mind");
  r.set_idempotency_key("k2");
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  EXPECT_EQ(RevokeOwnDirective(WriteContext("clinic-a"), r, consent, deadline).status().code(),
            absl::StatusCode::kNotFound);
  consent.deny_reads_of_other_orgs = true;  // as the consent service answers
  EXPECT_EQ(RevokeOwnDirective(WriteContext("clinic-a"), r, consent, deadline).status().code(),
            absl::StatusCode::kNotFound);
  r.set_directive_id("dir-unknown");
  EXPECT_EQ(RevokeOwnDirective(WriteContext("clinic-a"), r, consent, deadline).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(consent.revoked.empty());

  r.set_directive_id("dir-po");  // the privacy office's, for clinic-a's patient
  EXPECT_EQ(RevokeOwnDirective(WriteContext("clinic-a"), r, consent, deadline).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(consent.revoked.empty());

  r.set_directive_id("dir-a");
  auto revoked = RevokeOwnDirective(WriteContext("clinic-a"), r, consent, deadline);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->state(), consent::v1::DIRECTIVE_STATE_REVOKED);
  EXPECT_THAT(consent.revoked, ::testing::ElementsAre("dir-a"));

  r.set_reason("");
  EXPECT_THAT(RevokeOwnDirective(WriteContext("clinic-a"), r, consent, deadline).status().message(),
              HasSubstr("reason"));
}

TEST(MemberConsentTest, OnlyANamedClinicianBreaksTheGlassAndOnlyForAnEmergency) {
  const PeerIdentity a = Member("clinic-a");
  EXPECT_TRUE(
      BreakGlassContext(a, Client(common::v1::PURPOSE_OF_USE_EMERGENCY, common::v1::ROLE_CLINICIAN),
                        "g", absl::Now())
          .ok());
  EXPECT_EQ(
      BreakGlassContext(a, Client(common::v1::PURPOSE_OF_USE_TREATMENT, common::v1::ROLE_CLINICIAN),
                        "g", absl::Now())
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(BreakGlassContext(
                a, Client(common::v1::PURPOSE_OF_USE_EMERGENCY, common::v1::ROLE_CLINICAL_STAFF),
                "g", absl::Now())
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(BreakGlassContext(
                  a, Client(common::v1::PURPOSE_OF_USE_EMERGENCY, common::v1::ROLE_CLINICIAN, ""),
                  "g", absl::Now())
                  .status()
                  .message(),
              HasSubstr("context.user_id"));
  EXPECT_THAT(BreakGlassContext(
                  a, Client(common::v1::PURPOSE_OF_USE_UNSPECIFIED, common::v1::ROLE_CLINICIAN),
                  "g", absl::Now())
                  .status()
                  .message(),
              HasSubstr("context.purpose_of_use"));
  EXPECT_EQ(
      BreakGlassContext({"hie-operations", "operator", "op"},
                        Client(common::v1::PURPOSE_OF_USE_EMERGENCY, common::v1::ROLE_CLINICIAN),
                        "g", absl::Now())
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
}

TEST(MemberConsentTest, BreakingTheGlassNeedsAFedPatientAndACodedReason) {
  testing::FakeHub hub;
  FakeConsent consent;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  EXPECT_EQ(OpenBreakGlass(EmergencyContext("clinic-a"), Glass("a-404"), hub, consent, deadline)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  v1::BreakGlassRequest uncoded = Glass("a-1");
  uncoded.set_reason_code(consent::v1::BREAK_GLASS_REASON_UNSPECIFIED);
  EXPECT_THAT(OpenBreakGlass(EmergencyContext("clinic-a"), uncoded, hub, consent, deadline)
                  .status()
                  .message(),
              HasSubstr("reason_code"));
  v1::BreakGlassRequest negative = Glass("a-1");
  negative.mutable_requested_duration()->set_seconds(-60);
  EXPECT_THAT(OpenBreakGlass(EmergencyContext("clinic-a"), negative, hub, consent, deadline)
                  .status()
                  .message(),
              HasSubstr("requested_duration"));
  EXPECT_TRUE(consent.opened.empty());

  auto grant = OpenBreakGlass(EmergencyContext("clinic-a"), Glass("a-1"), hub, consent, deadline);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->grant_id(), "bg-1");
  ASSERT_EQ(consent.opened.size(), 1u);
  const consent::v1::BreakGlassRequest& sent = consent.opened[0];
  ASSERT_EQ(sent.patients_size(), 1);
  EXPECT_EQ(sent.patients(0).org(), "clinic-a");
  EXPECT_EQ(sent.context().purpose_of_use(), common::v1::PURPOSE_OF_USE_EMERGENCY);
  EXPECT_EQ(sent.context().actor().user_id(), "dr-who");
  EXPECT_EQ(sent.reason_code(), consent::v1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
}

}  // namespace
}  // namespace hie::gateway
