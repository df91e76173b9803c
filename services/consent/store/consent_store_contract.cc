// The ConsentStore contract (consent_store_contract.h), run over every implementation.

#include "services/consent/store/consent_store_contract.h"

#include <atomic>
#include <thread>

#include "services/common/status_macros.h"
#include "services/consent/core/time_proto.h"

namespace hie::consent {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1767268800);

hie::common::v1::SourceId Patient(const std::string& org, const std::string& local) {
  hie::common::v1::SourceId id;
  id.set_org(org);
  id.set_local_id(local);
  return id;
}

v1::ConsentDirective Directive(const std::string& id, const hie::common::v1::SourceId& p,
                               int minute, v1::DirectiveState state = v1::DIRECTIVE_STATE_ACTIVE) {
  v1::ConsentDirective d;
  d.set_directive_id(id);
  *d.mutable_patient() = p;
  d.set_effect(v1::EFFECT_DENY);
  d.set_state(state);
  *d.mutable_create_time() = ToProto(kT0 + absl::Minutes(minute));
  *d.mutable_effective_period()->mutable_start() = ToProto(kT0);
  d.set_etag(id + "-e");
  return d;
}

v1::BreakGlassGrant Grant(const std::string& id, const std::string& org, int minute,
                          const std::vector<hie::common::v1::SourceId>& patients) {
  v1::BreakGlassGrant g;
  g.set_grant_id(id);
  for (const auto& p : patients) *g.add_patients() = p;
  g.mutable_actor()->set_org(org);
  g.mutable_actor()->set_user_id("dr-" + id);
  *g.mutable_start_time() = ToProto(kT0 + absl::Minutes(minute));
  *g.mutable_expire_time() = ToProto(kT0 + absl::Minutes(minute + 60));
  g.set_review_state(v1::BREAK_GLASS_REVIEW_STATE_PENDING);
  return g;
}

hie::audit::v1::AuditEvent Event(const std::string& id) {
  hie::audit::v1::AuditEvent e;
  e.set_event_id(id);
  e.set_action("consent.Test");
  return e;
}

TEST_P(ConsentStoreContractTest, WriteIsReadBackWithAVersionAndAppearsInTheFeed) {
  const auto p = Patient("clinic-a", "MRN1");
  int64_t version = 0;
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_ASSIGN_OR_RETURN(version, txn.Version());
                HIE_ASSIGN_OR_RETURN(int64_t again, txn.Version());
                EXPECT_EQ(again, version) << "one version per transaction";
                return txn.PutDirective(Directive("cd-1", p, 0));
              }).ok());
  EXPECT_GT(version, 0);
  auto got = store_->GetDirective(Deadline(), "cd-1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->etag(), "cd-1-e");
  EXPECT_FALSE(store_->GetDirective(Deadline(), "cd-none")->has_value());

  auto feed = store_->ChangesSince(Deadline(), 0, false, kT0);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->version, version);
  ASSERT_EQ(feed->directives.size(), 1u);
  auto none = store_->ChangesSince(Deadline(), version, false, kT0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->version, version);
  EXPECT_TRUE(none->directives.empty());
  EXPECT_TRUE(none->grants.empty());
}

TEST_P(ConsentStoreContractTest, FailedTransactionLeavesNothing) {
  const auto p = Patient("clinic-a", "MRN1");
  absl::Status status = Txn([&](ConsentTxn& txn) -> absl::Status {
    HIE_RETURN_IF_ERROR(txn.PutDirective(Directive("cd-1", p, 0)));
    HIE_RETURN_IF_ERROR(txn.AppendOutbox(Event("ev-1")));
    HIE_RETURN_IF_ERROR(txn.PutIdempotent("k", {"f", "r"}));
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(store_->GetDirective(Deadline(), "cd-1")->has_value());
  EXPECT_EQ(*store_->OutboxBacklog(Deadline()), 0);
  EXPECT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                EXPECT_FALSE(txn.GetIdempotent("k")->has_value());
                return absl::OkStatus();
              }).ok());
  EXPECT_TRUE(store_->ChangesSince(Deadline(), 0, false, kT0)->directives.empty());
}

TEST_P(ConsentStoreContractTest, ReplacingADirectiveKeepsThePreviousVersionInHistory) {
  const auto p = Patient("clinic-a", "MRN1");
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) { return txn.PutDirective(Directive("cd-1", p, 0)); }).ok());
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_ASSIGN_OR_RETURN(auto d, txn.GetDirectiveForUpdate("cd-1"));
                EXPECT_TRUE(d.has_value());
                d->set_effect(v1::EFFECT_PERMIT);
                d->set_etag("cd-1-e2");
                return txn.PutDirective(*d);
              }).ok());
  auto history = store_->DirectiveHistory(Deadline(), "cd-1");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].effect(), v1::EFFECT_DENY);
  EXPECT_EQ((*store_->GetDirective(Deadline(), "cd-1"))->effect(), v1::EFFECT_PERMIT);
}

