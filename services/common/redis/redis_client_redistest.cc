// Integration tests of RedisClient against real redis-server processes owned by the test.

#include "services/common/redis/redis_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "tests/support/test_env.h"

namespace hie::redis {
namespace {

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_REDIS");  // scripts/test.sh sets it when redis-server exists
    server_ = std::make_unique<hie::testing::RedisProcess>(hie::testing::FreeTcpPort());
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<RedisClient>(RedisOptions{
        .port = server_->port(), .reconnect_backoff = absl::Milliseconds(100)});
  }

  std::unique_ptr<hie::testing::RedisProcess> server_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(RedisClientTest, SetGetDelAndExpiry) {
  ASSERT_TRUE(client_->Set("resolve:clinic-a:1", "person-9", absl::ZeroDuration()).ok());
  EXPECT_EQ(**client_->Get("resolve:clinic-a:1"), "person-9");
  EXPECT_EQ(*client_->Del({"resolve:clinic-a:1", "missing"}), 1);
  EXPECT_FALSE(client_->Get("resolve:clinic-a:1")->has_value());

  ASSERT_TRUE(client_->Set("short", "x", absl::Milliseconds(50)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(client_->Get("short")->has_value());
}

TEST_F(RedisClientTest, ErrorReplyIsFailedPrecondition) {
  ASSERT_TRUE(client_->Set("k", "v", absl::ZeroDuration()).ok());
  absl::StatusOr<RedisReply> reply = client_->Command({"LPUSH", "k", "x"});  // WRONGTYPE
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(client_->Get("k").ok()) << "the client stays usable after an error reply";
}

TEST_F(RedisClientTest, ReconnectsTransparentlyAfterServerRestart) {
  ASSERT_TRUE(client_->Set("before", "1", absl::ZeroDuration()).ok());  // leaves an idle connection
  server_->Stop();
  ASSERT_TRUE(server_->Start().ok());
  // The pooled connection is dead; the client must notice and use a fresh one, on the first call.
  absl::Status after = client_->Set("after", "2", absl::ZeroDuration());
  EXPECT_TRUE(after.ok()) << after;
  EXPECT_EQ(**client_->Get("after"), "2");
  EXPECT_FALSE(client_->Get("before")->has_value()) << "a new, empty server";
}

TEST_F(RedisClientTest, DownServerIsUnavailableThenRecovers) {
  server_->Stop();
  EXPECT_EQ(client_->Get("x").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(client_->ConnectionRefused());
  EXPECT_EQ(client_->Get("x").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(client_->ConnectionRefused());

  ASSERT_TRUE(server_->Start().ok());
  absl::Status recovered = absl::UnavailableError("not tried");
  for (int i = 0; i < 50 && !recovered.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    recovered = client_->Set("x", "1", absl::ZeroDuration());
  }
  EXPECT_TRUE(recovered.ok()) << recovered;
  EXPECT_FALSE(client_->ConnectionRefused());
}

// A refusal is not followed by the reconnect backoff: the first command after the server is
// back reaches it, and ConnectionRefused() stops saying "down" (the resolve cache acknowledges
// writes without invalidating only while Redis refuses connections, so a stale "refused" would
// let a stale answer be served).
TEST_F(RedisClientTest, RefusalIsRetriedAtOnceWhenTheServerIsBack) {
  RedisClient client(RedisOptions{.port = server_->port(), .reconnect_backoff = absl::Hours(1)});
  server_->Stop();
  EXPECT_EQ(client.Get("x").status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(client.ConnectionRefused());
  ASSERT_TRUE(server_->Start().ok());  // returns once the server answers PING
  EXPECT_TRUE(client.Set("x", "1", absl::ZeroDuration()).ok());
  EXPECT_FALSE(client.ConnectionRefused());
}

TEST_F(RedisClientTest, ConcurrentCallersShareTheClient) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = "k" + std::to_string(t) + ":" + std::to_string(i);
        if (!client_->Set(key, key, absl::ZeroDuration()).ok()) ++failures;
        absl::StatusOr<std::optional<std::string>> got = client_->Get(key);
        if (!got.ok() || **got != key) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace hie::redis
