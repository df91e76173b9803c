// hie-locator: the record locator (which members hold data for which source records). Wiring
// only.
//
// Start-up (the common part is services/common/service.h): configuration; PostgreSQL and the
// locator schema's migrations; the mTLS gRPC server; then, when configured, the followers of
// identity's WatchEvents (--identity) and the registry's change feed (--registry), each from
// the position stored with the holdings. On SIGTERM the followers stop and in-flight calls get
// --drain-timeout to finish.

#include <unistd.h>

#include "services/common/channel.h"
#include "services/common/config.h"
#include "services/common/identity_feed.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"
#include "services/locator/api/feeds.h"
#include "services/locator/api/locator_service.h"
#include "services/locator/core/locator_operations.h"
#include "services/locator/store/migrations.h"
#include "services/locator/store/pg_locator_store.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "locator",
      .listen = "127.0.0.1:7002",
      .metrics_listen = "127.0.0.1:9402",
      .schema = hie::locator::kSchema,
      .migrations = hie::locator::Migrations(),
      .uses_redis = false,
      .keys = {
          {"delegating-services", "gateway",
           "services (certificate CN) that act for the actor their requests name; comma-separated"},
          {"identity", "", "identity service address (follow WatchEvents); empty: not followed"},
          {"registry", "",
           "registry service address (follow its change feed); empty: not followed"},
          {"registry-poll", "200ms", "pause between change-feed pages when the last was short"},
          {"client-cert", "var/certs/locator-client.pem",
           "certificate presented to identity and the registry"},
          {"client-key", "var/certs/locator-client.key", "its key"},
      }};
  return *spec;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelTo(const hie::Config& config,
                                                         const std::string& key) {
  if (config.Get(key).empty()) return nullptr;
  HIE_ASSIGN_OR_RETURN(
      auto creds, hie::MakeTlsChannelCredentials(
                      {config.Get("tls-ca"), config.Get("client-cert"), config.Get("client-key")}));
  return hie::ServiceChannel(config.Get(key), creds);
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  hie::locator::LocatorServiceOptions service_options;
  HIE_ASSIGN_OR_RETURN(
      service_options.authorization.delegating_services,
      hie::ParseNameList(config.Get("delegating-services"), "delegating-services"));
  HIE_ASSIGN_OR_RETURN(absl::Duration poll, config.GetDuration("registry-poll"));
  HIE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> identity, ChannelTo(config, "identity"));
  HIE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> registry, ChannelTo(config, "registry"));
  hie::locator::PgLocatorStore store(rt.pool());
  hie::locator::LocatorOperations operations(&store);
  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::locator::LocatorServiceImpl service(&operations, &worker_pool, service_options);
  HIE_RETURN_IF_ERROR(rt.StartGrpc({&service}).status());

  hie::locator::LocatorIdentitySink sink(&operations);
  std::unique_ptr<hie::IdentityFeedFollower> identity_follower;
  if (identity != nullptr) {
    identity_follower = std::make_unique<hie::IdentityFeedFollower>(
        &sink, identity,
        hie::IdentityFeedOptions{.types = hie::locator::LocatorIdentityEventTypes(),
                                 .request_id_prefix = "locator"});
    identity_follower->Start();
  }
  std::unique_ptr<hie::locator::RegistryFollower> registry_follower;
  if (registry != nullptr) {
    registry_follower = std::make_unique<hie::locator::RegistryFollower>(
        &operations, registry, hie::locator::RegistryFollowerOptions{.poll = poll});
    registry_follower->Start();
  }
  rt.OnDrain([&] {
    if (identity_follower != nullptr) identity_follower->Stop();
    if (registry_follower != nullptr) registry_follower->Stop();
  });
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
