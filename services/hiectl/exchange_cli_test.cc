// The locator and registry commands end to end: Run() against fake RecordLocator and
// DocumentRegistry servers over mutual TLS on loopback, with the operator's test certificate.
// Checks what goes on the wire (context, pages, idempotency keys) and what reaches
// stdout/stderr.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "hie/locator/v1/locator.grpc.pb.h"
#include "hie/registry/v1/registry.grpc.pb.h"
#include "services/common/logging.h"
#include "services/common/server.h"
#include "services/hiectl/cli.h"
#include "tests/support/test_env.h"

namespace hie::hiectl {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

namespace locator = ::hie::locator::v1;
namespace registry = ::hie::registry::v1;
namespace cm = ::hie::common::v1;

// Locate answers one location per source id it is asked about; DeleteLocation is NOT_FOUND for
// org "gone".
class FakeLocator final : public locator::RecordLocator::Service {
 public:
  grpc::Status Locate(grpc::ServerContext*, const locator::LocateRequest* request,
                      locator::LocateResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    locates_.push_back(*request);
    for (const cm::SourceId& id : request->source_ids()) {
      locator::RecordLocation* l = response->add_locations();
      *l->mutable_source_id() = id;
      l->set_document_count(3);
      l->add_origins(locator::LOCATION_ORIGIN_DOCUMENT_PUBLICATION);
      l->set_identity_record(true);
    }
    return grpc::Status::OK;
  }
  grpc::Status DeleteLocation(grpc::ServerContext*, const locator::DeleteLocationRequest* request,
                              locator::DeleteLocationResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    deletes_.push_back(*request);
    if (request->source_id().org() == "gone") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such location");
    }
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::vector<locator::LocateRequest> locates_;
  std::vector<locator::DeleteLocationRequest> deletes_;
};

// FindDocuments answers three pages of one entry each.
class FakeRegistry final : public registry::DocumentRegistry::Service {
 public:
  grpc::Status FindDocuments(grpc::ServerContext*, const registry::FindDocumentsRequest* request,
                             registry::FindDocumentsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    finds_.push_back(*request);
    int page = request->page_token().empty() ? 0 : request->page_token()[0] - '0';
    registry::DocumentEntry* e = response->add_entries();
    e->set_entry_uuid(absl::StrCat("urn:uuid:e", page));
    e->set_unique_id(absl::StrCat("1.2.", page));
    e->set_version(1);
    e->set_status(registry::AVAILABILITY_STATUS_APPROVED);
    e->set_title("Discharge summary");
    if (page < 2) response->set_next_page_token(absl::StrCat(page + 1));
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::vector<registry::FindDocumentsRequest> finds_;
};

class ExchangeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hie::SetLogSink([](std::string_view) {});
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "registry",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("registry"),
                           .metrics_address = ""},
                          {&locator_, &registry_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    server_->Shutdown(absl::Seconds(1));
    hie::SetLogSink(nullptr);
  }

  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  // As an operator (the operator test certificate).
  Result Hiectl(std::vector<std::string> args) {
    TlsFiles tls = hie::testing::TestCertFiles("operator");
    for (std::string flag :
         {absl::StrCat("--target=localhost:", server_->port()), "--tls-ca=" + tls.ca_file,
          "--tls-cert=" + tls.cert_file, "--tls-key=" + tls.key_file}) {
      args.push_back(flag);
    }
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const char* env[] = {"HIE_PURPOSE=treatment", "HIE_SOURCE=x:1", nullptr};
    int code = hie::hiectl::Run(args, env);
    std::cout.flush();
    std::cerr.flush();
    std::string out = ::testing::internal::GetCapturedStdout();
    std::string err = ::testing::internal::GetCapturedStderr();
    return {code, out, err};
  }

  FakeLocator locator_;
  FakeRegistry registry_;
  std::unique_ptr<GrpcServer> server_;
};

constexpr char kV4Uuid[] = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

