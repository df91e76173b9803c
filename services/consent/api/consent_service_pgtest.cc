// The consent service end to end in one process: real gRPC with mutual TLS on loopback
// (certificates from scripts/gen-certs.sh), the PostgreSQL store on a fresh database
// (HIE_TEST_PG_DSN), LISTEN/NOTIFY and the periodic version check, two replicas over one
// database. Identity is the in-memory fake (break-glass coverage has its own tests).

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <pqxx/nontransaction>

#include "absl/strings/str_cat.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "services/common/pg/migrations.h"
#include "services/common/server.h"
#include "services/common/worker_pool.h"
#include "services/consent/api/consent_service.h"
#include "services/consent/core/fakes.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/core/view_refresher.h"
#include "services/consent/store/migrations.h"
#include "services/consent/store/pg_change_listener.h"
#include "services/consent/store/pg_consent_store.h"
#include "tests/support/source_id.h"
#include "tests/support/test_env.h"

namespace hie::consent {
namespace {

using hie::common::v1::SourceId;

// One running consent service over a given database, wired as main.cc wires it.
class Replica {
 public:
  explicit Replica(const std::string& dsn) {
    auto pool = pg::PgPool::Create({.dsn = dsn, .size = 4});
    EXPECT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    auto applied =
        pg::ApplyMigrations(*pool_, kSchema, Migrations(), absl::Now() + absl::Seconds(30));
    EXPECT_TRUE(applied.ok()) << applied.status();
    auto feed_pool = pg::PgPool::Create({.dsn = dsn, .size = 1});
    EXPECT_TRUE(feed_pool.ok());
    feed_pool_ = *std::move(feed_pool);
    store_ = std::make_unique<PgConsentStore>(pool_.get());
    feed_store_ = std::make_unique<PgConsentStore>(feed_pool_.get());
    refresher_ = std::make_unique<ViewRefresher>(feed_store_.get(), &view_, &clock_);
    EXPECT_TRUE(refresher_->LoadInitial(absl::Now() + absl::Seconds(10)).ok());
    ConsentManagerOptions options;
    options.policy.set_default_mode(v1::DEFAULT_MODE_OPT_OUT);
    options.policy.set_policy_version("p-test");
    manager_ = std::make_unique<ConsentManager>(store_.get(), &view_, &identity_, &clock_, options);
    manager_->SetAfterWrite([this] { (void)refresher_->RefreshNow(); });
    workers_ = std::make_unique<WorkerPool>(4, 100);
    service_ = std::make_unique<ConsentServiceImpl>(manager_.get(), workers_.get());
    auto server = GrpcServer::Start({.service_name = "consent",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("consent")},
                                    {service_.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    listener_ = std::make_unique<PgChangeListener>(dsn, [this](int64_t) { refresher_->Wake(); });
    listener_->Start();
    refresher_->Start();
  }
  ~Replica() {
    refresher_->Stop();
    listener_->Stop();
    server_->Shutdown(absl::Seconds(1));
    workers_.reset();
  }

  std::unique_ptr<v1::ConsentService::Stub> Stub(const std::string& cert) {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles(cert));
    return v1::ConsentService::NewStub(
        grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds));
  }
  FakePersonResolver& identity() { return identity_; }

 private:
  SystemClock clock_;
  FakePersonResolver identity_;
  std::unique_ptr<pg::PgPool> pool_, feed_pool_;
  std::unique_ptr<PgConsentStore> store_, feed_store_;
  ConsentView view_;
  std::unique_ptr<ViewRefresher> refresher_;
  std::unique_ptr<ConsentManager> manager_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<ConsentServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<PgChangeListener> listener_;
};

using ::hie::test_support::Id;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// The gateway acting for a user of `org`.
hie::common::v1::RequestContext Gateway(const std::string& org, hie::common::v1::Role role,
                                        hie::common::v1::PurposeOfUse purpose,
                                        const std::string& user = "u1") {
  hie::common::v1::RequestContext c;
  c.set_request_id("req-" + org);
  c.set_purpose_of_use(purpose);
  c.mutable_actor()->set_org(org);
  c.mutable_actor()->set_user_id(user);
  c.mutable_actor()->set_role(role);
  return c;
}

class ConsentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    a_ = std::make_unique<Replica>(db_->dsn());
    b_ = std::make_unique<Replica>(db_->dsn());
  }

