// The audit and consent commands end to end: Run() against fake AuditLog and ConsentService
// servers over mutual TLS on loopback, with the privacy officer's test certificate. Checks what
// goes on the wire (context, idempotency keys, pages), exit statuses (3 for a broken chain) and
// what reaches stdout/stderr.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "hie/audit/v1/audit.grpc.pb.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "services/common/logging.h"
#include "services/common/server.h"
#include "services/hiectl/cli.h"
#include "tests/support/test_env.h"

namespace hie::hiectl {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

namespace audit = ::hie::audit::v1;
namespace consent = ::hie::consent::v1;
namespace cm = ::hie::common::v1;

// Search answers three pages; Verify reports a hash mismatch at 42 when asked from 40.
class FakeAudit final : public audit::AuditLog::Service {
 public:
  grpc::Status SearchEvents(grpc::ServerContext*, const audit::SearchEventsRequest* request,
                            audit::SearchEventsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    searches_.push_back(*request);
    int page = request->page_token().empty() ? 0 : request->page_token()[0] - '0';
    audit::AuditEvent* event = response->add_events();
    event->set_sequence(100 - page);
    event->set_type(audit::EVENT_TYPE_DISCLOSURE);
    event->set_action("gateway.RetrieveDocument");
    if (page < 2) response->set_next_page_token(absl::StrCat(page + 1));
    return grpc::Status::OK;
  }
  grpc::Status Verify(grpc::ServerContext*, const audit::VerifyRequest* request,
                      audit::VerifyResult* result) override {
    std::lock_guard<std::mutex> lock(mu_);
    verifies_.push_back(*request);
    result->set_from_sequence(request->from_sequence());
    result->set_to_sequence(99);
    if (request->from_sequence() == 40) {
      result->set_status(audit::VerifyResult::STATUS_HASH_MISMATCH);
      result->set_first_bad_sequence(42);
      result->set_detail("stored hash differs");
    } else {
      result->set_status(audit::VerifyResult::STATUS_VALID);
    }
    return grpc::Status::OK;
  }
  grpc::Status GetAccountingOfDisclosures(grpc::ServerContext*,
                                          const audit::GetAccountingOfDisclosuresRequest*,
                                          audit::GetAccountingOfDisclosuresResponse*) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store down");
  }
  grpc::Status CreateCheckpoint(grpc::ServerContext*, const audit::CreateCheckpointRequest*,
                                audit::Checkpoint* checkpoint) override {
    checkpoint->set_sequence(99);
    checkpoint->set_key_id("k-1");
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::vector<audit::SearchEventsRequest> searches_;
  std::vector<audit::VerifyRequest> verifies_;
};

class FakeConsent final : public consent::ConsentService::Service {
 public:
  grpc::Status CreateDirective(grpc::ServerContext*, const consent::CreateDirectiveRequest* request,
                               consent::ConsentDirective* directive) override {
    std::lock_guard<std::mutex> lock(mu_);
    creates_.push_back(*request);
    *directive = request->directive();
    directive->set_directive_id("cd-1");
    directive->set_state(consent::DIRECTIVE_STATE_ACTIVE);
    return grpc::Status::OK;
  }
  grpc::Status RevokeDirective(grpc::ServerContext*, const consent::RevokeDirectiveRequest* request,
                               consent::ConsentDirective*) override {
    std::lock_guard<std::mutex> lock(mu_);
    revokes_.push_back(*request);
    return grpc::Status(grpc::StatusCode::ABORTED, "etag is stale");
  }
  grpc::Status ListBreakGlassGrants(grpc::ServerContext*,
                                    const consent::ListBreakGlassGrantsRequest* request,
                                    consent::ListBreakGlassGrantsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    grant_lists_.push_back(*request);
    consent::BreakGlassGrant* grant = response->add_grants();
    grant->set_grant_id("bg-7");
    grant->set_review_state(consent::BREAK_GLASS_REVIEW_STATE_PENDING);
    return grpc::Status::OK;
  }
  grpc::Status ReviewBreakGlass(grpc::ServerContext*,
                                const consent::ReviewBreakGlassRequest* request,
                                consent::BreakGlassGrant* grant) override {
    std::lock_guard<std::mutex> lock(mu_);
    reviews_.push_back(*request);
    grant->set_grant_id(request->grant_id());
    grant->set_review_state(request->review_state());
    grant->set_review_notes(request->notes());
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::vector<consent::CreateDirectiveRequest> creates_;
  std::vector<consent::RevokeDirectiveRequest> revokes_;
  std::vector<consent::ListBreakGlassGrantsRequest> grant_lists_;
  std::vector<consent::ReviewBreakGlassRequest> reviews_;
};

class AuditConsentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hie::SetLogSink([](std::string_view) {});
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({.service_name = "audit",
                           .listen_address = "127.0.0.1:0",
                           .tls = hie::testing::TestCertFiles("audit"),
                           .metrics_address = ""},
                          {&audit_, &consent_});
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

