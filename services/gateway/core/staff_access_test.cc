#include "services/gateway/core/staff_access.h"

#include <gtest/gtest.h>

#include "hie/audit/v1/audit.pb.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/identity/v1/identity.pb.h"
#include "services/audit/core/operations.h"

namespace hie::gateway {
namespace {

using common::v1::Role;

const PeerIdentity kOperator{"hie-operations", "operator", "op-1"};
const PeerIdentity kAuditor{"hie-privacy", "auditor", "po-1"};
const PeerIdentity kAdmin{"hie", "admin", "admin-1"};
const PeerIdentity kMember{"clinic-a", "member", "clinic-a-emr"};

common::v1::ClientContext Client() {
  common::v1::ClientContext c;
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  c.set_request_id("client-7");
  return c;
}

absl::StatusCode CodeOf(const PeerIdentity& peer, StaffRpc rpc,
                        const common::v1::ClientContext& client = Client()) {
  return StaffContext(peer, client, rpc, "gw-1", absl::Now()).status().code();
}

TEST(StaffAccessTest, CertificateRolesBecomeActors) {
  auto op = StaffActorOf(kOperator);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->org(), "hie-operations");
  EXPECT_EQ(op->user_id(), "op-1");
  EXPECT_EQ(op->role(), common::v1::ROLE_HIE_OPERATOR);
  EXPECT_EQ(StaffActorOf(kAuditor)->role(), common::v1::ROLE_PRIVACY_OFFICER);
  EXPECT_EQ(StaffActorOf(kAdmin)->role(), common::v1::ROLE_HIE_ADMIN);
  for (const char* role : {"member", "service", "", "Operator"}) {
    EXPECT_EQ(StaffActorOf({"hie", role, "x"}).status().code(), absl::StatusCode::kPermissionDenied)
        << role;
  }
}

// The role table, as the proto comments give it.
TEST(StaffAccessTest, EachRpcAdmitsTheRolesOfItsProtoComment) {
  const std::vector<StaffRpc> operator_only = {
      StaffRpc::kListReviewTasks, StaffRpc::kGetReviewTask,  StaffRpc::kResolveReviewTask,
      StaffRpc::kSearchPersons,   StaffRpc::kGetPerson,      StaffRpc::kGetSourceRecord,
      StaffRpc::kResolve,         StaffRpc::kLinkRecord,     StaffRpc::kUnlinkRecord,
      StaffRpc::kMergePersons,    StaffRpc::kUnmergePersons, StaffRpc::kGetHistory,
      StaffRpc::kListNotAMatches};
  for (StaffRpc rpc : operator_only) {
    EXPECT_EQ(CodeOf(kOperator, rpc), absl::StatusCode::kOk) << RuleOf(rpc).action;
    EXPECT_EQ(CodeOf(kAuditor, rpc), absl::StatusCode::kPermissionDenied) << RuleOf(rpc).action;
    EXPECT_EQ(CodeOf(kAdmin, rpc), absl::StatusCode::kPermissionDenied) << RuleOf(rpc).action;
  }
  struct Row {
    StaffRpc rpc;
    bool op, po, admin;
  };
  for (const Row& r : std::vector<Row>{
           {StaffRpc::kSearchAuditEvents, false, true, false},
           {StaffRpc::kVerifyAuditLog, false, true, true},
           {StaffRpc::kGetAccountingOfDisclosures, false, true, false},
           {StaffRpc::kListAuditCheckpoints, false, true, true},
           {StaffRpc::kListAuditSigningKeys, false, true, true},
           {StaffRpc::kListBreakGlassGrants, false, true, false},
           {StaffRpc::kReviewBreakGlass, false, true, false},
           {StaffRpc::kListConsentDirectives, false, true, false},
           {StaffRpc::kGetConsentPolicy, false, true, true},
           {StaffRpc::kListMembers, true, true, true},
           {StaffRpc::kGetMember, true, true, true},
           {StaffRpc::kPutMember, false, false, true},
           {StaffRpc::kSetMemberState, false, false, true},
       }) {
    auto expect = [](bool ok) {
      return ok ? absl::StatusCode::kOk : absl::StatusCode::kPermissionDenied;
    };
    EXPECT_EQ(CodeOf(kOperator, r.rpc), expect(r.op)) << RuleOf(r.rpc).action;
    EXPECT_EQ(CodeOf(kAuditor, r.rpc), expect(r.po)) << RuleOf(r.rpc).action;
    EXPECT_EQ(CodeOf(kAdmin, r.rpc), expect(r.admin)) << RuleOf(r.rpc).action;
  }
  for (const StaffRpcRule& rule : StaffRpcRules()) {
    EXPECT_EQ(&RuleOf(rule.rpc), &rule);  // the table is in enum order
    EXPECT_EQ(CodeOf(kMember, rule.rpc), absl::StatusCode::kPermissionDenied) << rule.action;
  }
}

TEST(StaffAccessTest, ContextCarriesTheCertificatesActorAndTheHubsRequestId) {
  common::v1::ClientContext client = Client();
  client.set_user_id("op-1");
  client.set_user_role(common::v1::ROLE_HIE_OPERATOR);
  auto c = StaffContext(kOperator, client, StaffRpc::kLinkRecord, "gw-abc", absl::Now());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->request_id(), "gw-abc");
  EXPECT_EQ(c->client_request_id(), "client-7");
  EXPECT_EQ(c->actor().org(), "hie-operations");
  EXPECT_EQ(c->actor().user_id(), "op-1");
  EXPECT_EQ(c->actor().role(), common::v1::ROLE_HIE_OPERATOR);
  EXPECT_EQ(c->purpose_of_use(), common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  EXPECT_TRUE(c->has_start_time());
}

TEST(StaffAccessTest, ContextChecks) {
  common::v1::ClientContext c = Client();
  c.set_user_id("someone-else");
  EXPECT_EQ(CodeOf(kOperator, StaffRpc::kGetPerson, c), absl::StatusCode::kPermissionDenied);
  c = Client();
  c.set_user_role(common::v1::ROLE_PRIVACY_OFFICER);
  EXPECT_EQ(CodeOf(kOperator, StaffRpc::kGetPerson, c), absl::StatusCode::kPermissionDenied);
  c = Client();
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_UNSPECIFIED);
  auto s = StaffContext(kOperator, c, StaffRpc::kGetPerson, "gw-1", absl::Now()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "context.purpose_of_use is required");
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  EXPECT_EQ(CodeOf(kOperator, StaffRpc::kGetPerson, c), absl::StatusCode::kPermissionDenied);
  c.set_purpose_of_use(static_cast<common::v1::PurposeOfUse>(99));
  EXPECT_EQ(CodeOf(kOperator, StaffRpc::kGetPerson, c), absl::StatusCode::kInvalidArgument);
  c = Client();
  c.set_break_glass_id("bg-1");
  EXPECT_EQ(CodeOf(kOperator, StaffRpc::kGetPerson, c), absl::StatusCode::kInvalidArgument);
  c = Client();
  c.set_request_id(std::string(129, 'r'));
  EXPECT_EQ(CodeOf(kOperator, StaffRpc::kGetPerson, c), absl::StatusCode::kInvalidArgument);
  // The certificate is checked first: a member is refused whatever its context says.
  EXPECT_EQ(CodeOf(kMember, StaffRpc::kGetPerson, common::v1::ClientContext()),
            absl::StatusCode::kPermissionDenied);
}

