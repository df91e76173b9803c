// The hub feed against an in-process fake of the gateway's MemberGateway (the real gateway does
// not exist yet), over gRPC with mutual TLS: the member presents clinic-a's client certificate.

#include "services/member/api/hub_feed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/server.h"
#include "services/member/core/test_data.h"
#include "tests/support/test_env.h"

namespace hie::member {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// Records what it is sent; fails the first calls of each RPC as told; refuses one local id.
class FakeGateway final : public gateway::v1::MemberGateway::Service {
 public:
  grpc::Status FeedPatient(grpc::ServerContext* ctx, const gateway::v1::FeedPatientRequest* r,
                           gateway::v1::FeedPatientResponse* out) override {
    std::lock_guard lock(mu_);
    ++feed_calls[r->local_id()];
    callers.insert(CallerOrg(*ctx));
    if (fail_feeds > 0) {
      --fail_feeds;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "injected");
    }
    if (r->local_id() == refused_local_id) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "demographics.birth_date ...");
    }
    if (r->context().purpose_of_use() != common::v1::PURPOSE_OF_USE_OPERATIONS ||
        r->idempotency_key().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "context or key");
    }
    out->set_local_id(r->local_id());
    out->set_created(!fed.contains(r->local_id()));
    fed[r->local_id()] = r->demographics().SerializeAsString();
    feed_keys.push_back(r->idempotency_key());
    return grpc::Status::OK;
  }

  grpc::Status PublishDocuments(grpc::ServerContext* ctx,
                                const gateway::v1::PublishDocumentsRequest* r,
                                registry::v1::RegisterSubmissionSetResponse* out) override {
    std::lock_guard lock(mu_);
    ++publish_calls;
    if (fail_publishes > 0) {
      --fail_publishes;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "injected");
    }
    std::set<std::string> patients;
    for (const auto& e : r->entries()) {
      if (!fed.contains(e.patient().local_id())) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "patient never fed");
      }
      patients.insert(e.patient().local_id());
    }
    set_sizes.push_back(r->entries_size());
    set_patients.push_back(patients.size());
    publish_keys.push_back(r->idempotency_key());
    *out->mutable_submission_set() = r->submission_set();
    for (const auto& e : r->entries()) {
      ++published[e.unique_id()];
      registry::v1::DocumentEntry* answered = out->add_entries();
      *answered = e;
      answered->set_entry_uuid(absl::StrCat("urn:uuid:entry-", e.unique_id()));
    }
    return grpc::Status::OK;
  }

  static std::string CallerOrg(const grpc::ServerContext& ctx) {
    auto peer = PeerIdentityOf(*ctx.auth_context());
    return peer.ok() ? peer->org : "?";
  }

  std::mutex mu_;
  int fail_feeds = 0;
  int fail_publishes = 0;
  std::string refused_local_id;
  std::map<std::string, int> feed_calls;  // local id -> calls
  std::map<std::string, std::string> fed;
  std::vector<std::string> feed_keys;
  int publish_calls = 0;
  std::map<std::string, int> published;  // unique id -> times accepted
  std::vector<int> set_sizes;
  std::vector<size_t> set_patients;
  std::vector<std::string> publish_keys;
  std::set<std::string> callers;
};

class HubFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "fake-gateway",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("gateway")},
                          {&gateway_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles("clinic-a"));
    ASSERT_TRUE(creds.ok()) << creds.status();
    channel_ = grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds);
  }

  HubFeedOptions FastOptions() {
    return {.call_timeout = absl::Seconds(5),
            .max_attempts = 4,
            .initial_backoff = absl::Milliseconds(1),
            .max_backoff = absl::Milliseconds(5)};
  }

  FakeGateway gateway_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<MemberStore> store_ = testing::TestStore();
};

TEST_F(HubFeedTest, EveryPatientAndDocumentSentOnceRetriedAfterUnavailable) {
  gateway_.fail_feeds = 2;
  gateway_.fail_publishes = 1;
  HubFeed feed(store_.get(), channel_, FastOptions());
  const HubFeedResult result = feed.Run();
  EXPECT_EQ(result.patients_fed, 3u);
  EXPECT_EQ(result.patients_failed, 0u);
  EXPECT_EQ(result.documents_published, 6u);
  EXPECT_EQ(result.documents_failed + result.documents_skipped, 0u);
  EXPECT_EQ(result.calls, 3u + 2 + 2 + 1);  // 3 patients, 2 retried; 2 sets, 1 retried
  EXPECT_FALSE(result.stopped);

  EXPECT_THAT(gateway_.callers, ElementsAre("clinic-a"));
  EXPECT_EQ(gateway_.feed_calls["P1"], 3);  // failed twice, then accepted
  EXPECT_EQ(gateway_.fed.size(), 3u);
  EXPECT_EQ(gateway_.fed["P1"], store_->patients()[0].demographics.SerializeAsString());
  for (int n = 1; n <= 6; ++n) {
    EXPECT_EQ(gateway_.published[absl::StrCat("urn:oid:1.2.3.", n)], 1) << n;
  }
  EXPECT_THAT(gateway_.set_sizes, UnorderedElementsAre(5, 1));
  EXPECT_THAT(gateway_.set_patients, ElementsAre(1u, 1u));
  // The registry's entry uuids are what FindDocuments answers from now on.
  EXPECT_EQ(store_->EntryUuidOf("urn:oid:1.2.3.5"), "urn:uuid:entry-urn:oid:1.2.3.5");
}

