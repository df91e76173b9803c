// The member-facing gateway API over real gRPC with mutual TLS on loopback: FindOutsideRecords
// streamed from real member nodes (services/member's endpoint in process: one healthy, one hung)
// with the hub's services faked; who may ask; a refusal audited.

#include "services/gateway/api/gateway_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/audit/core/operations.h"
#include "services/common/server.h"
#include "services/common/tls.h"
#include "services/gateway/api/member_fanout.h"
#include "services/gateway/api/member_node_for_tests.h"
#include "services/gateway/core/fake_hub_for_tests.h"
#include "services/member/core/test_data.h"
#include "services/registry/core/redaction.h"
#include "tests/support/source_id.h"
#include "tests/support/test_env.h"

namespace hie::gateway {
namespace {

using common::v1::SourceId;
using ::testing::HasSubstr;

using ::hie::test_support::Id;

using testing::MemberNode;

// The person: clinic-b's b-1 (the caller's), clinic-a's P1 (served by a healthy node) and
// clinic-c's c-1 (its node hangs).
class FakeHub : public HubServices {
 public:
  absl::StatusOr<ResolvedPatient> Resolve(const common::v1::RequestContext&, const SourceId& r,
                                          absl::Time) override {
    if (r.org() != "clinic-b" || r.local_id() != "b-1") return absl::NotFoundError("unknown");
    return ResolvedPatient{"person-1",
                           {Id("clinic-b", "b-1"), Id("clinic-a", "P1"), Id("clinic-c", "c-1")}};
  }
  absl::StatusOr<std::vector<Holder>> Locate(const common::v1::RequestContext&,
                                             const std::vector<SourceId>& records,
                                             absl::Time) override {
    std::vector<Holder> out;
    for (const SourceId& r : records) out.push_back({r.org(), {r.local_id()}});
    return out;
  }
  absl::StatusOr<std::map<std::string, Verdict>> Decide(const common::v1::RequestContext&,
                                                        const std::vector<SourceId>&,
                                                        const std::vector<std::string>& orgs,
                                                        absl::Time) override {
    std::map<std::string, Verdict> out;
    for (const auto& org : orgs) out[org] = Verdict{true, {}, "dec-" + org};
    return out;
  }
  absl::Status Record(std::vector<audit::v1::AuditEvent> events, absl::Time) override {
    std::lock_guard lock(mu);
    for (const auto& e : events) {  // what hie-audit accepts, as it would answer
      if (absl::Status s = audit::ValidateEvent(e, "events[]", absl::Now()); !s.ok()) return s;
    }
    for (auto& e : events) audited.push_back(std::move(e));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<registry::v1::DocumentEntry>> RegistryEntries(
      const common::v1::RequestContext&, const std::vector<SourceId>&,
      const registry::v1::DocumentQuery&, int, absl::Time) override {
    return std::vector<registry::v1::DocumentEntry>{};
  }
  std::map<std::string, DirectoryEntry> Directory() override {
    std::map<std::string, DirectoryEntry> out = {
        {"clinic-a", {"clinic-a", "Clinic A", v1::MEMBER_STATE_ACTIVE, 1000}},
        {"clinic-b", {"clinic-b", "Clinic B", v1::MEMBER_STATE_ACTIVE, 1000}},
        {"clinic-c", {"clinic-c", "Clinic C", v1::MEMBER_STATE_ACTIVE, 1000}}};
    for (const std::string& org : suspended) out[org].state = v1::MEMBER_STATE_SUSPENDED;
    return out;
  }
  std::set<std::string> suspended;
  std::string EndpointOf(const std::string& org) override { return endpoints[org]; }
  Forbids RedactionFor(const std::vector<consent::v1::Obligation>& obligations) override {
    auto r = std::make_shared<registry::Redaction>(obligations);
    return [r](const registry::v1::DocumentEntry& e) { return r->Forbids(e); };
  }

  std::mutex mu;
  std::vector<audit::v1::AuditEvent> audited;
  std::map<std::string, std::string> endpoints;
};

// Records what a member's writes would send to identity and the registry.
class FakeWrites : public HubWrites {
 public:
  absl::StatusOr<identity::v1::RegisterSourceRecordResponse> Register(
      const identity::v1::RegisterSourceRecordRequest& r, absl::Time) override {
    std::lock_guard lock(mu);
    registered.push_back(r);
    identity::v1::RegisterSourceRecordResponse out;
    *out.mutable_record()->mutable_source_id() = r.source_id();
    out.mutable_record()->set_version(1);
    out.set_person_id("person-9");
    out.set_created(true);
    return out;
  }
  absl::Status MergeRecords(const identity::v1::MergeSourceRecordsRequest&, absl::Time) override {
    return absl::OkStatus();
  }
  absl::StatusOr<registry::v1::RegisterSubmissionSetResponse> Publish(
      const registry::v1::RegisterSubmissionSetRequest& r, absl::Time) override {
    std::lock_guard lock(mu);
    published.push_back(r);
    return registry::v1::RegisterSubmissionSetResponse();
  }
  absl::StatusOr<registry::v1::DocumentEntry> Deprecate(
      const registry::v1::DeprecateDocumentRequest&, absl::Time) override {
    return registry::v1::DocumentEntry();
  }