TEST(StaffAccessTest, DirectoryWritesNeedAReasonOfTextAndAreRecordedWithIt) {
  v1::SetMemberStateRequest set;
  set.set_org("clinic-b");
  set.set_state(v1::MEMBER_STATE_SUSPENDED);
  auto s = CheckStaffRequest(StaffRpc::kSetMemberState, set);
  EXPECT_EQ(s.message(), "reason is required");  // no idempotency_key: expected_version instead
  set.set_reason(std::string(1001, 'r'));
  EXPECT_EQ(CheckStaffRequest(StaffRpc::kSetMemberState, set).code(),
            absl::StatusCode::kInvalidArgument);
  set.set_reason("contract\x01ended");
  EXPECT_EQ(CheckStaffRequest(StaffRpc::kSetMemberState, set).code(),
            absl::StatusCode::kInvalidArgument);
  set.set_reason("contract ended");
  EXPECT_TRUE(CheckStaffRequest(StaffRpc::kSetMemberState, set).ok());
  v1::PutMemberRequest put;
  put.mutable_member()->set_org("clinic-c");
  EXPECT_EQ(CheckStaffRequest(StaffRpc::kPutMember, put).message(), "reason is required");
  put.set_reason("joins the HIE");
  EXPECT_TRUE(CheckStaffRequest(StaffRpc::kPutMember, put).ok());

  auto admin = StaffContext(kAdmin, Client(), StaffRpc::kSetMemberState, "gw-9", absl::Now());
  ASSERT_TRUE(admin.ok()) << admin.status();
  audit::v1::AuditEvent e = AccessEvent(RuleOf(StaffRpc::kSetMemberState), *admin, kAdmin, set,
                                        absl::OkStatus(), "gw-ev-9", absl::Now());
  EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_ADMIN_ACTION);
  EXPECT_EQ(e.action(), "gateway.SetMemberState");
  ASSERT_EQ(e.objects_size(), 1);
  EXPECT_EQ(e.objects(0).kind(), "member");
  EXPECT_EQ(e.objects(0).id(), "clinic-b");
  EXPECT_EQ(e.details().at("state"), "MEMBER_STATE_SUSPENDED");
  EXPECT_EQ(e.details().at("reason"), "contract ended");
  EXPECT_EQ(e.details().count("org_filter"), 0u);
  EXPECT_TRUE(audit::ValidateEvent(e, "event", absl::Now()).ok());
  e = AccessEvent(RuleOf(StaffRpc::kPutMember), *admin, kAdmin, put, absl::OkStatus(), "gw-ev-10",
                  absl::Now());
  ASSERT_EQ(e.objects_size(), 1);
  EXPECT_EQ(e.objects(0).id(), "clinic-c");
  EXPECT_EQ(e.details().at("reason"), "joins the HIE");
}

