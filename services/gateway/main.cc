// hie-gateway: the hub's entry point for member systems (this version: FindOutsideRecords and
// GetCallerInfo of hie.gateway.v1.MemberGateway). Wiring only.
//
// Start-up (the common part is services/common/service.h): configuration; the member directory
// (--members, core/member_directory.h: a bad file stops the start naming the line); with
// --pg-dsn, the gateway's database (schema `gateway`, store/migrations.h; retried until
// --startup-timeout), the file's new members seeded into it (stored ones stay as the
// administrators left them) and the directory re-read every --directory-refresh
// (store/member_directory_keeper.h); without it the file is the directory, read-only. Then
// channels to identity, the locator, consent, audit and the registry with the gateway's client
// certificate; the member endpoints' channels and circuit breakers; the mTLS gRPC server. The
// database is optional, so the skeleton's own schema handling (which requires one) is not used;
// --migrate-only (with --pg-dsn) migrates the gateway schema and exits, as the other services.
// On SIGTERM in-flight queries get --drain-timeout to finish.

#include <unistd.h>

#include "services/common/channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/pg/migrations.h"
#include "services/common/pg/pool.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"
#include "services/gateway/api/gateway_service.h"
#include "services/gateway/api/hub_services.h"
#include "services/gateway/api/member_fanout.h"
#include "services/gateway/api/staff_gateway.h"
#include "services/gateway/core/member_directory.h"
#include "services/gateway/store/member_directory_keeper.h"
#include "services/gateway/store/migrations.h"
#include "services/gateway/store/pg_member_store.h"

namespace {

using hie::Log;

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "gateway",
      .listen = "127.0.0.1:7000",
      .metrics_listen = "127.0.0.1:9400",
      .keys = {
          {"members", "", "the member directory file (services/gateway/README.md: format)"},
          {"pg-dsn", "",
           "PostgreSQL DSN of the member directory kept through AdminGateway; empty: the "
           "--members file only, read-only"},
          {"pg-pool-size", "4", "PostgreSQL connections (with --pg-dsn)"},
          {"startup-timeout", "30s", "how long to wait for PostgreSQL at start"},
          hie::MigrateOnlyKey(),
          {"directory-refresh", "2s", "how often the member directory is re-read (with --pg-dsn)"},
          {"identity", "127.0.0.1:7001", "identity service address"},
          {"locator", "127.0.0.1:7002", "record locator address"},
          {"registry", "127.0.0.1:7003", "document registry address"},
          {"consent", "127.0.0.1:7004", "consent service address"},
          {"audit", "127.0.0.1:7005", "audit service address"},
          {"client-cert", "var/certs/gateway-client.pem",
           "certificate presented to the hub's services and to member endpoints"},
          {"client-key", "var/certs/gateway-client.key", "its key"},
          {"max-calls-per-query", "32", "member calls in flight per federated query"},
          {"breaker-failures", "3", "failures in a row that open a member's circuit breaker"},
          {"breaker-open", "5s", "how long an open breaker skips its member at first"},
      }};
  return *spec;
}

