#include "services/locator/core/authorization.h"

#include <gtest/gtest.h>

namespace hie::locator {
namespace {

using common::v1::ROLE_CLINICIAN;
using common::v1::ROLE_HIE_OPERATOR;
using common::v1::ROLE_PATIENT;

common::v1::Actor Claimed(const std::string& org, common::v1::Role role) {
  common::v1::Actor a;
  a.set_org(org);
  a.set_role(role);
  a.set_user_id("u1");
  return a;
}

absl::StatusCode Code(const PeerIdentity& caller, const common::v1::Actor& claimed, Access access) {
  return ActorForCall(caller, claimed, access, {}).status().code();
}

TEST(LocatorAuthorization, TheGatewayActsForMemberActorsWhoMayWrite) {
  const PeerIdentity gateway{"hie", "service", "gateway"};
  auto actor = ActorForCall(gateway, Claimed("clinic-a", ROLE_CLINICIAN), Access::kRemove, {});
  ASSERT_TRUE(actor.ok());
  EXPECT_EQ(actor->org, "clinic-a");
  EXPECT_EQ(Code(gateway, Claimed("clinic-a", ROLE_PATIENT), Access::kRead), absl::StatusCode::kOk);
  EXPECT_EQ(Code(gateway, Claimed("clinic-a", ROLE_PATIENT), Access::kReport),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(gateway, Claimed("", ROLE_CLINICIAN), Access::kRead),
            absl::StatusCode::kInvalidArgument);
}

TEST(LocatorAuthorization, OtherServicesOnlyReadAsThemselves) {
  const PeerIdentity audit{"hie", "service", "audit"};
  auto actor = ActorForCall(audit, {}, Access::kRead, {});
  ASSERT_TRUE(actor.ok());
  EXPECT_EQ(actor->role, common::v1::ROLE_HUB_SERVICE);
  EXPECT_EQ(Code(audit, {}, Access::kReport), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(audit, Claimed("clinic-a", ROLE_CLINICIAN), Access::kRead),
            absl::StatusCode::kPermissionDenied);
}

TEST(LocatorAuthorization, OperatorsWriteAuditorsRemoveMembersAreRefused) {
  const PeerIdentity op{"hie-operations", "operator", "operator"};
  EXPECT_EQ(Code(op, {}, Access::kReport), absl::StatusCode::kOk);
  EXPECT_EQ(ActorForCall(op, {}, Access::kRemove, {})->role, ROLE_HIE_OPERATOR);
  const PeerIdentity auditor{"hie-privacy", "auditor", "privacy"};
  EXPECT_EQ(Code(auditor, {}, Access::kRemove), absl::StatusCode::kOk);
  EXPECT_EQ(Code(auditor, {}, Access::kReport), absl::StatusCode::kPermissionDenied);
  const PeerIdentity member{"clinic-a", "member", "clinic-a-emr"};
  EXPECT_EQ(Code(member, {}, Access::kRead), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code({"x", "stranger", "x"}, {}, Access::kRead), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace hie::locator
