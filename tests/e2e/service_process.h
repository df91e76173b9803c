#pragma once

// Any hub service binary (hie-audit, hie-consent, ...) as a child process of an end-to-end test:
// its gRPC and metrics ports chosen once (kept across restarts), the server certificate
// `<server_cert>` from the test certificates, PostgreSQL and other settings as flags, its log in
// <sandbox>/<name>.log. The identity service has its own richer class (IdentityProcess).

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/e2e_harness.h"

namespace hie::e2e {

class ServiceProcess {
 public:
  // `flags` are --key=value flags beyond --listen, --metrics-listen and the TLS files.
  ServiceProcess(Sandbox* sandbox, std::string name, std::string binary, std::string server_cert,
                 std::vector<std::string> flags);
  ~ServiceProcess() { process_.Kill(); }

  // Starts it and waits until health answers SERVING over mTLS (operator certificate); the
  // error carries the end of its log.
  [[nodiscard]] absl::Status Start(absl::Duration timeout = absl::Seconds(60));
  [[nodiscard]] absl::Status WaitServing(absl::Duration timeout);
  void Kill9() { process_.Kill(SIGKILL); }
  void Terminate() { process_.Kill(SIGTERM); }
  bool Running() { return process_.Running(); }

  int grpc_port() const { return grpc_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  const std::string& log_path() const { return process_.log_path(); }
  // A channel presenting the test certificate `cert`, verifying the server as "localhost".
  std::shared_ptr<grpc::Channel> Channel(const std::string& cert) const;

 private:
  std::string name_;
  int grpc_port_;
  int metrics_port_;
  ChildProcess process_;
};

// Debian's python3 with grpcio, and protoc with the Python gRPC plugin, for the tests that drive
// a service from Python (the second gRPC implementation). Sets *python; returns "" when all are
// there, else what is missing.
std::string MissingPythonGrpc(std::string* python);

// A channel to 127.0.0.1:`port` presenting the test certificate `cert` (quick reconnects).
std::shared_ptr<grpc::Channel> TestChannel(int port, const std::string& cert);

}  // namespace hie::e2e
