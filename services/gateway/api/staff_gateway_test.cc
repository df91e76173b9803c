// The staff APIs over real gRPC with mutual TLS on loopback: operators, privacy officers and
// admins (the test certificates) call the gateway, which calls fake identity, consent and audit
// services (in process, mTLS, seeing the gateway's client certificate); the gateway's own audit
// records go to a fake hub that checks them as hie-audit would.

#include "services/gateway/api/staff_gateway.h"

#include <gtest/gtest.h>

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/audit/core/operations.h"
#include "services/common/server.h"
#include "services/common/tls.h"
#include "services/gateway/store/in_memory_member_store.h"
#include "tests/support/test_env.h"

namespace hie::gateway {
namespace {

// What a fake service saw of a call: the context, the caller's certificate CN, the request.
struct Seen {
  std::mutex mu;
  int calls = 0;
  common::v1::RequestContext context;
  std::string peer_cn;
  std::string request;  // serialized

  template <typename Request>
  void Saw(grpc::ServerContext* ctx, const Request& r) {
    std::lock_guard lock(mu);
    ++calls;
    context = r.context();
    request = r.SerializeAsString();
    auto auth = ctx->auth_context();
    absl::StatusOr<PeerIdentity> peer = PeerIdentityOf(*auth);
    peer_cn = peer.ok() ? peer->common_name : "";
  }
};

class FakeIdentity final : public identity::v1::IdentityService::Service {
 public:
  grpc::Status LinkRecord(grpc::ServerContext* ctx, const identity::v1::LinkRecordRequest* r,
                          identity::v1::LinkRecordResponse* out) override {
    seen.Saw(ctx, *r);
    out->set_event_id("ev-link-1");
    return grpc::Status::OK;
  }
  grpc::Status GetPerson(grpc::ServerContext* ctx, const identity::v1::GetPersonRequest* r,
                         identity::v1::Person* out) override {
    seen.Saw(ctx, *r);
    if (r->person_id() == "p-missing") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "person not found");
    }
    out->set_person_id(r->person_id());
    return grpc::Status::OK;
  }
  Seen seen;
};

class FakeConsent final : public consent::v1::ConsentService::Service {
 public:
  grpc::Status ReviewBreakGlass(grpc::ServerContext* ctx,
                                const consent::v1::ReviewBreakGlassRequest* r,
                                consent::v1::BreakGlassGrant* out) override {
    seen.Saw(ctx, *r);
    out->set_grant_id(r->grant_id());
    return grpc::Status::OK;
  }
  Seen seen;
};

class FakeAudit final : public audit::v1::AuditLog::Service {
 public:
  grpc::Status Verify(grpc::ServerContext* ctx, const audit::v1::VerifyRequest* r,
                      audit::v1::VerifyResult* out) override {
    seen.Saw(ctx, *r);
    out->set_status(audit::v1::VerifyResult::STATUS_VALID);
    return grpc::Status::OK;
  }
  Seen seen;
};

