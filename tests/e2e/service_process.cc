#include "tests/e2e/service_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace hie::e2e {
namespace {

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    absl::StrAppend(&out, all[i], "\n");
  }
  return out;
}

std::vector<std::string> Argv(const std::string& binary, const std::string& server_cert,
                              int grpc_port, int metrics_port, std::vector<std::string> flags) {
  TlsFiles server = hie::testing::TestCertFiles(server_cert);
  std::vector<std::string> argv = {binary,
                                   absl::StrCat("--listen=127.0.0.1:", grpc_port),
                                   absl::StrCat("--metrics-listen=127.0.0.1:", metrics_port),
                                   absl::StrCat("--tls-ca=", server.ca_file),
                                   absl::StrCat("--tls-cert=", server.cert_file),
                                   absl::StrCat("--tls-key=", server.key_file)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

int OtherFreePort(int taken) {
  for (;;) {
    int port = hie::testing::FreeTcpPort();
    if (port != taken) return port;
  }
}

}  // namespace

std::string MissingPythonGrpc(std::string* python) {
  // Debian's interpreter first: that is where python3-grpcio installs.
  *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : FindProgram("python3");
  std::string missing;
  if (python->empty()) {
    missing = "python3";
  } else {
    absl::StatusOr<int> probe = RunCommand(
        {*python, "-c", "import grpc, google.protobuf, cryptography"}, nullptr, absl::Seconds(60));
    if (!probe.ok() || *probe != 0) {
      missing = "python3-grpcio, python3-cryptography (" + *python + " cannot import them)";
    }
  }
  for (const char* tool : {"protoc", "grpc_python_plugin"}) {
    if (FindProgram(tool).empty()) absl::StrAppend(&missing, missing.empty() ? "" : ", ", tool);
  }
  return missing;
}

std::shared_ptr<grpc::Channel> TestChannel(int port, const std::string& cert) {
  TlsFiles files = hie::testing::TestCertFiles(cert);
  auto creds = MakeTlsChannelCredentials(files);
  if (!creds.ok()) {
    ADD_FAILURE() << "channel credentials for '" << cert << "': " << creds.status();
    return grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("ipv4:127.0.0.1:", port), *creds, args);
}

ServiceProcess::ServiceProcess(Sandbox* sandbox, std::string name, std::string binary,
                               std::string server_cert, std::vector<std::string> flags)
    : name_(std::move(name)),
      grpc_port_(hie::testing::FreeTcpPort()),
      metrics_port_(OtherFreePort(grpc_port_)),
      process_(sandbox, Argv(binary, server_cert, grpc_port_, metrics_port_, std::move(flags)),
               sandbox->Path(name_ + ".log")) {}

absl::Status ServiceProcess::Start(absl::Duration timeout) {
  if (absl::Status s = process_.Start(); !s.ok()) return s;
  return WaitServing(timeout);
}

absl::Status ServiceProcess::WaitServing(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (!process_.Running()) {
      return absl::UnavailableError(
          absl::StrCat(name_, " exited; end of its log:\n", Tail(process_.log_path(), 30)));
    }
    auto stub = grpc::health::v1::Health::NewStub(Channel("operator"));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    if (stub->Check(Deadline(absl::Seconds(1)).get(), request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " not SERVING; end of its log:\n", Tail(process_.log_path(), 30)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::shared_ptr<grpc::Channel> ServiceProcess::Channel(const std::string& cert) const {
  return TestChannel(grpc_port_, cert);
}

}  // namespace hie::e2e