  std::mutex mu;
  std::vector<identity::v1::RegisterSourceRecordRequest> registered;
  std::vector<registry::v1::RegisterSubmissionSetRequest> published;
};

class GatewayServiceTest : public ::testing::Test {
 protected:
  GatewayServiceTest() {
    hub_.endpoints["clinic-a"] = healthy_.endpoint();
    hub_.endpoints["clinic-c"] = hung_.endpoint();
    calls_ = std::make_unique<FanOutCalls>(testing::TestMemberChannels(), &breakers_);
    MemberGatewayOptions options;
    options.query.new_event_id = [this] { return absl::StrCat("ev-", ++events_); };
    service_ = std::make_unique<MemberGatewayImpl>(&hub_, &writes_, &consent_, calls_.get(),
                                                   &retrieval_, &workers_, options);
    auto server = GrpcServer::Start({.service_name = "gateway",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("gateway")},
                                    {service_.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetServing(true);
  }
  ~GatewayServiceTest() override { server_->Shutdown(absl::Seconds(2)); }

  std::unique_ptr<v1::MemberGateway::Stub> Stub(const std::string& cert) {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles(cert));
    EXPECT_TRUE(creds.ok());
    return v1::MemberGateway::NewStub(
        grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds));
  }

  static v1::FindOutsideRecordsRequest Request() {
    v1::FindOutsideRecordsRequest r;
    r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
    r.mutable_context()->set_user_id("dr-who");
    r.mutable_context()->set_user_role(common::v1::ROLE_CLINICIAN);
    r.set_local_id("b-1");
    return r;
  }

  struct Streamed {
    grpc::Status status;
    std::vector<v1::FindOutsideRecordsResponse> messages;
    absl::Duration elapsed;
  };
  Streamed Find(const std::string& cert, const v1::FindOutsideRecordsRequest& request,
                absl::Duration timeout) {
    auto stub = Stub(cert);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    Streamed out;
    const absl::Time start = absl::Now();
    auto reader = stub->FindOutsideRecords(&ctx, request);
    v1::FindOutsideRecordsResponse m;
    while (reader->Read(&m)) out.messages.push_back(m);
    out.status = reader->Finish();
    out.elapsed = absl::Now() - start;
    return out;
  }

