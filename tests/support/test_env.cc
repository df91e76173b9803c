#include "tests/support/test_env.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/common/redis/redis_client.h"

namespace hie::testing {

std::string EnvOrEmpty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

bool ServersRequired() { return EnvOrEmpty("HIE_TEST_REQUIRE_SERVERS") == "1"; }

TestDatabase::TestDatabase(std::string admin_dsn, std::string name)
    : admin_dsn_(std::move(admin_dsn)),
      name_(std::move(name)),
      dsn_(absl::StrCat(admin_dsn_, " dbname=", name_)) {}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create() {
  std::string admin = EnvOrEmpty("HIE_TEST_PG_DSN");
  if (admin.empty()) return absl::FailedPreconditionError("HIE_TEST_PG_DSN is not set");
  std::random_device seed;
  std::string name = absl::StrCat("hie_test_", getpid(), "_", seed() % 1000000);
  try {
    pqxx::connection conn(admin);
    pqxx::nontransaction(conn).exec(absl::StrCat("CREATE DATABASE ", name));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot create test database: ", e.what()));
  }
  return std::unique_ptr<TestDatabase>(new TestDatabase(admin, name));
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection conn(admin_dsn_);
    pqxx::nontransaction(conn).exec(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception&) {
    // The cluster is throwaway; a leftover database is harmless.
  }
}

absl::Status RedisProcess::Start() {
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    std::vector<std::string> args = {"redis-server"};
    if (!config_file_.empty()) args.push_back(config_file_);
    const std::vector<std::string> settings = {
        "--port", std::to_string(port_), "--bind", "127.0.0.1",  "--save",
        "",       "--appendonly",        "no",     "--loglevel", "warning"};
    args.insert(args.end(), settings.begin(), settings.end());
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  redis::RedisClient probe({.port = port_, .reconnect_backoff = absl::ZeroDuration()});
  for (int i = 0; i < 100; ++i) {
    if (probe.Command({"PING"}).ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop();
  return absl::UnavailableError("redis-server did not start (is it installed?)");
}

void RedisProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TlsFiles TestCertFiles(const std::string& name, bool rogue_ca) {
  std::string dir = rogue_ca ? HIE_TEST_ROGUE_CERTS_DIR : HIE_TEST_CERTS_DIR;
  return TlsFiles{dir + "/ca.pem", dir + "/" + name + ".pem", dir + "/" + name + ".key"};
}

}  // namespace hie::testing
