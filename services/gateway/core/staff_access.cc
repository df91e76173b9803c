#include "services/gateway/core/staff_access.h"

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::gateway {
namespace {

using common::v1::Role;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr int kContextField = 1;
constexpr int kDefaultMemberPage = 100;
constexpr int kMaxMemberPage = 1000;
constexpr char kMemberTokenPrefix[] = "m1.";
constexpr size_t kMaxMemberReasonBytes = 1000;

const Role kOperator = common::v1::ROLE_HIE_OPERATOR;
const Role kOfficer = common::v1::ROLE_PRIVACY_OFFICER;
const Role kAdmin = common::v1::ROLE_HIE_ADMIN;

google::protobuf::Timestamp TimestampOf(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

// Ids only, and only ids hie-audit takes (a longer value would fail the record).
bool Recordable(const std::string& id) { return CheckId(id, "id").ok(); }

void AddPatient(const common::v1::SourceId& id, audit::v1::AuditEvent& e) {
  if (e.patients_size() < 100 && Recordable(id.org()) && Recordable(id.local_id())) {
    *e.add_patients() = id;
  }
}

void AddObject(const char* kind, const std::string& id, audit::v1::AuditEvent& e) {
  if (e.objects_size() >= 100 || !Recordable(id)) return;
  audit::v1::ObjectRef* o = e.add_objects();
  o->set_kind(kind);
  o->set_id(id);
}

const FieldDescriptor* Field(const Message& m, const char* name, FieldDescriptor::Type type) {
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(name);
  return f != nullptr && f->type() == type ? f : nullptr;
}

std::string StringField(const Message& m, const char* name) {
  const FieldDescriptor* f = Field(m, name, FieldDescriptor::TYPE_STRING);
  if (f == nullptr || f->is_repeated()) return "";
  return m.GetReflection()->GetString(m, f);
}

}  // namespace

const std::vector<StaffRpcRule>& StaffRpcRules() {
  using audit::v1::EVENT_TYPE_ADMIN_ACTION;
  using audit::v1::EVENT_TYPE_AUDIT_ACCESS;
  using audit::v1::EVENT_TYPE_BREAK_GLASS;
  using audit::v1::EVENT_TYPE_IDENTITY_CHANGE;
  using audit::v1::EVENT_TYPE_QUERY;
  static const auto* rules = new std::vector<StaffRpcRule>{
      {StaffRpc::kListReviewTasks,
       "gateway.ListReviewTasks",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kGetReviewTask,
       "gateway.GetReviewTask",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kResolveReviewTask,
       "gateway.ResolveReviewTask",
       {kOperator},
       true,
       AuditedBy::kIdentityHistory,
       EVENT_TYPE_IDENTITY_CHANGE},
      {StaffRpc::kSearchPersons,
       "gateway.SearchPersons",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kGetPerson,
       "gateway.GetPerson",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kGetSourceRecord,
       "gateway.GetSourceRecord",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kResolve,
       "gateway.Resolve",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kLinkRecord,
       "gateway.LinkRecord",
       {kOperator},
       true,
       AuditedBy::kIdentityHistory,
       EVENT_TYPE_IDENTITY_CHANGE},
      {StaffRpc::kUnlinkRecord,
       "gateway.UnlinkRecord",
       {kOperator},
       true,
       AuditedBy::kIdentityHistory,
       EVENT_TYPE_IDENTITY_CHANGE},
      {StaffRpc::kMergePersons,
       "gateway.MergePersons",
       {kOperator},
       true,
       AuditedBy::kIdentityHistory,
       EVENT_TYPE_IDENTITY_CHANGE},
      {StaffRpc::kUnmergePersons,
       "gateway.UnmergePersons",
       {kOperator},
       true,
       AuditedBy::kIdentityHistory,
       EVENT_TYPE_IDENTITY_CHANGE},
      {StaffRpc::kGetHistory,
       "gateway.GetHistory",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kListNotAMatches,
       "gateway.ListNotAMatches",
       {kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_QUERY},
      {StaffRpc::kSearchAuditEvents,
       "gateway.SearchAuditEvents",
       {kOfficer},
       false,
       AuditedBy::kAuditService,
       EVENT_TYPE_AUDIT_ACCESS},
      {StaffRpc::kVerifyAuditLog,
       "gateway.VerifyAuditLog",
       {kOfficer, kAdmin},
       false,
       AuditedBy::kAuditService,
       EVENT_TYPE_AUDIT_ACCESS},
      {StaffRpc::kGetAccountingOfDisclosures,
       "gateway.GetAccountingOfDisclosures",
       {kOfficer},
       false,
       AuditedBy::kAuditService,
       EVENT_TYPE_AUDIT_ACCESS},
      {StaffRpc::kListAuditCheckpoints,
       "gateway.ListAuditCheckpoints",
       {kOfficer, kAdmin},
       false,
       AuditedBy::kAuditService,
       EVENT_TYPE_AUDIT_ACCESS},
      {StaffRpc::kListAuditSigningKeys,
       "gateway.ListAuditSigningKeys",
       {kOfficer, kAdmin},
       false,
       AuditedBy::kAuditService,
       EVENT_TYPE_AUDIT_ACCESS},
      {StaffRpc::kListBreakGlassGrants,
       "gateway.ListBreakGlassGrants",
       {kOfficer},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
      {StaffRpc::kReviewBreakGlass,
       "gateway.ReviewBreakGlass",
       {kOfficer},
       true,
       AuditedBy::kConsent,
       EVENT_TYPE_BREAK_GLASS},
      {StaffRpc::kListConsentDirectives,
       "gateway.ListConsentDirectives",
       {kOfficer},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
      {StaffRpc::kGetConsentPolicy,
       "gateway.GetConsentPolicy",
       {kOfficer, kAdmin},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
      {StaffRpc::kListMembers,
       "gateway.ListMembers",
       {kAdmin, kOfficer, kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
      {StaffRpc::kGetMember,
       "gateway.GetMember",
       {kAdmin, kOfficer, kOperator},
       false,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
      {StaffRpc::kPutMember,
       "gateway.PutMember",
       {kAdmin},
       true,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
      {StaffRpc::kSetMemberState,
       "gateway.SetMemberState",
       {kAdmin},
       true,
       AuditedBy::kGateway,
       EVENT_TYPE_ADMIN_ACTION},
  };
  return *rules;
}

const StaffRpcRule& RuleOf(StaffRpc rpc) { return StaffRpcRules()[static_cast<size_t>(rpc)]; }

absl::StatusOr<common::v1::Actor> StaffActorOf(const PeerIdentity& caller) {
  common::v1::Actor actor;
  if (caller.role == "operator") {
    actor.set_role(kOperator);
  } else if (caller.role == "auditor") {
    actor.set_role(kOfficer);
  } else if (caller.role == "admin") {
    actor.set_role(kAdmin);
  } else {
    return absl::PermissionDeniedError(
        "only HIE staff certificates (operator, auditor, admin) may use this API");
  }
  if (caller.org.empty() || caller.common_name.empty()) {
    return absl::PermissionDeniedError("the certificate names no organisation or holder");
  }
  actor.set_org(caller.org);
  actor.set_user_id(caller.common_name);
  return actor;
}

absl::StatusOr<common::v1::RequestContext> StaffContext(const PeerIdentity& caller,
                                                        const common::v1::ClientContext& client,
                                                        StaffRpc rpc,
                                                        const std::string& hub_request_id,
                                                        absl::Time now) {
  HIE_ASSIGN_OR_RETURN(common::v1::Actor actor, StaffActorOf(caller));
  const StaffRpcRule& rule = RuleOf(rpc);
  if (std::find(rule.roles.begin(), rule.roles.end(), actor.role()) == rule.roles.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat(common::v1::Role_Name(actor.role()), " may not call ", rule.action));
  }
  if (!client.user_id().empty() && client.user_id() != actor.user_id()) {
    return absl::PermissionDeniedError("context.user_id is not the certificate's holder");
  }
  if (client.user_role() != common::v1::ROLE_UNSPECIFIED && client.user_role() != actor.role()) {
    return absl::PermissionDeniedError("context.user_role is not the certificate's role");
  }
  HIE_RETURN_IF_ERROR(CheckPurpose(client.purpose_of_use(), "context.purpose_of_use", true));
  if (client.purpose_of_use() != common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION) {
    return absl::PermissionDeniedError(
        "context.purpose_of_use: HIE staff act for SYSTEM_ADMINISTRATION only");
  }
  if (!client.break_glass_id().empty()) {
    return InvalidField("context.break_glass_id", "is only for a clinician's federated query");
  }
  HIE_RETURN_IF_ERROR(CheckOptionalText(client.request_id(), "context.request_id", kMaxIdBytes));
  common::v1::RequestContext out;
  out.set_request_id(hub_request_id);
  out.set_client_request_id(client.request_id());
  out.set_purpose_of_use(common::v1::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
  *out.mutable_actor() = std::move(actor);
  *out.mutable_start_time() = TimestampOf(now);
  return out;
}

absl::Status CheckStaffRequest(StaffRpc rpc, const Message& request) {
  if (!RuleOf(rpc).mutation) return absl::OkStatus();
  for (const char* name : {"reason", "idempotency_key"}) {
    const FieldDescriptor* f = Field(request, name, FieldDescriptor::TYPE_STRING);
    if (f != nullptr && request.GetReflection()->GetString(request, f).empty()) {
      return InvalidField(name, "is required");
    }
  }
  if (rpc == StaffRpc::kPutMember || rpc == StaffRpc::kSetMemberState) {
    HIE_RETURN_IF_ERROR(CheckText(StringField(request, "reason"), "reason", kMaxMemberReasonBytes));
  }
  return absl::OkStatus();
}

absl::Status TranslateRequest(const Message& gateway_request,
                              const common::v1::RequestContext& context, Message* downstream) {
  std::unique_ptr<Message> copy(gateway_request.New());
  copy->CopyFrom(gateway_request);
  const FieldDescriptor* own = copy->GetDescriptor()->FindFieldByNumber(kContextField);
  if (own != nullptr) copy->GetReflection()->ClearField(copy.get(), own);
  std::string bytes;
  if (!copy->SerializeToString(&bytes) || !downstream->ParseFromString(bytes)) {
    return absl::InternalError(absl::StrCat("cannot translate ", copy->GetTypeName()));
  }
  const FieldDescriptor* theirs = downstream->GetDescriptor()->FindFieldByNumber(kContextField);
  if (theirs == nullptr || theirs->message_type() != context.GetDescriptor()) {
    return absl::InternalError(absl::StrCat(downstream->GetTypeName(), " has no RequestContext"));
  }
  downstream->GetReflection()->MutableMessage(downstream, theirs)->CopyFrom(context);
  return absl::OkStatus();
}

absl::Status CheckMirror(const google::protobuf::Descriptor& gateway,
                         const google::protobuf::Descriptor& downstream) {
  auto differ = [&](const std::string& what) {
    return absl::InternalError(
        absl::StrCat(gateway.full_name(), " vs ", downstream.full_name(), ": ", what));
  };
  if (gateway.field_count() != downstream.field_count()) return differ("field counts differ");
  for (int i = 0; i < gateway.field_count(); ++i) {
    const FieldDescriptor* g = gateway.field(i);
    const FieldDescriptor* d = downstream.FindFieldByNumber(g->number());
    if (d == nullptr) return differ(absl::StrCat(g->name(), " is missing"));
    if (g->number() == kContextField) continue;
    if (d->name() != g->name() || d->type() != g->type() || d->label() != g->label() ||
        d->message_type() != g->message_type() || d->enum_type() != g->enum_type() ||
        (d->containing_oneof() == nullptr) != (g->containing_oneof() == nullptr)) {
      return differ(absl::StrCat(g->name(), " differs"));
    }
  }
  return absl::OkStatus();
}

std::string SubjectOf(const PeerIdentity& caller) {
  return absl::StrFormat("O=%s,OU=%s,CN=%s", caller.org, caller.role, caller.common_name);
}

audit::v1::AuditEvent AccessEvent(const StaffRpcRule& rule,
                                  const common::v1::RequestContext& context,
                                  const PeerIdentity& caller, const Message& request,
                                  const absl::Status& outcome, const std::string& event_id,
                                  absl::Time now) {
  audit::v1::AuditEvent e;
  e.set_event_id(event_id);
  *e.mutable_event_time() = TimestampOf(now);
  e.set_type(rule.event_type);
  e.set_action(rule.action);
  if (outcome.ok()) {
    e.set_outcome(audit::v1::OUTCOME_SUCCESS);
  } else {
    e.set_outcome(absl::IsPermissionDenied(outcome) ? audit::v1::OUTCOME_DENIED
                                                    : audit::v1::OUTCOME_FAILURE);
    e.set_status_code(absl::StatusCodeToString(outcome.code()));
  }
  *e.mutable_actor() = context.actor();
  e.set_purpose_of_use(context.purpose_of_use());
  e.set_request_id(context.request_id());
  e.set_client_request_id(context.client_request_id());
  e.set_caller_subject(SubjectOf(caller));
  e.set_source_service("gateway");

  const auto* reflection = request.GetReflection();
  if (const FieldDescriptor* f = Field(request, "source_id", FieldDescriptor::TYPE_MESSAGE);
      f != nullptr && !f->is_repeated() && reflection->HasField(request, f)) {
    const Message& m = reflection->GetMessage(request, f);
    if (const auto* id = dynamic_cast<const common::v1::SourceId*>(&m)) AddPatient(*id, e);
  }
  if (const FieldDescriptor* f = Field(request, "patients", FieldDescriptor::TYPE_MESSAGE);
      f != nullptr && f->is_repeated()) {
    for (int i = 0; i < reflection->FieldSize(request, f); ++i) {
      const Message& m = reflection->GetRepeatedMessage(request, f, i);
      if (const auto* id = dynamic_cast<const common::v1::SourceId*>(&m)) AddPatient(*id, e);
    }
  }
  if (std::string person = StringField(request, "person_id"); Recordable(person)) {
    e.set_person_id(person);
    AddObject("person", person, e);
  }
  AddObject("review_task", StringField(request, "task_id"), e);
  AddObject("break_glass_grant", StringField(request, "grant_id"), e);
  if (const auto* put = dynamic_cast<const v1::PutMemberRequest*>(&request)) {
    AddObject("member", put->member().org(), e);
  }
  if (request.GetDescriptor() == v1::GetMemberRequest::descriptor() ||
      request.GetDescriptor() == v1::SetMemberStateRequest::descriptor()) {
    AddObject("member", StringField(request, "org"), e);
  } else if (std::string org = StringField(request, "org"); Recordable(org)) {
    (*e.mutable_details())["org_filter"] = org;
  }
  if (std::string org = StringField(request, "actor_org"); Recordable(org)) {
    (*e.mutable_details())["actor_org_filter"] = org;
  }
  if (const auto* set = dynamic_cast<const v1::SetMemberStateRequest*>(&request);
      set != nullptr && v1::MemberState_IsValid(set->state())) {
    (*e.mutable_details())["state"] = v1::MemberState_Name(set->state());
  }
  if (rule.rpc == StaffRpc::kPutMember || rule.rpc == StaffRpc::kSetMemberState) {
    // Checked text (CheckStaffRequest) only: a refused request's reason is not recorded.
    if (std::string reason = StringField(request, "reason");
        CheckText(reason, "reason", kMaxMemberReasonBytes).ok()) {
      (*e.mutable_details())["reason"] = reason;
    }
  }
  return e;
}

audit::v1::AuditEvent RefusalEvent(const PeerIdentity& caller, const std::string& request_id,
                                   const std::string& action, const absl::Status& refusal,
                                   const std::string& event_id, absl::Time now) {
  audit::v1::AuditEvent e;
  e.set_event_id(event_id);
  *e.mutable_event_time() = TimestampOf(now);
  e.set_type(audit::v1::EVENT_TYPE_SECURITY);
  e.set_action(action);
  e.set_outcome(audit::v1::OUTCOME_DENIED);
  e.set_status_code(absl::StatusCodeToString(refusal.code()));
  e.mutable_actor()->set_org(caller.org.empty() ? "unknown" : caller.org);
  if (Recordable(caller.common_name)) e.mutable_actor()->set_user_id(caller.common_name);
  e.set_request_id(request_id);
  e.set_caller_subject(SubjectOf(caller));
  e.set_source_service("gateway");
  return e;
}

absl::StatusOr<MemberPage> PageOfMembers(const std::map<std::string, DirectoryEntry>& directory,
                                         const v1::ListMembersRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxMemberPage) {
    return InvalidField("page_size", absl::StrCat("must be 0 to ", kMaxMemberPage));
  }
  for (int state : request.states()) {
    if (!v1::MemberState_IsValid(state) || state == v1::MEMBER_STATE_UNSPECIFIED) {
      return InvalidField("states", "holds an unknown state");
    }
  }
  const int page_size = request.page_size() == 0 ? kDefaultMemberPage : request.page_size();
  auto it = directory.begin();
  if (!request.page_token().empty()) {
    if (!absl::StartsWith(request.page_token(), kMemberTokenPrefix)) {
      return InvalidField("page_token", "is not a token ListMembers issued");
    }
    it = directory.upper_bound(request.page_token().substr(sizeof(kMemberTokenPrefix) - 1));
  }
  MemberPage page;
  for (; it != directory.end(); ++it) {
    const DirectoryEntry& entry = it->second;
    if (!request.states().empty() && std::find(request.states().begin(), request.states().end(),
                                               entry.state) == request.states().end()) {
      continue;
    }
    if (static_cast<int>(page.members.size()) == page_size) {
      page.next_page_token = absl::StrCat(kMemberTokenPrefix, page.members.back().org);
      break;
    }
    page.members.push_back(entry);
  }
  return page;
}

}  // namespace hie::gateway
