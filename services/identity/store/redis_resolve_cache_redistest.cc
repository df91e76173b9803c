// RedisResolveCache against a real redis-server owned by the test.

#include <gtest/gtest.h>

#include "services/identity/store/redis_resolve_cache.h"
#include "tests/support/source_id.h"
#include "tests/support/test_env.h"

namespace hie::identity {
namespace {

using ::hie::test_support::Id;

TEST(RedisResolveCacheTest, PutGetInvalidateAndMissWhenRedisIsDown) {
  HIE_REQUIRE_ENV("HIE_TEST_REDIS");
  hie::testing::RedisProcess server(hie::testing::FreeTcpPort());
  ASSERT_TRUE(server.Start().ok());
  redis::RedisClient client({.port = server.port(), .reconnect_backoff = absl::Seconds(5)});
  RedisResolveCache cache(&client, absl::Seconds(30));

  v1::ResolveResponse answer;
  answer.set_person_id("P00000007");
  answer.add_cross_references()->mutable_source_id()->set_org("clinic-a");
  ResolveCache::Lookup miss = cache.Get(Id("clinic-a", "1"));
  EXPECT_FALSE(miss.hit.has_value());
  ASSERT_TRUE(miss.generation.has_value());
  cache.Put(Id("clinic-a", "1"), miss, answer);
  ResolveCache::Lookup hit = cache.Get(Id("clinic-a", "1"));
  ASSERT_TRUE(hit.hit.has_value());
  EXPECT_EQ(hit.hit->person_id(), "P00000007");
  EXPECT_EQ(hit.hit->cross_references_size(), 1);
  EXPECT_FALSE(cache.Get(Id("clinic-a", "2")).hit.has_value());

  ASSERT_TRUE(cache.Invalidate({Id("clinic-a", "1"), Id("clinic-b", "9")}).ok());
  EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).hit.has_value());

  // A fill whose lookup came before an invalidation (a Resolve that read the database before a
  // write committed) is refused: it would be stale.
  ResolveCache::Lookup before = cache.Get(Id("clinic-a", "1"));
  ASSERT_TRUE(cache.Invalidate({Id("clinic-a", "1")}).ok());
  cache.Put(Id("clinic-a", "1"), before, answer);
  EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).hit.has_value()) << "stale fill was stored";

  cache.Put(Id("clinic-a", "1"), cache.Get(Id("clinic-a", "1")), answer);
  ASSERT_TRUE(cache.Get(Id("clinic-a", "1")).hit.has_value());
  EXPECT_FALSE(cache.Unreachable());
  server.Stop();  // Redis outage: every call is a quick miss, never an error
  absl::Time start = absl::Now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).hit.has_value());
  cache.Put(Id("clinic-a", "1"), cache.Get(Id("clinic-a", "1")), answer);
  EXPECT_FALSE(cache.Invalidate({Id("clinic-a", "1")}).ok());
  EXPECT_TRUE(cache.Unreachable()) << "a refused connection: nobody can read the cache";
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "must fail fast while Redis is down";
}

// An entry lives at most ttl after the lookup that preceded the database read it holds, so a
// writer whose invalidation failed knows when every stale entry is gone.
TEST(RedisResolveCacheTest, EntriesExpireTtlAfterTheirLookup) {
  HIE_REQUIRE_ENV("HIE_TEST_REDIS");
  hie::testing::RedisProcess server(hie::testing::FreeTcpPort());
  ASSERT_TRUE(server.Start().ok());
  redis::RedisClient client({.port = server.port()});
  RedisResolveCache cache(&client, absl::Milliseconds(600));
  v1::ResolveResponse answer;
  answer.set_person_id("P1");
  ResolveCache::Lookup lookup = cache.Get(Id("clinic-a", "1"));
  absl::SleepFor(absl::Milliseconds(300));  // a slow database read
  cache.Put(Id("clinic-a", "1"), lookup, answer);
  EXPECT_TRUE(cache.Get(Id("clinic-a", "1")).hit.has_value());
  absl::SleepFor(lookup.looked_up + absl::Milliseconds(700) - absl::Now());
  EXPECT_FALSE(cache.Get(Id("clinic-a", "1")).hit.has_value());
  // A fill that comes after its lookup's ttl is not stored at all.
  ResolveCache::Lookup late = cache.Get(Id("clinic-a", "2"));
  absl::SleepFor(absl::Milliseconds(650));
  cache.Put(Id("clinic-a", "2"), late, answer);
  EXPECT_FALSE(cache.Get(Id("clinic-a", "2")).hit.has_value());
}

}  // namespace
}  // namespace hie::identity
