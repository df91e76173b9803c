// hie-audit: the hub's append-only, hash-chained audit log. Wiring only.
//
// Start-up (the common part is services/common/service.h): configuration; PostgreSQL and the
// audit schema's migrations; the signing key (registered, old keys stay listed); the checkpoint
// archive directory; then the mTLS gRPC server, and, when --identity is set, the follower of
// identity's WatchEvents and the resolver used by search and accounting. Periodic work: a
// checkpoint every --checkpoint-interval while the head moves; retention once an hour (whole
// months older than --retention, only behind a signed checkpoint). On SIGTERM the follower stops
// and in-flight calls get --drain-timeout to finish.

#include <unistd.h>

#include <memory>

#include "services/audit/api/audit_service.h"
#include "services/audit/api/identity_client.h"
#include "services/audit/core/audit_log.h"
#include "services/audit/core/operations.h"
#include "services/audit/store/checkpoint_directory.h"
#include "services/audit/store/migrations.h"
#include "services/audit/store/pg_audit_store.h"
#include "services/common/channel.h"
#include "services/common/logging.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "audit",
      .listen = "127.0.0.1:7005",
      .metrics_listen = "127.0.0.1:9405",
      .schema = hie::audit::kSchema,
      .migrations = hie::audit::Migrations(),
      .uses_redis = false,
      .keys = {
          {"signing-key", "var/certs/audit-signing.key",
           "Ed25519 private key (PEM) signing checkpoints; a new key rotates (old keys stay "
           "listed for verification)"},
          {"checkpoint-dir", "var/audit-checkpoints",
           "directory outside the database where checkpoints and public keys are also kept "
           "(another volume, WORM or object-store mount); empty: database only"},
          {"checkpoint-every", "10000", "events between automatic checkpoints"},
          {"checkpoint-interval", "60s", "longest time a moved head stays unsigned"},
          {"max-group-events", "4000", "most events one group commit writes"},
          {"retention", "61368h",
           "events older than this (61368h = 7 years; whole months, behind a signed checkpoint) "
           "are dropped; "
           "0 keeps everything"},
          {"identity", "",
           "identity service address (follow WatchEvents, resolve patients); "
           "empty: neither"},
          {"client-cert", "var/certs/audit-client.pem", "certificate presented to identity"},
          {"client-key", "var/certs/audit-client.key", "its key"},
      }};
  return *spec;
}

struct Settings {
  std::unique_ptr<hie::audit::CheckpointSigner> signer;
  std::unique_ptr<hie::audit::DirectoryCheckpointArchive> archive;
  hie::audit::AuditLogOptions log;
  absl::Duration retention;
};

absl::StatusOr<Settings> ReadSettings(const hie::Config& config) {
  Settings s;
  HIE_ASSIGN_OR_RETURN(std::string pem, hie::ReadFileToString(config.Get("signing-key")));
  HIE_ASSIGN_OR_RETURN(s.signer, hie::audit::CheckpointSigner::FromPrivateKeyPem(pem));
  if (!config.Get("checkpoint-dir").empty()) {
    HIE_ASSIGN_OR_RETURN(
        s.archive, hie::audit::DirectoryCheckpointArchive::Open(config.Get("checkpoint-dir")));
  }
  HIE_ASSIGN_OR_RETURN(s.log.checkpoint_every_events, config.GetInt("checkpoint-every"));
  HIE_ASSIGN_OR_RETURN(s.log.checkpoint_interval, config.GetDuration("checkpoint-interval"));
  HIE_ASSIGN_OR_RETURN(int64_t group, config.GetInt("max-group-events"));
  HIE_ASSIGN_OR_RETURN(s.retention, config.GetDuration("retention"));
  if (s.log.checkpoint_every_events < 1 || s.log.checkpoint_interval <= absl::ZeroDuration() ||
      group < 1 || group > 100000 || s.retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--checkpoint-every, --checkpoint-interval and --max-group-events must be positive "
        "(groups at most 100000), --retention not negative");
  }
  s.log.max_group_events = static_cast<size_t>(group);
  return s;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> IdentityChannel(const hie::Config& config) {
  if (config.Get("identity").empty()) return nullptr;
  HIE_ASSIGN_OR_RETURN(
      auto creds, hie::MakeTlsChannelCredentials(
                      {config.Get("tls-ca"), config.Get("client-cert"), config.Get("client-key")}));
  return hie::ServiceChannel(config.Get("identity"), creds);
}

// Drops whole months older than the retention, only behind the newest signed checkpoint.
void ApplyRetention(hie::audit::AuditStore* store, absl::Duration retention) {
  if (retention == absl::ZeroDuration()) return;
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  auto latest = store->ListCheckpoints(absl::InfinitePast(), absl::InfiniteFuture(), std::nullopt,
                                       1, deadline);
  if (!latest.ok() || latest->empty()) return;
  absl::StatusOr<int64_t> dropped =
      store->DropBefore(absl::Now() - retention, latest->front().sequence(), deadline);
  if (!dropped.ok()) {
    hie::Log(hie::LogLevel::kWarning, "retention_failed",
             {{"code", absl::StatusCodeToString(dropped.status().code())}});
  } else if (*dropped > 0) {
    hie::Log(hie::LogLevel::kInfo, "retention_dropped", {{"events", *dropped}});
  }
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  HIE_ASSIGN_OR_RETURN(Settings settings, ReadSettings(config));
  HIE_ASSIGN_OR_RETURN(
      std::unique_ptr<hie::audit::PgAuditStore> store,
      hie::audit::PgAuditStore::Create(rt.pool(), absl::Now(), rt.startup_deadline()));
  HIE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> identity, IdentityChannel(config));
  std::unique_ptr<hie::audit::GrpcPatientResolver> resolver;
  if (identity != nullptr) resolver = std::make_unique<hie::audit::GrpcPatientResolver>(identity);
  hie::audit::AuditLog log(store.get(), settings.signer.get(), settings.archive.get(),
                           resolver.get(), settings.log);
  HIE_RETURN_IF_ERROR(log.Start(rt.startup_deadline()));
  hie::Log(hie::LogLevel::kInfo, "signing_key", {{"key_id", settings.signer->key_id()}});
  hie::audit::AuditOperations operations(&log);
  // Declared after the log so that it drains (and is destroyed) before the log goes.
  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::audit::AuditServiceImpl service(&operations, &worker_pool);
  HIE_RETURN_IF_ERROR(rt.StartGrpc({&service}).status());
  hie::audit::AuditIdentitySink sink(&log);
  std::unique_ptr<hie::IdentityFeedFollower> follower;
  if (identity != nullptr) {
    follower = std::make_unique<hie::IdentityFeedFollower>(
        &sink, identity, hie::IdentityFeedOptions{.request_id_prefix = "audit"});
    follower->Start();
  }
  rt.Every("checkpoint", absl::Seconds(1),
           [&] { log.MaybeCheckpoint(absl::Now() + absl::Seconds(10)); });
  rt.Every("retention", absl::Hours(1), [&] { ApplyRetention(store.get(), settings.retention); });
  rt.OnDrain([&] {
    if (follower != nullptr) follower->Stop();
  });
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