// The gateway's own audit records, checked as hie-audit checks them; the directory.
class FakeHub : public HubServices {
 public:
  absl::StatusOr<ResolvedPatient> Resolve(const common::v1::RequestContext&,
                                          const common::v1::SourceId&, absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<Holder>> Locate(const common::v1::RequestContext&,
                                             const std::vector<common::v1::SourceId>&,
                                             absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::map<std::string, Verdict>> Decide(const common::v1::RequestContext&,
                                                        const std::vector<common::v1::SourceId>&,
                                                        const std::vector<std::string>&,
                                                        absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::Status Record(std::vector<audit::v1::AuditEvent> events, absl::Time) override {
    std::lock_guard lock(mu);
    if (audit_down) return absl::UnavailableError("audit: down");
    for (const auto& e : events) {
      if (absl::Status s = audit::ValidateEvent(e, "events[]", absl::Now()); !s.ok()) return s;
    }
    for (auto& e : events) audited.push_back(std::move(e));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<registry::v1::DocumentEntry>> RegistryEntries(
      const common::v1::RequestContext&, const std::vector<common::v1::SourceId>&,
      const registry::v1::DocumentQuery&, int, absl::Time) override {
    return absl::UnimplementedError("");
  }
  std::map<std::string, DirectoryEntry> Directory() override {
    return {{"clinic-b", {"clinic-b", "Clinic B", v1::MEMBER_STATE_SUSPENDED, 200}},
            {"clinic-a", {"clinic-a", "Clinic A", v1::MEMBER_STATE_ACTIVE, 1000}}};
  }
  std::string EndpointOf(const std::string& org) override { return org + ".example:443"; }
  Forbids RedactionFor(const std::vector<consent::v1::Obligation>&) override {
    return [](const registry::v1::DocumentEntry&) { return false; };
  }

  std::vector<audit::v1::AuditEvent> Audited() {
    std::lock_guard lock(mu);
    return audited;
  }

  std::mutex mu;
  bool audit_down = false;
  std::vector<audit::v1::AuditEvent> audited;
};

common::v1::ClientContext Staff(const std::string& request_id = "client-1") {
  common::v1::ClientContext c;
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  c.set_request_id(request_id);
  return c;
}

class StaffGatewayTest : public ::testing::Test {
 protected:
  StaffGatewayTest() {
    auto hub_server = GrpcServer::Start({.service_name = "fake-hub",
                                         .listen_address = "127.0.0.1:0",
                                         .tls = hie::testing::TestCertFiles("identity")},
                                        {&identity_, &consent_, &audit_});
    EXPECT_TRUE(hub_server.ok()) << hub_server.status();
    hub_server_ = *std::move(hub_server);
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles("gateway-client"));
    EXPECT_TRUE(creds.ok());
    auto channel = grpc::CreateChannel(absl::StrCat("localhost:", hub_server_->port()), *creds);
    identity_stub_ = identity::v1::IdentityService::NewStub(channel);
    consent_stub_ = consent::v1::ConsentService::NewStub(channel);
    audit_stub_ = audit::v1::AuditLog::NewStub(channel);
    StaffServices services{.identity = identity_stub_.get(),
                           .consent = consent_stub_.get(),
                           .audit = audit_stub_.get(),
                           .hub = &hub_,
                           .breakers = &breakers_,
                           .workers = &workers_};
    operator_ = std::make_unique<OperatorGatewayImpl>(services);
    admin_ = std::make_unique<AdminGatewayImpl>(services);
    auto server = GrpcServer::Start({.service_name = "gateway",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("gateway")},
                                    {operator_.get(), admin_.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetServing(true);
    hub_server_->SetServing(true);
  }
  ~StaffGatewayTest() override {
    server_->Shutdown(absl::Seconds(2));
    hub_server_->Shutdown(absl::Seconds(2));
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert) {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles(cert));
    EXPECT_TRUE(creds.ok());
    return grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds);
  }
  std::unique_ptr<v1::OperatorGateway::Stub> Operator(const std::string& cert = "operator") {
    return v1::OperatorGateway::NewStub(Channel(cert));
  }
  std::unique_ptr<v1::AdminGateway::Stub> Admin(const std::string& cert) {
    return v1::AdminGateway::NewStub(Channel(cert));
  }
  static void Deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }
  static v1::LinkRecordRequest Link() {
    v1::LinkRecordRequest r;
    *r.mutable_context() = Staff();
    r.mutable_source_id()->set_org("clinic-a");
    r.mutable_source_id()->set_local_id("a-1");
    r.set_person_id("p-1");
    r.set_reason("same patient, checked with the clinic");
    r.set_expected_etag("etag-3");
    r.set_idempotency_key("key-1");
    return r;
  }
  // SECURITY events recorded so far.
  int Refusals() {
    int n = 0;
    for (const auto& e : hub_.Audited()) n += e.type() == audit::v1::EVENT_TYPE_SECURITY;
    return n;
  }

  FakeIdentity identity_;
  FakeConsent consent_;
  FakeAudit audit_;
  std::unique_ptr<GrpcServer> hub_server_;
  std::unique_ptr<identity::v1::IdentityService::Stub> identity_stub_;
  std::unique_ptr<consent::v1::ConsentService::Stub> consent_stub_;
  std::unique_ptr<audit::v1::AuditLog::Stub> audit_stub_;
  FakeHub hub_;
  Breakers breakers_;
  WorkerPool workers_{4, 100};
  std::unique_ptr<OperatorGatewayImpl> operator_;
  std::unique_ptr<AdminGatewayImpl> admin_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(StaffGatewayTest, AnOperatorsLinkGoesToIdentityAsTheCertificatesActorThroughTheGateway) {
  grpc::ClientContext ctx;
  Deadline(ctx);
  identity::v1::LinkRecordResponse out;
  grpc::Status status = Operator()->LinkRecord(&ctx, Link(), &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.event_id(), "ev-link-1");
  std::lock_guard lock(identity_.seen.mu);
  EXPECT_EQ(identity_.seen.peer_cn, "gateway");  // the gateway's certificate calls identity
  const common::v1::RequestContext& c = identity_.seen.context;
  EXPECT_EQ(c.actor().org(), "hie-operations");  // the operator certificate's O and CN
  EXPECT_EQ(c.actor().user_id(), "operator");
  EXPECT_EQ(c.actor().role(), common::v1::ROLE_HIE_OPERATOR);
  EXPECT_EQ(c.purpose_of_use(), common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  EXPECT_TRUE(absl::StartsWith(c.request_id(), "gw-")) << c.request_id();
  EXPECT_EQ(c.client_request_id(), "client-1");
  EXPECT_TRUE(c.has_start_time());
  identity::v1::LinkRecordRequest sent;
  ASSERT_TRUE(sent.ParseFromString(identity_.seen.request));
  EXPECT_EQ(sent.source_id().local_id(), "a-1");
  EXPECT_EQ(sent.person_id(), "p-1");
  EXPECT_EQ(sent.reason(), "same patient, checked with the clinic");
  EXPECT_EQ(sent.expected_etag(), "etag-3");
  EXPECT_EQ(sent.idempotency_key(), "key-1");
  // Identity's history records the link; the gateway adds nothing.
  EXPECT_TRUE(hub_.Audited().empty());
}

TEST_F(StaffGatewayTest, OtherCertificatesAndRolesAreRefusedAndAudited) {
  for (const char* cert : {"clinic-a", "auditor", "admin"}) {
    grpc::ClientContext ctx;
    Deadline(ctx);
    identity::v1::LinkRecordResponse out;
    EXPECT_EQ(Operator(cert)->LinkRecord(&ctx, Link(), &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << cert;
  }
  {
    std::lock_guard lock(identity_.seen.mu);
    EXPECT_EQ(identity_.seen.calls, 0);
  }
  std::vector<audit::v1::AuditEvent> audited = hub_.Audited();
  ASSERT_EQ(audited.size(), 3u);
  EXPECT_EQ(audited[0].type(), audit::v1::EVENT_TYPE_SECURITY);
  EXPECT_EQ(audited[0].outcome(), audit::v1::OUTCOME_DENIED);
  EXPECT_EQ(audited[0].action(), "gateway.LinkRecord");
  EXPECT_EQ(audited[0].actor().org(), "clinic-a");
  EXPECT_EQ(audited[0].caller_subject(), "O=clinic-a,OU=member,CN=clinic-a");
  EXPECT_EQ(audited[2].actor().org(), "hie-admin");
}

TEST_F(StaffGatewayTest, ContextAndMutationFieldsAreChecked) {
  struct Case {
    std::function<void(v1::LinkRecordRequest&)> edit;
    grpc::StatusCode code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {[](auto& r) { r.clear_reason(); }, grpc::StatusCode::INVALID_ARGUMENT,
            "reason is required"},
           {[](auto& r) { r.clear_idempotency_key(); }, grpc::StatusCode::INVALID_ARGUMENT,
            "idempotency_key is required"},
           {[](auto& r) { r.mutable_context()->clear_purpose_of_use(); },
            grpc::StatusCode::INVALID_ARGUMENT, "context.purpose_of_use is required"},
           {[](auto& r) {
              r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
            },
            grpc::StatusCode::PERMISSION_DENIED, "SYSTEM_ADMINISTRATION"},
           {[](auto& r) { r.mutable_context()->set_user_id("someone-else"); },
            grpc::StatusCode::PERMISSION_DENIED, "context.user_id"},
           {[](auto& r) { r.mutable_context()->set_user_role(common::v1::ROLE_PRIVACY_OFFICER); },
            grpc::StatusCode::PERMISSION_DENIED, "context.user_role"},
       }) {
    v1::LinkRecordRequest r = Link();
    c.edit(r);
    grpc::ClientContext ctx;
    Deadline(ctx);
    identity::v1::LinkRecordResponse out;
    grpc::Status status = Operator()->LinkRecord(&ctx, r, &out);
    EXPECT_EQ(status.error_code(), c.code) << c.message;
    EXPECT_TRUE(absl::StrContains(status.error_message(), c.message)) << status.error_message();
  }
  {
    std::lock_guard lock(identity_.seen.mu);
    EXPECT_EQ(identity_.seen.calls, 0);
  }
  // The context repeating the certificate's user and role is fine.
  v1::LinkRecordRequest r = Link();
  r.mutable_context()->set_user_id("operator");
  r.mutable_context()->set_user_role(common::v1::ROLE_HIE_OPERATOR);
  grpc::ClientContext ctx;
  Deadline(ctx);
  identity::v1::LinkRecordResponse out;
  EXPECT_TRUE(Operator()->LinkRecord(&ctx, r, &out).ok());
}

TEST_F(StaffGatewayTest, AReadIsRecordedByTheGatewayAndNotAnsweredWithoutARecord) {
  v1::GetPersonRequest r;
  *r.mutable_context() = Staff();
  r.set_person_id("p-7");
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    identity::v1::Person out;
    ASSERT_TRUE(Operator()->GetPerson(&ctx, r, &out).ok());
    EXPECT_EQ(out.person_id(), "p-7");
  }
  std::vector<audit::v1::AuditEvent> audited = hub_.Audited();
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].type(), audit::v1::EVENT_TYPE_QUERY);
  EXPECT_EQ(audited[0].action(), "gateway.GetPerson");
  EXPECT_EQ(audited[0].outcome(), audit::v1::OUTCOME_SUCCESS);
  EXPECT_EQ(audited[0].person_id(), "p-7");
  EXPECT_EQ(audited[0].actor().user_id(), "operator");
  EXPECT_EQ(audited[0].client_request_id(), "client-1");

  // The service's status comes back as it is (and the failed read is on the record).
  r.set_person_id("p-missing");
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    identity::v1::Person out;
    grpc::Status status = Operator()->GetPerson(&ctx, r, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(), "person not found");
  }
  audited = hub_.Audited();
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[1].outcome(), audit::v1::OUTCOME_FAILURE);
  EXPECT_EQ(audited[1].status_code(), "NOT_FOUND");

