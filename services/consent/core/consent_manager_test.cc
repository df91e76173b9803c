// ConsentManager over the in-memory store, the view and fake identity: revocation, freshness,
// idempotency, the outbox written with each change, authorization, and break-glass coverage as
// identity resolves the patient now (merge, unmerge, identity down).

#include "services/consent/core/consent_manager.h"

#include <gtest/gtest.h>

#include <set>

#include "services/consent/core/fakes.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/core/view_refresher.h"
#include "services/consent/store/in_memory_consent_store.h"
#include "tests/support/source_id.h"

namespace hie::consent {
namespace {

using hie::common::v1::SourceId;

using ::hie::test_support::Id;

hie::common::v1::Actor Clinician(const std::string& org, const std::string& user) {
  hie::common::v1::Actor a;
  a.set_org(org);
  a.set_user_id(user);
  a.set_role(hie::common::v1::ROLE_CLINICIAN);
  return a;
}

class ConsentManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(v1::DEFAULT_MODE_OPT_IN); }

  void Build(v1::DefaultMode mode) {
    ConsentManagerOptions options;
    options.policy.set_default_mode(mode);
    options.policy.set_policy_version("p1");
    *options.policy.mutable_max_break_glass_duration() = ToProtoDuration(absl::Hours(1));
    options.id_seed = 42;
    refresher_ = std::make_unique<ViewRefresher>(&store_, &view_, &clock_);
    manager_ = std::make_unique<ConsentManager>(&store_, &view_, &identity_, &clock_, options);
    manager_->SetAfterWrite([this] { (void)refresher_->RefreshNow(); });
    ASSERT_TRUE(refresher_->LoadInitial(absl::InfiniteFuture()).ok());
  }

  CallContext Call(const hie::common::v1::Actor& actor) {
    return CallContext{.actor = actor, .request_id = "req-1"};
  }

  template <typename R>
  R With(R r, hie::common::v1::PurposeOfUse purpose, const std::string& key = "") {
    r.mutable_context()->set_request_id("req-1");
    r.mutable_context()->set_purpose_of_use(purpose);
    if constexpr (requires { r.set_idempotency_key(""); }) {
      r.set_idempotency_key(key.empty() ? "key-" + std::to_string(++keys_) : key);
    }
    return r;
  }

  v1::CreateDirectiveRequest DenyAll(const SourceId& patient, const std::string& key = "") {
    v1::CreateDirectiveRequest r;
    *r.mutable_directive()->mutable_patient() = patient;
    r.mutable_directive()->set_effect(v1::EFFECT_DENY);
    *r.mutable_directive()->mutable_effective_period()->mutable_start() =
        ToProto(clock_.Now() - absl::Hours(1));
    return With(r, hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED, key);
  }

  v1::Decision Decide(
      const std::vector<SourceId>& patients,
      hie::common::v1::PurposeOfUse purpose = hie::common::v1::PURPOSE_OF_USE_TREATMENT,
      const std::string& grant = "") {
    v1::DecideRequest r;
    for (const auto& p : patients) *r.add_patients() = p;
    r.set_custodian_org("clinic-c");
    r = With(r, purpose);
    r.mutable_context()->set_break_glass_id(grant);
    auto d = manager_->Decide(Call(Clinician("clinic-b", "dr-b")), r);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : v1::Decision{};
  }

