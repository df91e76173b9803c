// Integration tests of PgPool against a real PostgreSQL (HIE_TEST_PG_DSN).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "services/common/pg/pool.h"
#include "tests/support/test_env.h"

namespace hie::pg {
namespace {

class PgPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  std::unique_ptr<PgPool> MakePool(size_t size, size_t max_waiters = 16) {
    absl::StatusOr<std::unique_ptr<PgPool>> pool =
        PgPool::Create({.dsn = db_->dsn(), .size = size, .max_waiters = max_waiters});
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? *std::move(pool) : nullptr;
  }

  static absl::Time In(absl::Duration d) { return absl::Now() + d; }

  static absl::StatusOr<int> BackendPid(PgPool& pool) {
    int pid = 0;
    absl::Status s = pool.Run(In(absl::Seconds(5)), [&](pqxx::connection& c) {
      pid = pqxx::nontransaction(c).exec1("SELECT pg_backend_pid()")[0].as<int>();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return pid;
  }

  std::unique_ptr<hie::testing::TestDatabase> db_;
};

TEST_F(PgPoolTest, RunsWorkAndReturnsItsStatus) {
  auto pool = MakePool(2);
  int answer = 0;
  ASSERT_TRUE(pool->Run(In(absl::Seconds(5)), [&](pqxx::connection& c) {
                    answer = pqxx::nontransaction(c).exec1("SELECT 6 * 7")[0].as<int>();
                    return absl::OkStatus();
                  }).ok());
  EXPECT_EQ(answer, 42);
  absl::Status own = pool->Run(In(absl::Seconds(5)), [](pqxx::connection&) {
    return absl::NotFoundError("no such record");
  });
  EXPECT_EQ(own.code(), absl::StatusCode::kNotFound);
}

TEST_F(PgPoolTest, ExhaustionAnswersResourceExhaustedAfterTheDeadline) {
  auto pool = MakePool(1);
  std::promise<void> holding;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto holder = std::async(std::launch::async, [&] {
    return pool->Run(In(absl::Seconds(30)), [&](pqxx::connection&) {
      holding.set_value();
      gate.wait();
      return absl::OkStatus();
    });
  });
  holding.get_future().wait();

  absl::Time start = absl::Now();
  absl::Status waited = pool->Run(In(absl::Milliseconds(300)), [](pqxx::connection&) {
    return absl::OkStatus();
  });
  absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(waited.code(), absl::StatusCode::kResourceExhausted) << waited;
  EXPECT_GE(elapsed, absl::Milliseconds(250)) << "gave up before its deadline";

  release.set_value();
  EXPECT_TRUE(holder.get().ok());
  EXPECT_TRUE(pool->Run(In(absl::Seconds(5)), [](pqxx::connection&) {
                    return absl::OkStatus();
                  }).ok()) << "the connection must be usable again once released";
}

TEST_F(PgPoolTest, FullWaitQueueIsRefusedAtOnce) {
  auto pool = MakePool(1, /*max_waiters=*/0);
  std::promise<void> holding;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto holder = std::async(std::launch::async, [&] {
    return pool->Run(In(absl::Seconds(30)), [&](pqxx::connection&) {
      holding.set_value();
      gate.wait();
      return absl::OkStatus();
    });
  });
  holding.get_future().wait();
  absl::Status refused = pool->Run(In(absl::Seconds(30)), [](pqxx::connection&) {
    return absl::OkStatus();
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("queue"), std::string_view::npos);
  release.set_value();
  EXPECT_TRUE(holder.get().ok());
}

TEST_F(PgPoolTest, KilledBackendConnectionIsReplaced) {
  auto pool = MakePool(1);
  absl::StatusOr<int> first_pid = BackendPid(*pool);
  ASSERT_TRUE(first_pid.ok()) << first_pid.status();

  pqxx::connection admin(hie::testing::EnvOrEmpty("HIE_TEST_PG_DSN"));
  pqxx::nontransaction(admin).exec_params("SELECT pg_terminate_backend($1)", *first_pid);

  absl::StatusOr<int> second_pid = BackendPid(*pool);
  ASSERT_TRUE(second_pid.ok()) << "the pool must replace the killed connection transparently: "
                               << second_pid.status();
  EXPECT_NE(*second_pid, *first_pid);
  EXPECT_EQ(pool->Stats().replaced, 1u);
  EXPECT_EQ(pool->Stats().open, 1u);
}

// A server restart or failover breaks every connection at once, each found broken only when
// used: the retry must not land on another dead idle connection.
TEST_F(PgPoolTest, EveryConnectionKilledAtOnceCostsNoCall) {
  constexpr int kSize = 3;
  auto pool = MakePool(kSize);
  // Three calls at once, so that three connections are open (and then idle).
  std::vector<int> pids(kSize);
  std::promise<void> all_in;
  std::shared_future<void> gate = all_in.get_future().share();
  std::atomic<int> inside = 0;
  std::vector<std::future<absl::Status>> calls;
  for (int i = 0; i < kSize; ++i) {
    calls.push_back(std::async(std::launch::async, [&, i] {
      return pool->Run(In(absl::Seconds(10)), [&, i](pqxx::connection& c) {
        pids[i] = pqxx::nontransaction(c).exec1("SELECT pg_backend_pid()")[0].as<int>();
        if (++inside == kSize) all_in.set_value();
        gate.wait();
        return absl::OkStatus();
      });
    }));
  }
  for (auto& call : calls) ASSERT_TRUE(call.get().ok());
  ASSERT_EQ(pool->Stats().open, static_cast<size_t>(kSize));

  pqxx::connection admin(hie::testing::EnvOrEmpty("HIE_TEST_PG_DSN"));
  for (int pid : pids) {
    pqxx::nontransaction(admin).exec_params("SELECT pg_terminate_backend($1, 5000)", pid);
  }
  for (int i = 0; i < kSize + 1; ++i) {
    absl::StatusOr<int> pid = BackendPid(*pool);
    ASSERT_TRUE(pid.ok()) << "call " << i << " after every backend was killed: " << pid.status();
    EXPECT_EQ(std::count(pids.begin(), pids.end(), *pid), 0) << "a killed backend answered";
  }
  EXPECT_LE(pool->Stats().open, static_cast<size_t>(kSize));
}

TEST_F(PgPoolTest, DeadlineBecomesStatementTimeout) {
  auto pool = MakePool(1);
  absl::Time start = absl::Now();
  absl::Status slow = pool->Run(In(absl::Milliseconds(300)), [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT pg_sleep(10)");
    return absl::OkStatus();
  });
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(BackendPid(*pool).ok()) << "a timed-out statement leaves the connection usable";
}

// Run sets statement_timeout only when the session's is not already between half the remaining
// time and all of it; a shorter deadline always lowers it.
TEST_F(PgPoolTest, TheSessionTimeoutIsSetOnlyWhenItNoLongerFits) {
  auto pool = MakePool(1);
  auto show = [&](absl::Duration in) {
    std::string timeout;
    EXPECT_TRUE(pool->Run(In(in),
                          [&](pqxx::connection& c) {
                            timeout =
                                pqxx::nontransaction(c).exec1("SHOW statement_timeout")[0].c_str();
                            return absl::OkStatus();
                          })
                    .ok());
    return timeout;
  };
  const std::string first = show(absl::Seconds(30));
  EXPECT_EQ(show(absl::Seconds(50)), first) << "30 s fits a 50 s deadline: not set again";
  EXPECT_NE(show(absl::Seconds(10)), first) << "too long for a 10 s deadline: lowered";
  absl::Time start = absl::Now();
  absl::Status slow = pool->Run(In(absl::Milliseconds(300)), [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT pg_sleep(10)");
    return absl::OkStatus();
  });
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(PgPoolTest, NoDeadlineMeansNoStatementTimeout) {
  auto pool = MakePool(1);
  std::string timeout;
  ASSERT_TRUE(pool->Run(absl::InfiniteFuture(), [&](pqxx::connection& c) {
                    pqxx::nontransaction(c).exec("SELECT pg_sleep(0.05)");
                    timeout = pqxx::nontransaction(c).exec1("SHOW statement_timeout")[0].c_str();
                    return absl::OkStatus();
                  }).ok());
  EXPECT_EQ(timeout, "0");
}

TEST_F(PgPoolTest, ConstraintViolationsMapToCodesWithoutRowValues) {
  auto pool = MakePool(1);
  ASSERT_TRUE(pool->Run(In(absl::Seconds(5)), [](pqxx::connection& c) {
                    pqxx::work tx(c);
                    tx.exec("CREATE TABLE person (mrn text PRIMARY KEY)");
                    tx.exec("INSERT INTO person VALUES ('MRN-SECRET-123')");
                    tx.commit();
                    return absl::OkStatus();
                  }).ok());
  absl::Status duplicate = pool->Run(In(absl::Seconds(5)), [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("INSERT INTO person VALUES ('MRN-SECRET-123')");
    tx.commit();
    return absl::OkStatus();
  });
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(duplicate.message().find("MRN-SECRET"), std::string_view::npos) << duplicate;

  absl::Status bad_data = pool->Run(In(absl::Seconds(5)), [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT 'not-a-date'::date");
    return absl::OkStatus();
  });
  EXPECT_EQ(bad_data.code(), absl::StatusCode::kInvalidArgument);
}

// Server-side conditions that are not the request's fault are UNAVAILABLE (callers retry; the
// HL7 feed sends no ACK so the sender resends), never INTERNAL: here a read-only server, as a
// standby is during a failover, and insufficient resources.
TEST_F(PgPoolTest, ServerSideTransientConditionsAreUnavailable) {
  auto pool = MakePool(1);
  absl::Status read_only = pool->Run(In(absl::Seconds(5)), [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("SET TRANSACTION READ ONLY");
    tx.exec("CREATE TABLE t (x int)");
    tx.commit();
    return absl::OkStatus();
  });
  EXPECT_EQ(read_only.code(), absl::StatusCode::kUnavailable) << read_only;
  for (const char* state : {"53100", "53200", "53300", "58030", "57P01"}) {
    absl::Status raised = pool->Run(In(absl::Seconds(5)), [&](pqxx::connection& c) {
      pqxx::nontransaction(c).exec(
          absl::StrCat("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '", state, "'; END $$"));
      return absl::OkStatus();
    });
    EXPECT_EQ(raised.code(), absl::StatusCode::kUnavailable) << state << " " << raised;
  }
  absl::Status internal = pool->Run(In(absl::Seconds(5)), [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'XX000'; END $$");
    return absl::OkStatus();
  });
  EXPECT_EQ(internal.code(), absl::StatusCode::kInternal);
}

TEST(PgPoolCreateTest, ConnectTimeoutIsAddedToTheDsn) {
  EXPECT_EQ(WithConnectTimeout("host=h dbname=d", absl::Seconds(5)),
            "host=h dbname=d connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("host=h connect_timeout=9", absl::Seconds(5)),
            "host=h connect_timeout=9");
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h/d", absl::Seconds(1)),
            "postgresql://u@h/d?connect_timeout=2");
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h/d?sslmode=verify-full", absl::Seconds(3)),
            "postgresql://u@h/d?sslmode=verify-full&connect_timeout=3");
}

// A server that accepts TCP connections and never answers (a hung or black-holed host) costs a
// caller the connect timeout, not the kernel's minutes.
TEST(PgPoolCreateTest, ASilentServerTimesOutAtTheConnectTimeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 8), 0);  // the kernel completes handshakes; nobody ever reads
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Create(
      {.dsn = absl::StrCat("host=127.0.0.1 port=", ntohs(addr.sin_port), " user=x dbname=x"),
       .connect_timeout = absl::Seconds(2)});
  absl::Duration took = absl::Now() - start;
  close(fd);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(took, absl::Seconds(30)) << "libpq waited without a connect timeout";
}

TEST(PgPoolCreateTest, UnreachableServerIsUnavailable) {
  int port = hie::testing::FreeTcpPort();
  absl::StatusOr<std::unique_ptr<PgPool>> pool = PgPool::Create(
      {.dsn = absl::StrCat("host=127.0.0.1 port=", port, " user=x dbname=x connect_timeout=2")});
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hie::pg
