// hie-member: the reference member node (a clinic's side of the HIE). Wiring only.
//
// Start-up (the common part is services/common/service.h; no database): configuration; the
// member's data from --data-dir or generated (--generate-patients); the mTLS gRPC server with
// MemberEndpoint (only the hub's gateway may call it); then, with --hub and --feed-on-start, the
// feed of every patient and document to the hub on a thread of its own. The service's "ready"
// line follows a "member_loaded" line with counts (never patient data). On SIGTERM the feed
// stops, calls held by a fault are finished at once, and in-flight calls get --drain-timeout.

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "services/common/channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"
#include "services/member/api/hub_feed.h"
#include "services/member/api/member_service.h"
#include "services/member/core/data_folder.h"
#include "services/member/core/generated_data.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "member",
      .listen = "127.0.0.1:7101",
      .metrics_listen = "127.0.0.1:9501",
      .keys = {
          {"org", "", "this member's org id (required; its certificates' O)"},
          {"repository-id", "", "its repository id; empty: <org>-repository"},
          {"data-dir", "", "load patients and documents from this folder (README: layout)"},
          {"generate-patients", "0",
           "generate instead: the shared population's size in persons (this member holds the "
           "records placed at --org)"},
          {"seed", "2026", "seed of the generated population"},
          {"population-orgs", "clinic-a,clinic-b,clinic-c",
           "the members that share the generated population, in order"},
          {"generate-documents", "3", "at most this many documents per generated patient"},
          {"hub", "", "the hub gateway's address (feed patients and documents); empty: serve only"},
          {"feed-on-start", "true", "with --hub: feed every patient and document at start"},
          {"client-cert", "", "certificate presented to the hub; empty: var/certs/<org>.pem"},
          {"client-key", "", "its key; empty: var/certs/<org>.key"},
          {"hub-callers", "gateway",
           "hub services (certificate CN, role service) that may call; comma-separated"},
          {"chunk-bytes", "1048576", "largest RetrieveDocument chunk (1..1048576)"},
          {"fault-latency-ms", "0", "fault injection: answer data RPCs this much later"},
          {"fault-error-rate", "0", "fault injection: fail this share of data RPCs UNAVAILABLE"},
          {"fault-hang", "false", "fault injection: start answering data RPCs, never finish"},
          {"fault-black-hole", "false", "fault injection: accept data RPCs, never answer"},
          {"fault-seed", "1", "seed of the injected errors"},
      }};
  return *spec;
}

absl::StatusOr<hie::member::FaultOptions> FaultsOf(const hie::Config& config) {
  hie::member::FaultOptions faults;
  HIE_ASSIGN_OR_RETURN(int64_t latency_ms, config.GetInt("fault-latency-ms"));
  faults.latency = absl::Milliseconds(latency_ms);
  if (!absl::SimpleAtod(config.Get("fault-error-rate"), &faults.error_rate)) {
    return absl::InvalidArgumentError("--fault-error-rate must be a number between 0 and 1");
  }
  HIE_ASSIGN_OR_RETURN(faults.hang, config.GetBool("fault-hang"));
  HIE_ASSIGN_OR_RETURN(faults.black_hole, config.GetBool("fault-black-hole"));
  HIE_ASSIGN_OR_RETURN(int64_t seed, config.GetInt("fault-seed"));
  faults.seed = static_cast<uint64_t>(seed);
  HIE_RETURN_IF_ERROR(hie::member::CheckFaultOptions(faults));
  return faults;
}

