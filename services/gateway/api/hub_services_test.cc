// GrpcHubServices' registry lookups over real gRPC with mutual TLS on loopback, against a fake
// registry that holds each FindDocuments call until the expected number are in flight at once
// (or two seconds have passed): the lookups of a federated query must all be asked at once, so
// that many members' lookups take the time of the slowest one, not the sum.

#include "services/gateway/api/hub_services.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "services/common/server.h"
#include "services/common/tls.h"
#include "tests/support/test_env.h"

namespace hie::gateway {
namespace {

using common::v1::SourceId;

class HeldRegistry final : public registry::v1::DocumentRegistry::Service {
 public:
  explicit HeldRegistry(int expected) : expected_(expected) {}

  // One entry per call: its unique id is the first patient's local id. Patients of org
  // "broken" get UNAVAILABLE.
  grpc::Status FindDocuments(grpc::ServerContext*, const registry::v1::FindDocumentsRequest* r,
                             registry::v1::FindDocumentsResponse* out) override {
    {
      std::unique_lock lock(mu_);
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      all_in_.notify_all();
      all_in_.wait_for(lock, std::chrono::seconds(2), [&] { return in_flight_ >= expected_; });
      pages_.push_back(r->page_size());
    }
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    if (r->patients_size() == 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "none");
    if (r->patients(0).org() == "broken") {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "registry store down");
    }
    registry::v1::DocumentEntry* e = out->add_entries();
    e->set_unique_id(r->patients(0).local_id());
    *e->mutable_patient() = r->patients(0);
    return grpc::Status::OK;
  }

  int MaxInFlight() {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  std::vector<int> PageSizes() {
    std::lock_guard lock(mu_);
    return pages_;
  }

 private:
  const int expected_;
  std::mutex mu_;
  std::condition_variable all_in_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  std::vector<int> pages_;
};

class HubServicesTest : public ::testing::Test {
 protected:
  void Start(int expected) {
    registry_ = std::make_unique<HeldRegistry>(expected);
    auto server = GrpcServer::Start({.service_name = "fake-registry",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("registry")},
                                    {registry_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetServing(true);
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles("gateway-client"));
    ASSERT_TRUE(creds.ok()) << creds.status();
    HubChannels channels;
    channels.registry = grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds);
    channels.identity = channels.locator = channels.consent = channels.audit = channels.registry;
    hub_ = std::make_unique<GrpcHubServices>(channels, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(2));
  }

  static HubServices::RegistryLookup Lookup(const std::string& org, const std::string& local,
                                            int max_results) {
    SourceId id;
    id.set_org(org);
    id.set_local_id(local);
    return {{id}, max_results};
  }

  std::unique_ptr<HeldRegistry> registry_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<GrpcHubServices> hub_;
};

TEST_F(HubServicesTest, AllLookupsAreInFlightAtOnceAndAnswerInTheirOrder) {
  constexpr int kLookups = 6;
  Start(kLookups);
  std::vector<HubServices::RegistryLookup> lookups;
  for (int i = 0; i < kLookups; ++i) {
    lookups.push_back(Lookup(absl::StrCat("clinic-", i), absl::StrCat("doc-", i), 10 + i));
  }
  auto found =
      hub_->RegistryEntriesEach(common::v1::RequestContext(), lookups,
                                registry::v1::DocumentQuery(), absl::Now() + absl::Seconds(20));

  EXPECT_EQ(registry_->MaxInFlight(), kLookups);  // one after the other would be 1
  ASSERT_EQ(found.size(), static_cast<size_t>(kLookups));
  for (int i = 0; i < kLookups; ++i) {
    ASSERT_TRUE(found[i].ok()) << i << ": " << found[i].status();
    ASSERT_EQ(found[i]->size(), 1u);
    EXPECT_EQ((*found[i])[0].unique_id(), absl::StrCat("doc-", i));
  }
  std::vector<int> pages = registry_->PageSizes();
  std::sort(pages.begin(), pages.end());
  EXPECT_EQ(pages, (std::vector<int>{10, 11, 12, 13, 14, 15}));  // each its own max_results
}

TEST_F(HubServicesTest, AFailedLookupFailsAloneNamingTheRegistry) {
  Start(3);
  auto found =
      hub_->RegistryEntriesEach(common::v1::RequestContext(),
                                {Lookup("clinic-a", "doc-a", 5), Lookup("broken", "doc-b", 5),
                                 Lookup("clinic-c", "doc-c", 5)},
                                registry::v1::DocumentQuery(), absl::Now() + absl::Seconds(20));
  ASSERT_EQ(found.size(), 3u);
  EXPECT_TRUE(found[0].ok());
  EXPECT_EQ(found[1].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(found[1].status().message(), "registry: registry store down");
  ASSERT_TRUE(found[2].ok());
  EXPECT_EQ((*found[2])[0].unique_id(), "doc-c");
}

TEST_F(HubServicesTest, LookupsEndByTheDeadlineWhenTheRegistryHangs) {
  Start(100);  // never reached: every call is held for two seconds
  const absl::Time start = absl::Now();
  auto found =
      hub_->RegistryEntriesEach(common::v1::RequestContext(),
                                {Lookup("clinic-a", "doc-a", 5), Lookup("clinic-b", "doc-b", 5)},
                                registry::v1::DocumentQuery(), start + absl::Milliseconds(300));
  ASSERT_EQ(found.size(), 2u);
  for (const auto& f : found) EXPECT_EQ(f.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // did not wait for the registry's answers
}

TEST_F(HubServicesTest, NoLookupsNoCalls) {
  Start(1);
  EXPECT_TRUE(hub_->RegistryEntriesEach(common::v1::RequestContext(), {},
                                        registry::v1::DocumentQuery(), absl::Now())
                  .empty());
  EXPECT_EQ(registry_->MaxInFlight(), 0);
}

}  // namespace
}  // namespace hie::gateway