  v1::ConsentDirective CreateDeny(v1::ConsentService::Stub* stub, const SourceId& patient,
                                  const std::string& key) {
    v1::CreateDirectiveRequest r;
    *r.mutable_context() = Gateway(patient.org(), hie::common::v1::ROLE_ADMINISTRATIVE_STAFF,
                                   hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
    *r.mutable_directive()->mutable_patient() = patient;
    r.mutable_directive()->set_effect(v1::EFFECT_DENY);
    *r.mutable_directive()->mutable_effective_period()->mutable_start() =
        ToProto(absl::Now() - absl::Hours(1));
    r.set_idempotency_key(key);
    v1::ConsentDirective out;
    grpc::Status s = stub->CreateDirective(Ctx().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::Decision Decide(v1::ConsentService::Stub* stub, const std::vector<SourceId>& patients) {
    v1::DecideRequest r;
    *r.mutable_context() = Gateway("clinic-b", hie::common::v1::ROLE_CLINICIAN,
                                   hie::common::v1::PURPOSE_OF_USE_TREATMENT);
    for (const auto& p : patients) *r.add_patients() = p;
    r.set_custodian_org("clinic-a");
    v1::Decision out;
    grpc::Status s = stub->Decide(Ctx().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // Polls `stub` until the decision's effect is `want`; returns how long that took.
  absl::Duration Until(v1::ConsentService::Stub* stub, const SourceId& p, v1::Effect want) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < absl::Seconds(5)) {
      if (Decide(stub, {p}).effect() == want) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return absl::InfiniteDuration();
  }

  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<Replica> a_, b_;
};

TEST_F(ConsentServiceTest, ARevocationIsHonouredByASecondReplicaWithinOneSecond) {
  auto gateway_a = a_->Stub("gateway-client");
  auto gateway_b = b_->Stub("gateway-client");
  const SourceId p = Id("clinic-a", "MRN1");
  EXPECT_EQ(Decide(gateway_b.get(), {p}).effect(), v1::EFFECT_PERMIT);
  v1::ConsentDirective deny = CreateDeny(gateway_a.get(), p, "k-deny");
  EXPECT_EQ(Decide(gateway_a.get(), {p}).effect(), v1::EFFECT_DENY) << "the writer at once";
  EXPECT_LE(Until(gateway_b.get(), p, v1::EFFECT_DENY), absl::Seconds(1));

  v1::RevokeDirectiveRequest revoke;
  *revoke.mutable_context() = Gateway("clinic-a", hie::common::v1::ROLE_ADMINISTRATIVE_STAFF,
                                      hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
  revoke.set_directive_id(deny.directive_id());
  revoke.set_reason("withdrawn by the patient");
  revoke.set_etag(deny.etag());
  revoke.set_idempotency_key("k-revoke");
  v1::ConsentDirective revoked;
  ASSERT_TRUE(gateway_a->RevokeDirective(Ctx().get(), revoke, &revoked).ok());
  const absl::Duration took = Until(gateway_b.get(), p, v1::EFFECT_PERMIT);
  EXPECT_LE(took, absl::Seconds(1));
  v1::ConsentDirective again;
  ASSERT_TRUE(gateway_b->RevokeDirective(Ctx().get(), revoke, &again).ok())
      << "an idempotent retry on the other replica returns the stored answer";
  EXPECT_EQ(again.etag(), revoked.etag());
}

TEST_F(ConsentServiceTest, TheStoreDownTurnsDecisionsIntoConsentUnavailableWithinASecond) {
  auto gateway = b_->Stub("gateway-client");
  const SourceId p = Id("clinic-a", "MRN1");
  EXPECT_EQ(Decide(gateway.get(), {p}).effect(), v1::EFFECT_PERMIT);
  const std::string admin = hie::testing::EnvOrEmpty("HIE_TEST_PG_DSN");
  auto sql = [&](const std::string& statement) {
    pqxx::connection c(admin);
    pqxx::nontransaction(c).exec(statement);
  };
  sql(absl::StrCat("ALTER DATABASE \"", db_->name(), "\" ALLOW_CONNECTIONS false"));
  sql(absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '",
                   db_->name(), "' AND pid <> pg_backend_pid()"));
  const absl::Time down = absl::Now();
  v1::Decision d;
  while (absl::Now() - down < absl::Seconds(3)) {
    d = Decide(gateway.get(), {p});
    if (d.basis() == v1::DECISION_BASIS_CONSENT_UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration took = absl::Now() - down;
  EXPECT_EQ(d.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(d.basis(), v1::DECISION_BASIS_CONSENT_UNAVAILABLE);
  EXPECT_LE(took, absl::Milliseconds(1300));
  sql(absl::StrCat("ALTER DATABASE \"", db_->name(), "\" ALLOW_CONNECTIONS true"));
  EXPECT_LE(Until(gateway.get(), p, v1::EFFECT_PERMIT), absl::Seconds(3)) << "recovers";
}

TEST_F(ConsentServiceTest, CallersAreAuthorisedByCertificate) {
  const SourceId p = Id("clinic-a", "MRN1");
  v1::CreateDirectiveRequest create;
  *create.mutable_context() = Gateway("clinic-a", hie::common::v1::ROLE_ADMINISTRATIVE_STAFF,
                                      hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
  *create.mutable_directive()->mutable_patient() = p;
  create.mutable_directive()->set_effect(v1::EFFECT_DENY);
  *create.mutable_directive()->mutable_effective_period()->mutable_start() = ToProto(absl::Now());
  create.set_idempotency_key("k1");
  v1::ConsentDirective out;
  EXPECT_EQ(a_->Stub("clinic-a")->CreateDirective(Ctx().get(), create, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "members go through the gateway";
  auto registry = a_->Stub("registry-client");
  create.mutable_context()->clear_actor();
  EXPECT_EQ(registry->CreateDirective(Ctx().get(), create, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "other hub services only decide";
  v1::DecideRequest decide;
  decide.mutable_context()->set_request_id("req-r");
  decide.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  *decide.add_patients() = p;
  decide.set_custodian_org("clinic-a");
  v1::Decision decision;
  EXPECT_TRUE(registry->Decide(Ctx().get(), decide, &decision).ok());
  auto officer = a_->Stub("auditor");
  EXPECT_TRUE(officer->CreateDirective(Ctx().get(), create, &out).ok())
      << "a privacy officer manages directives";
  // Same key, different request: ALREADY_EXISTS.
  *create.mutable_directive()->mutable_patient() = Id("clinic-a", "MRN2");
  EXPECT_EQ(officer->CreateDirective(Ctx().get(), create, &out).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  decide.clear_patients();
  grpc::Status invalid = registry->Decide(Ctx().get(), decide, &decision);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(invalid.error_message(), "patients is required");
}

TEST_F(ConsentServiceTest, BreakGlassIsQueuedForReviewAndReviewedOnce) {
  auto gateway = a_->Stub("gateway-client");
  const SourceId p = Id("clinic-a", "MRN1");
  a_->identity().Link("P", p);
  b_->identity().Link("P", p);
  CreateDeny(gateway.get(), p, "k-deny");
  v1::BreakGlassRequest bg;
  *bg.mutable_context() = Gateway("clinic-b", hie::common::v1::ROLE_CLINICIAN,
                                  hie::common::v1::PURPOSE_OF_USE_EMERGENCY, "dr-b");
  *bg.add_patients() = p;
  bg.set_reason("unresponsive in the ED");
  bg.set_reason_code(v1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
  bg.set_idempotency_key("k-bg");
  v1::BreakGlassGrant grant, retry;
  ASSERT_TRUE(gateway->BreakGlass(Ctx().get(), bg, &grant).ok());
  ASSERT_TRUE(gateway->BreakGlass(Ctx().get(), bg, &retry).ok());
  EXPECT_EQ(grant.grant_id(), retry.grant_id()) << "idempotent";

  v1::DecideRequest decide;
  *decide.mutable_context() = bg.context();
  decide.mutable_context()->set_break_glass_id(grant.grant_id());
  *decide.add_patients() = p;
  decide.set_custodian_org("clinic-a");
  auto gateway_b = b_->Stub("gateway-client");
  v1::Decision d;
  const absl::Time start = absl::Now();
  do {
    ASSERT_TRUE(gateway_b->Decide(Ctx().get(), decide, &d).ok());
  } while (d.basis() != v1::DECISION_BASIS_BREAK_GLASS && absl::Now() - start < absl::Seconds(1));
  EXPECT_EQ(d.basis(), v1::DECISION_BASIS_BREAK_GLASS) << "on the other replica within 1 s";

  auto officer = a_->Stub("auditor");
  v1::ListBreakGlassGrantsRequest list;
  list.mutable_context()->set_request_id("req-o");
  list.add_review_states(v1::BREAK_GLASS_REVIEW_STATE_PENDING);
  v1::ListBreakGlassGrantsResponse queue;
  ASSERT_TRUE(officer->ListBreakGlassGrants(Ctx().get(), list, &queue).ok());
  ASSERT_EQ(queue.grants_size(), 1);
  v1::ReviewBreakGlassRequest review;
  review.mutable_context()->set_request_id("req-o");
  review.set_grant_id(grant.grant_id());
  review.set_review_state(v1::BREAK_GLASS_REVIEW_STATE_APPROPRIATE);
  review.set_idempotency_key("k-review");
  v1::BreakGlassGrant reviewed;
  ASSERT_TRUE(officer->ReviewBreakGlass(Ctx().get(), review, &reviewed).ok());
  review.set_idempotency_key("k-review-2");
  EXPECT_EQ(officer->ReviewBreakGlass(Ctx().get(), review, &reviewed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  *review.mutable_context() = bg.context();  // the clinician, through the gateway
  EXPECT_EQ(gateway->ReviewBreakGlass(Ctx().get(), review, &reviewed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "clinicians do not review";
}

}  // namespace
}  // namespace hie::consent
