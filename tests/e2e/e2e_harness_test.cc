// The end-to-end harness itself: PostgreSQL crashed and restarted keeps committed data on the
// same port, and a test process that dies (SIGKILL: no destructor runs) leaves no server
// running and no directory behind.

#include "tests/e2e/e2e_harness.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/redis/redis_client.h"

namespace hie::e2e {
namespace {

bool ServersInstalled() { return !PgBinDir().empty() && !FindProgram("redis-server").empty(); }

#define REQUIRE_SERVERS_INSTALLED()                                                   \
  do {                                                                                \
    if (!ServersInstalled()) {                                                        \
      if (::hie::testing::ServersRequired()) FAIL() << "PostgreSQL or Redis missing"; \
      GTEST_SKIP() << "PostgreSQL or Redis is not installed";                         \
    }                                                                                 \
  } while (false)

TEST(E2eHarnessTest, PostgresCrashAndRestartKeepCommittedDataOnTheSamePort) {
  REQUIRE_SERVERS_INSTALLED();
  auto sandbox = Sandbox::Create("harness-pg");
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  PgCluster pg(sandbox->get());
  ASSERT_TRUE(pg.Start().ok());
  {
    pqxx::connection conn(pg.dsn());
    pqxx::work txn(conn);
    txn.exec("CREATE TABLE t (v text)");
    txn.exec("INSERT INTO t VALUES ('committed')");
    txn.commit();
  }
  ASSERT_TRUE(pg.Crash().ok());
  EXPECT_THROW(pqxx::connection{pg.dsn()}, pqxx::broken_connection) << "down after the crash";
  const std::string dsn = pg.dsn();
  absl::Status restarted = pg.Start();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(pg.dsn(), dsn) << "same port";
  pqxx::connection conn(pg.dsn());
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec1("SELECT v FROM t")[0].as<std::string>(), "committed");
}

TEST(E2eHarnessTest, NothingOutlivesATestProcessThatIsKilled) {
  REQUIRE_SERVERS_INSTALLED();
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A test process: sandbox, PostgreSQL, Redis; then it dies without cleaning anything.
    close(report[0]);
    auto sandbox = Sandbox::Create("harness-kill");
    if (!sandbox.ok()) _exit(1);
    PgCluster pg(sandbox->get());
    RedisServer redis(sandbox->get());
    absl::Status started = pg.Start();
    if (started.ok()) started = redis.Start();
    if (!started.ok()) {
      std::cerr << "child: " << started << "\n";
      _exit(2);
    }
    std::string line = absl::StrCat((*sandbox)->dir(), " ", pg.port(), " ", redis.port(), "\n");
    if (write(report[1], line.data(), line.size()) < 0) _exit(3);
    kill(getpid(), SIGKILL);
  }
  close(report[1]);
  std::string line;
  char buffer[512];
  ssize_t n;
  while ((n = read(report[0], buffer, sizeof(buffer))) > 0) line.append(buffer, n);
  close(report[0]);
  int status = 0;
  waitpid(child, &status, 0);
  std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  ASSERT_EQ(parts.size(), 3u) << "the child did not set up (status " << status << ")";
  const std::string dir = parts[0];
  const int pg_port = std::stoi(parts[1]);
  const int redis_port = std::stoi(parts[2]);

  auto gone = [&] {
    std::error_code ec;
    bool pg_up = true;
    try {
      pqxx::connection probe(absl::StrCat("host=127.0.0.1 port=", pg_port,
                                          " user=postgres dbname=postgres connect_timeout=2"));
    } catch (const std::exception&) {
      pg_up = false;
    }
    redis::RedisClient redis({.port = redis_port, .reconnect_backoff = absl::ZeroDuration()});
    const bool redis_up = redis.Command({"PING"}).ok();
    return !std::filesystem::exists(dir, ec) && !pg_up && !redis_up;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!gone() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(gone()) << "left behind after the test process was killed: " << dir
                      << " (PostgreSQL on " << pg_port << ", Redis on " << redis_port << ")";
}

}  // namespace
}  // namespace hie::e2e
