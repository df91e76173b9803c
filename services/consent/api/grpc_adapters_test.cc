// The gRPC adapters of the core's ports against in-process fakes of identity and audit, over
// real gRPC with mutual TLS (certificates from scripts/gen-certs.sh): the Resolve mapping, a
// break-glass grant after an unmerge through the real adapter, identity down, and the outbox
// reaching audit once audit answers.

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/server.h"
#include "services/consent/api/grpc_clients.h"
#include "services/consent/core/consent_manager.h"
#include "services/consent/core/fakes.h"
#include "services/consent/core/outbox_deliverer.h"
#include "services/consent/core/view_refresher.h"
#include "services/consent/store/in_memory_consent_store.h"
#include "tests/support/source_id.h"
#include "tests/support/test_env.h"

namespace hie::consent {
namespace {

using hie::common::v1::SourceId;

using ::hie::test_support::Id;

// Identity's Resolve over a person -> records table the test re-links.
class FakeIdentity : public hie::identity::v1::IdentityService::CallbackService {
 public:
  void Link(const std::string& person, const SourceId& id) {
    std::lock_guard lock(mu_);
    person_of_[id.org() + "/" + id.local_id()] = {person, id};
  }
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* ctx,
                                    const hie::identity::v1::ResolveRequest* r,
                                    hie::identity::v1::ResolveResponse* out) override {
    auto* reactor = ctx->DefaultReactor();
    auto peer = PeerIdentityOf(*ctx->auth_context());
    if (!peer.ok() || peer->common_name != "consent" || r->context().has_actor()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not consent"));
      return reactor;
    }
    std::lock_guard lock(mu_);
    auto it = person_of_.find(r->source_id().org() + "/" + r->source_id().local_id());
    if (it == person_of_.end()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "source record not found"));
      return reactor;
    }
    out->set_person_id(it->second.first);
    for (const auto& [key, entry] : person_of_) {
      if (entry.first == it->second.first) {
        *out->add_cross_references()->mutable_source_id() = entry.second;
      }
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, SourceId>> person_of_;
};

class FakeAudit : public hie::audit::v1::AuditLog::CallbackService {
 public:
  std::atomic<bool> failing{false};
  grpc::ServerUnaryReactor* RecordBatch(grpc::CallbackServerContext* ctx,
                                        const hie::audit::v1::RecordBatchRequest* r,
                                        hie::audit::v1::RecordBatchResponse* out) override {
    auto* reactor = ctx->DefaultReactor();
    if (failing) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "audit down"));
      return reactor;
    }
    std::lock_guard lock(mu_);
    for (const auto& e : r->events()) {
      if (ids_.insert(e.event_id()).second) order_.push_back(e.event_id());
      out->add_results();
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> ids_;
  std::vector<std::string> order_;
};

std::unique_ptr<GrpcServer> Serve(grpc::Service* service, const std::string& cert) {
  auto server = GrpcServer::Start({.service_name = cert,
                                   .listen_address = "127.0.0.1:0",
                                   .tls = hie::testing::TestCertFiles(cert)},
                                  {service});
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  (*server)->SetServing(true);  // as a ready service: the adapters' channels check its health
  return *std::move(server);
}

TEST(GrpcAdaptersTest, ResolveMappingIncludesTheAskedRecord) {
  hie::identity::v1::ResolveResponse response;
  *response.add_cross_references()->mutable_source_id() = Id("clinic-b", "B1");
  auto linked = LinkedRecordsFromResolve(response, Id("clinic-a", "A1"));
  ASSERT_EQ(linked.size(), 2u);
  EXPECT_EQ(linked[1].local_id(), "A1");
  *response.add_cross_references()->mutable_source_id() = Id("clinic-a", "A1");
  EXPECT_EQ(LinkedRecordsFromResolve(response, Id("clinic-a", "A1")).size(), 2u);
}

