#include "services/registry/core/authorization.h"

#include <gtest/gtest.h>

namespace hie::registry {
namespace {

using common::v1::ROLE_CLINICIAN;
using common::v1::ROLE_HIE_OPERATOR;
using common::v1::ROLE_HUB_SERVICE;
using common::v1::ROLE_PRIVACY_OFFICER;

common::v1::Actor Claimed(const std::string& org, common::v1::Role role) {
  common::v1::Actor a;
  a.set_org(org);
  a.set_role(role);
  return a;
}

const PeerIdentity kGateway{"hie", "service", "gateway"};
const PeerIdentity kLocator{"hie", "service", "locator"};
const PeerIdentity kOperator{"hie-operations", "operator", "operator"};
const PeerIdentity kAuditor{"hie-privacy", "auditor", "auditor"};
const PeerIdentity kMember{"clinic-a", "member", "clinic-a"};

TEST(RegistryAuthorization, TheGatewayActsForTheActorItNames) {
  auto actor = ActorForCall(kGateway, Claimed("clinic-a", ROLE_CLINICIAN), Access::kPublish, {});
  ASSERT_TRUE(actor.ok()) << actor.status();
  EXPECT_EQ(actor->org, "clinic-a");
  EXPECT_EQ(ActorForCall(kGateway, Claimed("", ROLE_CLINICIAN), Access::kRead, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ActorForCall(kGateway, Claimed("hie", ROLE_HIE_OPERATOR), Access::kPublish, {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied)
      << "only member actors publish";
  EXPECT_TRUE(ActorForCall(kGateway, Claimed("hie", ROLE_HIE_OPERATOR), Access::kRead, {}).ok());
}

TEST(RegistryAuthorization, OthersReadAsThemselves) {
  auto locator = ActorForCall(kLocator, {}, Access::kRead, {});
  ASSERT_TRUE(locator.ok());
  EXPECT_EQ(locator->role, ROLE_HUB_SERVICE);
  EXPECT_EQ(ActorForCall(kLocator, {}, Access::kPublish, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ActorForCall(kLocator, Claimed("clinic-a", ROLE_CLINICIAN), Access::kRead, {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied)
      << "a service outside the policy may not name an actor";
  auto op = ActorForCall(kOperator, {}, Access::kRead, {});
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->role, ROLE_HIE_OPERATOR);
  auto auditor =
      ActorForCall(kAuditor, Claimed("hie-privacy", ROLE_PRIVACY_OFFICER), Access::kRead, {});
  ASSERT_TRUE(auditor.ok());
  EXPECT_EQ(ActorForCall(kAuditor, Claimed("clinic-a", ROLE_PRIVACY_OFFICER), Access::kRead, {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ActorForCall(kMember, {}, Access::kRead, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  AuthorizationPolicy none;
  none.delegating_services.clear();
  EXPECT_EQ(ActorForCall(kGateway, Claimed("clinic-a", ROLE_CLINICIAN), Access::kPublish, none)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RegistryAuthorization, OnlyFeedReadersReadTheChangeFeed) {
  auto locator = ActorForCall(kLocator, {}, Access::kFeed, {});
  ASSERT_TRUE(locator.ok()) << locator.status();
  EXPECT_EQ(locator->org, "hie");
  EXPECT_EQ(locator->user_id, "locator");
  EXPECT_EQ(locator->role, ROLE_HUB_SERVICE);
  EXPECT_EQ(ActorForCall(kLocator, Claimed("clinic-a", ROLE_CLINICIAN), Access::kFeed, {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied)
      << "a feed reader reads as itself";
  const PeerIdentity identity{"hie", "service", "identity"};
  const PeerIdentity locator_operator{"hie-operations", "operator", "locator"};
  for (const PeerIdentity& caller :
       {kGateway, identity, kOperator, kAuditor, kMember, locator_operator}) {
    SCOPED_TRACE(caller.common_name + " " + caller.role);
    absl::StatusOr<Actor> denied = ActorForCall(caller, {}, Access::kFeed, {});
    EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(denied.status().message(),
              "only the services named by --feed-readers read the change feed");
  }
  EXPECT_EQ(ActorForCall(kGateway, Claimed("clinic-a", ROLE_CLINICIAN), Access::kFeed, {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied)
      << "the gateway may not read the feed for an actor either";
  AuthorizationPolicy audit_reads;
  audit_reads.feed_readers = {"audit"};
  EXPECT_EQ(ActorForCall(kLocator, {}, Access::kFeed, audit_reads).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ActorForCall({"hie", "service", "audit"}, {}, Access::kFeed, audit_reads).ok());
}

}  // namespace
}  // namespace hie::registry