  MemberNode healthy_{{}};
  MemberNode hung_{member::FaultOptions{.hang = true}};
  MemberNode black_hole_{member::FaultOptions{.black_hole = true}};
  FakeHub hub_;
  FakeWrites writes_;
  testing::FakeConsent consent_;
  Breakers breakers_;
  std::unique_ptr<FanOutCalls> calls_;
  GrpcMemberRetrieval retrieval_{testing::TestMemberChannels()};
  WorkerPool workers_{4, 100};
  std::atomic<int> events_{0};
  std::unique_ptr<MemberGatewayImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(GatewayServiceTest, StreamsTheHealthyMemberAndReportsTheHungOneWithinTheDeadline) {
  Streamed s = Find("clinic-b", Request(), absl::Seconds(1));
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  ASSERT_EQ(s.messages.size(), 3u);  // clinic-a, clinic-c, summary
  const v1::MemberResult& a = s.messages[0].member_result();
  EXPECT_EQ(a.member_org(), "clinic-a");
  EXPECT_EQ(a.status(), v1::MEMBER_STATUS_OK);
  EXPECT_EQ(a.entries_size(), 4);  // P1's approved documents
  for (const auto& e : a.entries()) EXPECT_TRUE(e.patient().local_id().empty());
  const v1::MemberResult& c = s.messages[1].member_result();
  EXPECT_EQ(c.member_org(), "clinic-c");
  EXPECT_EQ(c.status(), v1::MEMBER_STATUS_TIMEOUT);
  const v1::QuerySummary& summary = s.messages[2].summary();
  EXPECT_TRUE(summary.partial());
  EXPECT_EQ(summary.members_ok(), 1);
  EXPECT_EQ(summary.members_timeout(), 1);
  EXPECT_FALSE(summary.request_id().empty());
  EXPECT_LT(s.elapsed, absl::Milliseconds(1000 + 500));
  std::lock_guard lock(hub_.mu);
  ASSERT_GE(hub_.audited.size(), 3u);  // the query, then each member's disclosure
  EXPECT_EQ(hub_.audited[0].type(), audit::v1::EVENT_TYPE_QUERY);
  EXPECT_EQ(hub_.audited[0].actor().org(), "clinic-b");  // from the certificate
  EXPECT_EQ(hub_.audited[0].actor().user_id(), "dr-who");
}

TEST_F(GatewayServiceTest, AnOperatorCannotReadDocumentsAndTheRefusalIsAudited) {
  Streamed s = Find("operator", Request(), absl::Seconds(2));
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(s.messages.empty());
  std::lock_guard lock(hub_.mu);
  ASSERT_EQ(hub_.audited.size(), 1u);
  EXPECT_EQ(hub_.audited[0].type(), audit::v1::EVENT_TYPE_SECURITY);
  EXPECT_EQ(hub_.audited[0].outcome(), audit::v1::OUTCOME_DENIED);
}

TEST_F(GatewayServiceTest, AMissingPurposeOrUserIsRefusedNamingTheField) {
  v1::FindOutsideRecordsRequest r = Request();
  r.mutable_context()->clear_purpose_of_use();
  Streamed s = Find("clinic-b", r, absl::Seconds(2));
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.status.error_message(), HasSubstr("context.purpose_of_use"));
  r = Request();
  r.mutable_context()->clear_user_id();
  s = Find("clinic-b", r, absl::Seconds(2));
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.status.error_message(), HasSubstr("context.user_id"));
  r = Request();
  r.set_local_id("");
  s = Find("clinic-b", r, absl::Seconds(2));
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.status.error_message(), HasSubstr("local_id"));
  std::lock_guard lock(hub_.mu);
  EXPECT_TRUE(hub_.audited.empty());  // nothing asked, nothing released
}

TEST_F(GatewayServiceTest, AnotherOrgsPatientIdIsNotFoundForTheCaller) {
  // clinic-a's certificate asking for "b-1" asks about clinic-a's b-1: unknown.
  Streamed s = Find("clinic-a", Request(), absl::Seconds(2));
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(s.messages.empty());
}

struct Retrieved {
  grpc::Status status;
  std::vector<member::v1::RetrieveDocumentResponse> messages;
  std::string content;
};

v1::RetrieveDocumentRequest Retrieve(const std::string& member_org, const std::string& key) {
  v1::RetrieveDocumentRequest r;
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  r.mutable_context()->set_user_id("dr-who");
  r.mutable_context()->set_user_role(common::v1::ROLE_CLINICIAN);
  r.set_local_id("b-1");
  r.set_member_org(member_org);
  r.set_retrieve_key(key);
  return r;
}

Retrieved Read(v1::MemberGateway::Stub& stub, const v1::RetrieveDocumentRequest& r,
               absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Retrieved out;
  auto reader = stub.RetrieveDocument(&ctx, r);
  member::v1::RetrieveDocumentResponse m;
  while (reader->Read(&m)) {
    out.content += m.chunk();
    out.messages.push_back(m);
  }
  out.status = reader->Finish();
  return out;
}

TEST_F(GatewayServiceTest, RetrievesAMembersDocumentThroughTheGatewayAfterAuditingIt) {
  auto stub = Stub("clinic-b");
  Retrieved r = Read(*stub, Retrieve("clinic-a", "key-d1"), absl::Seconds(5));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_GE(r.messages.size(), 2u);
  ASSERT_TRUE(r.messages[0].has_header());
  EXPECT_EQ(r.messages[0].header().unique_id(), "urn:oid:1.2.3.1");
  EXPECT_EQ(static_cast<int64_t>(r.content.size()), r.messages[0].header().size_bytes());
  {
    std::lock_guard lock(hub_.mu);
    ASSERT_EQ(hub_.audited.size(), 1u);
    EXPECT_EQ(hub_.audited[0].type(), audit::v1::EVENT_TYPE_DISCLOSURE);
    EXPECT_EQ(hub_.audited[0].custodian_org(), "clinic-a");
    EXPECT_EQ(hub_.audited[0].action(), "gateway.RetrieveDocument");
  }
  // A document of no patient of this person's at that member: NOT_FOUND, nothing released.
  r = Read(*stub, Retrieve("clinic-a", "key-d5"), absl::Seconds(5));  // P2's
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(r.messages.empty());
  // A member that never answers costs the deadline, no more.
  hub_.endpoints["clinic-c"] = black_hole_.endpoint();
  const absl::Time start = absl::Now();
  r = Read(*stub, Retrieve("clinic-c", "key-c"), absl::Milliseconds(500));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // An operator cannot read documents.
  r = Read(*Stub("operator"), Retrieve("clinic-a", "key-d1"), absl::Seconds(5));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(r.messages.empty());
}

v1::FeedPatientRequest Feed(const std::string& local_id) {
  v1::FeedPatientRequest r;
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  r.mutable_context()->set_user_role(common::v1::ROLE_MEMBER_SYSTEM);
  r.set_local_id(local_id);
  r.set_idempotency_key("key-" + local_id);
  return r;
}

TEST_F(GatewayServiceTest, AMemberFeedsItsOwnPatientAndLearnsNothingAboutMatching) {
  auto stub = Stub("clinic-a");
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "chosen-by-the-client");
  v1::FeedPatientResponse response;
  grpc::Status status = stub->FeedPatient(&ctx, Feed("a-77"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.created());
  EXPECT_EQ(response.local_id(), "a-77");
  std::lock_guard lock(writes_.mu);
  ASSERT_EQ(writes_.registered.size(), 1u);
  EXPECT_EQ(writes_.registered[0].source_id().org(), "clinic-a");            // from the certificate
  EXPECT_EQ(writes_.registered[0].context().actor().user_id(), "clinic-a");  // its CN
  // The hub's request id is its own, never one the client chose.
  EXPECT_EQ(writes_.registered[0].context().request_id().rfind("gw-", 0), 0u);
}

TEST_F(GatewayServiceTest, OrgACannotPublishAsOrgBAndOperatorsCannotFeed) {
  auto stub = Stub("clinic-a");
  v1::PublishDocumentsRequest publish;
  publish.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  publish.mutable_context()->set_user_role(common::v1::ROLE_MEMBER_SYSTEM);
  publish.set_idempotency_key("k1");
  *publish.add_entries()->mutable_patient() = Id("clinic-b", "b-1");
  grpc::ClientContext ctx;
  registry::v1::RegisterSubmissionSetResponse published;
  grpc::Status status = stub->PublishDocuments(&ctx, publish, &published);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("entries[0].patient.org"));