  {
    std::lock_guard lock(hub_.mu);
    hub_.audit_down = true;
  }
  r.set_person_id("p-7");
  grpc::ClientContext ctx;
  Deadline(ctx);
  identity::v1::Person out;
  grpc::Status status = Operator()->GetPerson(&ctx, r, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(out.person_id().empty());
}

TEST_F(StaffGatewayTest, AdminCallsGoToAuditAndConsentWithTheirRoles) {
  v1::VerifyAuditLogRequest verify;
  *verify.mutable_context() = Staff();
  verify.set_from_sequence(10);
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    audit::v1::VerifyResult out;
    grpc::Status status = Admin("admin")->VerifyAuditLog(&ctx, verify, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(out.status(), audit::v1::VerifyResult::STATUS_VALID);
    std::lock_guard lock(audit_.seen.mu);
    EXPECT_EQ(audit_.seen.peer_cn, "gateway");
    EXPECT_EQ(audit_.seen.context.actor().role(), common::v1::ROLE_HIE_ADMIN);
    EXPECT_EQ(audit_.seen.context.actor().org(), "hie-admin");
    audit::v1::VerifyRequest sent;
    ASSERT_TRUE(sent.ParseFromString(audit_.seen.request));
    EXPECT_EQ(sent.from_sequence(), 10);
  }
  {  // SearchAuditEvents is the privacy officer's only
    v1::SearchAuditEventsRequest search;
    *search.mutable_context() = Staff();
    grpc::ClientContext ctx;
    Deadline(ctx);
    audit::v1::SearchEventsResponse out;
    EXPECT_EQ(Admin("admin")->SearchAuditEvents(&ctx, search, &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(Refusals(), 1);
  }
  v1::ReviewBreakGlassRequest review;
  *review.mutable_context() = Staff();
  review.set_grant_id("bg-1");
  review.set_review_state(consent::v1::BreakGlassReviewState(1));
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    consent::v1::BreakGlassGrant out;
    grpc::Status status = Admin("auditor")->ReviewBreakGlass(&ctx, review, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "idempotency_key is required");
  }
  review.set_idempotency_key("rk-1");
  grpc::ClientContext ctx;
  Deadline(ctx);
  consent::v1::BreakGlassGrant out;
  grpc::Status status = Admin("auditor")->ReviewBreakGlass(&ctx, review, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.grant_id(), "bg-1");
  std::lock_guard lock(consent_.seen.mu);
  EXPECT_EQ(consent_.seen.calls, 1);
  EXPECT_EQ(consent_.seen.context.actor().role(), common::v1::ROLE_PRIVACY_OFFICER);
  EXPECT_EQ(consent_.seen.context.actor().user_id(), "auditor");
  EXPECT_EQ(hub_.Audited().size(), 1u);  // consent records the review, hie-audit the verify
}

TEST_F(StaffGatewayTest, MembersComeFromTheDirectoryWithTheirBreakers) {
  v1::ListMembersRequest list;
  *list.mutable_context() = Staff();
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    v1::ListMembersResponse out;
    grpc::Status status = Admin("operator")->ListMembers(&ctx, list, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(out.members_size(), 2);
    EXPECT_EQ(out.members(0).org(), "clinic-a");  // by org
    EXPECT_EQ(out.members(0).endpoint(), "clinic-a.example:443");
    EXPECT_EQ(out.members(0).state(), v1::MEMBER_STATE_ACTIVE);
    EXPECT_EQ(out.members(0).circuit_state(), v1::CIRCUIT_STATE_CLOSED);
    EXPECT_EQ(out.members(1).display_name(), "Clinic B");
    EXPECT_EQ(out.members(1).state(), v1::MEMBER_STATE_SUSPENDED);
    EXPECT_TRUE(out.next_page_token().empty());
  }
  v1::GetMemberRequest get;
  *get.mutable_context() = Staff();
  get.set_org("clinic-z");
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    v1::Member out;
    EXPECT_EQ(Admin("admin")->GetMember(&ctx, get, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    Deadline(ctx);
    v1::Member out;
    EXPECT_EQ(Admin("clinic-a")->GetMember(&ctx, get, &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  std::vector<audit::v1::AuditEvent> audited = hub_.Audited();
  ASSERT_EQ(audited.size(), 3u);
  EXPECT_EQ(audited[0].type(), audit::v1::EVENT_TYPE_ADMIN_ACTION);
  EXPECT_EQ(audited[0].action(), "gateway.ListMembers");
  EXPECT_EQ(audited[1].objects(0).kind(), "member");
  EXPECT_EQ(audited[1].status_code(), "NOT_FOUND");
  EXPECT_EQ(audited[2].type(), audit::v1::EVENT_TYPE_SECURITY);
}

// The directory's writes: the same fixture, plus a second AdminGateway whose directory is kept
// by a keeper over the in-memory store (the first one has no directory store).
class StaffDirectoryTest : public StaffGatewayTest {
 protected:
  StaffDirectoryTest() {
    DirectoryMember a;
    a.entry = {"clinic-a", "Clinic A", v1::MEMBER_STATE_ACTIVE, 1000};
    a.endpoint = "clinic-a.example:443";
    EXPECT_TRUE(keeper_.Seed({{"clinic-a", a}}, absl::Now() + absl::Seconds(5)).ok());
    StaffServices services{.identity = identity_stub_.get(),
                           .consent = consent_stub_.get(),
                           .audit = audit_stub_.get(),
                           .hub = &hub_,
                           .breakers = &breakers_,
                           .workers = &workers_,
                           .directory = &keeper_};
    kept_admin_ = std::make_unique<AdminGatewayImpl>(services);
    auto server = GrpcServer::Start({.service_name = "gateway",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("gateway")},
                                    {kept_admin_.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    kept_server_ = *std::move(server);
    kept_server_->SetServing(true);
  }
  ~StaffDirectoryTest() override { kept_server_->Shutdown(absl::Seconds(2)); }

  std::unique_ptr<v1::AdminGateway::Stub> Kept(const std::string& cert) {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles(cert));
    EXPECT_TRUE(creds.ok());
    return v1::AdminGateway::NewStub(
        grpc::CreateChannel(absl::StrCat("localhost:", kept_server_->port()), *creds));
  }
  static v1::PutMemberRequest NewClinicC() {
    v1::PutMemberRequest r;
    *r.mutable_context() = Staff();
    v1::Member* m = r.mutable_member();
    m->set_org("clinic-c");
    m->set_display_name("Clinic C, Smith & Jones");
    m->set_endpoint("clinic-c.example:443");
    m->set_max_results(50);
    m->set_supports_time_filters(true);
    m->add_certificate_subjects("O=clinic-c,OU=member,CN=emr");
    m->set_circuit_state(v1::CIRCUIT_STATE_OPEN);  // the gateway's own: ignored
    r.set_reason("joins the HIE (contract 2024-17)");
    return r;
  }
  grpc::Status Put(const std::string& cert, const v1::PutMemberRequest& r, v1::Member* out) {
    grpc::ClientContext ctx;
    Deadline(ctx);
    return Kept(cert)->PutMember(&ctx, r, out);
  }
  grpc::Status Set(const std::string& cert, const std::string& org, v1::MemberState state,
                   int64_t expected_version, v1::Member* out, const std::string& reason = "ok") {
    v1::SetMemberStateRequest r;
    *r.mutable_context() = Staff();
    r.set_org(org);
    r.set_state(state);
    r.set_expected_version(expected_version);
    r.set_reason(reason);
    grpc::ClientContext ctx;
    Deadline(ctx);
    return Kept(cert)->SetMemberState(&ctx, r, out);
  }

  InMemoryMemberStore store_;
  MemberDirectoryView view_;
  MemberDirectoryKeeper keeper_{&store_, &view_};
  std::unique_ptr<AdminGatewayImpl> kept_admin_;
  std::unique_ptr<GrpcServer> kept_server_;
};

TEST_F(StaffDirectoryTest, AnAdminCreatesAndSuspendsAMemberAndTheDirectoryHasItAtOnce) {
  v1::Member created;
  grpc::Status status = Put("admin", NewClinicC(), &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(created.org(), "clinic-c");
  EXPECT_EQ(created.version(), 1);
  EXPECT_EQ(created.state(), v1::MEMBER_STATE_ACTIVE);  // unspecified on creation: active
  EXPECT_EQ(created.max_results(), 50);
  EXPECT_TRUE(created.supports_time_filters());
  ASSERT_EQ(created.certificate_subjects_size(), 1);
  EXPECT_TRUE(created.has_update_time());
  EXPECT_EQ(created.circuit_state(), v1::CIRCUIT_STATE_CLOSED);
  ASSERT_EQ(view_.Snapshot()->count("clinic-c"), 1u);  // before the answer
  EXPECT_EQ(view_.Snapshot()->at("clinic-c").member.endpoint, "clinic-c.example:443");

  v1::Member suspended;
  status = Set("admin", "clinic-c", v1::MEMBER_STATE_SUSPENDED, 1, &suspended, "unpaid invoice");
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(suspended.version(), 2);
  EXPECT_EQ(suspended.state(), v1::MEMBER_STATE_SUSPENDED);
  EXPECT_EQ(view_.Snapshot()->at("clinic-c").member.entry.state, v1::MEMBER_STATE_SUSPENDED);

  // A retry of the creation changes nothing; a replace from version 1 is stale.
  v1::PutMemberRequest again = NewClinicC();
  again.mutable_member()->set_state(v1::MEMBER_STATE_SUSPENDED);
  v1::Member out;
  status = Put("admin", again, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.version(), 2);
  again.mutable_member()->set_max_results(60);
  again.set_expected_version(1);
  EXPECT_EQ(Put("admin", again, &out).error_code(), grpc::StatusCode::ABORTED);
  again.set_expected_version(0);
  EXPECT_EQ(Put("admin", again, &out).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  again.set_expected_version(2);
  ASSERT_TRUE(Put("admin", again, &out).ok());
  EXPECT_EQ(out.version(), 3);
  EXPECT_EQ(out.max_results(), 60);

  // Read back through GetMember, from the same directory.
  v1::GetMemberRequest get;
  *get.mutable_context() = Staff();
  get.set_org("clinic-c");
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::Member got;
  ASSERT_TRUE(Kept("operator")->GetMember(&ctx, get, &got).ok());
  EXPECT_EQ(got.version(), 3);
  EXPECT_EQ(got.state(), v1::MEMBER_STATE_SUSPENDED);

  // Every write is on the record, with the member and the reason.
  int puts = 0, sets = 0;
  for (const auto& e : hub_.Audited()) {
    if (e.action() == "gateway.PutMember") {
      ++puts;
      EXPECT_EQ(e.objects(0).id(), "clinic-c");
    }
    if (e.action() == "gateway.SetMemberState") {
      ++sets;
      EXPECT_EQ(e.details().at("reason"), "unpaid invoice");
      EXPECT_EQ(e.details().at("state"), "MEMBER_STATE_SUSPENDED");
      EXPECT_EQ(e.outcome(), audit::v1::OUTCOME_SUCCESS);
    }
  }
  EXPECT_EQ(puts, 5);
  EXPECT_EQ(sets, 1);
}

TEST_F(StaffDirectoryTest, OnlyAdminsWriteAndEveryFieldAndStateIsChecked) {
  v1::Member out;
  for (const char* cert : {"operator", "auditor", "clinic-a"}) {
    EXPECT_EQ(Put(cert, NewClinicC(), &out).error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << cert;
    EXPECT_EQ(Set(cert, "clinic-a", v1::MEMBER_STATE_SUSPENDED, 0, &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << cert;
  }
  EXPECT_EQ(Refusals(), 6);
  struct Case {
    std::function<void(v1::PutMemberRequest&)> change;
    std::string message;
  };
  const Case cases[] = {
      {[](auto& r) { r.clear_reason(); }, "reason is required"},
      {[](auto& r) { r.mutable_member()->set_org("clinic c"); }, "member.org"},
      {[](auto& r) { r.mutable_member()->set_endpoint("clinic-c.example"); }, "member.endpoint"},
      {[](auto& r) { r.mutable_member()->set_max_results(0); }, "member.max_results"},
      {[](auto& r) { r.mutable_member()->set_max_results(1001); }, "member.max_results"},
      {[](auto& r) { r.mutable_member()->set_display_name(""); }, "member.display_name"},
      {[](auto& r) { r.mutable_member()->add_certificate_subjects("O=clinic-c,OU=member,CN=emr"); },
       "member.certificate_subjects"},
      {[](auto& r) { r.mutable_member()->set_state(v1::MEMBER_STATE_DECOMMISSIONED); },
       "member.state"},
      {[](auto& r) { r.set_expected_version(-1); }, "expected_version"},
  };
  for (const Case& c : cases) {
    v1::PutMemberRequest r = NewClinicC();
    c.change(r);
    grpc::Status status = Put("admin", r, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_TRUE(absl::StartsWith(status.error_message(), c.message)) << status.error_message();
  }
  v1::PutMemberRequest replace = NewClinicC();
  replace.set_expected_version(1);
  EXPECT_EQ(Put("admin", replace, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(view_.Snapshot()->count("clinic-c"), 0u);  // nothing written

  EXPECT_EQ(Set("admin", "clinic-z", v1::MEMBER_STATE_SUSPENDED, 0, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Set("admin", "clinic-a", v1::MEMBER_STATE_UNSPECIFIED, 0, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set("admin", "clinic-a", v1::MEMBER_STATE_SUSPENDED, 0, &out, "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Set("admin", "clinic-a", v1::MEMBER_STATE_SUSPENDED, 9, &out).error_code(),
            grpc::StatusCode::ABORTED);
  ASSERT_TRUE(Set("admin", "clinic-a", v1::MEMBER_STATE_DECOMMISSIONED, 1, &out).ok());
  EXPECT_EQ(Set("admin", "clinic-a", v1::MEMBER_STATE_ACTIVE, 0, &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Set("admin", "clinic-a", v1::MEMBER_STATE_DECOMMISSIONED, 0, &out).ok());  // same
  EXPECT_EQ(out.version(), 2);
  EXPECT_EQ(view_.Snapshot()->at("clinic-a").member.entry.state, v1::MEMBER_STATE_DECOMMISSIONED);
}

TEST_F(StaffDirectoryTest, AWriteWithoutAnAuditRecordIsUnavailableButAStoreDownWritesNothing) {
  {
    std::lock_guard lock(hub_.mu);
    hub_.audit_down = true;
  }
  v1::Member out;
  grpc::Status status = Put("admin", NewClinicC(), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "AUDIT_UNAVAILABLE"));
  {
    std::lock_guard lock(hub_.mu);
    hub_.audit_down = false;
  }
  // The change stood; the retry is answered without a new version, and recorded.
  ASSERT_TRUE(Put("admin", NewClinicC(), &out).ok());
  EXPECT_EQ(out.version(), 1);
  store_.SetFailure(absl::UnavailableError("member store: down"));
  EXPECT_EQ(Set("admin", "clinic-c", v1::MEMBER_STATE_SUSPENDED, 0, &out).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(view_.Snapshot()->at("clinic-c").member.entry.state, v1::MEMBER_STATE_ACTIVE);
}

TEST_F(StaffGatewayTest, WithoutADirectoryStoreWritesAreAFailedPrecondition) {
  v1::PutMemberRequest put;
  *put.mutable_context() = Staff();
  put.mutable_member()->set_org("clinic-c");
  put.set_reason("joins");
  grpc::ClientContext ctx;
  Deadline(ctx);
  v1::Member out;
  grpc::Status status = Admin("admin")->PutMember(&ctx, put, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "no directory store configured"));
}

}  // namespace
}  // namespace hie::gateway
