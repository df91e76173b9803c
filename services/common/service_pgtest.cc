// The service skeleton (service.h) against a real PostgreSQL: configuration, start-up retry,
// migrations, the gRPC server's health through serving and draining, periodic tasks, drain hooks.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <pqxx/nontransaction>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/logging.h"
#include "services/common/service.h"
#include "services/common/tls.h"
#include "tests/support/test_env.h"

namespace hie {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

const std::vector<pg::Migration> kMigrations = {
    {1, "table", "CREATE TABLE demo.thing (id int PRIMARY KEY)"}};

ServiceSpec Spec() {
  return {.name = "demo",
          .listen = "127.0.0.1:0",
          .metrics_listen = "",
          .schema = "demo",
          .migrations = kMigrations,
          .keys = {{"colour", "blue", "a key of the service's own"}}};
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    SetLogSink([this](std::string_view line) { logged_.emplace_back(line); });
  }
  void TearDown() override { SetLogSink(nullptr); }

  absl::StatusOr<std::unique_ptr<ServiceRuntime>> Start(const ServiceSpec& spec,
                                                        std::vector<std::string> flags) {
    const TlsFiles tls = hie::testing::TestCertFiles("identity");
    std::vector<std::string> args = {"demo", "--pg-dsn=" + db_->dsn(), "--tls-ca=" + tls.ca_file,
                                     "--tls-cert=" + tls.cert_file, "--tls-key=" + tls.key_file};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    const char* envp[] = {nullptr};
    return StartServiceRuntime(spec, static_cast<int>(args.size()), argv.data(), envp);
  }

  HealthCheckResponse::ServingStatus Health(int port) {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles("operator"));
    EXPECT_TRUE(creds.ok());
    auto channel = grpc::CreateChannel(absl::StrCat("localhost:", port), *creds);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckResponse response;
    grpc::Status status = Health::NewStub(channel)->Check(&context, HealthCheckRequest(), &response);
    if (!status.ok()) return HealthCheckResponse::UNKNOWN;
    return response.status();
  }

  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::vector<std::string> logged_;
};

TEST_F(ServiceTest, StartsMigratedServesAndDrainsInOrder) {
  const ServiceSpec spec = Spec();
  auto rt = Start(spec, {"--colour=red"});
  ASSERT_TRUE(rt.ok()) << rt.status();
  ASSERT_NE(*rt, nullptr);
  EXPECT_EQ((*rt)->config().Get("colour"), "red");
  EXPECT_EQ((*rt)->redis(), nullptr);
  ASSERT_NE((*rt)->pool(), nullptr);
  absl::Status table = (*rt)->pool()->Run(absl::Now() + absl::Seconds(5), [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT count(*) FROM demo.thing");
    return absl::OkStatus();
  });
  EXPECT_TRUE(table.ok()) << "migrated: " << table;

  auto server = (*rt)->StartGrpc({});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  EXPECT_EQ(Health(port), HealthCheckResponse::NOT_SERVING) << "not before serving";

  std::atomic<int> ticks{0};
  std::vector<std::string> order;
  (*rt)->Every("tick", absl::Milliseconds(10), [&] { ++ticks; });
  (*rt)->OnDrain([&] { order.push_back("first added"); });
  (*rt)->OnDrain([&] { order.push_back("last added"); });
  std::promise<void> stop;
  std::promise<HealthCheckResponse::ServingStatus> while_serving;
  std::thread client([&] {
    absl::SleepFor(absl::Milliseconds(200));
    while_serving.set_value(Health(port));
    stop.set_value();
  });
  absl::Status served = (*rt)->ServeUntilTerminated([&] {
    stop.get_future().wait();
    return 15;
  });
  client.join();
  EXPECT_TRUE(served.ok()) << served;
  EXPECT_EQ(while_serving.get_future().get(), HealthCheckResponse::SERVING);
  EXPECT_GE(ticks.load(), 3) << "periodic task ran while serving";
  EXPECT_EQ(order, (std::vector<std::string>{"last added", "first added"}));
  EXPECT_EQ(Health(port), HealthCheckResponse::UNKNOWN) << "the port is closed after the drain";
}

TEST_F(ServiceTest, MigrateOnlyMigratesAndReturnsNoRuntimeTwice) {
  const ServiceSpec spec = Spec();
  for (int run = 1; run <= 2; ++run) {
    logged_.clear();
    auto rt = Start(spec, {"--migrate-only"});
    ASSERT_TRUE(rt.ok()) << "run " << run << ": " << rt.status();
    EXPECT_EQ(*rt, nullptr) << "run " << run << ": nothing to serve";
    const std::string applied = run == 1 ? "\"applied\":1" : "\"applied\":0";
    EXPECT_TRUE(std::any_of(logged_.begin(), logged_.end(),
                            [&](const std::string& line) {
                              return line.find("\"migrated\"") != std::string::npos &&
                                     line.find(applied) != std::string::npos;
                            }))
        << "run " << run << " logs what it applied";
  }
  auto pool = pg::PgPool::Create({.dsn = db_->dsn(), .size = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::Status table = (*pool)->Run(absl::Now() + absl::Seconds(5), [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT count(*) FROM demo.thing");
    return absl::OkStatus();
  });
  EXPECT_TRUE(table.ok()) << "migrated: " << table;
}

TEST_F(ServiceTest, MigrateOnlyFailsWhenTheDatabaseStaysUnreachable) {
  auto rt =
      Start(Spec(), {absl::StrCat("--pg-dsn=host=127.0.0.1 port=", hie::testing::FreeTcpPort(),
                                  " user=postgres dbname=postgres"),
                     "--startup-timeout=1s", "--migrate-only"});
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kUnavailable) << rt.status();
}

TEST_F(ServiceTest, AnUnreachableDatabaseIsRetriedUntilTheStartupTimeout) {
  const ServiceSpec spec = Spec();
  const absl::Time start = absl::Now();
  auto rt = Start(spec, {absl::StrCat("--pg-dsn=host=127.0.0.1 port=", hie::testing::FreeTcpPort(),
                                      " user=postgres dbname=postgres"),
                         "--startup-timeout=1s"});
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kUnavailable) << rt.status();
  EXPECT_GE(absl::Now() - start, absl::Seconds(1)) << "gave up before the startup timeout";
}

TEST_F(ServiceTest, BadConfigurationIsRefusedNamingTheKey) {
  const ServiceSpec spec = Spec();
  auto unknown = Start(spec, {"--colur=red"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  auto workers = Start(spec, {"--workers=0"});
  EXPECT_EQ(workers.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(workers.status().message().find("--workers"), std::string::npos) << workers.status();
  ServiceSpec with_redis = spec;
  with_redis.uses_redis = true;
  auto redis = Start(with_redis, {"--redis=localhost"});
  EXPECT_NE(redis.status().message().find("--redis"), std::string::npos) << redis.status();
}

TEST_F(ServiceTest, HelpPrintsEveryKeyAndStartsNothing) {
  const ServiceSpec spec = Spec();
  ::testing::internal::CaptureStdout();
  auto rt = Start(spec, {"--help"});
  const std::string usage = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(*rt, nullptr);
  for (const char* key : {"--listen", "--pg-dsn", "--drain-timeout", "--colour"}) {
    EXPECT_NE(usage.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace hie
