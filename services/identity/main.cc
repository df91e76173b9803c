// hie-identity: the master patient index service. Wiring only.
//
// Start-up (the common part is services/common/service.h): configuration; PostgreSQL (retried
// until the startup timeout) and the identity schema's migrations; the in-memory match index
// rebuilt from the current ACTIVE records; then the mTLS gRPC and MLLP servers, and health turns
// SERVING. On SIGTERM: periodic work stops, the MLLP listener stops, WatchEvents streams end, and
// in-flight calls get --drain-timeout (5 s) to finish.

#include <prometheus/gauge.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "hie/mpi/model_params_file.h"
#include "services/common/config.h"
#include "services/common/install_paths.h"
#include "services/common/logging.h"
#include "services/common/pg/migrations.h"
#include "services/common/pg/pool.h"
#include "services/common/server.h"
#include "services/common/service.h"
#include "services/common/status.h"
#include "services/common/worker_pool.h"
#include "services/identity/api/hl7_feed.h"
#include "services/identity/api/identity_service.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/store/migrations.h"
#include "services/identity/store/pg_identity_store.h"
#include "services/identity/store/redis_resolve_cache.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "identity",
      .listen = "127.0.0.1:7001",
      .metrics_listen = "127.0.0.1:9401",
      .schema = hie::identity::kSchema,
      .migrations = hie::identity::Migrations(),
      .uses_redis = true,
      .keys = {
          {"nicknames", "",
           "nickname table CSV; empty: share/hie/nicknames.csv of the installation this binary "
           "belongs to (cmake --install), else mpi/data/nicknames.csv of the source tree"},
          {"model-params", "",
           "matching model parameters trained offline (hie-mpi train); empty: the engine's "
           "untrained defaults"},
          {"idempotency-retention", "168h",
           "how long results of idempotent writes are kept for retries (at least 24h, the API's "
           "promise); older ones are purged every 10 minutes"},
          {"resolve-cache-ttl", "5s",
           "how long a cached Resolve answer may live (with --redis); a write whose cache "
           "invalidation fails waits this long (plus 1s) before it is acknowledged"},
          {"delegating-services", "gateway",
           "certificate CNs of hub services (OU=service) that may act on behalf of a user "
           "(context.actor); other services act as themselves and only read"},
          {"max-watch-streams", "32", "WatchEvents streams open at once (each holds a thread)"},
          {"hl7-listen", "127.0.0.1:2575", "HL7 v2 MLLP address (mutual TLS); empty disables"},
          {"survivorship", "",
           "golden record rules over the defaults, field=rule,... (fields name, birth_date, sex, "
           "addresses, phones, emails; rules most_recent, most_frequent, most_trusted)"},
          {"source-trust", "", "trust of source organisations for most_trusted, org=integer,..."},
      }};
  return *spec;
}

// What the identity keys say, checked.
struct IdentitySettings {
  absl::Duration retention;
  hie::identity::AuthorizationPolicy authorization;
  int max_watch_streams = 0;
  absl::Duration cache_ttl;
  hie::mpi::NicknameTable nicknames;
  hie::identity::SurvivorshipPolicy survivorship;
  hie::mpi::ModelParams model_params;
};

absl::StatusOr<IdentitySettings> ReadSettings(const hie::Config& config) {
  IdentitySettings s;
  HIE_ASSIGN_OR_RETURN(s.retention, config.GetDuration("idempotency-retention"));
  if (s.retention < absl::Hours(24)) {
    return absl::InvalidArgumentError("--idempotency-retention must be at least 24h");
  }
  HIE_ASSIGN_OR_RETURN(s.authorization,
                       hie::identity::ParseDelegatingServices(config.Get("delegating-services")));
  HIE_ASSIGN_OR_RETURN(int64_t max_watch_streams, config.GetInt("max-watch-streams"));
  if (max_watch_streams < 0 || max_watch_streams > 1024) {
    return absl::InvalidArgumentError("--max-watch-streams must be 0 to 1024");
  }
  s.max_watch_streams = static_cast<int>(max_watch_streams);
  HIE_ASSIGN_OR_RETURN(s.cache_ttl, config.GetDuration("resolve-cache-ttl"));
  if (s.cache_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--resolve-cache-ttl must be positive");
  }
  std::string nickname_path = config.Get("nicknames");
  if (nickname_path.empty()) nickname_path = hie::InstalledDataFile("nicknames.csv");
  if (nickname_path.empty()) nickname_path = hie::mpi::DefaultNicknamePath();
  HIE_ASSIGN_OR_RETURN(s.nicknames, hie::mpi::NicknameTable::LoadFile(nickname_path));
  hie::Log(hie::LogLevel::kInfo, "nicknames_loaded",
           {{"path", nickname_path}, {"names", static_cast<uint64_t>(s.nicknames.size())}});
  HIE_ASSIGN_OR_RETURN(s.survivorship,
                       hie::identity::ParseSurvivorshipPolicy(config.Get("survivorship"),
                                                              config.Get("source-trust")));
  s.model_params = hie::mpi::Model::DefaultParams();
  if (const std::string& path = config.Get("model-params"); !path.empty()) {
    HIE_ASSIGN_OR_RETURN(s.model_params, hie::mpi::LoadModelParamsFile(path));
  }
  return s;
}

