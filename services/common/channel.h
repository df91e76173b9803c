#pragma once

// The channel one hub service (or a member node) opens to another.
//
// ServiceChannel sends calls in turn to every address the target's name resolves to (gRPC's
// round_robin), where gRPC's default (pick_first) keeps them all on the first. Under Kubernetes
// the chart's internal Services are headless (helm/hie-hub), so a name resolves to each ready
// pod: scaling a service out spreads its callers' load. A name with one address (a ClusterIP
// Service, localhost) behaves as before. gRPC looks the name up again when a connection is lost;
// servers started with --max-connection-age close every connection after that age (calls in
// flight and streams finish on it first), so callers also find pods added since.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace hie {

// A channel to `target` ("identity:7001", "dns:///identity.hie.svc:7001") with `credentials`
// and `args` (their service config, if any, is replaced by round_robin's).
std::shared_ptr<grpc::Channel> ServiceChannel(const std::string& target,
                                              std::shared_ptr<grpc::ChannelCredentials> credentials,
                                              grpc::ChannelArguments args = {});

}  // namespace hie
