// hie-registry: the document registry (XDS-style metadata of the documents members hold).
// Wiring only.
//
// Start-up (the common part is services/common/service.h): configuration; PostgreSQL and the
// registry schema's migrations; then the mTLS gRPC server. On SIGTERM in-flight calls get
// --drain-timeout to finish.

#include <unistd.h>

#include "services/common/config.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/worker_pool.h"
#include "services/registry/api/registry_service.h"
#include "services/registry/core/registry_operations.h"
#include "services/registry/store/migrations.h"
#include "services/registry/store/pg_registry_store.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "registry",
      .listen = "127.0.0.1:7003",
      .metrics_listen = "127.0.0.1:9403",
      .schema = hie::registry::kSchema,
      .migrations = hie::registry::Migrations(),
      .uses_redis = false,
      .keys = {
          {"delegating-services", "gateway",
           "services (certificate CN) that act for the actor their requests name; comma-separated"},
          {"feed-readers", "locator",
           "services (certificate CN) that may read the change feed (ListChanges); "
           "comma-separated"},
          {"max-scanned", "20000",
           "most of a patient's entries one FindDocuments page may read before answering "
           "RESOURCE_EXHAUSTED (too many results)"},
      }};
  return *spec;
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  hie::registry::RegistryServiceOptions service_options;
  HIE_ASSIGN_OR_RETURN(
      service_options.authorization.delegating_services,
      hie::ParseNameList(config.Get("delegating-services"), "delegating-services"));
  HIE_ASSIGN_OR_RETURN(service_options.authorization.feed_readers,
                       hie::ParseNameList(config.Get("feed-readers"), "feed-readers"));
  HIE_ASSIGN_OR_RETURN(int64_t max_scanned, config.GetInt("max-scanned"));
  if (max_scanned < 1) return absl::InvalidArgumentError("--max-scanned must be positive");
  hie::registry::PgRegistryStore store(rt.pool());
  hie::registry::RegistryOperations operations(&store,
                                               {.max_scanned = static_cast<size_t>(max_scanned)});
  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::registry::RegistryServiceImpl service(&operations, &worker_pool, service_options);
  HIE_RETURN_IF_ERROR(rt.StartGrpc({&service}).status());
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
