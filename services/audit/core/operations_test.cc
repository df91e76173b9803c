#include "services/audit/core/operations.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/audit/store/in_memory_audit_store.h"

namespace hie::audit {
namespace {

const Caller kGateway{"hie", "service", "gateway"};
const Caller kAuditor{"hie-privacy", "auditor", "auditor"};
const Caller kOperator{"hie-operations", "operator", "operator"};
const Caller kMember{"clinic-a", "member", "clinic-a"};

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = *CheckpointSigner::Generate();
    AuditLogOptions options;
    options.now = [this] { return now_; };
    log_ = std::make_unique<AuditLog>(&store_, signer_.get(), nullptr, nullptr, options);
    ASSERT_TRUE(log_->Start(absl::InfiniteFuture()).ok());
    ops_ = std::make_unique<AuditOperations>(log_.get(), [this] { return now_; });
  }
  Call As(const Caller& caller) { return Call{caller, "req-1", absl::InfiniteFuture()}; }
  v1::AuditEvent Disclosure(
      const std::string& id, const std::string& mrn, int minute,
      hie::common::v1::PurposeOfUse purpose = hie::common::v1::PURPOSE_OF_USE_TREATMENT) {
    v1::AuditEvent e;
    e.set_event_id(id);
    e.mutable_event_time()->set_seconds(absl::ToUnixSeconds(now_) - 3600 + minute * 60);
    e.set_type(v1::EVENT_TYPE_DISCLOSURE);
    e.set_action("gateway.RetrieveDocument");
    e.set_outcome(v1::OUTCOME_SUCCESS);
    e.mutable_actor()->set_org("clinic-a");
    e.mutable_actor()->set_user_id("jsmith");
    e.set_purpose_of_use(purpose);
    auto* p = e.add_patients();
    p->set_org("clinic-b");
    p->set_local_id(mrn);
    e.set_custodian_org("clinic-b");
    return e;
  }
  v1::RecordBatchRequest Batch(std::vector<v1::AuditEvent> events) {
    v1::RecordBatchRequest request;
    for (auto& e : events) *request.add_events() = e;
    return request;
  }
  v1::SearchEventsRequest SearchFor(const std::string& mrn) {
    v1::SearchEventsRequest request;
    auto* p = request.add_patients();
    p->set_org("clinic-b");
    p->set_local_id(mrn);
    request.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(now_) - 86400);
    return request;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  std::unique_ptr<CheckpointSigner> signer_;
  InMemoryAuditStore store_;
  std::unique_ptr<AuditLog> log_;
  std::unique_ptr<AuditOperations> ops_;
};