  // As the privacy officer (the auditor test certificate).
  Result Hiectl(std::vector<std::string> args) {
    TlsFiles tls = hie::testing::TestCertFiles("auditor");
    for (std::string flag :
         {absl::StrCat("--target=localhost:", server_->port()), "--tls-ca=" + tls.ca_file,
          "--tls-cert=" + tls.cert_file, "--tls-key=" + tls.key_file}) {
      args.push_back(flag);
    }
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const char* env[] = {"HIE_PURPOSE=treatment", nullptr};
    int code = hie::hiectl::Run(args, env);
    std::cout.flush();
    std::cerr.flush();
    std::string out = ::testing::internal::GetCapturedStdout();
    std::string err = ::testing::internal::GetCapturedStderr();
    return {code, out, err};
  }

  FakeAudit audit_;
  FakeConsent consent_;
  std::unique_ptr<GrpcServer> server_;
};

constexpr char kUuidPattern[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

TEST_F(AuditConsentCliTest, SearchFollowsEveryPageWithAll) {
  Result r = Hiectl(
      {"audit", "search", "--org", "clinic-a", "--local-id", "1", "--type", "disclosure", "--all"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(audit_.searches_.size(), 3u);
  EXPECT_EQ(audit_.searches_[2].page_token(), "2");
  const cm::RequestContext& context = audit_.searches_[0].context();
  EXPECT_THAT(context.request_id(), MatchesRegex(kUuidPattern));
  // Not the session's HIE_PURPOSE: the privacy office's own.
  EXPECT_EQ(context.purpose_of_use(), cm::PURPOSE_OF_USE_OPERATIONS);
  EXPECT_TRUE(context.actor().user_id().empty());
  EXPECT_TRUE(audit_.searches_[0].purposes().empty());
  EXPECT_THAT(r.out, HasSubstr("\n100  -     disclosure"));
  EXPECT_THAT(r.out, HasSubstr("\n 98  -     disclosure"));
  EXPECT_THAT(r.out, HasSubstr("3 events\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("next page")));
}

TEST_F(AuditConsentCliTest, OnePageWithoutAllAndJson) {
  Result r = Hiectl({"audit", "search", "--person=P-1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(audit_.searches_.size(), 1u);
  EXPECT_THAT(r.out, HasSubstr("\"next_page_token\":\"1\""));
  EXPECT_THAT(r.out, HasSubstr("\"type\":\"EVENT_TYPE_DISCLOSURE\""));
}

TEST_F(AuditConsentCliTest, BrokenChainExitsThreeValidZero) {
  Result broken = Hiectl({"audit", "verify", "--from=40"});
  EXPECT_EQ(broken.code, 3);
  EXPECT_THAT(broken.out, ::testing::StartsWith("NOT VALID: hash-mismatch\n"));
  EXPECT_THAT(broken.out, HasSubstr("first bad sequence   42\n"));
  EXPECT_EQ(
      broken.err,
      "hiectl: audit chain is not valid: hash-mismatch at sequence 42: stored hash differs\n");
  Result json = Hiectl({"audit", "verify", "--from=40", "--json"});
  EXPECT_EQ(json.code, 3);
  EXPECT_THAT(json.out, HasSubstr("\"status\":\"STATUS_HASH_MISMATCH\""));
  Result valid = Hiectl({"audit", "verify"});
  EXPECT_EQ(valid.code, 0) << valid.err;
  EXPECT_THAT(valid.out, ::testing::StartsWith("VALID\n"));
  EXPECT_EQ(valid.err, "");
}

TEST_F(AuditConsentCliTest, ServerErrorsAndUsageErrors) {
  Result down = Hiectl({"audit", "disclosures", "--org=clinic-a", "--local-id=MRN-777"});
  EXPECT_EQ(down.code, 2);
  EXPECT_THAT(down.err, HasSubstr("hiectl: GetAccountingOfDisclosures failed: UNAVAILABLE"));
  EXPECT_THAT(down.err, Not(HasSubstr("MRN-777")));
  Result usage = Hiectl({"audit", "search", "--patient=MRN-777"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.err, "hiectl: --patient entries must be ORG:LOCAL_ID (entry 1 is not)\n");
  EXPECT_TRUE(audit_.searches_.empty());
  Result checkpoint = Hiectl({"audit", "checkpoints", "--create"});
  EXPECT_EQ(checkpoint.code, 0) << checkpoint.err;
  EXPECT_THAT(checkpoint.out, HasSubstr("sequence   99\n"));
}

TEST_F(AuditConsentCliTest, DirectiveWritesCarryIdempotencyKeys) {
  Result r =
      Hiectl({"consent", "directive", "create", "--org=clinic-a", "--local-id=1", "--effect=deny",
              "--actor-org=clinic-b", "--actor-org=clinic-c", "--purpose=research"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(consent_.creates_.size(), 1u);
  const consent::CreateDirectiveRequest& sent = consent_.creates_[0];
  EXPECT_THAT(sent.idempotency_key(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(sent.directive().actor_orgs_size(), 2);
  EXPECT_EQ(sent.directive().purposes(0), cm::PURPOSE_OF_USE_RESEARCH);
  EXPECT_EQ(sent.context().purpose_of_use(), cm::PURPOSE_OF_USE_OPERATIONS);
  EXPECT_THAT(r.out, HasSubstr("directive   cd-1\n"));
  EXPECT_THAT(r.out, HasSubstr("recipients  clinic-b, clinic-c\n"));

  Result stale = Hiectl({"consent", "directive", "revoke", "cd-1", "--reason", "patient asked",
                         "--etag=e0", "--idempotency-key=k-9"});
  EXPECT_EQ(stale.code, 1);
  ASSERT_EQ(consent_.revokes_.size(), 1u);
  EXPECT_EQ(consent_.revokes_[0].idempotency_key(), "k-9");
  EXPECT_THAT(stale.err, HasSubstr("RevokeDirective failed: ABORTED: etag is stale"));
  EXPECT_THAT(stale.err, HasSubstr("nothing was changed"));
}

TEST_F(AuditConsentCliTest, BreakGlassQueueAndReview) {
  Result list = Hiectl({"consent", "break-glass", "list", "--actor-org=clinic-b"});
  ASSERT_EQ(list.code, 0) << list.err;
  ASSERT_EQ(consent_.grant_lists_.size(), 1u);
  EXPECT_EQ(consent_.grant_lists_[0].review_states(0), consent::BREAK_GLASS_REVIEW_STATE_PENDING);
  EXPECT_THAT(list.out, HasSubstr("bg-7   pending"));

  Result review = Hiectl(
      {"consent", "break-glass", "review", "bg-7", "--appropriate", "--notes", "cardiac arrest"});
  ASSERT_EQ(review.code, 0) << review.err;
  ASSERT_EQ(consent_.reviews_.size(), 1u);
  EXPECT_EQ(consent_.reviews_[0].review_state(), consent::BREAK_GLASS_REVIEW_STATE_APPROPRIATE);
  EXPECT_THAT(consent_.reviews_[0].idempotency_key(), MatchesRegex(kUuidPattern));
  EXPECT_EQ(review.out, "grant   bg-7\nreview  appropriate\nnotes   cardiac arrest\n");

  Result missing = Hiectl({"consent", "break-glass", "review", "--appropriate", "--notes=n"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.err, HasSubstr("missing argument"));
}

TEST_F(AuditConsentCliTest, HelpComesFromTheTable) {
  Result r = Hiectl({"consent", "directive", "create", "--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("hiectl consent directive create --org O"));
  EXPECT_THAT(r.out, HasSubstr("--target=localhost:7004"));
  EXPECT_THAT(r.out, HasSubstr("--category"));
}

}  // namespace
}  // namespace hie::hiectl
