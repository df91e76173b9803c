#include "services/consent/core/authorization.h"

#include <gtest/gtest.h>

namespace hie::consent {
namespace {

using hie::common::v1::Actor;

Actor Member(const std::string& org, hie::common::v1::Role role, const std::string& user = "u") {
  Actor a;
  a.set_org(org);
  a.set_user_id(user);
  a.set_role(role);
  return a;
}

TEST(AuthorizationTest, TheGatewayDelegatesOtherServicesOnlyDecide) {
  AuthorizationPolicy policy;
  Caller gateway{"hie", "service", "gateway"}, registry{"hie", "service", "registry"};
  Actor clinician = Member("clinic-a", hie::common::v1::ROLE_CLINICIAN);
  auto a = ActorForCall(gateway, clinician, Operation::kBreakGlass, policy);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->org(), "clinic-a");
  EXPECT_EQ(ActorForCall(gateway, Actor{}, Operation::kDecide, policy).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto self = ActorForCall(registry, Actor{}, Operation::kDecide, policy);
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->role(), hie::common::v1::ROLE_HUB_SERVICE);
  EXPECT_EQ(ActorForCall(registry, Actor{}, Operation::kWriteDirective, policy).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ActorForCall(registry, clinician, Operation::kDecide, policy).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizationTest, StaffCertificatesActAsThemselves) {
  AuthorizationPolicy policy;
  Caller auditor{"hie-privacy", "auditor", "auditor"}, op{"hie-operations", "operator", "operator"};
  auto officer = ActorForCall(auditor, Actor{}, Operation::kReviewGrant, policy);
  ASSERT_TRUE(officer.ok());
  EXPECT_TRUE(IsPrivacyOfficer(*officer));
  EXPECT_EQ(ActorForCall(auditor, Member("clinic-a", hie::common::v1::ROLE_CLINICIAN),
                         Operation::kDecide, policy)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ActorForCall(op, Actor{}, Operation::kDecide, policy).ok());
  EXPECT_FALSE(ActorForCall(op, Actor{}, Operation::kWriteDirective, policy).ok());
  EXPECT_FALSE(
      ActorForCall({"clinic-a", "member", "emr"}, Actor{}, Operation::kDecide, policy).ok());
}

TEST(AuthorizationTest, ActorScope) {
  Actor clerk = Member("clinic-a", hie::common::v1::ROLE_ADMINISTRATIVE_STAFF);
  EXPECT_TRUE(CheckActorScope(clerk, Operation::kWriteDirective, "clinic-a").ok());
  EXPECT_FALSE(CheckActorScope(clerk, Operation::kWriteDirective, "clinic-b").ok());
  EXPECT_FALSE(CheckActorScope(clerk, Operation::kBreakGlass).ok());
  Actor doc = Member("clinic-b", hie::common::v1::ROLE_CLINICIAN, "dr-b");
  EXPECT_TRUE(CheckActorScope(doc, Operation::kBreakGlass).ok());
  EXPECT_TRUE(CheckActorScope(doc, Operation::kEndBreakGlass, {}, &doc).ok());
  Actor other = Member("clinic-b", hie::common::v1::ROLE_CLINICIAN, "dr-x");
  EXPECT_FALSE(CheckActorScope(other, Operation::kEndBreakGlass, {}, &doc).ok());
  EXPECT_FALSE(CheckActorScope(doc, Operation::kReviewGrant).ok());
  EXPECT_FALSE(CheckActorScope(Actor{}, Operation::kDecide).ok());
}

}  // namespace
}  // namespace hie::consent