TEST(GrpcAdaptersTest, BreakGlassThroughTheIdentityAdapterFollowsAnUnmerge) {
  FakeIdentity identity;
  auto server = Serve(&identity, "identity");
  ASSERT_NE(server, nullptr);
  auto resolver = GrpcPersonResolver::Create(absl::StrCat("localhost:", server->port()),
                                             hie::testing::TestCertFiles("consent-client"));
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  const SourceId a1 = Id("clinic-a", "A1"), b1 = Id("clinic-b", "B1");
  identity.Link("P", a1);
  identity.Link("P", b1);
  auto linked = (*resolver)->LinkedRecords(a1, hie::common::v1::PURPOSE_OF_USE_EMERGENCY,
                                           absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(linked.ok()) << linked.status();
  EXPECT_EQ(linked->size(), 2u);
  EXPECT_EQ((*resolver)
                ->LinkedRecords(Id("clinic-a", "nobody"), hie::common::v1::PURPOSE_OF_USE_EMERGENCY,
                                absl::Now() + absl::Seconds(5))
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  SystemClock clock;
  InMemoryConsentStore store;
  ConsentView view;
  ViewRefresher refresher(&store, &view, &clock);
  ConsentManagerOptions options;
  options.policy.set_default_mode(v1::DEFAULT_MODE_OPT_IN);
  ConsentManager manager(&store, &view, resolver->get(), &clock, options);
  manager.SetAfterWrite([&] { (void)refresher.RefreshNow(); });
  ASSERT_TRUE(refresher.LoadInitial(absl::InfiniteFuture()).ok());
  hie::common::v1::Actor doctor;
  doctor.set_org("clinic-c");
  doctor.set_user_id("dr-c");
  doctor.set_role(hie::common::v1::ROLE_CLINICIAN);
  CallContext call{
      .actor = doctor, .request_id = "req-1", .deadline = absl::Now() + absl::Seconds(5)};
  v1::BreakGlassRequest bg;
  bg.mutable_context()->set_request_id("req-1");
  bg.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_EMERGENCY);
  *bg.add_patients() = a1;
  *bg.add_patients() = b1;
  bg.set_reason("unresponsive");
  bg.set_reason_code(v1::BREAK_GLASS_REASON_LIFE_THREATENING);
  bg.set_idempotency_key("bg-1");
  auto grant = manager.BreakGlass(call, bg);
  ASSERT_TRUE(grant.ok()) << grant.status();

  auto decide = [&](const std::vector<SourceId>& patients) {
    v1::DecideRequest r;
    r.mutable_context()->set_request_id("req-2");
    r.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_EMERGENCY);
    r.mutable_context()->set_break_glass_id(grant->grant_id());
    for (const auto& p : patients) *r.add_patients() = p;
    r.set_custodian_org("clinic-b");
    auto d = manager.Decide(call, r);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : v1::Decision{};
  };
  EXPECT_EQ(decide({a1, b1}).basis(), v1::DECISION_BASIS_BREAK_GLASS);
  identity.Link("Q", b1);  // unmerge
  v1::Decision other = decide({b1});
  EXPECT_EQ(other.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(other.break_glass_check(), v1::BREAK_GLASS_CHECK_NOT_COVERED);
  server->Shutdown(absl::ZeroDuration());
  server.reset();
  v1::Decision down = decide({a1});
  EXPECT_EQ(down.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(down.break_glass_check(), v1::BREAK_GLASS_CHECK_IDENTITY_UNAVAILABLE);
}

TEST(GrpcAdaptersTest, OutboxReachesAuditOnceItAnswers) {
  FakeAudit audit;
  auto server = Serve(&audit, "audit");
  ASSERT_NE(server, nullptr);
  auto sink = GrpcAuditSink::Create(absl::StrCat("localhost:", server->port()),
                                    hie::testing::TestCertFiles("consent-client"));
  ASSERT_TRUE(sink.ok()) << sink.status();
  InMemoryConsentStore store;
  ASSERT_TRUE(store
                  .Transact(absl::InfiniteFuture(),
                            [](ConsentTxn& txn) -> absl::Status {
                              for (int i = 1; i <= 3; ++i) {
                                hie::audit::v1::AuditEvent e;
                                e.set_event_id("ev-" + std::to_string(i));
                                if (auto s = txn.AppendOutbox(e); !s.ok()) return s;
                              }
                              return absl::OkStatus();
                            })
                  .ok());
  OutboxDeliverer deliverer(&store, sink->get(), 2);
  audit.failing = true;
  DeliveryReport down = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(down.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down.backlog, 3);
  audit.failing = false;
  DeliveryReport up = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(up.status.ok()) << up.status;
  EXPECT_EQ(up.backlog, 0);
  EXPECT_EQ(audit.order(), (std::vector<std::string>{"ev-1", "ev-2", "ev-3"}));
}

}  // namespace
}  // namespace hie::consent