TEST(StaffAccessTest, MutationsNeedReasonAndIdempotencyKey) {
  v1::LinkRecordRequest link;
  auto s = CheckStaffRequest(StaffRpc::kLinkRecord, link);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "reason is required");
  link.set_reason("same patient");
  s = CheckStaffRequest(StaffRpc::kLinkRecord, link);
  EXPECT_EQ(s.message(), "idempotency_key is required");
  link.set_idempotency_key("k-1");
  EXPECT_TRUE(CheckStaffRequest(StaffRpc::kLinkRecord, link).ok());

  v1::ReviewBreakGlassRequest review;  // no reason field: the key only
  s = CheckStaffRequest(StaffRpc::kReviewBreakGlass, review);
  EXPECT_EQ(s.message(), "idempotency_key is required");
  review.set_idempotency_key("k-2");
  EXPECT_TRUE(CheckStaffRequest(StaffRpc::kReviewBreakGlass, review).ok());

  EXPECT_EQ(CheckStaffRequest(StaffRpc::kUnlinkRecord, v1::UnlinkRecordRequest()).message(),
            "reason is required");
  EXPECT_EQ(CheckStaffRequest(StaffRpc::kMergePersons, v1::MergePersonsRequest()).message(),
            "reason is required");
  EXPECT_EQ(CheckStaffRequest(StaffRpc::kUnmergePersons, v1::UnmergePersonsRequest()).message(),
            "reason is required");
  EXPECT_EQ(
      CheckStaffRequest(StaffRpc::kResolveReviewTask, v1::ResolveReviewTaskRequest()).message(),
      "reason is required");
  EXPECT_TRUE(CheckStaffRequest(StaffRpc::kGetPerson, v1::GetPersonRequest()).ok());
}

