// hie-gateway: the hub's entry point for member systems (this version: FindOutsideRecords and
// GetCallerInfo of hie.gateway.v1.MemberGateway). Wiring only.
//
// Start-up (the common part is services/common/service.h): configuration; the member directory
// (--members, core/member_directory.h: a bad file stops the start naming the line); channels to
// identity, the locator, consent, audit and the registry with the gateway's client certificate;
// the member endpoints' channels and circuit breakers; the mTLS gRPC server. No database of its
// own yet. On SIGTERM in-flight queries get --drain-timeout to finish.

#include <unistd.h>

#include "services/common/config.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"
#include "services/gateway/api/gateway_service.h"
#include "services/gateway/api/hub_services.h"
#include "services/gateway/api/member_fanout.h"
#include "services/gateway/api/staff_gateway.h"
#include "services/gateway/core/member_directory.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "gateway",
      .listen = "127.0.0.1:7000",
      .metrics_listen = "127.0.0.1:9400",
      .keys = {
          {"members", "", "the member directory file (services/gateway/README.md: format)"},
          {"identity", "127.0.0.1:7001", "identity service address"},
          {"locator", "127.0.0.1:7002", "record locator address"},
          {"registry", "127.0.0.1:7003", "document registry address"},
          {"consent", "127.0.0.1:7004", "consent service address"},
          {"audit", "127.0.0.1:7005", "audit service address"},
          {"client-cert", "var/certs/gateway-client.pem",
           "certificate presented to the hub's services and to member endpoints"},
          {"client-key", "var/certs/gateway-client.key", "its key"},
          {"max-calls-per-query", "32", "member calls in flight per federated query"},
          {"breaker-failures", "3", "failures in a row that open a member's circuit breaker"},
          {"breaker-open", "5s", "how long an open breaker skips its member at first"},
      }};
  return *spec;
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  std::map<std::string, hie::gateway::DirectoryMember> directory;
  if (!config.Get("members").empty()) {
    HIE_ASSIGN_OR_RETURN(std::string text, hie::ReadFileToString(config.Get("members")));
    HIE_ASSIGN_OR_RETURN(directory, hie::gateway::ParseMemberDirectory(text));
  }
  HIE_ASSIGN_OR_RETURN(
      auto creds, hie::MakeTlsChannelCredentials(
                      {config.Get("tls-ca"), config.Get("client-cert"), config.Get("client-key")}));
  const grpc::ChannelArguments quick = hie::gateway::QuickReconnectArguments();
  hie::gateway::HubChannels channels;
  channels.identity = grpc::CreateCustomChannel(config.Get("identity"), creds, quick);
  channels.locator = grpc::CreateCustomChannel(config.Get("locator"), creds, quick);
  channels.registry = grpc::CreateCustomChannel(config.Get("registry"), creds, quick);
  channels.consent = grpc::CreateCustomChannel(config.Get("consent"), creds, quick);
  channels.audit = grpc::CreateCustomChannel(config.Get("audit"), creds, quick);
  hie::gateway::GrpcHubServices hub(channels, std::move(directory));

  HIE_ASSIGN_OR_RETURN(int64_t max_calls, config.GetInt("max-calls-per-query"));
  HIE_ASSIGN_OR_RETURN(int64_t failures, config.GetInt("breaker-failures"));
  HIE_ASSIGN_OR_RETURN(absl::Duration open_for, config.GetDuration("breaker-open"));
  if (max_calls < 1 || max_calls > 1000) {
    return absl::InvalidArgumentError("--max-calls-per-query must be from 1 to 1000");
  }
  if (failures < 1 || failures > 1000) {
    return absl::InvalidArgumentError("--breaker-failures must be from 1 to 1000");
  }
  hie::gateway::MemberChannels member_channels(creds);
  hie::gateway::Breakers breakers(hie::gateway::CircuitBreakerOptions{
      .failures_to_open = static_cast<int>(failures), .open_for = open_for});
  hie::gateway::FanOutCalls calls(&member_channels, &breakers,
                                  {.max_in_flight = static_cast<size_t>(max_calls)});
  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::gateway::MemberGatewayOptions options;
  hie::gateway::GrpcMemberRetrieval retrieval(&member_channels);
  hie::gateway::MemberGatewayImpl service(&hub, &hub, &hub, &calls, &retrieval, &worker_pool,
                                          options);
  // The staff APIs (operators, privacy officers, admins): proxies to identity, consent, audit.
  auto identity_stub = hie::identity::v1::IdentityService::NewStub(channels.identity);
  auto consent_stub = hie::consent::v1::ConsentService::NewStub(channels.consent);
  auto audit_stub = hie::audit::v1::AuditLog::NewStub(channels.audit);
  const hie::gateway::StaffServices staff{.identity = identity_stub.get(),
                                          .consent = consent_stub.get(),
                                          .audit = audit_stub.get(),
                                          .hub = &hub,
                                          .breakers = &breakers,
                                          .workers = &worker_pool};
  hie::gateway::OperatorGatewayImpl operator_service(staff);
  hie::gateway::AdminGatewayImpl admin_service(staff);
  HIE_RETURN_IF_ERROR(rt.StartGrpc({&service, &operator_service, &admin_service}).status());
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
