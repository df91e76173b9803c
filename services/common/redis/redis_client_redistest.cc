// Integration tests of RedisClient against real redis-server processes owned by the test.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "services/common/redis/redis_client.h"
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

// Waits up to 20 s for `done`.
bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// A sentinel monitoring the master on `master_port` as "hie", started by the test, with its own
// writable config file (the sentinel rewrites it) in a temporary directory removed with it.
struct Sentinel {
  explicit Sentinel(int master_port) {
    char dir_template[] = "/tmp/hie-sentinel-XXXXXX";
    if (mkdtemp(dir_template) != nullptr) dir = dir_template;
    std::ofstream(dir + "/sentinel.conf")
        << "sentinel monitor hie 127.0.0.1 " << master_port << " 1\n"
        << "sentinel down-after-milliseconds hie 1000\n"
        << "sentinel failover-timeout hie 5000\n";
    process = std::make_unique<hie::testing::RedisProcess>(hie::testing::FreeTcpPort(),
                                                           dir + "/sentinel.conf",
                                                           std::vector<std::string>{"--sentinel"});
  }
  ~Sentinel() {
    process.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
  std::string dir;
  std::unique_ptr<hie::testing::RedisProcess> process;
};

// With sentinels the client asks them for the master, and follows a failover: once SENTINEL
// FAILOVER has promoted the replica, the client's writes reach the new master. A master, its
// replica and one sentinel, all owned by the test.
TEST(RedisSentinelTest, FindsTheMasterAndFollowsAFailover) {
  HIE_REQUIRE_ENV("HIE_TEST_REDIS");
  hie::testing::RedisProcess master(hie::testing::FreeTcpPort());
  ASSERT_TRUE(master.Start().ok());
  hie::testing::RedisProcess replica(hie::testing::FreeTcpPort(), "",
                                     {"--replicaof", "127.0.0.1", std::to_string(master.port())});
  ASSERT_TRUE(replica.Start().ok());
  Sentinel sentinel_owner(master.port());
  hie::testing::RedisProcess& sentinel = *sentinel_owner.process;
  ASSERT_TRUE(sentinel.Start().ok());
  RedisClient ask_sentinel(RedisOptions{.port = sentinel.port()});
  auto named_master_port = [&] {
    absl::StatusOr<RedisReply> r =
        ask_sentinel.Command({"SENTINEL", "get-master-addr-by-name", "hie"});
    return r.ok() && r->elements.size() == 2 ? r->elements[1].str : std::string();
  };
  ASSERT_TRUE(WaitFor([&] {  // the sentinel learns of the replica from the master
    absl::StatusOr<RedisReply> r = ask_sentinel.Command({"SENTINEL", "replicas", "hie"});
    return r.ok() && !r->elements.empty();
  }));

  RedisClient client(RedisOptions{.sentinels = {{"127.0.0.1", sentinel.port()}},
                                  .master_name = "hie",
                                  .reconnect_backoff = absl::Milliseconds(100)});
  ASSERT_TRUE(client.Set("k", "before", absl::ZeroDuration()).ok());
  RedisClient direct_master(RedisOptions{.port = master.port()});
  EXPECT_EQ(**direct_master.Get("k"), "before") << "the sentinel's master got the write";

  // NOGOODSLAVE until the sentinel has the replica's own INFO (link up, in sync).
  ASSERT_TRUE(WaitFor([&] { return ask_sentinel.Command({"SENTINEL", "FAILOVER", "hie"}).ok(); }));
  ASSERT_TRUE(WaitFor([&] { return named_master_port() == std::to_string(replica.port()); }));
  // Until the sentinel has turned the old master into a replica (and closed its clients), the
  // old master still takes writes: Sentinel's known window, which the cache's short entry
  // lifetime bounds (docs/operations.md, section 7).
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<RedisReply> role = direct_master.Command({"ROLE"});
    return role.ok() && !role->elements.empty() && role->elements[0].str == "slave";
  }));
  ASSERT_TRUE(WaitFor([&] { return client.Set("k", "after", absl::ZeroDuration()).ok(); }));
  RedisClient direct_replica(RedisOptions{.port = replica.port()});
  EXPECT_EQ((*direct_replica.Command({"ROLE"})).elements[0].str, "master");
  EXPECT_EQ(**direct_replica.Get("k"), "after") << "the write reached the promoted master";
  EXPECT_EQ(**client.Get("k"), "after");
}

TEST(RedisSentinelTest, NoMasterOfThatNameIsUnavailableNotRefused) {
  HIE_REQUIRE_ENV("HIE_TEST_REDIS");
  hie::testing::RedisProcess master(hie::testing::FreeTcpPort());
  ASSERT_TRUE(master.Start().ok());
  Sentinel sentinel_owner(master.port());
  hie::testing::RedisProcess& sentinel = *sentinel_owner.process;
  ASSERT_TRUE(sentinel.Start().ok());
  RedisClient client(RedisOptions{
      .sentinels = {{"127.0.0.1", hie::testing::FreeTcpPort()}, {"127.0.0.1", sentinel.port()}},
      .master_name = "other"});
  EXPECT_EQ(client.Get("k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(client.ConnectionRefused()) << "the sentinels named no master: nothing refused";
}

}  // namespace
}  // namespace hie::redis
