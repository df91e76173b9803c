// `hie-<service> --migrate-only` of every service that owns a PostgreSQL schema, as the Helm
// chart's pre-install/pre-upgrade Job runs it (helm/hie-hub/templates/migrations.yaml): against a
// fresh database it exits 0 with the schema created and its migrations recorded, without serving
// (it runs in a directory with no certificates, where opening the gRPC port would fail); run
// again it exits 0 having applied nothing; an unreachable database makes it exit non-zero with
// `startup_failed` after --startup-timeout; the gateway refuses it without --pg-dsn.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/test_env.h"

extern char** environ;

namespace hie {
namespace {

struct Binary {
  std::string service;  // also its schema's name
  std::string path;
};

std::vector<Binary> Binaries() {
  return {{"identity", HIE_IDENTITY_BIN}, {"locator", HIE_LOCATOR_BIN},
          {"registry", HIE_REGISTRY_BIN}, {"consent", HIE_CONSENT_BIN},
          {"audit", HIE_AUDIT_BIN},       {"gateway", HIE_GATEWAY_BIN}};
}

struct Exit {
  int code = -1;       // exit status; -1 when killed or still running after the timeout
  std::string output;  // stdout and stderr
};

// Runs `argv` in a new empty directory with this process's environment minus HIE_* variables (as
// tests/e2e does), to completion (SIGKILLed after `timeout`).
Exit RunToExit(const std::vector<std::string>& argv, absl::Duration timeout) {
  char dir_template[] = "/tmp/hie-migrate-only-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string log = dir + "/output.log";
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || chdir(dir.c_str()) != 0) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> env;  // ours (sanitizer options...) without HIE_* settings
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).substr(0, 4) != "HIE_") env.push_back(*e);
    }
    env.push_back(nullptr);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  Exit result;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (status != -1 && WIFEXITED(status)) result.code = WEXITSTATUS(status);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  std::filesystem::remove_all(dir);
  return result;
}

// (tables in `schema`, highest recorded migration version); (-1, -1) when the schema is absent.
std::pair<int, int> SchemaState(const std::string& dsn, const std::string& schema) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  const int tables =
      tx.exec_params1("SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                      schema)[0]
          .as<int>();
  if (tables == 0) return {-1, -1};
  const int version = tx.exec1(absl::StrCat("SELECT coalesce(max(version), 0) FROM ", schema,
                                            ".schema_migrations"))[0]
                          .as<int>();
  return {tables, version};
}

class MigrateOnlyTest : public ::testing::TestWithParam<Binary> {
 protected:
  void SetUp() override { HIE_REQUIRE_ENV("HIE_TEST_PG_DSN"); }
};

TEST_P(MigrateOnlyTest, MigratesAFreshDatabaseThenFindsNothingToDo) {
  const Binary& binary = GetParam();
  auto db = hie::testing::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_EQ(SchemaState((*db)->dsn(), binary.service).first, -1) << "a fresh database";
  const std::vector<std::string> argv = {binary.path, "--migrate-only", "--pg-dsn=" + (*db)->dsn()};

  const Exit first = RunToExit(argv, absl::Seconds(60));
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_NE(first.output.find("\"migrated\""), std::string::npos) << first.output;
  EXPECT_EQ(first.output.find("\"ready\""), std::string::npos) << "served: " << first.output;
  const auto [tables, version] = SchemaState((*db)->dsn(), binary.service);
  EXPECT_GT(tables, 1) << "the schema's tables besides schema_migrations";
  EXPECT_GT(version, 0);

  const Exit second = RunToExit(argv, absl::Seconds(60));
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_NE(second.output.find("\"applied\":0"), std::string::npos) << second.output;
  EXPECT_EQ(SchemaState((*db)->dsn(), binary.service), std::make_pair(tables, version));
}

TEST_P(MigrateOnlyTest, AnUnreachableDatabaseExitsNonZeroSayingWhy) {
  const Binary& binary = GetParam();
  const Exit exit =
      RunToExit({binary.path, "--migrate-only", "--startup-timeout=1s",
                 absl::StrCat("--pg-dsn=host=127.0.0.1 port=", hie::testing::FreeTcpPort(),
                              " user=postgres dbname=postgres connect_timeout=2")},
                absl::Seconds(30));
  EXPECT_EQ(exit.code, 1) << exit.output;
  EXPECT_NE(exit.output.find("\"startup_failed\""), std::string::npos) << exit.output;
  EXPECT_NE(exit.output.find("UNAVAILABLE"), std::string::npos) << exit.output;
}

INSTANTIATE_TEST_SUITE_P(Services, MigrateOnlyTest, ::testing::ValuesIn(Binaries()),
                         [](const auto& info) { return info.param.service; });

TEST(GatewayMigrateOnlyTest, WithoutADatabaseItIsRefused) {
  const Exit exit = RunToExit({HIE_GATEWAY_BIN, "--migrate-only"}, absl::Seconds(30));
  EXPECT_EQ(exit.code, 1) << exit.output;
  EXPECT_NE(exit.output.find("needs --pg-dsn"), std::string::npos) << exit.output;
}

TEST(MigrateOnlyHelpTest, EveryServiceListsIt) {
  for (const Binary& binary : Binaries()) {
    const Exit help = RunToExit({binary.path, "--help"}, absl::Seconds(30));
    EXPECT_EQ(help.code, 0) << binary.service << ": " << help.output;
    EXPECT_NE(help.output.find("--migrate-only (env HIE_MIGRATE_ONLY, default 'false')"),
              std::string::npos)
        << binary.service << ": " << help.output;
  }
}

}  // namespace
}  // namespace hie
