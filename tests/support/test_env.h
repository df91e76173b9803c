#pragma once

// What integration and end-to-end tests need from their environment.
//
// Servers come from the environment that scripts/test.sh sets up:
//   HIE_TEST_PG_DSN   DSN of a PostgreSQL superuser on a throwaway cluster
//   HIE_TEST_REDIS    host:port of a throwaway Redis
// Without them a test skips with a message; with HIE_TEST_REQUIRE_SERVERS=1 (set by
// scripts/test.sh, hence in CI) it fails instead, so a misconfigured run cannot pass by
// skipping.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/tls.h"

namespace hie::testing {

std::string EnvOrEmpty(const char* name);
bool ServersRequired();

// Skips (or fails, see above) the current test when `env_var` is unset.
#define HIE_REQUIRE_ENV(env_var)                                                      \
  do {                                                                                \
    if (::hie::testing::EnvOrEmpty(env_var).empty()) {                                \
      if (::hie::testing::ServersRequired()) FAIL() << env_var << " is not set";       \
      GTEST_SKIP() << env_var << " is not set; run scripts/test.sh for the full suite"; \
    }                                                                                 \
  } while (false)

// A fresh database on the HIE_TEST_PG_DSN server, dropped (with its connections) when the
// object is destroyed.
class TestDatabase {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TestDatabase>> Create();
  ~TestDatabase();
  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }

 private:
  TestDatabase(std::string admin_dsn, std::string name);
  std::string admin_dsn_;
  std::string name_;
  std::string dsn_;
};

// A redis-server child process owned by the test, so a test can stop and restart it.
class RedisProcess {
 public:
  // `config_file` (may be empty) is redis-server's first argument; `extra` (e.g. "--replicaof",
  // "127.0.0.1", "6380", or "--sentinel") come after the test settings.
  explicit RedisProcess(int port, std::string config_file = "", std::vector<std::string> extra = {})
      : port_(port), config_file_(std::move(config_file)), extra_(std::move(extra)) {}
  ~RedisProcess() { Stop(); }
  [[nodiscard]] absl::Status Start();  // returns once it answers PING
  void Stop();                         // SIGKILL and reap: like a crash
  int port() const { return port_; }

 private:
  int port_;
  std::string config_file_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeTcpPort();

// Files of a certificate issued by scripts/gen-certs.sh: "identity", "clinic-a", "operator"...
TlsFiles TestCertFiles(const std::string& name, bool rogue_ca = false);

}  // namespace hie::testing