  grpc::ClientContext ctx2;
  v1::FeedPatientResponse fed;
  status = Stub("operator")->FeedPatient(&ctx2, Feed("a-1"), &fed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    std::lock_guard lock(writes_.mu);
    EXPECT_TRUE(writes_.registered.empty());
    EXPECT_TRUE(writes_.published.empty());
  }
  std::lock_guard lock(hub_.mu);
  ASSERT_EQ(hub_.audited.size(), 2u);  // both refusals
  for (const auto& e : hub_.audited) {
    EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_SECURITY);
    EXPECT_EQ(e.outcome(), audit::v1::OUTCOME_DENIED);
  }
  EXPECT_EQ(hub_.audited[0].action(), "gateway.PublishDocuments");
}

TEST_F(GatewayServiceTest, AClinicianBreaksTheGlassForAFedPatientAndStaffCannot) {
  v1::BreakGlassRequest glass;
  glass.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_EMERGENCY);
  glass.mutable_context()->set_user_id("dr-who");
  glass.mutable_context()->set_user_role(common::v1::ROLE_CLINICIAN);
  glass.set_local_id("b-1");
  glass.set_reason("unconscious");
  glass.set_reason_code(consent::v1::BREAK_GLASS_REASON_LIFE_THREATENING);
  glass.set_idempotency_key("bg-1");
  grpc::ClientContext ctx;
  v1::BreakGlassResponse grant;
  grpc::Status status = Stub("clinic-b")->BreakGlass(&ctx, glass, &grant);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(grant.grant_id(), "bg-1");
  ASSERT_EQ(consent_.opened.size(), 1u);
  EXPECT_EQ(consent_.opened[0].patients(0).org(), "clinic-b");  // from the certificate
  EXPECT_EQ(consent_.opened[0].context().actor().user_id(), "dr-who");

  glass.mutable_context()->set_user_role(common::v1::ROLE_CLINICAL_STAFF);
  grpc::ClientContext ctx2;
  status = Stub("clinic-b")->BreakGlass(&ctx2, glass, &grant);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(consent_.opened.size(), 1u);
  std::lock_guard lock(hub_.mu);
  ASSERT_EQ(hub_.audited.size(), 1u);
  EXPECT_EQ(hub_.audited[0].action(), "gateway.BreakGlass");
  EXPECT_EQ(hub_.audited[0].outcome(), audit::v1::OUTCOME_DENIED);
}