TEST_P(ConsentStoreContractTest, IdempotencyRecordsAreStoredPerKey) {
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                EXPECT_FALSE(txn.GetIdempotent("k1")->has_value());
                return txn.PutIdempotent("k1", {std::string("f\0x", 3), "response"});
              }).ok());
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_ASSIGN_OR_RETURN(auto got, txn.GetIdempotent("k1"));
                EXPECT_TRUE(got.has_value());
                if (got) {
                  EXPECT_EQ(got->fingerprint, std::string("f\0x", 3)) << "bytes, not text";
                  EXPECT_EQ(got->response, "response");
                }
                EXPECT_FALSE(txn.GetIdempotent("k2")->has_value());
                return absl::OkStatus();
              }).ok());
}

TEST_P(ConsentStoreContractTest, ListDirectivesFiltersByPatientAndStateNewestFirstInPages) {
  const auto a = Patient("clinic-a", "MRN1"), b = Patient("clinic-b", "X9"),
             other = Patient("clinic-a", "MRN2");
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_RETURN_IF_ERROR(txn.PutDirective(Directive("cd-1", a, 1)));
                HIE_RETURN_IF_ERROR(txn.PutDirective(Directive("cd-2", b, 2)));
                HIE_RETURN_IF_ERROR(
                    txn.PutDirective(Directive("cd-3", a, 3, v1::DIRECTIVE_STATE_REVOKED)));
                return txn.PutDirective(Directive("cd-4", other, 4));
              }).ok());
  DirectiveFilter f;
  f.patients = {a, b};
  auto all = store_->ListDirectives(Deadline(), f);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].directive_id(), "cd-3");
  EXPECT_EQ((*all)[2].directive_id(), "cd-1");
  f.states = {v1::DIRECTIVE_STATE_ACTIVE};
  EXPECT_EQ(store_->ListDirectives(Deadline(), f)->size(), 2u);
  f.states.clear();
  f.limit = 1;
  f.after = std::make_pair(UnixNanos((*all)[0].create_time()), (*all)[0].directive_id());
  auto page2 = store_->ListDirectives(Deadline(), f);
  ASSERT_EQ(page2->size(), 1u);
  EXPECT_EQ((*page2)[0].directive_id(), "cd-2");
}

TEST_P(ConsentStoreContractTest, GrantsAreStoredListedAndFiltered) {
  const auto a = Patient("clinic-a", "MRN1"), b = Patient("clinic-b", "X9");
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_RETURN_IF_ERROR(txn.PutGrant(Grant("bg-1", "clinic-c", 0, {a, b})));
                return txn.PutGrant(Grant("bg-2", "clinic-d", 5, {b}));
              }).ok());
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_ASSIGN_OR_RETURN(auto g, txn.GetGrantForUpdate("bg-1"));
                EXPECT_TRUE(g.has_value());
                g->set_review_state(v1::BREAK_GLASS_REVIEW_STATE_APPROPRIATE);
                return txn.PutGrant(*g);
              }).ok());
  EXPECT_EQ((*store_->GetGrant(Deadline(), "bg-1"))->review_state(),
            v1::BREAK_GLASS_REVIEW_STATE_APPROPRIATE);
  GrantFilter f;
  auto all = store_->ListGrants(Deadline(), f);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].grant_id(), "bg-2") << "newest first";
  f.review_states = {v1::BREAK_GLASS_REVIEW_STATE_PENDING};
  ASSERT_EQ(store_->ListGrants(Deadline(), f)->size(), 1u);
  f = GrantFilter{};
  f.patients = {a};
  auto by_patient = store_->ListGrants(Deadline(), f);
  ASSERT_EQ(by_patient->size(), 1u);
  EXPECT_EQ((*by_patient)[0].grant_id(), "bg-1");
  f = GrantFilter{};
  f.actor_org = "clinic-d";
  EXPECT_EQ(store_->ListGrants(Deadline(), f)->size(), 1u);
  f = GrantFilter{};
  f.start_from = kT0 + absl::Minutes(1);
  EXPECT_EQ(store_->ListGrants(Deadline(), f)->size(), 1u);
}

