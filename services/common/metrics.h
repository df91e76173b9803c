#pragma once

// Prometheus metrics of one service process, served in the text format on an admin port.
// Families are declared here, next to the code that bumps them (RecordRpc is called by the
// server's interceptor for every RPC). Services add their own families on registry().

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace hie {

class Metrics {
 public:
  explicit Metrics(std::string service);

  prometheus::Registry& registry() { return *registry_; }

  // Serves GET /metrics on `address` ("127.0.0.1:9464"; port 0 picks a free port).
  [[nodiscard]] absl::Status StartExposer(const std::string& address);
  int exposer_port() const;  // 0 when not started

  // Counts one finished RPC and observes its latency. `rpc` is the method path; a method this
  // binary does not know (any path a client makes up) is labelled "unknown", so clients cannot
  // create unbounded series. Thread-safe.
  void RecordRpc(std::string_view rpc, std::string_view code, double seconds);

 private:
  std::string service_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* rpc_total_;
  prometheus::Family<prometheus::Histogram>* rpc_latency_;
};

// The metric label of a method path: the path itself when a service of this binary's compiled
// protos has that method, else "unknown".
std::string MetricMethodLabel(std::string_view path);

}  // namespace hie