TEST_F(OperationsTest, OnlyServicesWriteOnlyStaffReadAndMembersNothing) {
  auto batch = Batch({Disclosure("e1", "M1", 1)});
  EXPECT_TRUE(ops_->RecordBatch(As(kGateway), batch).ok());
  for (const Caller& c : {kAuditor, kOperator, kMember}) {
    EXPECT_TRUE(absl::IsPermissionDenied(ops_->RecordBatch(As(c), batch).status())) << c.role;
  }
  EXPECT_TRUE(ops_->SearchEvents(As(kAuditor), SearchFor("M1")).ok());
  for (const Caller& c : {kGateway, kOperator, kMember}) {
    EXPECT_TRUE(absl::IsPermissionDenied(ops_->SearchEvents(As(c), SearchFor("M1")).status()));
  }
  EXPECT_TRUE(ops_->Verify(As(kOperator), {}).ok());
  EXPECT_TRUE(ops_->Verify(As(kAuditor), {}).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(ops_->Verify(As(kMember), {}).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(ops_->Verify(As(kGateway), {}).status()));
}

TEST_F(OperationsTest, TheGatewayReadsForTheStaffMemberItNamesWithThatMembersRights) {
  ASSERT_TRUE(ops_->RecordBatch(As(kGateway), Batch({Disclosure("e1", "M1", 1)})).ok());
  auto for_staff = [&](const std::string& org, const std::string& user,
                       hie::common::v1::Role role) {
    Call call = As(kGateway);
    call.claimed_actor.set_org(org);
    call.claimed_actor.set_user_id(user);
    call.claimed_actor.set_role(role);
    return call;
  };
  const Call officer = for_staff("hie-privacy", "po-1", hie::common::v1::ROLE_PRIVACY_OFFICER);
  const Call op = for_staff("hie-operations", "op-1", hie::common::v1::ROLE_HIE_OPERATOR);
  const Call admin = for_staff("hie-admin", "adm-1", hie::common::v1::ROLE_HIE_ADMIN);
  const Call clinician = for_staff("clinic-a", "dr-1", hie::common::v1::ROLE_CLINICIAN);
  const Call nobody = for_staff("hie-privacy", "", hie::common::v1::ROLE_PRIVACY_OFFICER);
  EXPECT_TRUE(ops_->SearchEvents(officer, SearchFor("M1")).ok());
  for (const Call& c : {op, admin, clinician, nobody}) {
    EXPECT_TRUE(absl::IsPermissionDenied(ops_->SearchEvents(c, SearchFor("M1")).status()))
        << c.claimed_actor.role();
  }
  for (const Call& c : {officer, op, admin}) {
    EXPECT_TRUE(ops_->Verify(c, {}).ok()) << c.claimed_actor.role();
  }
  EXPECT_TRUE(absl::IsPermissionDenied(ops_->Verify(clinician, {}).status()));
  EXPECT_TRUE(ops_->Verify(As({"hie-admin", "admin", "admin"}), {}).ok());
  // The record of the read names the staff member, and the gateway as the caller.
  v1::SearchEventsRequest access;
  access.add_types(v1::EVENT_TYPE_AUDIT_ACCESS);
  access.set_actor_user_id("po-1");
  access.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(now_) - 60);
  access.mutable_event_time()->mutable_end()->set_seconds(absl::ToUnixSeconds(now_) + 60);
  auto found = ops_->SearchEvents(As(kAuditor), access);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_GE(found->events_size(), 1);
  EXPECT_EQ(found->events(0).actor().role(), hie::common::v1::ROLE_PRIVACY_OFFICER);
  EXPECT_EQ(found->events(0).caller_subject(), "O=hie,OU=service,CN=gateway");
}

TEST_F(OperationsTest, ASourceServiceOtherThanTheCallersIsRefused) {
  v1::AuditEvent e = Disclosure("e1", "M1", 1);
  e.set_source_service("identity");
  EXPECT_TRUE(absl::IsPermissionDenied(ops_->RecordBatch(As(kGateway), Batch({e})).status()));
  e.clear_source_service();
  ASSERT_TRUE(ops_->RecordBatch(As(kGateway), Batch({e})).ok());
  auto found = ops_->SearchEvents(As(kAuditor), SearchFor("M1"));
  ASSERT_EQ(found->events_size(), 1);
  EXPECT_EQ(found->events(0).source_service(), "gateway");
}