TEST_P(ConsentStoreContractTest, InitialLoadHoldsOnlyWhatIsInForce) {
  const auto a = Patient("clinic-a", "MRN1");
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                HIE_RETURN_IF_ERROR(txn.PutDirective(Directive("cd-1", a, 0)));
                HIE_RETURN_IF_ERROR(
                    txn.PutDirective(Directive("cd-2", a, 1, v1::DIRECTIVE_STATE_REVOKED)));
                HIE_RETURN_IF_ERROR(txn.PutGrant(Grant("bg-live", "clinic-c", 0, {a})));
                HIE_RETURN_IF_ERROR(txn.PutGrant(Grant("bg-expired", "clinic-c", -120, {a})));
                auto ended = Grant("bg-ended", "clinic-c", 0, {a});
                *ended.mutable_end_time() = ToProto(kT0 + absl::Minutes(1));
                return txn.PutGrant(ended);
              }).ok());
  auto load = store_->ChangesSince(Deadline(), 0, true, kT0 + absl::Minutes(5));
  ASSERT_TRUE(load.ok()) << load.status();
  ASSERT_EQ(load->directives.size(), 1u);
  EXPECT_EQ(load->directives[0].directive_id(), "cd-1");
  ASSERT_EQ(load->grants.size(), 1u);
  EXPECT_EQ(load->grants[0].grant_id(), "bg-live");
  auto feed = store_->ChangesSince(Deadline(), 0, false, kT0);
  EXPECT_EQ(feed->directives.size(), 2u) << "the feed carries revocations too";
  EXPECT_EQ(feed->grants.size(), 3u);
}

TEST_P(ConsentStoreContractTest, FeedCarriesOnlyRowsChangedAfterAVersion) {
  const auto a = Patient("clinic-a", "MRN1");
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) { return txn.PutDirective(Directive("cd-1", a, 0)); }).ok());
  const int64_t v1 = store_->ChangesSince(Deadline(), 0, false, kT0)->version;
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) { return txn.PutDirective(Directive("cd-2", a, 1)); }).ok());
  auto feed = store_->ChangesSince(Deadline(), v1, false, kT0);
  ASSERT_TRUE(feed.ok());
  EXPECT_GT(feed->version, v1);
  ASSERT_EQ(feed->directives.size(), 1u);
  EXPECT_EQ(feed->directives[0].directive_id(), "cd-2");
}

TEST_P(ConsentStoreContractTest, OutboxIsDeliveredInOrderAndMarkedOnlyWhenSent) {
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                for (int i = 1; i <= 5; ++i) {
                  HIE_RETURN_IF_ERROR(txn.AppendOutbox(Event("ev-" + std::to_string(i))));
                }
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(Txn([&](ConsentTxn& txn) { return txn.AppendOutbox(Event("ev-1")); }).code(),
            absl::StatusCode::kAlreadyExists)
      << "event ids are unique";
  EXPECT_EQ(*store_->OutboxBacklog(Deadline()), 5);
  auto failed = store_->DeliverOutbox(Deadline(), 3, [](const std::vector<OutboxRow>&) {
    return absl::UnavailableError("audit down");
  });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(*store_->OutboxBacklog(Deadline()), 5) << "nothing marked when the send fails";

  std::vector<std::string> sent;
  auto send = [&](const std::vector<OutboxRow>& rows) {
    for (const auto& r : rows) {
      hie::audit::v1::AuditEvent e;
      EXPECT_TRUE(e.ParseFromString(r.event));
      EXPECT_EQ(e.event_id(), r.event_id);
      sent.push_back(r.event_id);
    }
    return absl::OkStatus();
  };
  EXPECT_EQ(*store_->DeliverOutbox(Deadline(), 3, send), 3u);
  EXPECT_EQ(*store_->DeliverOutbox(Deadline(), 3, send), 2u);
  EXPECT_EQ(*store_->DeliverOutbox(Deadline(), 3, send), 0u);
  EXPECT_EQ(sent, (std::vector<std::string>{"ev-1", "ev-2", "ev-3", "ev-4", "ev-5"}));
  EXPECT_EQ(*store_->OutboxBacklog(Deadline()), 0);
}

TEST_P(ConsentStoreContractTest, OneDelivererAtATime) {
  ASSERT_TRUE(Txn([&](ConsentTxn& txn) { return txn.AppendOutbox(Event("ev-1")); }).ok());
  absl::StatusOr<size_t> inner = absl::UnknownError("not run");
  auto outer = store_->DeliverOutbox(Deadline(), 10, [&](const std::vector<OutboxRow>& rows) {
    std::thread other([&] {
      inner = store_->DeliverOutbox(Deadline(), 10, [](const auto&) { return absl::OkStatus(); });
    });
    other.join();
    return absl::OkStatus();
  });
  ASSERT_TRUE(outer.ok()) << outer.status();
  EXPECT_EQ(*outer, 1u);
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(*inner, 0u) << "a second deliverer backs off while the first holds the outbox";
}

TEST_P(ConsentStoreContractTest, VersionsIncreaseWithEachWriteTransaction) {
  const auto a = Patient("clinic-a", "MRN1");
  std::vector<int64_t> versions;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Txn([&](ConsentTxn& txn) -> absl::Status {
                  HIE_ASSIGN_OR_RETURN(int64_t v, txn.Version());
                  versions.push_back(v);
                  return txn.PutDirective(Directive("cd-" + std::to_string(i), a, i));
                }).ok());
  }
  EXPECT_LT(versions[0], versions[1]);
  EXPECT_LT(versions[1], versions[2]);
}

}  // namespace
}  // namespace hie::consent
