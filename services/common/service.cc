#include "services/common/service.h"

#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/logging.h"
#include "services/common/status.h"

namespace hie {
namespace {

absl::StatusOr<size_t> PositiveInt(const Config& config, const char* key, int64_t max) {
  HIE_ASSIGN_OR_RETURN(int64_t value, config.GetInt(key));
  if (value < 1 || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", key, " must be 1 to ", max));
  }
  return static_cast<size_t>(value);
}

absl::StatusOr<absl::Duration> PositiveDuration(const Config& config, const char* key) {
  HIE_ASSIGN_OR_RETURN(absl::Duration value, config.GetDuration(key));
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", key, " must be positive"));
  }
  return value;
}

// PostgreSQL may still be starting (a deploy brings everything up at once): retried until the
// deadline, then the schema migrated; *applied is how many migrations this call applied.
absl::StatusOr<std::unique_ptr<pg::PgPool>> ConnectAndMigrate(
    const Config& config, size_t size, std::string_view schema,
    std::span<const pg::Migration> migrations, absl::Time deadline, int* applied) {
  absl::StatusOr<std::unique_ptr<pg::PgPool>> pool;
  while (true) {
    pool = pg::PgPool::Create({.dsn = config.Get("pg-dsn"), .size = size});
    if (pool.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  if (!pool.ok()) return pool.status();
  HIE_ASSIGN_OR_RETURN(*applied, pg::ApplyMigrations(**pool, schema, migrations, deadline));
  return pool;
}

absl::StatusOr<std::unique_ptr<pg::PgPool>> ConnectDatabase(const ServiceSpec& spec,
                                                            const Config& config,
                                                            absl::Time deadline) {
  HIE_ASSIGN_OR_RETURN(size_t size, PositiveInt(config, "pg-pool-size", 256));
  int applied = 0;
  HIE_ASSIGN_OR_RETURN(
      std::unique_ptr<pg::PgPool> pool,
      ConnectAndMigrate(config, size, spec.schema, spec.migrations, deadline, &applied));
  if (applied > 0) Log(LogLevel::kInfo, "migrations_applied", {{"count", applied}});
  return pool;
}

absl::StatusOr<std::unique_ptr<redis::RedisClient>> ConnectRedis(const Config& config) {
  HIE_ASSIGN_OR_RETURN(std::vector<Config::HostPort> sentinels,
                       config.GetHostPortList("redis-sentinels"));
  if (!sentinels.empty()) {
    if (!config.Get("redis").empty()) {
      return absl::InvalidArgumentError("give --redis or --redis-sentinels, not both");
    }
    if (config.Get("redis-master-name").empty()) {
      return absl::InvalidArgumentError("--redis-master-name is empty");
    }
    redis::RedisOptions options{.master_name = config.Get("redis-master-name")};
    for (const Config::HostPort& s : sentinels) options.sentinels.push_back({s.host, s.port});
    return std::make_unique<redis::RedisClient>(std::move(options));
  }
  if (config.Get("redis").empty()) return nullptr;
  HIE_ASSIGN_OR_RETURN(Config::HostPort address, config.GetHostPort("redis"));
  return std::make_unique<redis::RedisClient>(
      redis::RedisOptions{.host = address.host, .port = address.port});
}

}  // namespace

ConfigKey MigrateOnlyKey() {
  return {"migrate-only", "false",
          "apply the schema's migrations (waiting up to --startup-timeout for PostgreSQL), then "
          "exit 0 without serving; non-zero if they cannot be applied",
          /*is_switch=*/true};
}

absl::Status MigrateOnly(const Config& config, std::string_view schema,
                         std::span<const pg::Migration> migrations, absl::Time deadline) {
  int applied = 0;
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<pg::PgPool> pool,
                       ConnectAndMigrate(config, 1, schema, migrations, deadline, &applied));
  Log(LogLevel::kInfo, "migrated",
      {{"schema", schema},
       {"applied", applied},
       {"latest_version", migrations.empty() ? 0 : migrations.back().version}});
  return absl::OkStatus();
}

std::vector<ConfigKey> ServiceConfigKeys(const ServiceSpec& spec) {
  std::vector<ConfigKey> keys = {
      {"listen", spec.listen, "gRPC address (mutual TLS)"},
      {"metrics-listen", spec.metrics_listen, "Prometheus /metrics address; empty disables"},
      {"tls-ca", "var/certs/ca.pem", "CA bundle that signs clients' certificates"},
      {"tls-cert", absl::StrCat("var/certs/", spec.name, ".pem"), "this service's certificate"},
      {"tls-key", absl::StrCat("var/certs/", spec.name, ".key"), "this service's private key"},
      {"workers", "16", "threads running blocking work (database calls) for RPCs"},
      {"max-queued", "2000", "RPCs waiting for a worker before RESOURCE_EXHAUSTED"},
      {"drain-timeout", "5s", "on SIGTERM, how long in-flight RPCs may take to finish"},
      {"max-connection-age", "0s",
       "close each client connection after about this long (0s: never), so that callers "
       "spreading calls over a headless Service's pods find pods added since; calls and "
       "streams in flight finish on the old connection"},
  };
  if (!spec.schema.empty()) {
    keys.push_back({"pg-dsn", "host=127.0.0.1 port=55433 user=postgres dbname=postgres",
                    "PostgreSQL DSN"});
    keys.push_back({"pg-pool-size", "8", "PostgreSQL connections"});
    keys.push_back({"startup-timeout", "30s", "how long to wait for PostgreSQL at start"});
    keys.push_back(MigrateOnlyKey());
  }
  if (spec.uses_redis) {
    keys.push_back({"redis", "",
                    "Redis HOST:PORT (a cache only); empty disables (the service works without "
                    "it, slower)"});
    keys.push_back({"redis-sentinels", "",
                    "Redis Sentinel HOST:PORT,HOST:PORT...: ask them for the master of "
                    "--redis-master-name and follow its failovers (instead of --redis)"});
    keys.push_back({"redis-master-name", "hie", "the master's name in the sentinels' monitor"});
  }
  keys.insert(keys.end(), spec.keys.begin(), spec.keys.end());
  return keys;
}

absl::StatusOr<std::unique_ptr<ServiceRuntime>> StartServiceRuntime(const ServiceSpec& spec,
                                                                    int argc,
                                                                    const char* const* argv,
                                                                    const char* const* envp) {
  SetLogService(spec.name);
  const std::vector<ConfigKey> keys = ServiceConfigKeys(spec);
  HIE_ASSIGN_OR_RETURN(Config config, Config::Load(keys, argc, argv, envp));
  if (config.help_requested()) {
    std::cout << Config::Usage(argc > 0 ? argv[0] : spec.name, keys);
    return nullptr;
  }
  std::unique_ptr<ServiceRuntime> rt(new ServiceRuntime(spec, std::move(config)));
  const Config& c = rt->config_;
  HIE_ASSIGN_OR_RETURN(rt->worker_threads_, PositiveInt(c, "workers", 1024));
  HIE_ASSIGN_OR_RETURN(rt->max_queued_, PositiveInt(c, "max-queued", 1'000'000));
  HIE_ASSIGN_OR_RETURN(rt->drain_timeout_, PositiveDuration(c, "drain-timeout"));
  HIE_ASSIGN_OR_RETURN(rt->max_connection_age_, c.GetDuration("max-connection-age"));
  if (rt->max_connection_age_ < absl::ZeroDuration() ||
      (rt->max_connection_age_ > absl::ZeroDuration() &&
       rt->max_connection_age_ < absl::Seconds(1))) {
    return absl::InvalidArgumentError("--max-connection-age must be 0s (never) or at least 1s");
  }
  rt->startup_deadline_ = absl::Now();
  if (!spec.schema.empty()) {
    HIE_ASSIGN_OR_RETURN(absl::Duration startup_timeout, PositiveDuration(c, "startup-timeout"));
    rt->startup_deadline_ += startup_timeout;
    HIE_ASSIGN_OR_RETURN(bool migrate_only, c.GetBool("migrate-only"));
    if (migrate_only) {
      HIE_RETURN_IF_ERROR(MigrateOnly(c, spec.schema, spec.migrations, rt->startup_deadline_));
      return nullptr;
    }
    HIE_ASSIGN_OR_RETURN(rt->pool_, ConnectDatabase(spec, c, rt->startup_deadline_));
  }
  if (spec.uses_redis) {
    HIE_ASSIGN_OR_RETURN(rt->redis_, ConnectRedis(c));
  }
  return rt;
}

absl::StatusOr<GrpcServer*> ServiceRuntime::StartGrpc(const std::vector<grpc::Service*>& services) {
  if (server_ != nullptr) return absl::FailedPreconditionError("StartGrpc called twice");
  HIE_ASSIGN_OR_RETURN(
      server_, GrpcServer::Start(
                   {.service_name = spec_.name,
                    .listen_address = config_.Get("listen"),
                    .tls = {config_.Get("tls-ca"), config_.Get("tls-cert"), config_.Get("tls-key")},
                    .metrics_address = config_.Get("metrics-listen"),
                    .max_connection_age = max_connection_age_},
                   services));
  return server_.get();
}

void ServiceRuntime::Every(std::string name, absl::Duration period, std::function<void()> task) {
  periodic_.Add(std::move(name), period, std::move(task));
}

void ServiceRuntime::OnDrain(std::function<void()> hook) { drain_hooks_.push_back(std::move(hook)); }

absl::Status ServiceRuntime::ServeUntilTerminated(const std::function<int()>& wait_for_stop) {
  if (server_ == nullptr) return absl::FailedPreconditionError("StartGrpc was not called");
  server_->SetServing(true);
  Log(LogLevel::kInfo, "ready", {{"port", server_->port()}});
  periodic_.Start();
  const int signal_number = wait_for_stop();
  Log(LogLevel::kInfo, "shutting_down", {{"signal", signal_number}});
  periodic_.Stop();  // first: a task may set the health itself (identity's database probe)
  server_->SetServing(false);
  for (auto hook = drain_hooks_.rbegin(); hook != drain_hooks_.rend(); ++hook) (*hook)();
  server_->Shutdown(drain_timeout_);
  FlushLog();
  return absl::OkStatus();
}

int RunService(const ServiceSpec& spec, int argc, const char* const* argv,
               const char* const* envp,
               const std::function<absl::Status(ServiceRuntime&)>& wire) {
  // Debian builds Abseil without NDEBUG, so every absl::Mutex operation (gRPC takes several per
  // call) also maintains a process-wide lock graph to detect deadlock cycles: a debugging aid,
  // off in upstream's release builds, that took 2.4% of the audit service's CPU samples under
  // the single-event load (GraphCycles::GetId and its lock). Off in every service.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::StatusOr<std::unique_ptr<ServiceRuntime>> rt =
      StartServiceRuntime(spec, argc, argv, envp);
  absl::Status status = rt.status();
  if (status.ok() && *rt == nullptr) return 0;  // --help, or --migrate-only done
  if (status.ok()) status = wire(**rt);
  if (status.ok()) return 0;
  Log(LogLevel::kError, "startup_failed",
      {{"code", absl::StatusCodeToString(status.code())}, {"error", status.message()}});
  return 1;
}

}  // namespace hie