TEST_F(OperationsTest, BadEventsNameTheFieldAndRecordNothing) {
  struct Case {
    std::function<void(v1::AuditEvent&)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto& e) { e.clear_event_id(); }, "events[1].event_id"},
      {[](auto& e) { e.set_event_id("has space"); }, "events[1].event_id"},
      {[](auto& e) { e.set_event_id("identity-42"); }, "events[1].event_id"},
      {[](auto& e) { e.set_event_id("audit-access-1"); }, "events[1].event_id"},
      {[](auto& e) { e.clear_event_time(); }, "events[1].event_time"},
      {[](auto& e) { e.mutable_event_time()->set_seconds(4'000'000'000); }, "events[1].event_time"},
      {[](auto& e) { e.clear_type(); }, "events[1].type"},
      {[](auto& e) { e.set_type(static_cast<v1::EventType>(99)); }, "events[1].type"},
      {[](auto& e) { e.clear_outcome(); }, "events[1].outcome"},
      {[](auto& e) { e.clear_action(); }, "events[1].action"},
      {[](auto& e) { e.mutable_actor()->clear_org(); }, "events[1].actor.org"},
      {[](auto& e) { e.set_request_id("bad\xff"); }, "events[1].request_id"},
      {[](auto& e) { e.set_custodian_org("a\x1b[2J"); }, "events[1].custodian_org"},
      {[](auto& e) { e.mutable_patients(0)->clear_local_id(); }, "events[1].patients[0].local_id"},
      {[](auto& e) { (*e.mutable_details())["Bad-Key"] = "v"; }, "events[1].details"},
      {[](auto& e) { e.add_objects()->set_kind("document"); }, "events[1].objects[0].id"},
  };
  for (const Case& c : cases) {
    v1::AuditEvent bad = Disclosure("e2", "M1", 2);
    c.edit(bad);
    auto result = ops_->RecordBatch(As(kGateway), Batch({Disclosure("e1", "M1", 1), bad}));
    EXPECT_TRUE(absl::IsInvalidArgument(result.status())) << c.field;
    EXPECT_NE(result.status().message().find(c.field), std::string::npos)
        << result.status().message() << " should name " << c.field;
  }
  EXPECT_EQ(store_.Head(absl::InfiniteFuture())->sequence, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(ops_->RecordBatch(As(kGateway), Batch({})).status()));
}

TEST_F(OperationsTest, ReadsAreAuditedBeforeTheyAnswer) {
  ASSERT_TRUE(ops_->RecordBatch(As(kGateway), Batch({Disclosure("e1", "M1", 1)})).ok());
  ASSERT_TRUE(ops_->SearchEvents(As(kAuditor), SearchFor("M1")).ok());
  v1::SearchEventsRequest access;
  access.add_types(v1::EVENT_TYPE_AUDIT_ACCESS);
  access.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(now_) - 60);
  access.mutable_event_time()->mutable_end()->set_seconds(absl::ToUnixSeconds(now_) + 60);
  auto found = ops_->SearchEvents(As(kAuditor), access);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_GE(found->events_size(), 1);
  const v1::AuditEvent& e = found->events(found->events_size() - 1);
  EXPECT_EQ(e.action(), "audit.SearchEvents");
  EXPECT_EQ(e.actor().role(), hie::common::v1::ROLE_PRIVACY_OFFICER);
  EXPECT_EQ(e.patients(0).local_id(), "M1");
  EXPECT_EQ(e.caller_subject(), "O=hie-privacy,OU=auditor,CN=auditor");
  // No record, no answer.
  store_.SetUnavailable(true);
  EXPECT_TRUE(absl::IsUnavailable(ops_->SearchEvents(As(kAuditor), SearchFor("M1")).status()));
}

TEST_F(OperationsTest, SearchPagesAreStableAndTokensBoundToTheirFilter) {
  std::vector<v1::AuditEvent> events;
  for (int i = 0; i < 25; ++i) events.push_back(Disclosure(absl::StrCat("e", i), "M1", i % 5));
  ASSERT_TRUE(ops_->RecordBatch(As(kGateway), Batch(events)).ok());
  v1::SearchEventsRequest request = SearchFor("M1");
  request.set_page_size(7);
  std::set<std::string> seen;
  int pages = 0;
  do {
    auto page = ops_->SearchEvents(As(kAuditor), request);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& e : page->events()) EXPECT_TRUE(seen.insert(e.event_id()).second);
    request.set_page_token(page->next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 4);
  auto first = ops_->SearchEvents(As(kAuditor), [&] {
    auto r = SearchFor("M1");
    r.set_page_size(7);
    return r;
  }());
  v1::SearchEventsRequest other = SearchFor("M2");
  other.set_page_token(first->next_page_token());
  EXPECT_TRUE(absl::IsInvalidArgument(ops_->SearchEvents(As(kAuditor), other).status()));
}

