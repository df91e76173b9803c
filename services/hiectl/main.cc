// hiectl: the command-line client of HIE operators and administrators.
//
//   hiectl health [--target HOST:PORT] [--service NAME] [--json]
//
// Connects with mutual TLS using the operator's certificate (flags or HIE_TLS_* variables).
// Exit status: 0 when the target answers SERVING, 1 when it answers anything else, 2 when it
// cannot be reached or the command line is wrong.

#include <iostream>
#include <vector>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/tls.h"

namespace {

const std::vector<hie::ConfigKey> kConfigKeys = {
    {"target", "localhost:7001", "service address"},
    {"tls-ca", "var/certs/ca.pem", "CA bundle that signs the hub's certificates"},
    {"tls-cert", "var/certs/operator.pem", "your certificate (empty: present none)"},
    {"tls-key", "var/certs/operator.key", "your private key"},
    {"service", "", "health: the gRPC service name to check (empty: the whole server)"},
    {"timeout", "5s", "deadline of each call"},
    {"json", "false", "print JSON instead of a table"},
};

constexpr char kUsage[] = "usage: hiectl COMMAND [flags]\n\ncommands:\n  health   check a service's health\n";

const char* StatusName(grpc::health::v1::HealthCheckResponse::ServingStatus status) {
  switch (status) {
    case grpc::health::v1::HealthCheckResponse::SERVING: return "SERVING";
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING: return "NOT_SERVING";
    case grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN: return "SERVICE_UNKNOWN";
    default: return "UNKNOWN";
  }
}

int Health(const hie::Config& config) {
  absl::StatusOr<absl::Duration> timeout = config.GetDuration("timeout");
  absl::StatusOr<bool> json = config.GetBool("json");
  if (!timeout.ok() || !json.ok()) {
    std::cerr << (timeout.ok() ? json.status() : timeout.status()).message() << "\n";
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = hie::MakeTlsChannelCredentials(
      {config.Get("tls-ca"), config.Get("tls-cert"), config.Get("tls-key")});
  if (!creds.ok()) {
    std::cerr << "hiectl: " << creds.status().message() << "\n";
    return 2;
  }
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(config.Get("target"), *creds));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + *timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(config.Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  std::string target = config.Get("target");
  if (!status.ok()) {
    if (*json) {
      std::cout << "{\"target\":" << hie::JsonQuote(target) << ",\"error\":"
                << hie::JsonQuote(status.error_message()) << "}\n";
    } else {
      std::cerr << "hiectl: cannot check " << target << ": " << status.error_message() << "\n";
    }
    return 2;
  }
  const char* name = StatusName(response.status());
  if (*json) {
    std::cout << "{\"target\":" << hie::JsonQuote(target) << ",\"service\":"
              << hie::JsonQuote(request.service()) << ",\"status\":\"" << name << "\"}\n";
  } else {
    std::cout << target << (request.service().empty() ? "" : " " + request.service()) << ": "
              << name << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  hie::SetLogService("hiectl");
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string_view command = argv[1];
  absl::StatusOr<hie::Config> config = hie::Config::Load(kConfigKeys, argc - 1, argv + 1, environ);
  if (!config.ok()) {
    std::cerr << "hiectl: " << config.status().message() << "\n";
    return 2;
  }
  if (config->help_requested()) {
    std::cout << hie::Config::Usage(absl::StrCat("hiectl ", std::string(command)), kConfigKeys);
    return 0;
  }
  if (command == "health") return Health(*config);
  std::cerr << "hiectl: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