// Every gateway request mirrors the service's request field for field (TranslateRequest copies
// by number, so a drift would silently mistranslate).
TEST(StaffAccessTest, GatewayRequestsMirrorTheServicesRequests) {
  using google::protobuf::Descriptor;
  namespace id = identity::v1;
  namespace au = audit::v1;
  namespace co = consent::v1;
  const std::vector<std::pair<const Descriptor*, const Descriptor*>> pairs = {
      {v1::ListReviewTasksRequest::descriptor(), id::ListReviewTasksRequest::descriptor()},
      {v1::GetReviewTaskRequest::descriptor(), id::GetReviewTaskRequest::descriptor()},
      {v1::ResolveReviewTaskRequest::descriptor(), id::ResolveReviewTaskRequest::descriptor()},
      {v1::SearchPersonsRequest::descriptor(), id::SearchPersonsRequest::descriptor()},
      {v1::GetPersonRequest::descriptor(), id::GetPersonRequest::descriptor()},
      {v1::GetSourceRecordRequest::descriptor(), id::GetSourceRecordRequest::descriptor()},
      {v1::ResolveRequest::descriptor(), id::ResolveRequest::descriptor()},
      {v1::LinkRecordRequest::descriptor(), id::LinkRecordRequest::descriptor()},
      {v1::UnlinkRecordRequest::descriptor(), id::UnlinkRecordRequest::descriptor()},
      {v1::MergePersonsRequest::descriptor(), id::MergePersonsRequest::descriptor()},
      {v1::UnmergePersonsRequest::descriptor(), id::UnmergePersonsRequest::descriptor()},
      {v1::GetHistoryRequest::descriptor(), id::GetHistoryRequest::descriptor()},
      {v1::ListNotAMatchesRequest::descriptor(), id::ListNotAMatchesRequest::descriptor()},
      {v1::SearchAuditEventsRequest::descriptor(), au::SearchEventsRequest::descriptor()},
      {v1::VerifyAuditLogRequest::descriptor(), au::VerifyRequest::descriptor()},
      {v1::GetAccountingOfDisclosuresRequest::descriptor(),
       au::GetAccountingOfDisclosuresRequest::descriptor()},
      {v1::ListAuditCheckpointsRequest::descriptor(), au::ListCheckpointsRequest::descriptor()},
      {v1::ListAuditSigningKeysRequest::descriptor(), au::ListSigningKeysRequest::descriptor()},
      {v1::ListBreakGlassGrantsRequest::descriptor(),
       co::ListBreakGlassGrantsRequest::descriptor()},
      {v1::ReviewBreakGlassRequest::descriptor(), co::ReviewBreakGlassRequest::descriptor()},
      {v1::AdminListConsentDirectivesRequest::descriptor(),
       co::ListDirectivesRequest::descriptor()},
      {v1::GetConsentPolicyRequest::descriptor(), co::GetPolicyRequest::descriptor()},
  };
  for (const auto& [gateway, service] : pairs) {
    EXPECT_TRUE(CheckMirror(*gateway, *service).ok()) << CheckMirror(*gateway, *service);
  }
  // And the check can fail.
  EXPECT_FALSE(CheckMirror(*v1::LinkRecordRequest::descriptor(),
                           *identity::v1::UnlinkRecordRequest::descriptor())
                   .ok());
}

TEST(StaffAccessTest, TranslationCopiesEveryFieldAndReplacesTheContext) {
  v1::MergePersonsRequest in;
  in.mutable_context()->set_user_id("op-1");
  in.mutable_context()->set_request_id("client-1");
  in.set_survivor_person_id("p-1");
  in.set_merged_person_id("p-2");
  in.set_reason("duplicate");
  in.set_survivor_expected_etag("e1");
  in.set_merged_expected_etag("e2");
  in.set_force(true);
  in.set_idempotency_key("k-1");
  common::v1::RequestContext context;
  context.set_request_id("gw-1");
  context.mutable_actor()->set_org("hie-operations");
  identity::v1::MergePersonsRequest out;
  ASSERT_TRUE(TranslateRequest(in, context, &out).ok());
  EXPECT_EQ(out.survivor_person_id(), "p-1");
  EXPECT_EQ(out.merged_person_id(), "p-2");
  EXPECT_EQ(out.reason(), "duplicate");
  EXPECT_EQ(out.survivor_expected_etag(), "e1");
  EXPECT_EQ(out.merged_expected_etag(), "e2");
  EXPECT_TRUE(out.force());
  EXPECT_EQ(out.idempotency_key(), "k-1");
  EXPECT_EQ(out.context().SerializeAsString(), context.SerializeAsString());

  v1::GetHistoryRequest history;  // a oneof
  history.mutable_source_id()->set_org("clinic-a");
  history.mutable_source_id()->set_local_id("a-1");
  history.add_types(identity::v1::IdentityEventType(1));
  identity::v1::GetHistoryRequest h;
  ASSERT_TRUE(TranslateRequest(history, context, &h).ok());
  EXPECT_EQ(h.source_id().local_id(), "a-1");
  EXPECT_EQ(h.types_size(), 1);
}

