// hiectl's gRPC layer end to end: Run() against a fake IdentityService over mutual TLS on
// loopback (the test certificates of scripts/gen-certs.sh). Checks what goes on the wire
// (context, idempotency keys), exit statuses and what reaches stdout/stderr.

#include "services/hiectl/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/logging.h"
#include "services/common/server.h"
#include "tests/support/test_env.h"

namespace hie::hiectl {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::UnorderedElementsAre;

namespace id = ::hie::identity::v1;

// Records requests; answers Resolve for clinic-a/1 only, registers everything.
class FakeIdentity final : public id::IdentityService::Service {
 public:
  grpc::Status Resolve(grpc::ServerContext* context, const id::ResolveRequest* request,
                       id::ResolveResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    resolves_.push_back(*request);
    metadata_request_ids_.push_back(RequestIdOf(*context));
    if (request->source_id().local_id() != "1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such record");
    }
    response->set_person_id("P-1");
    id::CrossReference* x = response->add_cross_references();
    *x->mutable_source_id() = request->source_id();
    x->set_state(id::RECORD_STATE_ACTIVE);
    x->mutable_link()->set_method(id::LINK_METHOD_NEW_PERSON);
    return grpc::Status::OK;
  }

  grpc::Status LinkRecord(grpc::ServerContext*, const id::LinkRecordRequest* request,
                          id::LinkRecordResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    links_.push_back(*request);
    response->set_event_id("E-1");
    response->mutable_person()->set_person_id(request->person_id());
    return grpc::Status::OK;
  }

  grpc::Status RegisterSourceRecord(grpc::ServerContext*,
                                    const id::RegisterSourceRecordRequest* request,
                                    id::RegisterSourceRecordResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    registers_.push_back(*request);
    response->mutable_record()->set_version(1);
    response->set_created(true);
    response->set_person_id(absl::StrCat("P-", request->source_id().local_id()));
    response->mutable_decision()->set_outcome(id::MATCH_OUTCOME_NEW_PERSON);
    return grpc::Status::OK;
  }

  // Each entry as RegisterSourceRecord answers it; family name "Refused" is refused.
  grpc::Status RegisterSourceRecords(grpc::ServerContext* context,
                                     const id::RegisterSourceRecordsRequest* request,
                                     id::RegisterSourceRecordsResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++register_batches_;
    }
    for (int i = 0; i < request->registrations_size(); ++i) {
      const id::RegisterSourceRecordRequest& entry = request->registrations(i);
      id::RegisterSourceRecordResult* result = response->add_results();
      if (entry.demographics().name().family() == "Refused") {
        result->set_code(grpc::StatusCode::FAILED_PRECONDITION);
        result->set_message(absl::StrCat("registrations[", i, "]: refused"));
        continue;
      }
      RegisterSourceRecord(context, &entry, result->mutable_response());
    }
    return grpc::Status::OK;
  }

  std::mutex mu_;
  int register_batches_ = 0;
  std::vector<id::ResolveRequest> resolves_;
  std::vector<std::string> metadata_request_ids_;  // x-request-id of each Resolve
  std::vector<id::LinkRecordRequest> links_;
  std::vector<id::RegisterSourceRecordRequest> registers_;
};

class HiectlCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hie::SetLogSink([](std::string_view) {});  // the server's RPC log lines
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "identity",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("identity"),
                           .metrics_address = ""},
                          {&fake_});
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

  Result Hiectl(std::vector<std::string> args, int port = 0) {
    args.push_back("--user=jdoe");
    return HiectlWithoutUser(std::move(args), port);
  }

  // For commands without --user (health).
  Result HiectlWithoutUser(std::vector<std::string> args, int port = 0) {
    TlsFiles tls = hie::testing::TestCertFiles("operator");
    for (std::string flag :
         {"--target=localhost:" + std::to_string(port ? port : server_->port()),
          "--tls-ca=" + tls.ca_file, "--tls-cert=" + tls.cert_file, "--tls-key=" + tls.key_file}) {
      args.push_back(flag);
    }
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const char* env[] = {nullptr};
    int code = hie::hiectl::Run(args, env);
    std::cout.flush();
    std::cerr.flush();
    std::string out = ::testing::internal::GetCapturedStdout();
    std::string err = ::testing::internal::GetCapturedStderr();
    return {code, out, err};
  }

  FakeIdentity fake_;
  std::unique_ptr<GrpcServer> server_;
};

constexpr char kUuid[] = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

