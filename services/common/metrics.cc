#include "services/common/metrics.h"

#include <google/protobuf/descriptor.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace hie {

Metrics::Metrics(std::string service)
    : service_(std::move(service)), registry_(std::make_shared<prometheus::Registry>()) {
  rpc_total_ = &prometheus::BuildCounter()
                    .Name("hie_rpc_total")
                    .Help("Finished RPCs by method and status code")
                    .Register(*registry_);
  rpc_latency_ = &prometheus::BuildHistogram()
                      .Name("hie_rpc_latency_seconds")
                      .Help("Server-side RPC latency by method")
                      .Register(*registry_);
}

absl::Status Metrics::StartExposer(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  return absl::OkStatus();
}

int Metrics::exposer_port() const {
  if (exposer_ == nullptr) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string MetricMethodLabel(std::string_view path) {
  // "/package.Service/Method": known when this binary was compiled with that service's proto.
  if (path.size() < 4 || path[0] != '/') return "unknown";
  size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos) return "unknown";
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(path.substr(1, slash - 1)));
  if (service == nullptr ||
      service->FindMethodByName(std::string(path.substr(slash + 1))) == nullptr) {
    return "unknown";
  }
  return std::string(path);
}

void Metrics::RecordRpc(std::string_view rpc, std::string_view code, double seconds) {
  std::map<std::string, std::string> labels{{"service", service_}, {"rpc", MetricMethodLabel(rpc)}};
  rpc_latency_
      ->Add(labels, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005, 0.01,
                                                            0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})
      .Observe(seconds);
  labels.emplace("code", std::string(code));
  rpc_total_->Add(labels).Increment();
}

}  // namespace hie
