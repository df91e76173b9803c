#include "services/identity/core/authorization.h"

#include <gtest/gtest.h>

namespace hie::identity {
namespace {

using ::hie::common::v1::Actor;

Actor MakeActor(const std::string& org, const std::string& user, hie::common::v1::Role role) {
  Actor a;
  a.set_org(org);
  a.set_user_id(user);
  a.set_role(role);
  return a;
}

const AuthorizationPolicy kPolicy;  // the gateway delegates

absl::StatusCode CodeFor(const Caller& caller, const Actor& claimed, Channel channel,
                         Operation op) {
  return ActorForCall(caller, claimed, channel, op, kPolicy).status().code();
}

TEST(AuthorizationTest, OnlyTheGatewayActsOnBehalfOfAnotherActor) {
  const Actor clinic_b = MakeActor("clinic-b", "", hie::common::v1::ROLE_MEMBER_SYSTEM);
  // The outside review's case: the locator's certificate naming clinic-b's member system.
  EXPECT_EQ(CodeFor({"hie", "service", "locator"}, clinic_b, Channel::kGrpc, Operation::kRegister),
            absl::StatusCode::kPermissionDenied);
  auto gateway = ActorForCall({"hie", "service", "gateway"}, clinic_b, Channel::kGrpc,
                              Operation::kRegister, kPolicy);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  EXPECT_EQ(gateway->org(), "clinic-b");
  // Acting as itself, a non-delegating service may read, never write.
  auto locator = ActorForCall({"hie", "service", "locator"}, Actor(), Channel::kGrpc,
                              Operation::kWatchEvents, kPolicy);
  ASSERT_TRUE(locator.ok()) << locator.status();
  EXPECT_EQ(locator->role(), hie::common::v1::ROLE_HUB_SERVICE);
  EXPECT_EQ(locator->user_id(), "locator");
  EXPECT_EQ(CodeFor({"hie", "service", "locator"}, Actor(), Channel::kGrpc, Operation::kLink),
            absl::StatusCode::kPermissionDenied);
  // The gateway must say whom it acts for.
  EXPECT_EQ(CodeFor({"hie", "service", "gateway"}, Actor(), Channel::kGrpc, Operation::kReadRecord),
            absl::StatusCode::kInvalidArgument);
  // A delegated member actor may not do operator work, even through the gateway.
  EXPECT_EQ(CodeFor({"hie", "service", "gateway"}, clinic_b, Channel::kGrpc, Operation::kLink),
            absl::StatusCode::kPermissionDenied);
  // The delegating set is configuration.
  auto policy = ParseDelegatingServices("gateway, edge-gateway");
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(ActorForCall({"hie", "service", "edge-gateway"}, clinic_b, Channel::kGrpc,
                           Operation::kRegister, *policy)
                  .ok());
  EXPECT_FALSE(ParseDelegatingServices("gateway,\x1b").ok());
}

TEST(AuthorizationTest, StaffActorsComeFromTheCertificate) {
  const Caller op{"hie-operations", "operator", "jsmith"};
  auto actor = ActorForCall(op, Actor(), Channel::kGrpc, Operation::kMergePersons, kPolicy);
  ASSERT_TRUE(actor.ok());
  EXPECT_EQ(actor->user_id(), "jsmith");
  EXPECT_EQ(actor->org(), "hie-operations");
  EXPECT_EQ(actor->role(), hie::common::v1::ROLE_HIE_OPERATOR);
  // Repeating the certificate is fine; naming someone else is not.
  EXPECT_TRUE(
      ActorForCall(op, MakeActor("hie-operations", "jsmith", hie::common::v1::ROLE_HIE_OPERATOR),
                   Channel::kGrpc, Operation::kLink, kPolicy)
          .ok());
  EXPECT_EQ(CodeFor(op, MakeActor("", "someone-else", {}), Channel::kGrpc, Operation::kLink),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CodeFor(op, MakeActor("clinic-a", "", {}), Channel::kGrpc, Operation::kLink),
            absl::StatusCode::kPermissionDenied);
  const Caller auditor{"hie-privacy", "auditor", "pat"};
  EXPECT_EQ(CodeFor(auditor, Actor(), Channel::kGrpc, Operation::kReadHistory),
            absl::StatusCode::kOk);
  EXPECT_EQ(CodeFor(auditor, Actor(), Channel::kGrpc, Operation::kUnlink),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizationTest, MembersFeedHl7ButUseTheGatewayForGrpc) {
  const Caller member{"clinic-a", "member", "clinic-a"};
  EXPECT_EQ(CodeFor(member, Actor(), Channel::kGrpc, Operation::kReadRecord),
            absl::StatusCode::kPermissionDenied);
  auto actor = ActorForCall(member, Actor(), Channel::kHl7, Operation::kRegister, kPolicy);
  ASSERT_TRUE(actor.ok());
  EXPECT_EQ(actor->org(), "clinic-a");
  EXPECT_EQ(actor->role(), hie::common::v1::ROLE_MEMBER_SYSTEM);
  EXPECT_EQ(
      CodeFor({"hie-operations", "operator", "x"}, Actor(), Channel::kHl7, Operation::kRegister),
      absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CodeFor({"x", "stranger", "x"}, Actor(), Channel::kGrpc, Operation::kReadRecord),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizationTest, MemberActorsTouchOnlyTheirOwnOrganisationsRecords) {
  const Actor member = MakeActor("clinic-a", "", hie::common::v1::ROLE_MEMBER_SYSTEM);
  hie::common::v1::SourceId own, other;
  own.set_org("clinic-a");
  own.set_local_id("1");
  other.set_org("clinic-b");
  other.set_local_id("1");
  EXPECT_TRUE(CheckActorScope(member, Operation::kRegister, {{&own, "source_id"}}).ok());
  absl::Status s = CheckActorScope(member, Operation::kMergeSourceRecords,
                                   {{&own, "survivor"}, {&other, "superseded"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "superseded.org must be the acting member's own organisation");
  EXPECT_EQ(CheckActorScope(member, Operation::kMergePersons).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckActorScope(member, Operation::kWatchEvents).code(),
            absl::StatusCode::kPermissionDenied);
  // Staff and in-process callers are not constrained by organisation.
  EXPECT_TRUE(CheckActorScope(MakeActor("hie", "op", hie::common::v1::ROLE_HIE_OPERATOR),
                              Operation::kRegister, {{&other, "source_id"}})
                  .ok());
  EXPECT_TRUE(CheckActorScope(Actor(), Operation::kLink).ok());
}

}  // namespace
}  // namespace hie::identity
