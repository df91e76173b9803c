#include "services/member/core/authorization.h"

#include <gtest/gtest.h>

namespace hie::member {
namespace {

TEST(CheckHubCallerTest, OnlyTheNamedHubServices) {
  const HubCallerPolicy policy;
  EXPECT_TRUE(CheckHubCaller({"hie", "service", "gateway"}, policy).ok());
  const PeerIdentity refused[] = {
      {"hie", "service", "registry"},     // another hub service
      {"clinic-b", "member", "gateway"},  // a member naming itself "gateway"
      {"hie-operations", "operator", "operator"},
      {"hie-privacy", "auditor", "auditor"},
      {"hie", "", "gateway"},
  };
  for (const PeerIdentity& p : refused) {
    EXPECT_EQ(CheckHubCaller(p, policy).code(), absl::StatusCode::kPermissionDenied)
        << p.org << "/" << p.role << "/" << p.common_name;
  }
  EXPECT_TRUE(CheckHubCaller({"hie", "service", "gateway-2"}, {.services = {"gateway-2"}}).ok());
}

}  // namespace
}  // namespace hie::member