TEST_F(OperationsTest, SearchNeedsAFilterAndABoundedTimeRange) {
  v1::SearchEventsRequest request;
  request.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(now_) - 60);
  EXPECT_TRUE(absl::IsInvalidArgument(ops_->SearchEvents(As(kAuditor), request).status()));
  request = SearchFor("M1");
  request.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(now_) -
                                                             400 * 86400);
  auto result = ops_->SearchEvents(As(kAuditor), request);
  EXPECT_TRUE(absl::IsInvalidArgument(result.status()));
  EXPECT_NE(result.status().message().find("366 days"), std::string::npos);
  request.clear_event_time();
  EXPECT_TRUE(absl::IsInvalidArgument(ops_->SearchEvents(As(kAuditor), request).status()));
  // Bounds beyond int64 nanoseconds are refused, not overflowed.
  request = SearchFor("M1");
  request.mutable_event_time()->mutable_end()->set_seconds(INT64_C(9'223'372'036'854));
  auto far = ops_->SearchEvents(As(kAuditor), request);
  EXPECT_TRUE(absl::IsInvalidArgument(far.status()));
  EXPECT_NE(far.status().message().find("event_time.end"), std::string::npos);
  v1::GetAccountingOfDisclosuresRequest accounting;
  auto* p = accounting.add_patients();
  p->set_org("clinic-b");
  p->set_local_id("M1");
  accounting.mutable_disclosure_time()->mutable_start()->set_seconds(-INT64_C(9'000'000'000'000));
  EXPECT_TRUE(
      absl::IsInvalidArgument(ops_->GetAccountingOfDisclosures(As(kAuditor), accounting).status()));
}

TEST_F(OperationsTest, AccountingListsSuccessfulDisclosuresAndCanLeaveOutTpo) {
  v1::AuditEvent denied = Disclosure("e3", "M1", 3);
  denied.set_outcome(v1::OUTCOME_DENIED);
  v1::AuditEvent query = Disclosure("e4", "M1", 4);
  query.set_type(v1::EVENT_TYPE_QUERY);
  v1::AuditEvent glass = Disclosure("e5", "M1", 5, hie::common::v1::PURPOSE_OF_USE_EMERGENCY);
  glass.set_break_glass_id("bg-1");
  ASSERT_TRUE(
      ops_->RecordBatch(As(kGateway), Batch({Disclosure("e1", "M1", 1), Disclosure("e2", "M2", 2),
                                             denied, query, glass}))
          .ok());
  v1::GetAccountingOfDisclosuresRequest request;
  auto* p = request.add_patients();
  p->set_org("clinic-b");
  p->set_local_id("M1");
  auto all = ops_->GetAccountingOfDisclosures(As(kAuditor), request);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->disclosures_size(), 2);
  EXPECT_EQ(all->disclosures(0).event_id(), "e5");  // newest first
  EXPECT_TRUE(all->disclosures(0).break_glass());
  EXPECT_EQ(all->disclosures(1).recipient().org(), "clinic-a");
  request.set_exclude_treatment_payment_operations(true);
  auto non_tpo = ops_->GetAccountingOfDisclosures(As(kAuditor), request);
  ASSERT_EQ(non_tpo->disclosures_size(), 1);
  EXPECT_EQ(non_tpo->disclosures(0).event_id(), "e5");
  EXPECT_TRUE(absl::IsInvalidArgument(
      ops_->GetAccountingOfDisclosures(As(kAuditor), v1::GetAccountingOfDisclosuresRequest())
          .status()));
}

TEST_F(OperationsTest, CheckpointsAndKeysAreListed) {
  ASSERT_TRUE(ops_->RecordBatch(As(kGateway), Batch({Disclosure("e1", "M1", 1)})).ok());
  auto checkpoint = ops_->CreateCheckpoint(As(kOperator), {});
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto list = ops_->ListCheckpoints(As(kAuditor), {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->checkpoints_size(), 1);
  EXPECT_EQ(list->checkpoints(0).signature_algorithm(), "ED25519");
  auto keys = ops_->ListSigningKeys(As(kAuditor), {});
  ASSERT_EQ(keys->keys_size(), 1);
  EXPECT_EQ(keys->keys(0).key_id(), checkpoint->key_id());
  v1::ListCheckpointsRequest bad;
  bad.set_page_token("zzz");
  EXPECT_TRUE(absl::IsInvalidArgument(ops_->ListCheckpoints(As(kAuditor), bad).status()));
}

}  // namespace
}  // namespace hie::audit