absl::StatusOr<hie::member::MemberData> DataOf(const hie::Config& config, const std::string& org,
                                               const std::string& repository) {
  HIE_ASSIGN_OR_RETURN(int64_t persons, config.GetInt("generate-patients"));
  const std::string& dir = config.Get("data-dir");
  if (dir.empty() == (persons == 0)) {
    return absl::InvalidArgumentError("give either --data-dir or --generate-patients");
  }
  if (!dir.empty()) {
    std::unique_ptr<hie::member::FileSource> files = hie::member::DirectoryFileSource(dir);
    return hie::member::LoadMemberData(*files, org, repository);
  }
  hie::member::GenerateOptions options;
  options.persons = persons;
  HIE_ASSIGN_OR_RETURN(int64_t seed, config.GetInt("seed"));
  options.seed = static_cast<uint64_t>(seed);
  options.population_orgs = absl::StrSplit(config.Get("population-orgs"), ',', absl::SkipEmpty());
  options.org = org;
  options.repository_id = repository;
  HIE_ASSIGN_OR_RETURN(int64_t documents, config.GetInt("generate-documents"));
  options.max_documents_per_patient = static_cast<int>(std::clamp<int64_t>(documents, 0, 1000));
  return hie::member::GenerateMemberData(options);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> HubChannel(const hie::Config& config,
                                                          const std::string& org) {
  const std::string cert =
      config.Get("client-cert").empty() ? "var/certs/" + org + ".pem" : config.Get("client-cert");
  const std::string key =
      config.Get("client-key").empty() ? "var/certs/" + org + ".key" : config.Get("client-key");
  HIE_ASSIGN_OR_RETURN(auto creds,
                       hie::MakeTlsChannelCredentials({config.Get("tls-ca"), cert, key}));
  return hie::ServiceChannel(config.Get("hub"), creds);
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  const std::string& org = config.Get("org");
  if (org.empty()) return absl::InvalidArgumentError("--org is required");
  const std::string repository =
      config.Get("repository-id").empty() ? org + "-repository" : config.Get("repository-id");
  hie::member::MemberServiceOptions options;
  HIE_ASSIGN_OR_RETURN(options.callers.services,
                       hie::ParseNameList(config.Get("hub-callers"), "hub-callers"));
  HIE_ASSIGN_OR_RETURN(options.faults, FaultsOf(config));
  HIE_ASSIGN_OR_RETURN(int64_t chunk_bytes, config.GetInt("chunk-bytes"));
  if (chunk_bytes < 1 || chunk_bytes > static_cast<int64_t>(hie::member::kMaxChunkBytes)) {
    return absl::InvalidArgumentError("--chunk-bytes must be 1 to 1048576");
  }
  options.chunk_bytes = static_cast<size_t>(chunk_bytes);
  HIE_ASSIGN_OR_RETURN(bool feed_on_start, config.GetBool("feed-on-start"));
  std::shared_ptr<grpc::Channel> hub;
  if (!config.Get("hub").empty()) {
    HIE_ASSIGN_OR_RETURN(hub, HubChannel(config, org));
  }

  HIE_ASSIGN_OR_RETURN(hie::member::MemberData data, DataOf(config, org, repository));
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<hie::member::MemberStore> store,
                       hie::member::MemberStore::Create(std::move(data)));
  hie::Log(hie::LogLevel::kInfo, "member_loaded",
           {{"org", org},
            {"patients", static_cast<uint64_t>(store->patients().size())},
            {"documents", static_cast<uint64_t>(store->documents().size())},
            {"fault_latency_ms", absl::ToInt64Milliseconds(options.faults.latency)},
            {"fault_error_rate", options.faults.error_rate},
            {"fault_hang", options.faults.hang},
            {"fault_black_hole", options.faults.black_hole}});

  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::member::MemberEndpointImpl service(store.get(), &worker_pool, options);
  HIE_RETURN_IF_ERROR(rt.StartGrpc({&service}).status());
  std::unique_ptr<hie::member::HubFeed> feed;
  if (hub != nullptr && feed_on_start) {
    feed = std::make_unique<hie::member::HubFeed>(
        store.get(), hub, hie::member::HubFeedOptions{.request_id_prefix = org + "-feed"});
    feed->Start();
  }
  rt.OnDrain([&] { service.ReleaseHeldCalls(); });
  rt.OnDrain([&] {
    if (feed != nullptr) feed->Stop();
  });
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