TEST(StaffAccessTest, AccessEventsAreWhatHieAuditAcceptsAndNameIdsOnly) {
  auto context = StaffContext(kOperator, Client(), StaffRpc::kGetSourceRecord, "gw-1", absl::Now());
  ASSERT_TRUE(context.ok());
  v1::GetSourceRecordRequest r;
  r.mutable_source_id()->set_org("clinic-a");
  r.mutable_source_id()->set_local_id("a-1");
  audit::v1::AuditEvent e = AccessEvent(RuleOf(StaffRpc::kGetSourceRecord), *context, kOperator, r,
                                        absl::OkStatus(), "gw-ev-1", absl::Now());
  EXPECT_TRUE(audit::ValidateEvent(e, "event", absl::Now()).ok())
      << audit::ValidateEvent(e, "event", absl::Now());
  EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_QUERY);
  EXPECT_EQ(e.action(), "gateway.GetSourceRecord");
  EXPECT_EQ(e.outcome(), audit::v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.actor().user_id(), "op-1");
  EXPECT_EQ(e.request_id(), "gw-1");
  EXPECT_EQ(e.client_request_id(), "client-7");
  ASSERT_EQ(e.patients_size(), 1);
  EXPECT_EQ(e.patients(0).local_id(), "a-1");

  v1::SearchPersonsRequest search;  // demographics are never recorded
  search.mutable_query()->mutable_name()->set_family("Smith");
  e = AccessEvent(RuleOf(StaffRpc::kSearchPersons), *context, kOperator, search,
                  absl::UnavailableError("identity down"), "gw-ev-2", absl::Now());
  EXPECT_EQ(e.SerializeAsString().find("Smith"), std::string::npos);
  EXPECT_EQ(e.outcome(), audit::v1::OUTCOME_FAILURE);
  EXPECT_EQ(e.status_code(), "UNAVAILABLE");

  auto admin = StaffContext(kAdmin, Client(), StaffRpc::kGetMember, "gw-2", absl::Now());
  ASSERT_TRUE(admin.ok());
  v1::GetMemberRequest get;
  get.set_org("clinic-b");
  e = AccessEvent(RuleOf(StaffRpc::kGetMember), *admin, kAdmin, get, absl::OkStatus(), "gw-ev-3",
                  absl::Now());
  EXPECT_TRUE(audit::ValidateEvent(e, "event", absl::Now()).ok());
  EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_ADMIN_ACTION);
  ASSERT_EQ(e.objects_size(), 1);
  EXPECT_EQ(e.objects(0).kind(), "member");
  EXPECT_EQ(e.objects(0).id(), "clinic-b");

  v1::ListReviewTasksRequest list;
  list.set_org("clinic-a");
  list.set_person_id("p-9");
  e = AccessEvent(RuleOf(StaffRpc::kListReviewTasks), *context, kOperator, list,
                  absl::PermissionDeniedError("no"), "gw-ev-4", absl::Now());
  EXPECT_TRUE(audit::ValidateEvent(e, "event", absl::Now()).ok())
      << audit::ValidateEvent(e, "event", absl::Now());
  EXPECT_EQ(e.outcome(), audit::v1::OUTCOME_DENIED);
  EXPECT_EQ(e.person_id(), "p-9");
  EXPECT_EQ(e.details().at("org_filter"), "clinic-a");

  e = RefusalEvent(kMember, "gw-3", "gateway.GetPerson", absl::PermissionDeniedError("no"),
                   "gw-ev-5", absl::Now());
  EXPECT_TRUE(audit::ValidateEvent(e, "event", absl::Now()).ok());
  EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_SECURITY);
  EXPECT_EQ(e.caller_subject(), "O=clinic-a,OU=member,CN=clinic-a-emr");
}

TEST(StaffAccessTest, MembersArePagedByOrgAndFilteredByState) {
  std::map<std::string, DirectoryEntry> directory;
  for (const char* org : {"a", "b", "c", "d", "e"}) {
    directory[org] = {
        org, std::string("Clinic ") + org,
        std::string(org) == "c" ? v1::MEMBER_STATE_SUSPENDED : v1::MEMBER_STATE_ACTIVE, 100};
  }
  v1::ListMembersRequest r;
  r.set_page_size(2);
  auto page = PageOfMembers(directory, r);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->members.size(), 2u);
  EXPECT_EQ(page->members[1].org, "b");
  r.set_page_token(page->next_page_token);
  page = PageOfMembers(directory, r);
  ASSERT_EQ(page->members.size(), 2u);
  EXPECT_EQ(page->members[0].org, "c");
  r.set_page_token(page->next_page_token);
  page = PageOfMembers(directory, r);
  ASSERT_EQ(page->members.size(), 1u);
  EXPECT_EQ(page->members[0].org, "e");
  EXPECT_TRUE(page->next_page_token.empty());

  v1::ListMembersRequest suspended;
  suspended.add_states(v1::MEMBER_STATE_SUSPENDED);
  page = PageOfMembers(directory, suspended);
  ASSERT_EQ(page->members.size(), 1u);
  EXPECT_EQ(page->members[0].org, "c");
  EXPECT_TRUE(page->next_page_token.empty());

  v1::ListMembersRequest bad;
  bad.set_page_size(1001);
  EXPECT_EQ(PageOfMembers(directory, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.set_page_size(0);
  bad.set_page_token("b");
  EXPECT_EQ(PageOfMembers(directory, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hie::gateway
