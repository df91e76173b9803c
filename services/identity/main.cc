// hie-identity: the master patient index service. Wiring only.
//
// Today this process stands up the service's foundation: configuration, its PostgreSQL schema
// (migrations applied at start), the mTLS gRPC server with health checking and reflection, and
// metrics. Health turns SERVING once the database is reachable and the schema is current. The
// identity API itself (registration, matching, operator workflows) is issue 4's work.

#include <unistd.h>

#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/pg/migrations.h"
#include "services/common/pg/pool.h"
#include "services/common/server.h"
#include "services/identity/store/migrations.h"

namespace {

const std::vector<hie::ConfigKey> kConfigKeys = {
    {"listen", "127.0.0.1:7001", "gRPC address (mutual TLS)"},
    {"metrics-listen", "127.0.0.1:9401", "Prometheus /metrics address; empty disables"},
    {"tls-ca", "var/certs/ca.pem", "CA bundle that signs clients' certificates"},
    {"tls-cert", "var/certs/identity.pem", "this service's certificate"},
    {"tls-key", "var/certs/identity.key", "this service's private key"},
    {"pg-dsn", "host=127.0.0.1 port=55433 user=postgres dbname=postgres", "PostgreSQL DSN"},
    {"pg-pool-size", "8", "PostgreSQL connections"},
    {"startup-timeout", "30s", "how long to wait for PostgreSQL at start"},
};

int Fail(const absl::Status& status) {
  hie::Log(hie::LogLevel::kError, "startup_failed",
           {{"code", absl::StatusCodeToString(status.code())}, {"error", status.message()}});
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  hie::SetLogService("identity");
  absl::StatusOr<hie::Config> config = hie::Config::Load(kConfigKeys, argc, argv, environ);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n" << hie::Config::Usage(argv[0], kConfigKeys);
    return 2;
  }
  if (config->help_requested()) {
    std::cout << hie::Config::Usage(argv[0], kConfigKeys);
    return 0;
  }
  absl::StatusOr<int64_t> pool_size = config->GetInt("pg-pool-size");
  if (!pool_size.ok()) return Fail(pool_size.status());
  absl::StatusOr<absl::Duration> startup_timeout = config->GetDuration("startup-timeout");
  if (!startup_timeout.ok()) return Fail(startup_timeout.status());

  absl::StatusOr<std::unique_ptr<hie::GrpcServer>> server = hie::GrpcServer::Start(
      {.service_name = "identity",
       .listen_address = config->Get("listen"),
       .tls = {config->Get("tls-ca"), config->Get("tls-cert"), config->Get("tls-key")},
       .metrics_address = config->Get("metrics-listen")},
      {});
  if (!server.ok()) return Fail(server.status());

  // PostgreSQL may still be starting (a deploy brings everything up at once): retry until the
  // startup deadline; health stays NOT_SERVING meanwhile.
  absl::Time deadline = absl::Now() + *startup_timeout;
  absl::StatusOr<std::unique_ptr<hie::pg::PgPool>> pool;
  while (true) {
    pool = hie::pg::PgPool::Create(
        {.dsn = config->Get("pg-dsn"), .size = static_cast<size_t>(*pool_size)});
    if (pool.ok() || absl::Now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (!pool.ok()) return Fail(pool.status());
  absl::StatusOr<int> applied = hie::pg::ApplyMigrations(
      **pool, hie::identity::kSchema, hie::identity::Migrations(), deadline);
  if (!applied.ok()) return Fail(applied.status());

  (*server)->SetServing(true);
  hie::Log(hie::LogLevel::kInfo, "ready", {{"port", (*server)->port()}});
  int signal_number = hie::WaitForTerminationSignal();
  hie::Log(hie::LogLevel::kInfo, "shutting_down", {{"signal", signal_number}});
  (*server)->Shutdown(absl::Seconds(5));
  return 0;
}
