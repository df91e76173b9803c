#include "services/consent/core/policy_config.h"

#include <gtest/gtest.h>

namespace hie::consent {
namespace {

TEST(PolicyConfigTest, BuildsAndChecks) {
  PolicySettings s;
  s.protected_labels = "ETH,urn:x|Y";
  s.exempt_purposes = "public_health";
  auto p = BuildPolicy(s);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_mode(), v1::DEFAULT_MODE_OPT_OUT);
  ASSERT_EQ(p->protected_labels_size(), 2);
  EXPECT_EQ(p->protected_labels(0).system(), kActCodeSystem);
  EXPECT_EQ(p->protected_labels(1).system(), "urn:x");
  EXPECT_EQ(p->purposes_exempt_from_consent(0), hie::common::v1::PURPOSE_OF_USE_PUBLIC_HEALTH);
  EXPECT_EQ(p->policy_version().rfind("p-", 0), 0u);
  s.default_mode = "opt-in";
  EXPECT_NE(BuildPolicy(s)->policy_version(), p->policy_version()) << "changes with the policy";
  s.exempt_purposes = "gossip";
  EXPECT_FALSE(BuildPolicy(s).ok());
  s.exempt_purposes = "";
  s.default_mode = "maybe";
  EXPECT_FALSE(BuildPolicy(s).ok());
}

}  // namespace
}  // namespace hie::consent