void LogModel(const hie::Config& config, const hie::identity::MpiMatcher& matcher) {
  if (config.Get("model-params").empty()) {
    hie::Log(hie::LogLevel::kWarning, "untrained_model_parameters",
             {{"model_version", matcher.model_version()},
              {"hint",
               "train with hie-mpi train and pass --model-params; untrained, the share "
               "of registrations sent to review grows with the index"}});
  } else {
    hie::Log(hie::LogLevel::kInfo, "model_parameters_loaded",
             {{"model_version", matcher.model_version()}});
  }
}

absl::StatusOr<std::unique_ptr<hie::hl7::MllpServer>> StartMllp(const hie::Config& config,
                                                                 hie::identity::Hl7Feed* feed) {
  if (config.Get("hl7-listen").empty()) return nullptr;
  HIE_ASSIGN_OR_RETURN(hie::Config::HostPort listen, config.GetHostPort("hl7-listen"));
  return hie::hl7::MllpServer::Start(
      {.host = listen.host,
       .port = listen.port,
       .tls = {config.Get("tls-ca"), config.Get("tls-cert"), config.Get("tls-key")}},
      [feed](const hie::hl7::MllpPeer& peer, std::string_view message) {
        return feed->Handle(peer, message);
      });
}

// Everything after the skeleton's start-up (service.h): the match index rebuilt from the ACTIVE
// records before the port opens, the gRPC and MLLP servers, and the periodic work.
absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  HIE_ASSIGN_OR_RETURN(IdentitySettings settings, ReadSettings(config));
  hie::identity::SystemClock clock;
  hie::identity::MpiMatcher matcher(settings.model_params, &settings.nicknames);
  LogModel(config, matcher);
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<hie::identity::PgIdentityStore> store,
                       hie::identity::PgIdentityStore::Create(rt.pool()));
  std::unique_ptr<hie::identity::RedisResolveCache> cache;
  if (rt.redis() != nullptr) {
    cache = std::make_unique<hie::identity::RedisResolveCache>(rt.redis(), settings.cache_ttl);
  }
  hie::identity::IdentityManager manager(store.get(), &matcher, &clock, cache.get(),
                                         std::move(settings.survivorship));
  const absl::Time rebuild_start = absl::Now();
  HIE_ASSIGN_OR_RETURN(size_t indexed, manager.RebuildIndex(absl::InfiniteFuture()));
  hie::Log(hie::LogLevel::kInfo, "index_rebuilt",
           {{"records", static_cast<uint64_t>(indexed)},
            {"corrupt_records_skipped", hie::identity::PgIdentityStore::CorruptRowsSeen()},
            {"seconds", absl::ToDoubleSeconds(absl::Now() - rebuild_start)}});
  // Declared after the manager so that it drains (and is destroyed) before the manager goes.
  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::identity::IdentityServiceImpl service(
      &manager, &worker_pool,
      {.authorization = settings.authorization, .max_watch_streams = settings.max_watch_streams});
  HIE_ASSIGN_OR_RETURN(hie::GrpcServer * server, rt.StartGrpc({&service}));
  hie::identity::Hl7Feed hl7_feed(&manager, &clock);
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<hie::hl7::MllpServer> mllp, StartMllp(config, &hl7_feed));
  if (mllp != nullptr) hie::Log(hie::LogLevel::kInfo, "hl7_listening", {{"port", mllp->port()}});

  // Health follows the database: NOT_SERVING while it cannot be reached (the index sync talks to
  // it every second), so a load balancer or Kubernetes stops sending work. Other replicas'
  // registrations reach this replica's index (and so its searches) within that second;
  // registrations catch up by themselves under their locks.
  auto& corrupt_rows = prometheus::BuildGauge()
                           .Name("hie_identity_corrupt_records_skipped")
                           .Help("Stored records found unreadable and left out of answers")
                           .Register(server->metrics().registry())
                           .Add({});
  auto& database_up = prometheus::BuildGauge()
                          .Name("hie_identity_database_up")
                          .Help("1 when the last periodic database round trip succeeded")
                          .Register(server->metrics().registry())
                          .Add({});
  bool serving = true;
  rt.Every("index_sync", absl::Seconds(1), [&] {
    absl::Status synced = manager.SyncIndex(absl::Now() + absl::Seconds(2));
    if (!synced.ok()) {
      hie::Log(hie::LogLevel::kWarning, "index_sync_failed",
               {{"code", absl::StatusCodeToString(synced.code())}});
    }
    const bool up = synced.ok() || synced.code() == absl::StatusCode::kResourceExhausted;
    if (up != serving) {
      serving = up;
      server->SetServing(up);
      hie::Log(up ? hie::LogLevel::kInfo : hie::LogLevel::kError, "health_changed",
               {{"serving", up}, {"code", absl::StatusCodeToString(synced.code())}});
    }
    database_up.Set(up ? 1 : 0);
    corrupt_rows.Set(static_cast<double>(hie::identity::PgIdentityStore::CorruptRowsSeen()));
  });
  // Results of idempotent writes older than the retention (any replica may purge them).
  rt.Every("idempotency_purge", absl::Minutes(10), [&] {
    absl::StatusOr<int64_t> purged =
        manager.PurgeIdempotencyKeys(settings.retention, absl::Now() + absl::Seconds(60));
    if (!purged.ok()) {
      hie::Log(hie::LogLevel::kWarning, "idempotency_purge_failed",
               {{"code", absl::StatusCodeToString(purged.status().code())}});
    } else if (*purged > 0) {
      hie::Log(hie::LogLevel::kInfo, "idempotency_purged", {{"keys", *purged}});
    }
  });
  rt.OnDrain([&] { service.StopWatches(); });
  rt.OnDrain([&] {
    if (mllp != nullptr) mllp->Stop();
  });
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
