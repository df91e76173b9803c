#pragma once

// For the gateway's tests: the gateway's channels to members for the whole test program, and
// one real member node in process (services/member's endpoint over
// the test store of clinic-a: patient P1 with four approved documents), serving over mutual TLS
// with the test certificates on a free loopback port, with the given fault injection.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/server.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"
#include "services/gateway/api/member_fanout.h"
#include "services/member/api/member_service.h"
#include "services/member/core/test_data.h"
#include "tests/support/test_env.h"

namespace hie::gateway::testing {

// The gateway's channels to member endpoints (the test certificate "gateway-client"), one set
// for the whole test program and never destroyed, as hie-gateway keeps its own for its life.
// gRPC 1.51 stops its callback threads when the last channel or server using them goes, and
// starts them again for the next: doing that between two tests of one program crashed under
// ASan now and then (a completion queue freed twice, on one of those threads).
inline MemberChannels* TestMemberChannels() {
  static MemberChannels* const channels = [] {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles("gateway-client"));
    EXPECT_TRUE(creds.ok()) << creds.status();
    return new MemberChannels(creds.ok() ? *creds : nullptr);
  }();
  return channels;
}

class MemberNode {
 public:
  explicit MemberNode(member::FaultOptions faults = {}) {
    member::MemberServiceOptions options;
    options.faults = faults;
    service_ = std::make_unique<member::MemberEndpointImpl>(store_.get(), &workers_, options);
    auto server = GrpcServer::Start({.service_name = "member",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("clinic-a-endpoint")},
                                    {service_.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetServing(true);
  }
  ~MemberNode() {
    service_->ReleaseHeldCalls();
    server_->Shutdown(absl::Seconds(1));
  }
  std::string endpoint() const { return absl::StrCat("localhost:", server_->port()); }
  size_t held_calls() const { return service_->held_calls(); }

 private:
  std::unique_ptr<member::MemberStore> store_ = member::testing::TestStore();
  WorkerPool workers_{2, 100};
  std::unique_ptr<member::MemberEndpointImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace hie::gateway::testing
