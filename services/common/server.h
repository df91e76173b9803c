#pragma once

// Bootstrap shared by every gRPC service process.
//
// GrpcServer::Start builds a server that:
//  - listens with mutual TLS only (clients without a certificate from our CA are refused in
//    the TLS handshake);
//  - serves the standard grpc.health.v1 health service, and server reflection to the roles in
//    GrpcServerOptions::reflection_roles only (others get PERMISSION_DENIED);
//  - logs one JSON line per RPC (rpc, code, latency, request id, caller org) and counts it in
//    Prometheus metrics, optionally exposed on an admin port.
// Services are registered by the caller and must use the callback API and never block a
// callback thread (blocking work goes to a WorkerPool).
//
// The health status starts NOT_SERVING; the owner calls SetServing(true) once its dependencies
// (database, migrations) are ready.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/metrics.h"
#include "services/common/tls.h"

namespace hie {

struct GrpcServerOptions {
  std::string service_name;    // "identity": used in logs and metrics
  std::string listen_address;  // "127.0.0.1:7001"; port 0 picks a free port
  TlsFiles tls;                // all three files required
  std::string metrics_address; // "127.0.0.1:9464", or empty for no metrics endpoint
  // Certificate roles (OU) that may use server reflection.
  std::set<std::string> reflection_roles = {"service", "operator", "auditor"};
  // Each client connection is closed (GOAWAY) after about this age, zero for never; calls and
  // streams in flight finish first. Lets round_robin callers (channel.h) find new pods.
  absl::Duration max_connection_age = absl::ZeroDuration();
};

class GrpcServer {
 public:
  // `services` must outlive the server. Fails with the reason when the address cannot be bound
  // or a TLS file cannot be read.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const GrpcServerOptions& options, const std::vector<grpc::Service*>& services);

  ~GrpcServer();

  int port() const { return port_; }
  Metrics& metrics() { return *metrics_; }

  // Health status reported for the whole server ("") and for every registered service.
  void SetServing(bool serving);

  // Stops accepting RPCs, lets in-flight ones finish until `grace`, then cancels the rest.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;

  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// The request id of a call: the client's `x-request-id` metadata when present, else empty.
std::string RequestIdOf(const grpc::ServerContextBase& context);

// Process signal handling for mains: call BlockTerminationSignals() first thing in main (before
// any thread starts), then WaitForTerminationSignal() blocks until SIGTERM or SIGINT and returns
// the signal number.
void BlockTerminationSignals();
int WaitForTerminationSignal();

}  // namespace hie