TEST_F(GatewayServiceTest, AMemberRecordsConsentOnlyForItsOwnPatients) {
  v1::CreateConsentDirectiveRequest create;
  create.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  create.mutable_context()->set_user_id("registrar-1");
  create.mutable_context()->set_user_role(common::v1::ROLE_ADMINISTRATIVE_STAFF);
  *create.mutable_directive()->mutable_patient() = Id("clinic-a", "P1");
  create.mutable_directive()->set_effect(consent::v1::EFFECT_DENY);
  create.set_idempotency_key("c-1");
  grpc::ClientContext ctx;
  consent::v1::ConsentDirective directive;
  grpc::Status status = Stub("clinic-b")->CreateConsentDirective(&ctx, create, &directive);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("directive.patient.org"));
  EXPECT_TRUE(consent_.created.empty());

  create.mutable_directive()->mutable_patient()->clear_org();
  grpc::ClientContext ctx2;
  status = Stub("clinic-b")->CreateConsentDirective(&ctx2, create, &directive);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(consent_.created.size(), 1u);
  EXPECT_EQ(consent_.created[0].directive().patient().org(), "clinic-b");

  v1::RevokeConsentDirectiveRequest revoke;
  *revoke.mutable_context() = create.context();
  revoke.set_directive_id("dir-a");  // clinic-a's patient's
  revoke.set_reason("entered in error");
  revoke.set_idempotency_key("r-1");
  grpc::ClientContext ctx3;
  status = Stub("clinic-b")->RevokeConsentDirective(&ctx3, revoke, &directive);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(consent_.revoked.empty());
}

TEST_F(GatewayServiceTest, ASuspendedMemberIsRefusedAndTheRefusalAudited) {
  hub_.suspended.insert("clinic-b");
  Streamed s = Find("clinic-b", Request(), absl::Seconds(1));
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(s.messages.empty());
  grpc::ClientContext ctx;
  v1::FeedPatientResponse fed;
  v1::FeedPatientRequest feed;
  feed.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  feed.mutable_context()->set_user_role(common::v1::ROLE_MEMBER_SYSTEM);
  feed.set_local_id("b-2");
  feed.set_idempotency_key("k-b-2");
  EXPECT_EQ(Stub("clinic-b")->FeedPatient(&ctx, feed, &fed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  {
    std::lock_guard lock(writes_.mu);
    EXPECT_TRUE(writes_.registered.empty());
  }
  std::lock_guard lock(hub_.mu);
  EXPECT_EQ(hub_.audited.size(), 2u);
}

}  // namespace
}  // namespace hie::gateway
