#pragma once

// The channel one hub service (or a member node) opens to a hub service.
//
// ServiceChannel sends calls in turn to every address the target's name resolves to (gRPC's
// round_robin), where gRPC's default (pick_first) keeps them all on the first, and only to the
// servers whose grpc.health.v1 status is SERVING (client-side health checking: each connection
// watches the server's overall health, which the service skeleton sets; server.h). Under
// Kubernetes the chart's internal Services are headless (helm/hie-hub), so a name resolves to
// each pod: scaling a service out spreads its callers' load, and a pod that reports
// NOT_SERVING (identity without its database, consent with a stale view, a pod draining) stops
// getting calls at once. When no server is SERVING, calls fail UNAVAILABLE (or wait, with
// wait_for_ready). A name with one address (localhost on one host) keeps these rules.
// gRPC looks the name up again when a connection closes; servers started with
// --max-connection-age close every connection after about that age (calls and streams in
// flight finish on it first), so callers also find pods added since.
//
// For hub services only: a member's MemberEndpoint need not serve grpc.health.v1.

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