  v1::BreakGlassGrant BreakGlass(const std::vector<SourceId>& patients) {
    v1::BreakGlassRequest r;
    for (const auto& p : patients) *r.add_patients() = p;
    r.set_reason("unconscious on arrival");
    r.set_reason_code(v1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
    auto g = manager_->BreakGlass(Call(Clinician("clinic-b", "dr-b")),
                                  With(r, hie::common::v1::PURPOSE_OF_USE_EMERGENCY));
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? *g : v1::BreakGlassGrant{};
  }

  std::vector<hie::audit::v1::AuditEvent> Outbox() {
    std::vector<hie::audit::v1::AuditEvent> out;
    (void)store_.DeliverOutbox(absl::InfiniteFuture(), 1000, [&](const auto& rows) {
      for (const auto& row : rows) out.emplace_back().ParseFromString(row.event);
      return absl::CancelledError("peek only");
    });
    return out;
  }

  const hie::common::v1::Actor officer_ = [] {
    hie::common::v1::Actor a;
    a.set_org("hie-privacy");
    a.set_user_id("auditor");
    a.set_role(hie::common::v1::ROLE_PRIVACY_OFFICER);
    return a;
  }();
  FakeClock clock_{absl::FromUnixSeconds(1767268800)};
  InMemoryConsentStore store_;
  ConsentView view_;
  FakePersonResolver identity_;
  std::unique_ptr<ViewRefresher> refresher_;
  std::unique_ptr<ConsentManager> manager_;
  int keys_ = 0;
};

TEST_F(ConsentManagerTest, RevocationIsInForceForTheNextDecision) {
  const SourceId a1 = Id("clinic-a", "MRN1");
  Build(v1::DEFAULT_MODE_OPT_OUT);
  EXPECT_EQ(Decide({a1}).effect(), v1::EFFECT_PERMIT);
  auto deny = manager_->CreateDirective(Call(Clinician("clinic-a", "clerk")), DenyAll(a1));
  ASSERT_TRUE(deny.ok()) << deny.status();
  v1::Decision denied = Decide({Id("clinic-z", "other"), a1});
  EXPECT_EQ(denied.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(denied.directive_id(), deny->directive_id());
  v1::RevokeDirectiveRequest revoke;
  revoke.set_directive_id(deny->directive_id());
  revoke.set_reason("patient changed their mind");
  revoke.set_etag(deny->etag());
  auto revoked = manager_->RevokeDirective(
      Call(officer_), With(revoke, hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED));
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->state(), v1::DIRECTIVE_STATE_REVOKED);
  EXPECT_EQ(Decide({a1}).effect(), v1::EFFECT_PERMIT);
  auto again = manager_->RevokeDirective(Call(officer_),
                                         With(revoke, hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConsentManagerTest, ADecisionTimeAwayFromNowIsRefused) {
  v1::DecideRequest r;
  *r.add_patients() = Id("clinic-a", "MRN1");
  r.set_custodian_org("clinic-c");
  r = With(r, hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  *r.mutable_at() = ToProto(clock_.Now() - absl::Hours(24));  // before a DENY's period, say
  auto d = manager_->Decide(Call(Clinician("clinic-b", "dr-b")), r);
  EXPECT_TRUE(absl::IsInvalidArgument(d.status())) << d.status();
  EXPECT_NE(d.status().message().find("at must be within 5 minutes"), std::string::npos);
  *r.mutable_at() = ToProto(clock_.Now() + absl::Seconds(30));  // clock skew is fine
  EXPECT_TRUE(manager_->Decide(Call(Clinician("clinic-b", "dr-b")), r).ok());
}

TEST_F(ConsentManagerTest, AViewNotConfirmedWithinOneSecondDenies) {
  Build(v1::DEFAULT_MODE_OPT_OUT);
  const SourceId a1 = Id("clinic-a", "MRN1");
  EXPECT_EQ(Decide({a1}).effect(), v1::EFFECT_PERMIT);
  clock_.Advance(absl::Milliseconds(900));
  EXPECT_EQ(Decide({a1}).effect(), v1::EFFECT_PERMIT);
  store_.SetFailure(absl::UnavailableError("database down"));
  EXPECT_FALSE(refresher_->RefreshNow().ok());
  clock_.Advance(absl::Milliseconds(200));
  v1::Decision d = Decide({a1});
  EXPECT_EQ(d.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(d.basis(), v1::DECISION_BASIS_CONSENT_UNAVAILABLE);
  EXPECT_EQ(FromProto(d.cache_ttl()), absl::ZeroDuration());
  store_.SetFailure(absl::OkStatus());
  ASSERT_TRUE(refresher_->RefreshNow().ok());
  EXPECT_EQ(Decide({a1}).effect(), v1::EFFECT_PERMIT);
}

TEST_F(ConsentManagerTest, IdempotentRetryReturnsTheStoredAnswerAndWritesOnce) {
  const SourceId a1 = Id("clinic-a", "MRN1");
  auto first = manager_->CreateDirective(Call(officer_), DenyAll(a1, "k1"));
  auto retry = manager_->CreateDirective(Call(officer_), DenyAll(a1, "k1"));
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_EQ(first->directive_id(), retry->directive_id());
  EXPECT_EQ(Outbox().size(), 1u);
  v1::CreateDirectiveRequest different = DenyAll(Id("clinic-a", "MRN2"), "k1");
  EXPECT_EQ(manager_->CreateDirective(Call(officer_), different).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(ConsentManagerTest, EveryChangeWritesItsAuditEventWithoutFreeText) {
  const SourceId a1 = Id("clinic-a", "MRN1");
  auto d = manager_->CreateDirective(Call(officer_), DenyAll(a1));
  ASSERT_TRUE(d.ok());
  v1::UpdateDirectiveRequest update;
  *update.mutable_directive() = *d;
  update.mutable_directive()->set_comment("changed per form 12");
  update.mutable_update_mask()->add_paths("comment");
  ASSERT_TRUE(manager_
                  ->UpdateDirective(Call(officer_),
                                    With(update, hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED))
                  .ok());
  update.mutable_directive()->set_comment("stale");
  EXPECT_EQ(manager_
                ->UpdateDirective(Call(officer_),
                                  With(update, hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED))
                .status()
                .code(),
            absl::StatusCode::kAborted)
      << "etag of the first version is stale";
  EXPECT_EQ(store_.DirectiveHistory(absl::InfiniteFuture(), d->directive_id())->size(), 1u);
  v1::BreakGlassGrant g = BreakGlass({a1});
  v1::ReviewBreakGlassRequest review;
  review.set_grant_id(g.grant_id());
  review.set_review_state(v1::BREAK_GLASS_REVIEW_STATE_APPROPRIATE);
  review.set_notes("confirmed with the ED lead");
  ASSERT_TRUE(manager_->ReviewBreakGlass(Call(officer_), With(review, {})).ok());

  auto events = Outbox();
  ASSERT_EQ(events.size(), 4u) << "create, update (not the stale one), break-glass, review";
  EXPECT_EQ(events[0].action(), "consent.CreateDirective");
  EXPECT_EQ(events[0].type(), hie::audit::v1::EVENT_TYPE_CONSENT_CHANGE);
  EXPECT_EQ(events[0].directive_id(), d->directive_id());
  EXPECT_EQ(events[1].action(), "consent.UpdateDirective");
  EXPECT_EQ(events[1].directive_id(), d->directive_id());
  EXPECT_EQ(events[2].action(), "consent.BreakGlass");
  EXPECT_EQ(events[2].type(), hie::audit::v1::EVENT_TYPE_BREAK_GLASS);
  EXPECT_EQ(events[2].break_glass_id(), g.grant_id());
  EXPECT_EQ(events[3].action(), "consent.ReviewBreakGlass");
  std::set<std::string> ids;
  for (const auto& e : events) ids.insert(e.event_id());
  EXPECT_EQ(ids.size(), events.size()) << "unique event ids";
  for (const auto& e : events) {
    EXPECT_EQ(e.source_service(), "consent");
    EXPECT_EQ(e.patients_size(), 1);
    EXPECT_FALSE(e.event_id().empty());
    EXPECT_EQ(e.SerializeAsString().find("unconscious"), std::string::npos) << "no free text";
    EXPECT_EQ(e.SerializeAsString().find("ED lead"), std::string::npos) << "no free text";
    EXPECT_EQ(e.SerializeAsString().find("form 12"), std::string::npos) << "no free text";
  }
}

TEST_F(ConsentManagerTest, OnlyThePatientsOrgOrAPrivacyOfficerManagesDirectives) {
  const SourceId a1 = Id("clinic-a", "MRN1");
  EXPECT_EQ(
      manager_->CreateDirective(Call(Clinician("clinic-b", "x")), DenyAll(a1)).status().code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(manager_->CreateDirective(Call(Clinician("clinic-a", "x")), DenyAll(a1)).ok());
  hie::common::v1::Actor nurse = Clinician("clinic-b", "nurse");
  nurse.set_role(hie::common::v1::ROLE_CLINICAL_STAFF);
  v1::BreakGlassRequest r;
  *r.add_patients() = a1;
  r.set_reason("x");
  r.set_reason_code(v1::BREAK_GLASS_REASON_LIFE_THREATENING);
  EXPECT_EQ(manager_->BreakGlass(Call(nurse), With(r, hie::common::v1::PURPOSE_OF_USE_EMERGENCY))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied)
      << "clinicians only";
}

TEST_F(ConsentManagerTest, BreakGlassBeatsADenyAndEndsWhenEnded) {
  const SourceId a1 = Id("clinic-a", "MRN1"), b1 = Id("clinic-b", "B1");
  identity_.Link("P", a1);
  identity_.Link("P", b1);
  ASSERT_TRUE(manager_->CreateDirective(Call(officer_), DenyAll(a1)).ok());
  v1::BreakGlassGrant g = BreakGlass({a1, b1});
  EXPECT_EQ(FromProto(g.expire_time()) - FromProto(g.start_time()), absl::Hours(1))
      << "default = policy maximum";
  v1::Decision d = Decide({a1, b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id());
  EXPECT_EQ(d.effect(), v1::EFFECT_PERMIT);
  EXPECT_EQ(d.basis(), v1::DECISION_BASIS_BREAK_GLASS);
  EXPECT_EQ(d.break_glass_id(), g.grant_id());
  // Without naming the grant: the actor's grants in force are considered.
  EXPECT_EQ(Decide({a1, b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY).basis(),
            v1::DECISION_BASIS_BREAK_GLASS);
  EXPECT_EQ(Decide({a1, b1}).effect(), v1::EFFECT_DENY) << "treatment is not break-glass";

  v1::EndBreakGlassRequest end;
  end.set_grant_id(g.grant_id());
  ASSERT_TRUE(manager_->EndBreakGlass(Call(Clinician("clinic-b", "dr-b")), With(end, {})).ok());
  v1::Decision after = Decide({a1, b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id());
  EXPECT_EQ(after.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(after.break_glass_check(), v1::BREAK_GLASS_CHECK_NOT_IN_FORCE);
}

TEST_F(ConsentManagerTest, BreakGlassAfterAnUnmergeDoesNotCoverTheOtherPersonsRecords) {
  // A1 and B1 were merged (wrongly) into one person when the glass was broken.
  const SourceId a1 = Id("clinic-a", "MRN1"), b1 = Id("clinic-b", "B1");
  identity_.Link("P", a1);
  identity_.Link("P", b1);
  v1::BreakGlassGrant g = BreakGlass({a1, b1});
  EXPECT_EQ(Decide({a1, b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id()).basis(),
            v1::DECISION_BASIS_BREAK_GLASS);
  // Unmerge: B1 is another person now. The gateway resolves each person's records itself.
  identity_.Link("Q", b1);
  v1::Decision other = Decide({b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id());
  EXPECT_EQ(other.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(other.break_glass_check(), v1::BREAK_GLASS_CHECK_NOT_COVERED);
  // Conservative: the grant's records are two persons now, so it covers neither until the
  // clinician breaks the glass again for the patient in front of them.
  EXPECT_EQ(
      Decide({a1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id()).break_glass_check(),
      v1::BREAK_GLASS_CHECK_NOT_COVERED);
  v1::BreakGlassGrant fresh = BreakGlass({a1});
  EXPECT_EQ(Decide({a1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, fresh.grant_id()).basis(),
            v1::DECISION_BASIS_BREAK_GLASS);
  EXPECT_EQ(
      Decide({b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, fresh.grant_id()).break_glass_check(),
      v1::BREAK_GLASS_CHECK_NOT_COVERED);
}

TEST_F(ConsentManagerTest, BreakGlassFollowsAMergeMadeAfterTheGrant) {
  const SourceId a1 = Id("clinic-a", "MRN1"), b1 = Id("clinic-b", "B1");
  identity_.Link("P", a1);
  identity_.Link("Q", b1);
  v1::BreakGlassGrant g = BreakGlass({a1});
  EXPECT_EQ(
      Decide({b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id()).break_glass_check(),
      v1::BREAK_GLASS_CHECK_NOT_COVERED);
  identity_.Link("P", b1);  // merged: the same patient, as currently resolved
  EXPECT_EQ(Decide({a1, b1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id()).basis(),
            v1::DECISION_BASIS_BREAK_GLASS);
}

TEST_F(ConsentManagerTest, IdentityDownMeansTheGrantDoesNotApply) {
  const SourceId a1 = Id("clinic-a", "MRN1");
  identity_.Link("P", a1);
  v1::BreakGlassGrant g = BreakGlass({a1});
  identity_.SetUnavailable(true);
  v1::Decision d = Decide({a1}, hie::common::v1::PURPOSE_OF_USE_EMERGENCY, g.grant_id());
  EXPECT_EQ(d.effect(), v1::EFFECT_DENY);
  EXPECT_EQ(d.break_glass_check(), v1::BREAK_GLASS_CHECK_IDENTITY_UNAVAILABLE);
}

TEST_F(ConsentManagerTest, ListsArePagedNewestFirst) {
  const SourceId a1 = Id("clinic-a", "MRN1");
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(manager_->CreateDirective(Call(officer_), DenyAll(a1)).ok());
  }
  v1::ListDirectivesRequest list;
  *list.add_patients() = a1;
  list.set_page_size(2);
  auto page1 = manager_->ListDirectives(Call(officer_), With(list, {}));
  ASSERT_TRUE(page1.ok()) << page1.status();
  ASSERT_EQ(page1->directives_size(), 2);
  ASSERT_FALSE(page1->next_page_token().empty());
  list.set_page_token(page1->next_page_token());
  auto page2 = manager_->ListDirectives(Call(officer_), With(list, {}));
  ASSERT_EQ(page2->directives_size(), 1);
  EXPECT_TRUE(page2->next_page_token().empty());
  list.set_page_token("garbage");
  EXPECT_EQ(manager_->ListDirectives(Call(officer_), With(list, {})).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A member of another org sees none of clinic-a's directives.
  list.clear_page_token();
  EXPECT_EQ(
      manager_->ListDirectives(Call(Clinician("clinic-b", "x")), With(list, {}))->directives_size(),
      0);
}

}  // namespace
}  // namespace hie::consent
