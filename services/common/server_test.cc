// The server bootstrap over real gRPC with mutual TLS on loopback.

#include "services/common/server.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/channel.h"
#include "tests/support/test_env.h"

namespace hie {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "test",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("identity"),
                           .metrics_address = "127.0.0.1:0"},
                          {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Health check through a channel with the given credentials; returns the RPC status.
  grpc::Status Check(const TlsFiles& client_files, HealthCheckResponse* response) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
        MakeTlsChannelCredentials(client_files);
    EXPECT_TRUE(creds.ok()) << creds.status();
    auto channel = grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.AddMetadata("x-request-id", "req-test-1");
    return Health::NewStub(channel)->Check(&context, HealthCheckRequest(), response);
  }

  std::unique_ptr<GrpcServer> server_;
};

TEST_F(GrpcServerTest, ClientWithCertificateGetsHealthThatFollowsSetServing) {
  HealthCheckResponse response;
  grpc::Status status = Check(hie::testing::TestCertFiles("operator"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);

  server_->SetServing(true);
  status = Check(hie::testing::TestCertFiles("clinic-a"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
}

TEST_F(GrpcServerTest, ClientWithoutCertificateIsRefused) {
  TlsFiles no_cert = hie::testing::TestCertFiles("operator");
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  HealthCheckResponse response;
  grpc::Status status = Check(no_cert, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(GrpcServerTest, ClientWithCertificateFromAnotherCaIsRefused) {
  TlsFiles rogue = hie::testing::TestCertFiles("operator", /*rogue_ca=*/true);
  rogue.ca_file = hie::testing::TestCertFiles("operator").ca_file;  // trusts our server
  HealthCheckResponse response;
  grpc::Status status = Check(rogue, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(GrpcServerTest, ClientRefusesServerItDoesNotTrust) {
  TlsFiles distrustful = hie::testing::TestCertFiles("operator");
  distrustful.ca_file = hie::testing::TestCertFiles("operator", /*rogue_ca=*/true).ca_file;
  HealthCheckResponse response;
  EXPECT_FALSE(Check(distrustful, &response).ok());
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  return response;
}

TEST_F(GrpcServerTest, EveryRpcIsCountedInMetrics) {
  HealthCheckResponse response;
  ASSERT_TRUE(Check(hie::testing::TestCertFiles("operator"), &response).ok());
  ASSERT_GT(server_->metrics().exposer_port(), 0);
  std::string body = HttpGet(server_->metrics().exposer_port(), "/metrics");
  EXPECT_NE(body.find("hie_rpc_total{code=\"OK\",rpc=\"/grpc.health.v1.Health/Check\""),
            std::string::npos)
      << body.substr(0, 2000);
  EXPECT_NE(body.find("hie_rpc_latency_seconds_bucket"), std::string::npos);
}

// Calls `method` with `payload` through the generic stub (no generated code needed).
grpc::Status RawCall(int port, const TlsFiles& files, const std::string& method,
                     const std::string& payload) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeTlsChannelCredentials(files);
  EXPECT_TRUE(creds.ok());
  auto channel = grpc::CreateChannel(absl::StrCat("localhost:", port), *creds);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(payload);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) { done.set_value(status); });
  return done.get_future().get();
}

constexpr char kReflection[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
// A ServerReflectionRequest with list_services = "" (field 7, length 0).
const std::string kListServices("\x3a\x00", 2);

TEST_F(GrpcServerTest, ReflectionIsForStaffAndServicesNotMembers) {
  grpc::Status member =
      RawCall(server_->port(), hie::testing::TestCertFiles("clinic-a"), kReflection, kListServices);
  EXPECT_EQ(member.error_code(), grpc::StatusCode::PERMISSION_DENIED) << member.error_message();
  grpc::Status operator_call =
      RawCall(server_->port(), hie::testing::TestCertFiles("operator"), kReflection, kListServices);
  EXPECT_TRUE(operator_call.ok()) << operator_call.error_message();
}

TEST_F(GrpcServerTest, MadeUpMethodNamesDoNotCreateMetricSeries) {
  grpc::Status status = RawCall(server_->port(), hie::testing::TestCertFiles("operator"),
                                "/evil.Service/Method-123456", "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  std::string body = HttpGet(server_->metrics().exposer_port(), "/metrics");
  EXPECT_EQ(body.find("Method-123456"), std::string::npos) << body.substr(0, 2000);
  EXPECT_NE(body.find("rpc=\"unknown\""), std::string::npos) << body.substr(0, 2000);
  EXPECT_EQ(MetricMethodLabel("/grpc.health.v1.Health/Check"), "/grpc.health.v1.Health/Check");
  EXPECT_EQ(MetricMethodLabel("/grpc.health.v1.Health/Nope"), "unknown");
  EXPECT_EQ(MetricMethodLabel("garbage"), "unknown");
}

TEST(PeerIdentityTest, ReadsOrgAndRoleFromCertificateSubject) {
  absl::StatusOr<std::string> pem = ReadFileToString(hie::testing::TestCertFiles("clinic-b").cert_file);
  ASSERT_TRUE(pem.ok());
  absl::StatusOr<PeerIdentity> peer = PeerIdentityFromCertificatePem(*pem);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->org, "clinic-b");
  EXPECT_EQ(peer->role, "member");
  EXPECT_EQ(peer->common_name, "clinic-b");

  EXPECT_EQ(PeerIdentityFromCertificatePem("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GrpcServerStartTest, MissingCertificateFileIsAClearError) {
  TlsFiles files = hie::testing::TestCertFiles("identity");
  files.key_file = "/nonexistent/identity.key";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({.service_name = "x", .listen_address = "127.0.0.1:0", .tls = files}, {});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/identity.key"), std::string_view::npos);
}

// Health checks answered by `server` so far (its hie_rpc_total metric).
double ChecksServed(GrpcServer& server) {
  double served = 0;
  for (const prometheus::MetricFamily& family : server.metrics().registry().Collect()) {
    if (family.name != "hie_rpc_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "rpc" && label.value == "/grpc.health.v1.Health/Check") {
          served += metric.counter.value;
        }
      }
    }
  }
  return served;
}

// ServiceChannel (channel.h) sends calls in turn to every address its target resolves to (a
// headless Service's pods), only to servers that report SERVING; gRPC's default channel keeps
// them on one. Two servers behind one target of two addresses.
TEST(ServiceChannelTest, SpreadsCallsOverTheServingAddressesOfItsTarget) {
  std::vector<std::unique_ptr<GrpcServer>> servers;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "test",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("identity"),
                           .max_connection_age = absl::Minutes(5)},
                          {});
    ASSERT_TRUE(server.ok()) << server.status();
    servers.push_back(*std::move(server));
    servers.back()->SetServing(true);
  }
  GrpcServer& a = *servers[0];
  GrpcServer& b = *servers[1];
  const std::string target = absl::StrCat("ipv4:127.0.0.1:", a.port(), ",127.0.0.1:", b.port());
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeTlsChannelCredentials(hie::testing::TestCertFiles("operator"));
  ASSERT_TRUE(creds.ok()) << creds.status();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");  // the servers' certificate name
  auto call = [](Health::Stub& stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.set_wait_for_ready(true);
    HealthCheckResponse response;
    return stub.Check(&context, HealthCheckRequest(), &response);
  };
  // Calls until `done` holds (at most 500), so the checks do not depend on timing.
  auto call_until = [&](Health::Stub& stub, const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i) {
      ASSERT_TRUE(call(stub).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };

  auto spread = Health::NewStub(ServiceChannel(target, *creds, args));
  call_until(*spread, [&] { return ChecksServed(a) > 0 && ChecksServed(b) > 0; });
  double a0 = ChecksServed(a), b0 = ChecksServed(b);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(call(*spread).ok());
  EXPECT_EQ(ChecksServed(a) - a0, 20) << "round_robin: in turn, once both are connected";
  EXPECT_EQ(ChecksServed(b) - b0, 20);

  b.SetServing(false);  // the connections' health watches see it: no more calls to b
  int unchanged = 0;
  call_until(*spread, [&] {
    const double before = ChecksServed(b);
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(call(*spread).ok());
    unchanged = ChecksServed(b) == before ? unchanged + 1 : 0;
    return unchanged >= 5;
  });
  b0 = ChecksServed(b);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(call(*spread).ok());
  EXPECT_EQ(ChecksServed(b), b0) << "a server that reports NOT_SERVING gets no calls";

  b.SetServing(true);
  auto stuck = Health::NewStub(grpc::CreateCustomChannel(target, *creds, args));
  a0 = ChecksServed(a), b0 = ChecksServed(b);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(call(*stuck).ok());
  EXPECT_TRUE(ChecksServed(a) - a0 == 20 || ChecksServed(b) - b0 == 20)
      << "pick_first: every call to one server";
}

}  // namespace
}  // namespace hie
