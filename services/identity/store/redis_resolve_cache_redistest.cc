// RedisResolveCache against a real redis-server owned by the test.

#include "services/identity/store/redis_resolve_cache.h"

#include <gtest/gtest.h>

#include "tests/support/test_env.h"

namespace hie::identity {
namespace {

SourceId Id(const std::string& org, const std::string& local) {
  SourceId id;
  id.set_org(org);
  id.set_local_id(local);
  return id;
}

TEST(RedisResolveCacheTest, PutGetInvalidateAndMissWhenRedisIsDown) {
  HIE_REQUIRE_ENV("HIE_TEST_REDIS");
  hie::testing::RedisProcess server(hie::testing::FreeTcpPort());
  ASSERT_TRUE(server.Start().ok());
  redis::RedisClient client({.port = server.port(), .reconnect_backoff = absl::Seconds(5)});
  RedisResolveCache cache(&client, absl::Seconds(30));

  v1::ResolveResponse answer;
  answer.set_person_id("P00000007");
  answer.add_cross_references()->mutable_source_id()->set_org("clinic-a");
  EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).has_value());
  cache.Put(Id("clinic-a", "1"), answer);
  std::optional<v1::ResolveResponse> hit = cache.Get(Id("clinic-a", "1"));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->person_id(), "P00000007");
  EXPECT_EQ(hit->cross_references_size(), 1);
  EXPECT_FALSE(cache.Get(Id("clinic-a", "2")).has_value());

  cache.Invalidate({Id("clinic-a", "1"), Id("clinic-b", "9")});
  EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).has_value());

  cache.Put(Id("clinic-a", "1"), answer);
  server.Stop();  // Redis outage: every call is a quick miss, never an error
  absl::Time start = absl::Now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).has_value());
  cache.Put(Id("clinic-a", "1"), answer);
  cache.Invalidate({Id("clinic-a", "1")});
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "must fail fast while Redis is down";
}

}  // namespace
}  // namespace hie::identity