TEST_F(HiectlCliTest, ResolveSendsTheContextAndPrintsTheTable) {
  Result r = Hiectl({"resolve", "--org", "clinic-a", "--local-id", "1", "--purpose=treatment"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("person          P-1\n"));
  EXPECT_THAT(r.out, HasSubstr("clinic-a  1         active  new-person"));
  ASSERT_EQ(fake_.resolves_.size(), 1u);
  const hie::common::v1::RequestContext& context = fake_.resolves_[0].context();
  EXPECT_THAT(context.request_id(), MatchesRegex(kUuid));
  EXPECT_EQ(context.purpose_of_use(), hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  EXPECT_EQ(context.actor().user_id(), "jdoe");
  EXPECT_EQ(fake_.metadata_request_ids_, std::vector<std::string>({context.request_id()}));
}

TEST_F(HiectlCliTest, ServerErrorExitsOneAndQuotesTheRequestId) {
  Result r = Hiectl({"resolve", "--org", "clinic-a", "--local-id", "404"});
  EXPECT_EQ(r.code, 1);
  ASSERT_EQ(fake_.resolves_.size(), 1u);
  EXPECT_EQ(r.err, absl::StrCat("hiectl: Resolve failed: NOT_FOUND: no such record (request id ",
                                fake_.resolves_[0].context().request_id(), ")\n"));
  EXPECT_EQ(r.out, "");
}

TEST_F(HiectlCliTest, UsageErrorExitsTwoWithoutCallingTheServer) {
  Result r = Hiectl({"resolve", "--org", "clinic-a"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--local-id is required"));
  EXPECT_TRUE(fake_.resolves_.empty());
  EXPECT_EQ(Hiectl({"review", "show"}).code, 2);
  EXPECT_EQ(Hiectl({"resolve", "--org=a", "--local-id=1", "--colour=red"}).code, 2);
}

TEST_F(HiectlCliTest, UnknownCommandIsRefusedWithTheCommandList) {
  Result r = Hiectl({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, ::testing::StartsWith("hiectl: unknown command 'frobnicate'\n\nusage: hiectl "
                                           "COMMAND [flags]"));
  EXPECT_THAT(r.err, MatchesRegex("(.|\n)*\n  review resolve +resolve a review task\n(.|\n)*"));
  EXPECT_THAT(r.err, HasSubstr("  audit verify "));
  EXPECT_EQ(r.out, "");
}

TEST_F(HiectlCliTest, CommandHelpComesFromTheTable) {
  Result r = Hiectl({"review", "show", "--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("hiectl review show TASK_ID\n"));
  EXPECT_THAT(r.out, HasSubstr("--purpose=operations"));
}

TEST_F(HiectlCliTest, HealthAsksTheServer) {
  Result r = HiectlWithoutUser({"health"});
  EXPECT_EQ(r.code, 1) << r.err;  // a server starts NOT_SERVING
  EXPECT_EQ(r.out, absl::StrCat("localhost:", server_->port(), ": NOT_SERVING\n"));
  server_->SetServing(true);
  r = HiectlWithoutUser({"health"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("localhost:", server_->port(), ": SERVING\n"));
}

TEST_F(HiectlCliTest, UnreachableServerExitsTwo) {
  int port = hie::testing::FreeTcpPort();
  Result r = Hiectl({"resolve", "--org", "clinic-a", "--local-id", "1", "--timeout=2s"}, port);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
}

TEST_F(HiectlCliTest, WritesGetAFreshIdempotencyKeyUnlessOneIsGiven) {
  ASSERT_EQ(Hiectl({"link", "--org=a", "--local-id=1", "--person=P-2", "--reason=r"}).code, 0);
  ASSERT_EQ(Hiectl({"link", "--org=a", "--local-id=1", "--person=P-2", "--reason=r"}).code, 0);
  ASSERT_EQ(Hiectl({"link", "--org=a", "--local-id=1", "--person=P-2", "--reason=r",
                    "--idempotency-key=k-7"})
                .code,
            0);
  ASSERT_EQ(fake_.links_.size(), 3u);
  EXPECT_THAT(fake_.links_[0].idempotency_key(), MatchesRegex(kUuid));
  EXPECT_NE(fake_.links_[0].idempotency_key(), fake_.links_[1].idempotency_key());
  EXPECT_NE(fake_.links_[0].context().request_id(), fake_.links_[1].context().request_id());
  EXPECT_EQ(fake_.links_[2].idempotency_key(), "k-7");
}

TEST_F(HiectlCliTest, JsonPrintsTheResponse) {
  Result r = Hiectl({"resolve", "--org", "clinic-a", "--local-id", "1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"person_id\":\"P-1\""));
  EXPECT_EQ(r.out.back(), '\n');
}

TEST_F(HiectlCliTest, BulkFileRegistersGoodRowsWithStableKeysAndReportsBadOnes) {
  std::string path = ::testing::TempDir() + "/hiectl_bulk.csv";
  {
    std::ofstream csv(path);
    csv << "org,local_id,family_name,birth_date\n"
           "clinic-a,10,Lee,1970-01-01\n"
           "clinic-a,11,Ng,1970-02-30\n"
           "clinic-a,12,Oh,\n";
  }
  Result first = Hiectl({"register", "--file", path, "--parallel=2"});
  EXPECT_EQ(first.code, 1);  // one bad row
  EXPECT_THAT(first.err, HasSubstr("line 3: birth_date must be a real date"));
  EXPECT_THAT(first.out, HasSubstr("line 2: clinic-a/10 v1 new-person P-10\n"));
  EXPECT_THAT(first.out, HasSubstr("line 4: clinic-a/12 v1 new-person P-12\n"));
  EXPECT_THAT(first.out, HasSubstr("rows 3, created 2, new person 2, linked 0, review 0, "
                                   "unchanged 0, errors 1\n"));
  ASSERT_EQ(fake_.registers_.size(), 2u);
  std::vector<std::string> keys = {fake_.registers_[0].idempotency_key(),
                                   fake_.registers_[1].idempotency_key()};

  Result second = Hiectl({"register", "--file", path});
  EXPECT_EQ(second.code, 1);
  ASSERT_EQ(fake_.registers_.size(), 4u);
  EXPECT_THAT(keys, UnorderedElementsAre(fake_.registers_[2].idempotency_key(),
                                         fake_.registers_[3].idempotency_key()));
  EXPECT_NE(keys[0], keys[1]);
  std::remove(path.c_str());
}

TEST_F(HiectlCliTest, BulkFileGoesInBatchesAndARefusedRowIsReportedByItsLine) {
  std::string path = ::testing::TempDir() + "/hiectl_batches.csv";
  {
    std::ofstream csv(path);
    csv << "org,local_id,family_name\n";
    for (int i = 0; i < 120; ++i)
      csv << "clinic-a," << i << "," << (i == 50 ? "Refused" : "Ok") << "\n";
  }
  Result r = Hiectl({"register", "--file", path});
  EXPECT_EQ(r.code, 1);
  // Row 50 is the first of the second call.
  EXPECT_THAT(r.err,
              HasSubstr("line 52: clinic-a/50: FAILED_PRECONDITION: registrations[0]: refused"));
  EXPECT_THAT(r.out, HasSubstr("rows 120, created 119, new person 119, linked 0, review 0, "
                               "unchanged 0, errors 1\n"));
  EXPECT_EQ(fake_.register_batches_, 3);  // 50 + 50 + 20 rows
  EXPECT_EQ(fake_.registers_.size(), 119u);

  // A dry run goes row by row (a batch is never a dry run).
  Result dry = Hiectl({"register", "--file", path, "--validate-only"});
  EXPECT_EQ(fake_.register_batches_, 3);
  EXPECT_EQ(fake_.registers_.size(), 119u + 120u);
  EXPECT_TRUE(fake_.registers_.back().validate_only());
  std::remove(path.c_str());
}

TEST_F(HiectlCliTest, ParallelBulkKeepsTheFileOrderOfEachRecordsVersions) {
  std::string path = ::testing::TempDir() + "/hiectl_versions.csv";
  {
    std::ofstream csv(path);
    csv << "org,local_id,family_name\n";
    for (int version = 0; version < 6; ++version) {
      for (int record = 0; record < 4; ++record)
        csv << "clinic-a," << record << ",v" << version << "\n";
    }
  }
  Result r = Hiectl({"register", "--file", path, "--parallel=4"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(fake_.registers_.size(), 24u);
  std::map<std::string, std::vector<std::string>>
      versions;  // local_id -> families in arrival order
  for (const id::RegisterSourceRecordRequest& request : fake_.registers_) {
    versions[request.source_id().local_id()].push_back(request.demographics().name().family());
  }
  for (const auto& [local_id, families] : versions) {
    EXPECT_EQ(families, std::vector<std::string>({"v0", "v1", "v2", "v3", "v4", "v5"})) << local_id;
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace hie::hiectl
