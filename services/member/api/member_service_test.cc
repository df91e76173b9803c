// The member endpoint over real gRPC with mutual TLS on loopback (certificates from
// scripts/gen-certs.sh): answers, streaming retrieval, who may call, and every fault mode.

#include "services/member/api/member_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/server.h"
#include "services/member/core/test_data.h"
#include "tests/support/test_env.h"

namespace hie::member {
namespace {

using ::testing::ElementsAre;
using testing::FindRequest;
using ::testing::HasSubstr;
using testing::RetrieveRequest;

struct Retrieved {
  grpc::Status status;
  bool got_header = false;
  v1::DocumentHeader header;
  std::vector<size_t> chunk_sizes;
  std::string content;
};

class MemberServiceTest : public ::testing::Test {
 protected:
  void Start(MemberServiceOptions options = {}) {
    service_ = std::make_unique<MemberEndpointImpl>(store_.get(), &workers_, options);
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "member",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("clinic-a-endpoint")},
                          {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetServing(true);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert = "gateway-client") {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles(cert));
    EXPECT_TRUE(creds.ok()) << creds.status();
    return grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds);
  }

  std::unique_ptr<v1::MemberEndpoint::Stub> Stub(const std::string& cert = "gateway-client") {
    return v1::MemberEndpoint::NewStub(Channel(cert));
  }

  static void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }

  grpc::Status Find(v1::MemberEndpoint::Stub& stub, const v1::FindDocumentsRequest& request,
                    v1::FindDocumentsResponse* response,
                    absl::Duration timeout = absl::Seconds(5)) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, timeout);
    return stub.FindDocuments(&ctx, request, response);
  }

  Retrieved Retrieve(v1::MemberEndpoint::Stub& stub, const v1::RetrieveDocumentRequest& request,
                     absl::Duration timeout = absl::Seconds(5)) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, timeout);
    Retrieved out;
    auto reader = stub.RetrieveDocument(&ctx, request);
    v1::RetrieveDocumentResponse part;
    while (reader->Read(&part)) {
      if (part.has_header()) {
        EXPECT_FALSE(out.got_header) << "a second header";
        EXPECT_TRUE(out.content.empty()) << "a header after content";
        out.got_header = true;
        out.header = part.header();
      } else {
        out.chunk_sizes.push_back(part.chunk().size());
        out.content += part.chunk();
      }
    }
    out.status = reader->Finish();
    return out;
  }

  grpc::Status Capabilities(v1::MemberEndpoint::Stub& stub, v1::MemberCapabilities* out) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, absl::Seconds(5));
    v1::GetCapabilitiesRequest request;
    *request.mutable_context() = testing::TestContext();
    return stub.GetCapabilities(&ctx, request, out);
  }

  std::unique_ptr<MemberStore> store_ = testing::TestStore();
  WorkerPool workers_{4, 100};
  std::unique_ptr<MemberEndpointImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(MemberServiceTest, FindDocumentsAnswersTheGateway) {
  Start();
  auto stub = Stub();
  v1::FindDocumentsResponse response;
  grpc::Status status = Find(*stub, FindRequest({"P1"}), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(testing::Numbers(response), ElementsAre("3", "2", "6", "1"));
  EXPECT_FALSE(response.truncated());

  v1::FindDocumentsRequest bad = FindRequest({"P1", "no spaces please"});
  status = Find(*stub, bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "local_patient_ids[1] must be printable ASCII without spaces");
}

TEST_F(MemberServiceTest, RetrieveStreamsHeaderThenChunksMatchingSizeAndHash) {
  Start();
  auto stub = Stub();
  Retrieved r = Retrieve(*stub, RetrieveRequest({"P2"}, "key-d5"));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_TRUE(r.got_header);
  EXPECT_EQ(r.header.unique_id(), "urn:oid:1.2.3.5");
  EXPECT_EQ(r.header.mime_type(), "application/pdf");
  EXPECT_EQ(r.header.class_code().code(), "18748-4");
  EXPECT_THAT(r.chunk_sizes, ElementsAre(1u << 20, 1u << 20, (1u << 19) + 7));
  EXPECT_EQ(r.header.size_bytes(), static_cast<int64_t>(r.content.size()));
  EXPECT_EQ(r.header.hash().digest(), Sha256(r.content));
  EXPECT_EQ(r.content, *store_->FindDocument("key-d5")->content);

  Retrieved small = Retrieve(*stub, RetrieveRequest({"P1"}, "key-d2"));
  ASSERT_TRUE(small.status.ok()) << small.status.error_message();
  EXPECT_EQ(small.content, "content of document 2");
  EXPECT_EQ(small.chunk_sizes.size(), 1u);
}

TEST_F(MemberServiceTest, SmallerChunksWhenConfigured) {
  Start({.chunk_bytes = 4});
  auto stub = Stub();
  Retrieved r = Retrieve(*stub, RetrieveRequest({"P1"}, "key-d2"));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.chunk_sizes.size(), 6u);  // 21 bytes
  EXPECT_EQ(r.content, "content of document 2");
}

