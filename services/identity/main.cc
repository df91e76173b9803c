// hie-identity: the master patient index service. Wiring only.
//
// Start-up: configuration; PostgreSQL (retried until the startup timeout) and the identity
// schema's migrations; the in-memory match index rebuilt from the current ACTIVE records; then
// the mTLS gRPC server turns health SERVING. SIGTERM drains in-flight calls for 5 s.

#include <prometheus/gauge.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hie/mpi/model_params_file.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/pg/migrations.h"
#include "services/common/pg/pool.h"
#include "services/common/server.h"
#include "services/common/worker_pool.h"
#include "services/identity/api/hl7_feed.h"
#include "services/identity/api/identity_service.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/store/migrations.h"
#include "services/identity/store/pg_identity_store.h"
#include "services/identity/store/redis_resolve_cache.h"

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
    {"workers", "16", "threads running database work for RPCs"},
    {"max-queued", "2000", "RPCs waiting for a worker before RESOURCE_EXHAUSTED"},
    {"nicknames", "", "nickname table CSV (default: the one shipped with mpi/)"},
    {"model-params", "",
     "matching model parameters trained offline (hie-mpi train); empty: the engine's untrained "
     "defaults"},
    {"idempotency-retention", "168h",
     "how long results of idempotent writes are kept for retries (at least 24h, the API's "
     "promise); older ones are purged every 10 minutes"},
    {"redis", "",
     "Redis HOST:PORT for the resolve cache; empty disables (the service works, "
     "slower, without it)"},
    {"resolve-cache-ttl", "5s",
     "how long a cached Resolve answer may live; a write whose cache invalidation fails waits "
     "this long (plus 1s) before it is acknowledged"},
    {"delegating-services", "gateway",
     "certificate CNs of hub services (OU=service) that may act on behalf of a user "
     "(context.actor); other services act as themselves and only read"},
    {"max-watch-streams", "32", "WatchEvents streams open at once (each holds a thread)"},
    {"hl7-listen", "127.0.0.1:2575", "HL7 v2 MLLP address (mutual TLS); empty disables"},
    {"survivorship", "",
     "golden record rules over the defaults, field=rule,... (fields name, birth_date, sex, "
     "addresses, phones, emails; rules most_recent, most_frequent, most_trusted)"},
    {"source-trust", "", "trust of source organisations for most_trusted, org=integer,..."},
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

  absl::StatusOr<absl::Duration> retention = config->GetDuration("idempotency-retention");
  if (!retention.ok()) return Fail(retention.status());
  if (*retention < absl::Hours(24)) {
    return Fail(absl::InvalidArgumentError("--idempotency-retention must be at least 24h"));
  }

  absl::StatusOr<hie::identity::AuthorizationPolicy> authorization =
      hie::identity::ParseDelegatingServices(config->Get("delegating-services"));
  if (!authorization.ok()) return Fail(authorization.status());
  absl::StatusOr<int64_t> max_watch_streams = config->GetInt("max-watch-streams");
  if (!max_watch_streams.ok()) return Fail(max_watch_streams.status());
  if (*max_watch_streams < 0 || *max_watch_streams > 1024) {
    return Fail(absl::InvalidArgumentError("--max-watch-streams must be 0 to 1024"));
  }
  absl::StatusOr<absl::Duration> cache_ttl = config->GetDuration("resolve-cache-ttl");
  if (!cache_ttl.ok()) return Fail(cache_ttl.status());
  if (*cache_ttl <= absl::ZeroDuration()) {
    return Fail(absl::InvalidArgumentError("--resolve-cache-ttl must be positive"));
  }
  absl::StatusOr<int64_t> workers = config->GetInt("workers");
  if (!workers.ok()) return Fail(workers.status());
  absl::StatusOr<int64_t> max_queued = config->GetInt("max-queued");
  if (!max_queued.ok()) return Fail(max_queued.status());
  std::string nickname_path = config->Get("nicknames");
  if (nickname_path.empty()) nickname_path = hie::mpi::DefaultNicknamePath();
  absl::StatusOr<hie::mpi::NicknameTable> nicknames =
      hie::mpi::NicknameTable::LoadFile(nickname_path);
  if (!nicknames.ok()) return Fail(nicknames.status());

  absl::StatusOr<hie::identity::SurvivorshipPolicy> survivorship =
      hie::identity::ParseSurvivorshipPolicy(config->Get("survivorship"),
                                             config->Get("source-trust"));
  if (!survivorship.ok()) return Fail(survivorship.status());

  hie::identity::SystemClock clock;
  hie::mpi::ModelParams model_params = hie::mpi::Model::DefaultParams();
  if (const std::string path = config->Get("model-params"); !path.empty()) {
    absl::StatusOr<hie::mpi::ModelParams> loaded = hie::mpi::LoadModelParamsFile(path);
    if (!loaded.ok()) return Fail(loaded.status());
    model_params = *loaded;
  }
  hie::identity::MpiMatcher matcher(model_params, &*nicknames);
  if (config->Get("model-params").empty()) {
    hie::Log(hie::LogLevel::kWarning, "untrained_model_parameters",
             {{"model_version", matcher.model_version()},
              {"hint",
               "train with hie-mpi train and pass --model-params; untrained, the share "
               "of registrations sent to review grows with the index"}});
  } else {
    hie::Log(hie::LogLevel::kInfo, "model_parameters_loaded",
             {{"model_version", matcher.model_version()}});
  }

  // PostgreSQL may still be starting (a deploy brings everything up at once): retry until the
  // startup deadline. The gRPC port opens only once the index is rebuilt.
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
  absl::StatusOr<std::unique_ptr<hie::identity::PgIdentityStore>> store =
      hie::identity::PgIdentityStore::Create(pool->get());
  if (!store.ok()) return Fail(store.status());
  std::unique_ptr<hie::redis::RedisClient> redis;
  std::unique_ptr<hie::identity::RedisResolveCache> cache;
  if (const std::string& redis_address = config->Get("redis"); !redis_address.empty()) {
    size_t colon = redis_address.rfind(':');
    int redis_port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(redis_address.substr(colon + 1), &redis_port)) {
      return Fail(absl::InvalidArgumentError("--redis must be HOST:PORT"));
    }
    redis = std::make_unique<hie::redis::RedisClient>(
        hie::redis::RedisOptions{.host = redis_address.substr(0, colon), .port = redis_port});
    cache = std::make_unique<hie::identity::RedisResolveCache>(redis.get(), *cache_ttl);
  }
  hie::identity::IdentityManager manager(store->get(), &matcher, &clock, cache.get(),
                                         *std::move(survivorship));
  absl::Time rebuild_start = absl::Now();
  absl::StatusOr<size_t> indexed = manager.RebuildIndex(absl::InfiniteFuture());
  if (!indexed.ok()) return Fail(indexed.status());
  hie::Log(hie::LogLevel::kInfo, "index_rebuilt",
           {{"records", static_cast<uint64_t>(*indexed)},
            {"corrupt_records_skipped", hie::identity::PgIdentityStore::CorruptRowsSeen()},
            {"seconds", absl::ToDoubleSeconds(absl::Now() - rebuild_start)}});
  // Declared after the manager so that it drains (and is destroyed) before the manager goes.
  hie::WorkerPool worker_pool(static_cast<size_t>(*workers), static_cast<size_t>(*max_queued));
  hie::identity::IdentityServiceImpl service(
      &manager, &worker_pool,
      {.authorization = *authorization, .max_watch_streams = static_cast<int>(*max_watch_streams)});

  absl::StatusOr<std::unique_ptr<hie::GrpcServer>> server = hie::GrpcServer::Start(
      {.service_name = "identity",
       .listen_address = config->Get("listen"),
       .tls = {config->Get("tls-ca"), config->Get("tls-cert"), config->Get("tls-key")},
       .metrics_address = config->Get("metrics-listen")},
      {&service});
  if (!server.ok()) return Fail(server.status());
  // Health follows the database: NOT_SERVING while it cannot be reached (the index sync below
  // talks to it every second), so a load balancer or Kubernetes stops sending work.
  auto& corrupt_rows = prometheus::BuildGauge()
                           .Name("hie_identity_corrupt_records_skipped")
                           .Help("Stored records found unreadable and left out of answers")
                           .Register((*server)->metrics().registry())
                           .Add({});
  auto& database_up = prometheus::BuildGauge()
                          .Name("hie_identity_database_up")
                          .Help("1 when the last periodic database round trip succeeded")
                          .Register((*server)->metrics().registry())
                          .Add({});
  hie::identity::Hl7Feed hl7_feed(&manager, &clock);
  std::unique_ptr<hie::hl7::MllpServer> mllp;
  if (const std::string& hl7_listen = config->Get("hl7-listen"); !hl7_listen.empty()) {
    size_t colon = hl7_listen.rfind(':');
    int hl7_port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(hl7_listen.substr(colon + 1), &hl7_port)) {
      return Fail(absl::InvalidArgumentError("--hl7-listen must be HOST:PORT"));
    }
    absl::StatusOr<std::unique_ptr<hie::hl7::MllpServer>> started = hie::hl7::MllpServer::Start(
        {.host = hl7_listen.substr(0, colon),
         .port = hl7_port,
         .tls = {config->Get("tls-ca"), config->Get("tls-cert"), config->Get("tls-key")}},
        [&hl7_feed](const hie::hl7::MllpPeer& peer, std::string_view message) {
          return hl7_feed.Handle(peer, message);
        });
    if (!started.ok()) return Fail(started.status());
    mllp = *std::move(started);
  }
  (*server)->SetServing(true);
  hie::Log(hie::LogLevel::kInfo, "ready",
           {{"port", (*server)->port()}, {"hl7_port", mllp != nullptr ? mllp->port() : 0}});
  // Other replicas' registrations reach this replica's index (and so its searches) within a
  // second; registrations catch up by themselves under their locks. Every 10 minutes, results
  // of idempotent writes older than the retention are purged (any replica may do it).
  std::atomic<bool> stopping{false};
  std::thread index_sync([&] {
    bool serving = true;
    absl::Time next_purge = absl::Now();
    while (!stopping.load()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      absl::Status synced = manager.SyncIndex(absl::Now() + absl::Seconds(2));
      if (!synced.ok()) {
        hie::Log(hie::LogLevel::kWarning, "index_sync_failed",
                 {{"code", absl::StatusCodeToString(synced.code())}});
      }
      const bool up = synced.ok() || synced.code() == absl::StatusCode::kResourceExhausted;
      if (up != serving) {
        serving = up;
        (*server)->SetServing(up);
        hie::Log(up ? hie::LogLevel::kInfo : hie::LogLevel::kError, "health_changed",
                 {{"serving", up}, {"code", absl::StatusCodeToString(synced.code())}});
      }
      database_up.Set(up ? 1 : 0);
      corrupt_rows.Set(static_cast<double>(hie::identity::PgIdentityStore::CorruptRowsSeen()));
      if (absl::Now() < next_purge) continue;
      next_purge = absl::Now() + absl::Minutes(10);
      absl::StatusOr<int64_t> purged =
          manager.PurgeIdempotencyKeys(*retention, absl::Now() + absl::Seconds(60));
      if (!purged.ok()) {
        hie::Log(hie::LogLevel::kWarning, "idempotency_purge_failed",
                 {{"code", absl::StatusCodeToString(purged.status().code())}});
      } else if (*purged > 0) {
        hie::Log(hie::LogLevel::kInfo, "idempotency_purged", {{"keys", *purged}});
      }
    }
  });
  int signal_number = hie::WaitForTerminationSignal();
  stopping = true;
  index_sync.join();
  hie::Log(hie::LogLevel::kInfo, "shutting_down", {{"signal", signal_number}});
  if (mllp != nullptr) mllp->Stop();
  service.StopWatches();
  (*server)->Shutdown(absl::Seconds(5));
  return 0;
}