TEST_F(ExchangeCliTest, LocateSendsEverySourceAndPrintsTheTable) {
  Result r = Hiectl({"locate", "--source", "clinic-a:MRN-1", "--source=clinic-b:77",
                     "--category=urn:hie:category|labs"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(locator_.locates_.size(), 1u);
  const locator::LocateRequest& sent = locator_.locates_[0];
  ASSERT_EQ(sent.source_ids_size(), 2);  // not HIE_SOURCE: per-operation flags never come from
  EXPECT_EQ(sent.source_ids(1).org(), "clinic-b");  // the environment
  EXPECT_EQ(sent.data_categories(0).code(), "labs");
  EXPECT_THAT(sent.context().request_id(), MatchesRegex(kV4Uuid));
  EXPECT_EQ(sent.context().purpose_of_use(), cm::PURPOSE_OF_USE_TREATMENT);  // the session's
  EXPECT_THAT(r.out, HasSubstr("\nclinic-a  MRN-1             3  unknown"));
  EXPECT_THAT(r.out, HasSubstr("document-publication  yes\n"));
  EXPECT_THAT(r.out, HasSubstr("\n2 locations\n"));
  EXPECT_EQ(r.err, "");

  Result json = Hiectl({"locate", "--source=clinic-a:MRN-1", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out, ::testing::StartsWith("{\"locations\":[{\"source_id\":{\"org\":"));

  Result usage = Hiectl({"locate", "--source=MRN-777"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.err, "hiectl: --source entries must be ORG:LOCAL_ID (entry 1 is not)\n");
  EXPECT_EQ(locator_.locates_.size(), 2u);
}

TEST_F(ExchangeCliTest, DeleteLocationPrintsItsKey) {
  Result r = Hiectl({"locations", "delete", "--source=clinic-a:1",
                     "--reason-code=member-no-longer-holds", "--reason", "purged"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(locator_.deletes_.size(), 1u);
  const std::string key = locator_.deletes_[0].idempotency_key();
  EXPECT_THAT(key, MatchesRegex(kV4Uuid));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("hiectl: idempotency key ", key)));
  EXPECT_EQ(r.out, "location clinic-a/1 removed (member-no-longer-holds)\n");

  Result gone = Hiectl({"locations", "delete", "--source=gone:1", "--reason-code=patient-request",
                        "--reason=asked", "--idempotency-key=k-7"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_EQ(locator_.deletes_[1].idempotency_key(), "k-7");
  EXPECT_THAT(gone.err, HasSubstr("hiectl: idempotency key k-7"));
  EXPECT_THAT(gone.err, HasSubstr("DeleteLocation failed: NOT_FOUND: no such location"));
}

TEST_F(ExchangeCliTest, FindDocumentsFollowsEveryPageWithAll) {
  Result r = Hiectl({"documents", "find", "--patient=clinic-a:1,clinic-b:2", "--class",
                     "http://loinc.org|18842-5", "--page-size=1", "--all"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(registry_.finds_.size(), 3u);
  EXPECT_EQ(registry_.finds_[0].patients_size(), 2);
  EXPECT_EQ(registry_.finds_[2].page_token(), "2");
  EXPECT_EQ(registry_.finds_[2].query().class_codes(0).code(), "18842-5");  // every page
  EXPECT_EQ(registry_.finds_[2].page_size(), 1);
  EXPECT_THAT(r.out, HasSubstr("\nurn:uuid:e0  1.2.0  "));
  EXPECT_THAT(r.out, HasSubstr("\nurn:uuid:e2  1.2.2  "));
  EXPECT_THAT(r.out, HasSubstr("Discharge summary\n3 entries\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("next page")));

  Result one = Hiectl({"documents", "find", "--patient=clinic-a:1", "--json"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(registry_.finds_.size(), 4u);
  EXPECT_THAT(one.out, HasSubstr("\"next_page_token\":\"1\""));
  EXPECT_THAT(one.out, HasSubstr("\"entry_uuid\":\"urn:uuid:e0\""));
}

TEST_F(ExchangeCliTest, UnimplementedRpcIsAServerError) {
  Result r = Hiectl({"documents", "get", "--entry-uuid=urn:uuid:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("hiectl: GetDocuments failed: UNIMPLEMENTED"));
}

}  // namespace
}  // namespace hie::hiectl