TEST_F(MemberServiceTest, RetrieveRefusals) {
  Start();
  auto stub = Stub();
  Retrieved other = Retrieve(*stub, RetrieveRequest({"P1"}, "key-d5"));
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_FALSE(other.got_header);
  v1::RetrieveDocumentRequest redacted = RetrieveRequest({"P1"}, "key-d3");
  consent::v1::Obligation* o = redacted.add_obligations();
  o->set_type(consent::v1::Obligation::TYPE_REDACT_SENSITIVITY_LABELS);
  *o->add_codes() = testing::Code("http://terminology.hl7.org/CodeSystem/v3-ActCode", "PSY");
  EXPECT_EQ(Retrieve(*stub, redacted).status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Retrieve(*stub, RetrieveRequest({"P1"}, "")).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MemberServiceTest, OnlyTheGatewayMayCall) {
  Start();
  for (const char* cert : {"clinic-b", "clinic-a", "operator", "registry-client"}) {
    auto stub = Stub(cert);
    v1::FindDocumentsResponse response;
    EXPECT_EQ(Find(*stub, FindRequest({"P1"}), &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << cert;
    EXPECT_EQ(Retrieve(*stub, RetrieveRequest({"P1"}, "key-d1")).status.error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << cert;
    v1::MemberCapabilities caps;
    EXPECT_EQ(Capabilities(*stub, &caps).error_code(), grpc::StatusCode::PERMISSION_DENIED) << cert;
  }
}

TEST_F(MemberServiceTest, CapabilitiesForTheDirectory) {
  Start({.chunk_bytes = 65536});
  auto stub = Stub();
  v1::MemberCapabilities caps;
  ASSERT_TRUE(Capabilities(*stub, &caps).ok());
  EXPECT_EQ(caps.org(), "clinic-a");
  EXPECT_EQ(caps.max_chunk_bytes(), 65536);
  EXPECT_EQ(caps.max_results_per_request(), 1000);
}

TEST_F(MemberServiceTest, LatencyDelaysBothRpcs) {
  Start({.faults = {.latency = absl::Milliseconds(200)}});
  auto stub = Stub();
  v1::FindDocumentsResponse response;
  absl::Time start = absl::Now();
  ASSERT_TRUE(Find(*stub, FindRequest({"P1"}), &response).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_EQ(response.entries_size(), 4);
  start = absl::Now();
  Retrieved r = Retrieve(*stub, RetrieveRequest({"P2"}, "key-d5"));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_EQ(r.header.hash().digest(), Sha256(r.content));
}

TEST_F(MemberServiceTest, ADeadlineShorterThanTheLatencyEndsTheCallAtTheDeadline) {
  Start({.faults = {.latency = absl::Seconds(3)}});
  auto stub = Stub();
  v1::FindDocumentsResponse response;
  absl::Time start = absl::Now();
  EXPECT_EQ(Find(*stub, FindRequest({"P1"}), &response, absl::Milliseconds(100)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  start = absl::Now();
  EXPECT_EQ(Retrieve(*stub, RetrieveRequest({"P2"}, "key-d5"), absl::Milliseconds(100))
                .status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // The server finished both at once (alarms cancelled): shutting down does not wait for them.
  start = absl::Now();
  server_->Shutdown(absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(MemberServiceTest, ErrorRateFailsTheSeededShareUnavailable) {
  const FaultOptions faults{.error_rate = 0.4, .seed = 99};
  Start({.faults = faults});
  auto stub = Stub();
  int expected = 0, failed = 0;
  for (int i = 0; i < 60; ++i) {
    const bool fail = UniformDraw(faults.seed, static_cast<uint64_t>(i)) < faults.error_rate;
    expected += fail;
    grpc::Status status;
    if (i % 2 == 0) {
      v1::FindDocumentsResponse response;
      status = Find(*stub, FindRequest({"P1"}), &response);
    } else {
      status = Retrieve(*stub, RetrieveRequest({"P1"}, "key-d1")).status;
    }
    EXPECT_EQ(status.error_code(), fail ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::OK)
        << i << ": " << status.error_message();
    failed += !status.ok();
  }
  EXPECT_EQ(failed, expected);
  EXPECT_GT(failed, 12);
  EXPECT_LT(failed, 36);
}

// Starts `n` calls of each data RPC with `deadline`; returns their futures.
struct HungCalls {
  std::vector<std::future<grpc::Status>> finds;
  std::vector<std::future<Retrieved>> retrieves;
};

class FaultModeTest : public MemberServiceTest,
                      public ::testing::WithParamInterface<bool /*black hole*/> {
 protected:
  // The calls share one channel, connected first, so that their deadlines measure the server.
  HungCalls StartHungCalls(int n, absl::Duration deadline) {
    std::shared_ptr<grpc::Channel> channel = Channel();
    EXPECT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
    HungCalls calls;
    for (int i = 0; i < n; ++i) {
      calls.finds.push_back(std::async(std::launch::async, [this, channel, deadline] {
        auto stub = v1::MemberEndpoint::NewStub(channel);
        v1::FindDocumentsResponse response;
        return Find(*stub, FindRequest({"P1"}), &response, deadline);
      }));
      calls.retrieves.push_back(std::async(std::launch::async, [this, channel, deadline] {
        auto stub = v1::MemberEndpoint::NewStub(channel);
        return Retrieve(*stub, RetrieveRequest({"P2"}, "key-d5"), deadline);
      }));
    }
    return calls;
  }

  void WaitUntilHeld(size_t n) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (service_->held_calls() < n && absl::Now() < give_up)
      absl::SleepFor(absl::Milliseconds(5));
    ASSERT_EQ(service_->held_calls(), n);
  }

  FaultOptions Faults() const {
    return GetParam() ? FaultOptions{.black_hole = true} : FaultOptions{.hang = true};
  }
};

TEST_P(FaultModeTest, ClientGetsItsDeadlineAndOtherCallsStillAnswer) {
  Start({.faults = Faults()});
  const absl::Time start = absl::Now();
  HungCalls calls = StartHungCalls(12, absl::Seconds(2));  // more calls than the 4 workers
  WaitUntilHeld(24);
  // Meanwhile the same server answers at once: no thread is held by the hung calls.
  std::shared_ptr<grpc::Channel> channel = Channel();
  ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5))));
  const absl::Time before = absl::Now();
  v1::MemberCapabilities caps;
  EXPECT_TRUE(Capabilities(*v1::MemberEndpoint::NewStub(channel), &caps).ok());
  grpc::health::v1::HealthCheckResponse health;
  grpc::ClientContext health_ctx;
  SetDeadline(&health_ctx, absl::Seconds(1));
  EXPECT_TRUE(grpc::health::v1::Health::NewStub(channel)
                  ->Check(&health_ctx, grpc::health::v1::HealthCheckRequest(), &health)
                  .ok());
  EXPECT_LT(absl::Now() - before, absl::Milliseconds(500));

  for (auto& f : calls.finds) EXPECT_EQ(f.get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  for (auto& f : calls.retrieves) {
    const Retrieved r = f.get();
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_EQ(r.got_header, !GetParam()) << "a hang sends the header, a black hole nothing";
    EXPECT_TRUE(r.content.empty());
  }
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_GE(elapsed, absl::Seconds(2));
  EXPECT_LT(elapsed, absl::Seconds(4));
  // The server saw every cancellation and finished the calls.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (service_->held_calls() > 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(service_->held_calls(), 0u);
}

TEST_P(FaultModeTest, ReleasingHeldCallsLetsTheServerDrainAtOnce) {
  Start({.faults = Faults()});
  HungCalls calls = StartHungCalls(5, absl::Seconds(30));
  WaitUntilHeld(10);
  const absl::Time start = absl::Now();
  service_->ReleaseHeldCalls();
  server_->Shutdown(absl::Seconds(20));
  server_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  for (auto& f : calls.finds) EXPECT_EQ(f.get().error_code(), grpc::StatusCode::UNAVAILABLE);
  for (auto& f : calls.retrieves)
    EXPECT_EQ(f.get().status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_P(FaultModeTest, ShutdownCancelsHeldCallsAfterItsGrace) {
  Start({.faults = Faults()});
  HungCalls calls = StartHungCalls(5, absl::Seconds(30));
  WaitUntilHeld(10);
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(300));
  server_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  for (auto& f : calls.finds) EXPECT_NE(f.get().error_code(), grpc::StatusCode::OK);
  for (auto& f : calls.retrieves) EXPECT_NE(f.get().status.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(service_->held_calls(), 0u);
}

INSTANTIATE_TEST_SUITE_P(HangAndBlackHole, FaultModeTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "BlackHole" : "Hang"; });

}  // namespace
}  // namespace hie::member