TEST_F(HubFeedTest, SetsOfAtMostBatchSizeEntriesOfOnePatient) {
  HubFeedOptions options = FastOptions();
  options.batch_size = 2;
  HubFeed feed(store_.get(), channel_, options);
  EXPECT_EQ(feed.Run().documents_published, 6u);
  EXPECT_THAT(gateway_.set_sizes, ElementsAre(2, 2, 1, 1));
  for (size_t p : gateway_.set_patients) EXPECT_EQ(p, 1u);
}

TEST_F(HubFeedTest, ARestartSendsTheSameKeysAndChangedDataNewOnes) {
  HubFeed(store_.get(), channel_, FastOptions()).Run();
  HubFeed(store_.get(), channel_, FastOptions()).Run();
  ASSERT_EQ(gateway_.feed_keys.size(), 6u);
  ASSERT_EQ(gateway_.publish_keys.size(), 4u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(gateway_.feed_keys[i], gateway_.feed_keys[i + 3]);
  EXPECT_EQ(gateway_.publish_keys[0], gateway_.publish_keys[2]);
  EXPECT_EQ(gateway_.publish_keys[1], gateway_.publish_keys[3]);
  EXPECT_NE(gateway_.publish_keys[0], gateway_.publish_keys[1]);
  std::set<std::string> distinct(gateway_.feed_keys.begin(), gateway_.feed_keys.end());
  EXPECT_EQ(distinct.size(), 3u);

  MemberPatient changed = store_->patients()[0];
  const std::string before = HubFeed::FeedRequestOf("clinic-a", changed).idempotency_key();
  changed.demographics.mutable_name()->set_given("Changed");
  EXPECT_NE(HubFeed::FeedRequestOf("clinic-a", changed).idempotency_key(), before);
  EXPECT_EQ(HubFeed::FeedRequestOf("clinic-a", store_->patients()[0]).idempotency_key(), before);
}

TEST_F(HubFeedTest, AFinalErrorSkipsThatPatientsDocumentsAndGoesOn) {
  gateway_.refused_local_id = "P2";
  HubFeed feed(store_.get(), channel_, FastOptions());
  const HubFeedResult result = feed.Run();
  EXPECT_EQ(result.patients_fed, 2u);
  EXPECT_EQ(result.patients_failed, 1u);
  EXPECT_EQ(gateway_.feed_calls["P2"], 1);  // INVALID_ARGUMENT is not retried
  EXPECT_EQ(result.documents_published, 5u);
  EXPECT_EQ(result.documents_skipped, 1u);
  EXPECT_FALSE(gateway_.published.contains("urn:oid:1.2.3.5"));
}

TEST_F(HubFeedTest, RetriesEndAfterMaxAttempts) {
  gateway_.fail_feeds = 1000;
  HubFeedOptions options = FastOptions();
  options.max_attempts = 3;
  HubFeed feed(store_.get(), channel_, options);
  const HubFeedResult result = feed.Run();
  EXPECT_EQ(result.patients_failed, 3u);
  EXPECT_EQ(result.calls, 9u);
  EXPECT_EQ(result.documents_skipped, 6u);
  EXPECT_EQ(gateway_.publish_calls, 0);
}

TEST_F(HubFeedTest, StopCutsABackoffShort) {
  gateway_.fail_feeds = 1000;
  HubFeedOptions options = FastOptions();
  options.initial_backoff = absl::Seconds(30);
  options.max_backoff = absl::Seconds(30);
  HubFeed feed(store_.get(), channel_, options);
  feed.Start();
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time stop = absl::Now();
  feed.Stop();
  const HubFeedResult result = feed.Join();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(2));
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.calls, 1u);
}

TEST_F(HubFeedTest, AnUnreachableHubIsRetriedWithinEachCallsDeadline) {
  auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles("clinic-a"));
  ASSERT_TRUE(creds.ok());
  auto nowhere =
      grpc::CreateChannel(absl::StrCat("localhost:", hie::testing::FreeTcpPort()), *creds);
  HubFeedOptions options = FastOptions();
  options.max_attempts = 2;
  options.call_timeout = absl::Milliseconds(200);
  HubFeed feed(store_.get(), nowhere, options);
  const absl::Time start = absl::Now();
  const HubFeedResult result = feed.Run();
  EXPECT_EQ(result.patients_failed, 3u);
  EXPECT_EQ(result.calls, 6u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

}  // namespace
}  // namespace hie::member
