#pragma once

// A synchronous Redis client for caches and coordination (never the only copy of anything).
//
// Contract:
//  - Thread-safe. hiredis contexts are not, so each command borrows a context from a small idle
//    list and returns it only when the command succeeded; a context that saw any error or
//    timeout is discarded.
//  - Survives Redis restarts: a command whose reused connection turns out dead (the server
//    restarted since) is retried once on a fresh connection.
//  - Fails fast while Redis is down: after a connect that timed out or failed other than by a
//    refusal, commands answer UNAVAILABLE at once for `reconnect_backoff`, so callers (who treat
//    Redis as optional) are not slowed by repeated connect timeouts. A refused connect is
//    answered at once by the peer, so it is simply tried again by the next command.
//  - Follows a Redis Sentinel failover when given sentinels (RedisOptions::sentinels).
//  - Errors: UNAVAILABLE for connect/IO/timeout, FAILED_PRECONDITION for an error reply.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisContext;

namespace hie::redis {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Redis Sentinel: when `sentinels` is not empty, host and port are not used. Each new
  // connection asks the sentinels, in order, for the address of `master_name`'s master and keeps
  // it only if that server answers ROLE with "master" (a sentinel may still name a demoted
  // master for a moment after a failover); the first sentinel that leads to a master wins.
  // Sentinel disconnects the clients of a demoted master, and a command answered READONLY is
  // tried once more on a new connection, so the client follows a failover by itself.
  struct Address {
    std::string host;
    int port = 0;
  };
  std::vector<Address> sentinels;
  std::string master_name;
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration command_timeout = absl::Milliseconds(200);
  absl::Duration reconnect_backoff = absl::Milliseconds(500);
  size_t max_idle_connections = 8;
};

// A reply as plain data: nil, string (bulk or status), integer, or array of replies.
struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;
  int64_t integer = 0;
  std::vector<RedisReply> elements;
};

class RedisClient {
 public:
  explicit RedisClient(RedisOptions options);
  ~RedisClient();

  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command, e.g. {"SET", key, value, "PX", "5000"}.
  [[nodiscard]] absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);

  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  // `ttl` of zero means no expiry.
  [[nodiscard]] absl::Status Set(const std::string& key, const std::string& value,
                                 absl::Duration ttl);
  [[nodiscard]] absl::StatusOr<int64_t> Del(const std::vector<std::string>& keys);
  [[nodiscard]] absl::StatusOr<int64_t> Publish(const std::string& channel,
                                                const std::string& message);

  // True when the last attempt to connect was refused (nothing listens on the address: the
  // server is down, for every client), until a connection succeeds again. A timeout or an error
  // reply is not a refusal. A refused connection is not followed by the reconnect backoff (the
  // next command tries again), so a command that fails and then this answer false means the
  // server is reachable again.
  bool ConnectionRefused() const { return refused_.load(); }

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const;
  };
  using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

  absl::StatusOr<ContextPtr> Connect();
  // A connection to host:port; *refused tells whether a failure was a refusal.
  absl::StatusOr<ContextPtr> Dial(const std::string& host, int port, bool* refused);
  // A connection to the master the sentinels name (RedisOptions::sentinels).
  absl::StatusOr<ContextPtr> DialMaster(bool* refused);
  // Runs the command once on `context`; on failure the context must be discarded.
  absl::StatusOr<RedisReply> RunOn(redisContext* context, const std::vector<std::string>& args,
                                   bool* io_error);

  const RedisOptions options_;
  std::atomic<bool> refused_{false};
  std::mutex mu_;
  std::vector<ContextPtr> idle_;
  absl::Time next_connect_allowed_ = absl::InfinitePast();
};

}  // namespace hie::redis
