#pragma once

// The process skeleton every hub service starts from. A service's main() is its wiring only:
//
//   int main(int argc, char** argv) {
//     hie::BlockTerminationSignals();          // before any thread starts
//     return hie::RunService(kSpec, argc, argv, environ, [](hie::ServiceRuntime& rt) {
//       auto store = MyStore::Create(rt.pool());               // schema already migrated
//       MyManager manager(store->get(), ...);
//       hie::WorkerPool workers = ...rt.worker_threads()...;
//       MyServiceImpl service(&manager, &workers);
//       HIE_ASSIGN_OR_RETURN(hie::GrpcServer* server, rt.StartGrpc({&service}));
//       rt.Every("sync", absl::Seconds(1), [&] { ... });      // periodic work
//       rt.OnDrain([&] { service.StopStreams(); });          // before the gRPC drain
//       return rt.ServeUntilTerminated();                       // SERVING until SIGTERM
//     });
//   }
//
// What RunService does, in order (first turning off Abseil's mutex deadlock detection, a
// debugging aid that Debian's Abseil leaves on; see service.cc):
//  1. configuration: the common keys below plus the spec's own (flags, HIE_* environment,
//     defaults; Config), `--help` prints them all and exits 0;
//  2. PostgreSQL (when the spec has a schema): connects, retrying every 250 ms until
//     --startup-timeout (a deploy starts everything at once), then applies the schema's
//     migrations under their advisory lock; with --migrate-only the process stops here and
//     exits 0 (no Redis, no listener, `wire` never called): the pre-install/pre-upgrade Job of
//     helm/ and upgrade scripts use it, and running it again finds nothing to do;
//  3. Redis (when the spec uses it and --redis is set): a client; Redis is only ever a cache;
//  4. calls `wire`, which builds the service on rt.pool() / rt.redis() and ends with
//     rt.ServeUntilTerminated(): health SERVING, the periodic tasks start; on SIGTERM or SIGINT
//     the periodic tasks stop, the OnDrain hooks run (last added first), and in-flight RPCs get
//     --drain-timeout to finish before the rest are cancelled.
// Any error before serving is logged as `startup_failed` (code and message, no PHI) and exits 1.
//
// Common keys: listen, metrics-listen, tls-ca, tls-cert, tls-key (var/certs/<name>.pem|key),
// workers, max-queued, drain-timeout; with a schema: pg-dsn, pg-pool-size, startup-timeout,
// migrate-only (a switch, MigrateOnlyKey); with Redis: redis (HOST:PORT, empty disables).

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/config.h"
#include "services/common/periodic_tasks.h"
#include "services/common/pg/migrations.h"
#include "services/common/pg/pool.h"
#include "services/common/redis/redis_client.h"
#include "services/common/server.h"

namespace hie {

struct ServiceSpec {
  std::string name;            // "identity": logs, metrics, default certificate file names
  std::string listen;          // default gRPC address, e.g. "127.0.0.1:7001"
  std::string metrics_listen;  // default metrics address, e.g. "127.0.0.1:9401"
  std::string schema;          // PostgreSQL schema it owns; empty: no database
  std::span<const pg::Migration> migrations;  // static storage (they outlive the process's use)
  bool uses_redis = false;
  std::vector<ConfigKey> keys;  // the service's own keys
};

class ServiceRuntime {
 public:
  const Config& config() const { return config_; }
  pg::PgPool* pool() const { return pool_.get(); }              // null without a schema
  redis::RedisClient* redis() const { return redis_.get(); }    // null unless --redis is set
  size_t worker_threads() const { return worker_threads_; }     // --workers
  size_t max_queued() const { return max_queued_; }             // --max-queued
  // The deadline start-up work (an index rebuild, say) should respect: --startup-timeout
  // after the process started.
  absl::Time startup_deadline() const { return startup_deadline_; }

  // Opens the gRPC port (mutual TLS, health NOT_SERVING until ServeUntilTerminated). Once.
  // `services` must outlive the call to ServeUntilTerminated.
  [[nodiscard]] absl::StatusOr<GrpcServer*> StartGrpc(const std::vector<grpc::Service*>& services);
  void Every(std::string name, absl::Duration period, std::function<void()> task);
  void OnDrain(std::function<void()> hook);
  // Health SERVING, periodic tasks started, then blocks until `wait_for_stop` returns (default:
  // SIGTERM or SIGINT, WaitForTerminationSignal) and drains as described above. OK once
  // drained; FAILED_PRECONDITION if StartGrpc was not called.
  [[nodiscard]] absl::Status ServeUntilTerminated(
      const std::function<int()>& wait_for_stop = WaitForTerminationSignal);

 private:
  friend int RunService(const ServiceSpec&, int, const char* const*, const char* const*,
                        const std::function<absl::Status(ServiceRuntime&)>&);
  friend absl::StatusOr<std::unique_ptr<ServiceRuntime>> StartServiceRuntime(
      const ServiceSpec&, int, const char* const*, const char* const*);
  ServiceRuntime(const ServiceSpec& spec, Config config) : spec_(spec), config_(std::move(config)) {}

  const ServiceSpec spec_;
  Config config_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<redis::RedisClient> redis_;
  size_t worker_threads_ = 0;
  size_t max_queued_ = 0;
  absl::Duration drain_timeout_;
  absl::Duration max_connection_age_;
  absl::Time startup_deadline_;
  std::unique_ptr<GrpcServer> server_;
  PeriodicTasks periodic_;
  std::vector<std::function<void()>> drain_hooks_;
};

// The configuration keys of `spec`: the common ones with the spec's defaults, then its own.
std::vector<ConfigKey> ServiceConfigKeys(const ServiceSpec& spec);

// The `migrate-only` switch (bare `--migrate-only`, or HIE_MIGRATE_ONLY=true): declared by
// ServiceConfigKeys for a spec with a schema, and by a service whose database is optional (the
// gateway), which then handles it itself with MigrateOnly below.
ConfigKey MigrateOnlyKey();

// Connects to --pg-dsn (retried until `deadline`, as step 2) with one connection, applies
// `migrations` to `schema` and logs `migrated` with how many this call applied. What
// --migrate-only does; the error (UNAVAILABLE, FAILED_PRECONDITION for an edited migration...)
// otherwise.
[[nodiscard]] absl::Status MigrateOnly(const Config& config, std::string_view schema,
                                       std::span<const pg::Migration> migrations,
                                       absl::Time deadline);

// Steps 1-3 above; a null runtime (and OK) when --help was given and the usage printed, or when
// --migrate-only was given and the schema migrated.
[[nodiscard]] absl::StatusOr<std::unique_ptr<ServiceRuntime>> StartServiceRuntime(
    const ServiceSpec& spec, int argc, const char* const* argv, const char* const* envp);

// The whole skeleton: StartServiceRuntime, then `wire`. Returns the process exit code: 0 after
// --help, after --migrate-only, or once `wire` returned OK; 1 after an error (logged).
int RunService(const ServiceSpec& spec, int argc, const char* const* argv,
               const char* const* envp,
               const std::function<absl::Status(ServiceRuntime&)>& wire);

}  // namespace hie
