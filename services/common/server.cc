#include "services/common/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/support/server_interceptor.h>

#include <algorithm>
#include <csignal>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status.h"

namespace hie {
namespace {

// Logs and counts every RPC when its status is sent. Holds no PHI: method name, code, timing,
// request id and the caller's organisation from its certificate.
class ObservingInterceptor : public grpc::experimental::Interceptor {
 public:
  ObservingInterceptor(grpc::experimental::ServerRpcInfo* info, Metrics* metrics)
      : info_(info), metrics_(metrics), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
      const std::string code = GrpcCodeName(status.error_code());
      metrics_->RecordRpc(info_->method(), code, seconds);
      std::string org;
      if (auto auth = info_->server_context()->auth_context(); auth != nullptr) {
        if (absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth); peer.ok()) org = peer->org;
      }
      Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, "rpc",
          {{"rpc", MetricMethodLabel(info_->method())},
           {"code", code},
           {"latency_ms", seconds * 1000},
           {"request_id", RequestIdOf(*info_->server_context())},
           {"peer_org", org}});
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  Metrics* metrics_;
  absl::Time start_;
};

class ObservingInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ObservingInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ObservingInterceptor(info, metrics_);
  }

 private:
  Metrics* metrics_;
};

// Server reflection describes every method of the service; members (outside organisations) do
// not need it and get PERMISSION_DENIED. Runs per call, before any handler, on the caller's
// verified certificate.
class ReflectionGate : public grpc::AuthMetadataProcessor {
 public:
  explicit ReflectionGate(std::set<std::string> roles) : roles_(std::move(roles)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata* response) override {
    auto path = metadata.find(":path");
    if (path == metadata.end()) return grpc::Status::OK;
    std::string_view method(path->second.data(), path->second.size());
    if (method.rfind("/grpc.reflection.", 0) != 0) return grpc::Status::OK;
    absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*context);
    if (peer.ok() && roles_.count(peer->role) > 0) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "server reflection is for the hub's staff and services");
  }

 private:
  const std::set<std::string> roles_;
};

}  // namespace

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("x-request-id");
  if (it == metadata.end()) return "";
  // Request ids are opaque tokens; cap the length so a client cannot flood the logs.
  return std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const GrpcServerOptions& options, const std::vector<grpc::Service*>& services) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeMtlsServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  (*credentials)
      ->SetAuthMetadataProcessor(std::make_shared<ReflectionGate>(options.reflection_roles));

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->metrics_ = std::make_unique<Metrics>(options.service_name);
  if (!options.metrics_address.empty()) {
    if (absl::Status s = server->metrics_->StartExposer(options.metrics_address); !s.ok()) return s;
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, *credentials, &server->port_);
  if (options.max_connection_age > absl::ZeroDuration()) {
    // gRPC adds +-10% jitter; the grace after the age is unlimited by default.
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(options.max_connection_age),
                                           std::numeric_limits<int>::max())));
  }
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<ObservingInterceptorFactory>(server->metrics_.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address));
  }
  server->SetServing(false);
  Log(LogLevel::kInfo, "server_started",
      {{"port", server->port_}, {"metrics_port", server->metrics_->exposer_port()}});
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::SetServing(bool serving) {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  SetServing(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  server_.reset();
  Log(LogLevel::kInfo, "server_stopped");
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int signal_number = 0;
  sigwait(&set, &signal_number);
  return signal_number;
}

}  // namespace hie