// With --pg-dsn: a pool on the gateway's database, migrated; PostgreSQL may still be starting
// (a deploy brings everything up at once), so connecting is retried until --startup-timeout.
// Null without --pg-dsn.
absl::StatusOr<std::unique_ptr<hie::pg::PgPool>> ConnectDirectoryDatabase(
    const hie::Config& config) {
  if (config.Get("pg-dsn").empty()) return nullptr;
  HIE_ASSIGN_OR_RETURN(int64_t size, config.GetInt("pg-pool-size"));
  HIE_ASSIGN_OR_RETURN(absl::Duration timeout, config.GetDuration("startup-timeout"));
  if (size < 1 || size > 256) return absl::InvalidArgumentError("--pg-pool-size must be 1..256");
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<std::unique_ptr<hie::pg::PgPool>> pool;
  while (true) {
    pool =
        hie::pg::PgPool::Create({.dsn = config.Get("pg-dsn"), .size = static_cast<size_t>(size)});
    if (pool.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  if (!pool.ok()) return pool.status();
  HIE_ASSIGN_OR_RETURN(int applied, hie::pg::ApplyMigrations(**pool, hie::gateway::kSchema,
                                                             hie::gateway::Migrations(), deadline));
  (void)applied;  // ApplyMigrations logs what it applied
  return pool;
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  std::map<std::string, hie::gateway::DirectoryMember> file_members;
  if (!config.Get("members").empty()) {
    HIE_ASSIGN_OR_RETURN(std::string text, hie::ReadFileToString(config.Get("members")));
    HIE_ASSIGN_OR_RETURN(file_members, hie::gateway::ParseMemberDirectory(text));
  }
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<hie::pg::PgPool> pool, ConnectDirectoryDatabase(config));
  std::unique_ptr<hie::gateway::PgMemberStore> member_store;
  if (pool != nullptr) member_store = std::make_unique<hie::gateway::PgMemberStore>(pool.get());
  hie::gateway::MemberDirectoryView directory;
  hie::gateway::MemberDirectoryKeeper keeper(member_store.get(), &directory);
  HIE_ASSIGN_OR_RETURN(absl::Duration startup_timeout, config.GetDuration("startup-timeout"));
  HIE_RETURN_IF_ERROR(keeper.Seed(std::move(file_members), absl::Now() + startup_timeout).status());
  Log(hie::LogLevel::kInfo, "directory_loaded",
      {{"members", static_cast<int64_t>(directory.Snapshot()->size())},
       {"stored", keeper.has_store() ? "true" : "false"}});
  if (keeper.has_store()) {
    HIE_ASSIGN_OR_RETURN(absl::Duration period, config.GetDuration("directory-refresh"));
    if (period <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--directory-refresh must be positive");
    }
    rt.Every("directory-refresh", period, [&keeper, period] {
      if (absl::Status s = keeper.Refresh(absl::Now() + std::max(period, absl::Seconds(1)));
          !s.ok()) {
        Log(hie::LogLevel::kWarning, "directory_refresh_failed",
            {{"code", absl::StatusCodeToString(s.code())}});
      }
    });
  }
  HIE_ASSIGN_OR_RETURN(
      auto creds, hie::MakeTlsChannelCredentials(
                      {config.Get("tls-ca"), config.Get("client-cert"), config.Get("client-key")}));
  const grpc::ChannelArguments quick = hie::gateway::QuickReconnectArguments();
  hie::gateway::HubChannels channels;
  channels.identity = hie::ServiceChannel(config.Get("identity"), creds, quick);
  channels.locator = hie::ServiceChannel(config.Get("locator"), creds, quick);
  channels.registry = hie::ServiceChannel(config.Get("registry"), creds, quick);
  channels.consent = hie::ServiceChannel(config.Get("consent"), creds, quick);
  channels.audit = hie::ServiceChannel(config.Get("audit"), creds, quick);
  hie::gateway::GrpcHubServices hub(channels, &directory);

  HIE_ASSIGN_OR_RETURN(int64_t max_calls, config.GetInt("max-calls-per-query"));
  HIE_ASSIGN_OR_RETURN(int64_t failures, config.GetInt("breaker-failures"));
  HIE_ASSIGN_OR_RETURN(absl::Duration open_for, config.GetDuration("breaker-open"));
  if (max_calls < 1 || max_calls > 1000) {
    return absl::InvalidArgumentError("--max-calls-per-query must be from 1 to 1000");
  }
  if (failures < 1 || failures > 1000) {
    return absl::InvalidArgumentError("--breaker-failures must be from 1 to 1000");
  }
  hie::gateway::MemberChannels member_channels(creds);
  hie::gateway::Breakers breakers(hie::gateway::CircuitBreakerOptions{
      .failures_to_open = static_cast<int>(failures), .open_for = open_for});
  hie::gateway::FanOutCalls calls(&member_channels, &breakers,
                                  {.max_in_flight = static_cast<size_t>(max_calls)});
  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::gateway::MemberGatewayOptions options;
  hie::gateway::GrpcMemberRetrieval retrieval(&member_channels);
  hie::gateway::MemberGatewayImpl service(&hub, &hub, &hub, &calls, &retrieval, &worker_pool,
                                          options);
  // The staff APIs (operators, privacy officers, admins): proxies to identity, consent, audit.
  auto identity_stub = hie::identity::v1::IdentityService::NewStub(channels.identity);
  auto consent_stub = hie::consent::v1::ConsentService::NewStub(channels.consent);
  auto audit_stub = hie::audit::v1::AuditLog::NewStub(channels.audit);
  const hie::gateway::StaffServices staff{.identity = identity_stub.get(),
                                          .consent = consent_stub.get(),
                                          .audit = audit_stub.get(),
                                          .hub = &hub,
                                          .breakers = &breakers,
                                          .workers = &worker_pool,
                                          .directory = &keeper};
  hie::gateway::OperatorGatewayImpl operator_service(staff);
  hie::gateway::AdminGatewayImpl admin_service(staff);
  HIE_RETURN_IF_ERROR(rt.StartGrpc({&service, &operator_service, &admin_service}).status());
  return rt.ServeUntilTerminated();
}

// --migrate-only: the gateway's schema migrated, then exit; only with a database (--pg-dsn).
// Otherwise Serve.
absl::Status MigrateOrServe(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  HIE_ASSIGN_OR_RETURN(bool migrate_only, config.GetBool("migrate-only"));
  if (!migrate_only) return Serve(rt);
  if (config.Get("pg-dsn").empty()) {
    return absl::FailedPreconditionError(
        "--migrate-only needs --pg-dsn: without a database the gateway has no schema");
  }
  HIE_ASSIGN_OR_RETURN(absl::Duration timeout, config.GetDuration("startup-timeout"));
  return hie::MigrateOnly(config, hie::gateway::kSchema, hie::gateway::Migrations(),
                          absl::Now() + timeout);
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, MigrateOrServe);
}
