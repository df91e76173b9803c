#include "services/gateway/api/staff_gateway.h"

#include <random>

#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/logging.h"
#include "services/common/random_id.h"
#include "services/common/request_checks.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"
#include "services/common/unary_call.h"
#include "services/gateway/core/staff_access.h"

namespace hie::gateway {
namespace {

// A staff call waits at most this long (the caller's deadline when shorter).
constexpr absl::Duration kMaxStaffTimeout = absl::Seconds(30);
// Time kept back from a call the gateway records itself, for its audit record.
constexpr absl::Duration kMaxRecordReserve = absl::Seconds(1);
constexpr absl::Duration kMinRecordTime = absl::Milliseconds(500);

google::protobuf::Timestamp TimestampOf(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

}  // namespace

// The shape every staff RPC shares (see staff_gateway.h).
class StaffCalls {
 public:
  explicit StaffCalls(StaffServices services) : s_(services) {}

  const StaffServices& services() const { return s_; }

  // Checks, then `work(context, deadline)` on the worker pool, then the audit record the rule
  // asks of the gateway.
  template <typename Request, typename Response, typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, StaffRpc rpc,
                                const Request* request, Response* response, Work work) {
    // The hub's own request id, always new (never the client's x-request-id: audit records
    // and the services' histories carry it); the client's goes into client_request_id.
    return RunUnary(
        ctx, RandomId("gw", 2), response, kMaxStaffTimeout, s_.workers, "gw",
        [this, rpc, request, work](const UnaryCall& call) -> absl::StatusOr<Response> {
          const StaffRpcRule& rule = RuleOf(rpc);
          absl::StatusOr<common::v1::RequestContext> context =
              StaffContext(call.peer, request->context(), rpc, call.request_id, absl::Now());
          absl::Status checked = context.ok() ? CheckStaffRequest(rpc, *request) : context.status();
          const bool self_audited = checked.ok() && rule.audited_by == AuditedBy::kGateway;
          absl::Time deadline = call.deadline;
          if (self_audited) {
            deadline -= std::min(kMaxRecordReserve, (call.deadline - absl::Now()) / 10);
          }
          absl::StatusOr<Response> result =
              checked.ok() ? work(*context, deadline) : absl::StatusOr<Response>(checked);
          if (self_audited) {
            audit::v1::AuditEvent e =
                AccessEvent(rule, *context, call.peer, *request, result.status(),
                            RandomId("gw-ev", 2), absl::Now());
            absl::Status recorded = s_.hub->Record(
                {std::move(e)}, std::max(call.deadline, absl::Now() + kMinRecordTime));
            if (!recorded.ok() && result.ok()) {
              result = absl::UnavailableError(
                  "AUDIT_UNAVAILABLE: the access could not be recorded; nothing is returned");
            }
          } else if (absl::IsPermissionDenied(result.status())) {
            // A refusal, on the record (best effort: the refusal stands either way).
            (void)s_.hub->Record({RefusalEvent(call.peer, call.request_id, rule.action,
                                               result.status(), RandomId("gw-ev", 2), absl::Now())},
                                 absl::Now() + absl::Seconds(2));
          }
          Log(result.ok() ? LogLevel::kInfo : LogLevel::kWarning, "staff_call",
              {{"request_id", call.request_id},
               {"org", call.peer.org},
               {"rpc", rule.action},
               {"code", GrpcCodeName(ToGrpcStatus(result.status()).error_code())}});
          return result;
        });
  }

  // A proxied call: the request translated for the service (`Down`), `call(client_context,
  // down, &answer)` with the deadline, the answer or the service's status.
  template <typename Down, typename Request, typename Response, typename Call>
  grpc::ServerUnaryReactor* Proxy(grpc::CallbackServerContext* ctx, StaffRpc rpc,
                                  const Request* request, Response* response, Call call) {
    return Run(ctx, rpc, request, response,
               [request, call](const common::v1::RequestContext& context,
                               absl::Time deadline) -> absl::StatusOr<Response> {
                 Down down;
                 HIE_RETURN_IF_ERROR(TranslateRequest(*request, context, &down));
                 grpc::ClientContext client;
                 client.set_deadline(absl::ToChronoTime(deadline));
                 Response answer;
                 grpc::Status status = call(&client, down, &answer);
                 if (!status.ok()) return FromGrpcStatus(status);
                 return answer;
               });
  }

  // The directory now: the keeper's view, or (no keeper) the hub's directory as file records.
  std::shared_ptr<const MemberDirectoryView::Members> Members() const {
    if (s_.directory != nullptr) return s_.directory->view().Snapshot();
    auto out = std::make_shared<MemberDirectoryView::Members>();
    for (auto& [org, entry] : s_.hub->Directory()) {
      MemberRecord& r = (*out)[org];
      r.member.entry = entry;
      r.member.endpoint = s_.hub->EndpointOf(org);
    }
    return out;
  }

  v1::Member MemberOf(const MemberRecord& record, absl::Time now) const {
    const DirectoryEntry& entry = record.member.entry;
    v1::Member m;
    m.set_org(entry.org);
    m.set_display_name(entry.display_name);
    m.set_state(entry.state);
    m.set_endpoint(record.member.endpoint);
    for (const std::string& subject : record.member.certificate_subjects) {
      m.add_certificate_subjects(subject);
    }
    m.set_max_results(entry.max_results);
    m.set_supports_time_filters(record.member.supports_time_filters);
    m.set_version(record.version);
    if (record.update_time != absl::InfinitePast()) {
      *m.mutable_update_time() = TimestampOf(record.update_time);
    }
    // The roles a member's users may assert (core/member_access.h, member_writes.h).
    for (auto role : {common::v1::ROLE_CLINICIAN, common::v1::ROLE_CLINICAL_STAFF,
                      common::v1::ROLE_ADMINISTRATIVE_STAFF, common::v1::ROLE_MEMBER_SYSTEM}) {
      m.add_allowed_roles(role);
    }
    if (s_.breakers != nullptr) {
      const CircuitBreaker& breaker = s_.breakers->For(entry.org);
      m.set_circuit_state(breaker.State(now));
      if (absl::Time t = breaker.last_success_time(); t != absl::InfinitePast()) {
        *m.mutable_last_success_time() = TimestampOf(t);
      }
      if (absl::Time t = breaker.last_failure_time(); t != absl::InfinitePast()) {
        *m.mutable_last_failure_time() = TimestampOf(t);
      }
    }
    return m;
  }

 private:
  const StaffServices s_;
};

// ---------------------------------------------------------------------------------------------
// OperatorGateway: identity.

OperatorGatewayImpl::OperatorGatewayImpl(StaffServices services)
    : identity_(services.identity), calls_(std::make_unique<StaffCalls>(services)) {}
OperatorGatewayImpl::~OperatorGatewayImpl() = default;

grpc::ServerUnaryReactor* OperatorGatewayImpl::ListReviewTasks(
    grpc::CallbackServerContext* ctx, const v1::ListReviewTasksRequest* request,
    identity::v1::ListReviewTasksResponse* response) {
  return calls_->Proxy<identity::v1::ListReviewTasksRequest>(
      ctx, StaffRpc::kListReviewTasks, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->ListReviewTasks(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::GetReviewTask(
    grpc::CallbackServerContext* ctx, const v1::GetReviewTaskRequest* request,
    identity::v1::ReviewTask* response) {
  return calls_->Proxy<identity::v1::GetReviewTaskRequest>(
      ctx, StaffRpc::kGetReviewTask, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->GetReviewTask(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::ResolveReviewTask(
    grpc::CallbackServerContext* ctx, const v1::ResolveReviewTaskRequest* request,
    identity::v1::ResolveReviewTaskResponse* response) {
  return calls_->Proxy<identity::v1::ResolveReviewTaskRequest>(
      ctx, StaffRpc::kResolveReviewTask, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) {
        return s->ResolveReviewTask(c, r, out);
      });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::SearchPersons(
    grpc::CallbackServerContext* ctx, const v1::SearchPersonsRequest* request,
    identity::v1::SearchPersonsResponse* response) {
  return calls_->Proxy<identity::v1::SearchPersonsRequest>(
      ctx, StaffRpc::kSearchPersons, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->SearchPersons(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::GetPerson(grpc::CallbackServerContext* ctx,
                                                         const v1::GetPersonRequest* request,
                                                         identity::v1::Person* response) {
  return calls_->Proxy<identity::v1::GetPersonRequest>(
      ctx, StaffRpc::kGetPerson, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->GetPerson(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::GetSourceRecord(
    grpc::CallbackServerContext* ctx, const v1::GetSourceRecordRequest* request,
    identity::v1::SourceRecord* response) {
  return calls_->Proxy<identity::v1::GetSourceRecordRequest>(
      ctx, StaffRpc::kGetSourceRecord, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->GetSourceRecord(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::Resolve(grpc::CallbackServerContext* ctx,
                                                       const v1::ResolveRequest* request,
                                                       identity::v1::ResolveResponse* response) {
  return calls_->Proxy<identity::v1::ResolveRequest>(
      ctx, StaffRpc::kResolve, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->Resolve(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::LinkRecord(
    grpc::CallbackServerContext* ctx, const v1::LinkRecordRequest* request,
    identity::v1::LinkRecordResponse* response) {
  return calls_->Proxy<identity::v1::LinkRecordRequest>(
      ctx, StaffRpc::kLinkRecord, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->LinkRecord(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::UnlinkRecord(
    grpc::CallbackServerContext* ctx, const v1::UnlinkRecordRequest* request,
    identity::v1::UnlinkRecordResponse* response) {
  return calls_->Proxy<identity::v1::UnlinkRecordRequest>(
      ctx, StaffRpc::kUnlinkRecord, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->UnlinkRecord(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::MergePersons(
    grpc::CallbackServerContext* ctx, const v1::MergePersonsRequest* request,
    identity::v1::MergePersonsResponse* response) {
  return calls_->Proxy<identity::v1::MergePersonsRequest>(
      ctx, StaffRpc::kMergePersons, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->MergePersons(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::UnmergePersons(
    grpc::CallbackServerContext* ctx, const v1::UnmergePersonsRequest* request,
    identity::v1::UnmergePersonsResponse* response) {
  return calls_->Proxy<identity::v1::UnmergePersonsRequest>(
      ctx, StaffRpc::kUnmergePersons, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->UnmergePersons(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::GetHistory(
    grpc::CallbackServerContext* ctx, const v1::GetHistoryRequest* request,
    identity::v1::GetHistoryResponse* response) {
  return calls_->Proxy<identity::v1::GetHistoryRequest>(
      ctx, StaffRpc::kGetHistory, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->GetHistory(c, r, out); });
}

grpc::ServerUnaryReactor* OperatorGatewayImpl::ListNotAMatches(
    grpc::CallbackServerContext* ctx, const v1::ListNotAMatchesRequest* request,
    identity::v1::ListNotAMatchesResponse* response) {
  return calls_->Proxy<identity::v1::ListNotAMatchesRequest>(
      ctx, StaffRpc::kListNotAMatches, request, response,
      [s = identity_](auto* c, const auto& r, auto* out) { return s->ListNotAMatches(c, r, out); });
}

// ---------------------------------------------------------------------------------------------
// AdminGateway: audit, consent, the member directory.

AdminGatewayImpl::AdminGatewayImpl(StaffServices services)
    : consent_(services.consent),
      audit_(services.audit),
      calls_(std::make_unique<StaffCalls>(services)) {}
AdminGatewayImpl::~AdminGatewayImpl() = default;

grpc::ServerUnaryReactor* AdminGatewayImpl::SearchAuditEvents(
    grpc::CallbackServerContext* ctx, const v1::SearchAuditEventsRequest* request,
    audit::v1::SearchEventsResponse* response) {
  return calls_->Proxy<audit::v1::SearchEventsRequest>(
      ctx, StaffRpc::kSearchAuditEvents, request, response,
      [s = audit_](auto* c, const auto& r, auto* out) { return s->SearchEvents(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::VerifyAuditLog(grpc::CallbackServerContext* ctx,
                                                           const v1::VerifyAuditLogRequest* request,
                                                           audit::v1::VerifyResult* response) {
  return calls_->Proxy<audit::v1::VerifyRequest>(
      ctx, StaffRpc::kVerifyAuditLog, request, response,
      [s = audit_](auto* c, const auto& r, auto* out) { return s->Verify(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::GetAccountingOfDisclosures(
    grpc::CallbackServerContext* ctx, const v1::GetAccountingOfDisclosuresRequest* request,
    audit::v1::GetAccountingOfDisclosuresResponse* response) {
  return calls_->Proxy<audit::v1::GetAccountingOfDisclosuresRequest>(
      ctx, StaffRpc::kGetAccountingOfDisclosures, request, response,
      [s = audit_](auto* c, const auto& r, auto* out) {
        return s->GetAccountingOfDisclosures(c, r, out);
      });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::ListAuditCheckpoints(
    grpc::CallbackServerContext* ctx, const v1::ListAuditCheckpointsRequest* request,
    audit::v1::ListCheckpointsResponse* response) {
  return calls_->Proxy<audit::v1::ListCheckpointsRequest>(
      ctx, StaffRpc::kListAuditCheckpoints, request, response,
      [s = audit_](auto* c, const auto& r, auto* out) { return s->ListCheckpoints(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::ListAuditSigningKeys(
    grpc::CallbackServerContext* ctx, const v1::ListAuditSigningKeysRequest* request,
    audit::v1::ListSigningKeysResponse* response) {
  return calls_->Proxy<audit::v1::ListSigningKeysRequest>(
      ctx, StaffRpc::kListAuditSigningKeys, request, response,
      [s = audit_](auto* c, const auto& r, auto* out) { return s->ListSigningKeys(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::ListBreakGlassGrants(
    grpc::CallbackServerContext* ctx, const v1::ListBreakGlassGrantsRequest* request,
    consent::v1::ListBreakGlassGrantsResponse* response) {
  return calls_->Proxy<consent::v1::ListBreakGlassGrantsRequest>(
      ctx, StaffRpc::kListBreakGlassGrants, request, response,
      [s = consent_](auto* c, const auto& r, auto* out) {
        return s->ListBreakGlassGrants(c, r, out);
      });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::ReviewBreakGlass(
    grpc::CallbackServerContext* ctx, const v1::ReviewBreakGlassRequest* request,
    consent::v1::BreakGlassGrant* response) {
  return calls_->Proxy<consent::v1::ReviewBreakGlassRequest>(
      ctx, StaffRpc::kReviewBreakGlass, request, response,
      [s = consent_](auto* c, const auto& r, auto* out) { return s->ReviewBreakGlass(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::ListConsentDirectives(
    grpc::CallbackServerContext* ctx, const v1::AdminListConsentDirectivesRequest* request,
    consent::v1::ListDirectivesResponse* response) {
  return calls_->Proxy<consent::v1::ListDirectivesRequest>(
      ctx, StaffRpc::kListConsentDirectives, request, response,
      [s = consent_](auto* c, const auto& r, auto* out) { return s->ListDirectives(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::GetConsentPolicy(
    grpc::CallbackServerContext* ctx, const v1::GetConsentPolicyRequest* request,
    consent::v1::ConsentPolicy* response) {
  return calls_->Proxy<consent::v1::GetPolicyRequest>(
      ctx, StaffRpc::kGetConsentPolicy, request, response,
      [s = consent_](auto* c, const auto& r, auto* out) { return s->GetPolicy(c, r, out); });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::ListMembers(grpc::CallbackServerContext* ctx,
                                                        const v1::ListMembersRequest* request,
                                                        v1::ListMembersResponse* response) {
  StaffCalls* calls = calls_.get();
  return calls_->Run(ctx, StaffRpc::kListMembers, request, response,
                     [calls, request](const common::v1::RequestContext&,
                                      absl::Time) -> absl::StatusOr<v1::ListMembersResponse> {
                       std::shared_ptr<const MemberDirectoryView::Members> members =
                           calls->Members();
                       std::map<std::string, DirectoryEntry> entries;
                       for (const auto& [org, record] : *members)
                         entries.emplace(org, record.member.entry);
                       HIE_ASSIGN_OR_RETURN(MemberPage page, PageOfMembers(entries, *request));
                       v1::ListMembersResponse out;
                       const absl::Time now = absl::Now();
                       for (const DirectoryEntry& e : page.members) {
                         *out.add_members() = calls->MemberOf(members->at(e.org), now);
                       }
                       out.set_next_page_token(page.next_page_token);
                       return out;
                     });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::GetMember(grpc::CallbackServerContext* ctx,
                                                      const v1::GetMemberRequest* request,
                                                      v1::Member* response) {
  StaffCalls* calls = calls_.get();
  return calls_->Run(ctx, StaffRpc::kGetMember, request, response,
                     [calls, request](const common::v1::RequestContext&,
                                      absl::Time) -> absl::StatusOr<v1::Member> {
                       HIE_RETURN_IF_ERROR(CheckId(request->org(), "org"));
                       std::shared_ptr<const MemberDirectoryView::Members> members =
                           calls->Members();
                       auto it = members->find(request->org());
                       if (it == members->end())
                         return absl::NotFoundError("org is not a member of the HIE");
                       return calls->MemberOf(it->second, absl::Now());
                     });
}

namespace {

absl::Status NoDirectoryStore() {
  return absl::FailedPreconditionError(
      "no directory store configured: the gateway reads its members from --members only");
}

// The fields of a Member the administrators keep (the rest is the gateway's).
DirectoryMember DirectoryMemberOf(const v1::Member& m) {
  DirectoryMember out;
  out.entry.org = m.org();
  out.entry.display_name = m.display_name();
  out.entry.state = m.state();
  out.entry.max_results = m.max_results();
  out.endpoint = m.endpoint();
  out.supports_time_filters = m.supports_time_filters();
  out.certificate_subjects.assign(m.certificate_subjects().begin(), m.certificate_subjects().end());
  return out;
}

}  // namespace

grpc::ServerUnaryReactor* AdminGatewayImpl::PutMember(grpc::CallbackServerContext* ctx,
                                                      const v1::PutMemberRequest* request,
                                                      v1::Member* response) {
  StaffCalls* calls = calls_.get();
  return calls_->Run(ctx, StaffRpc::kPutMember, request, response,
                     [calls, request](const common::v1::RequestContext&,
                                      absl::Time deadline) -> absl::StatusOr<v1::Member> {
                       MemberDirectoryKeeper* keeper = calls->services().directory;
                       if (keeper == nullptr) return NoDirectoryStore();
                       HIE_ASSIGN_OR_RETURN(MemberRecord stored,
                                            keeper->Put(DirectoryMemberOf(request->member()),
                                                        request->expected_version(), deadline));
                       return calls->MemberOf(stored, absl::Now());
                     });
}

grpc::ServerUnaryReactor* AdminGatewayImpl::SetMemberState(grpc::CallbackServerContext* ctx,
                                                           const v1::SetMemberStateRequest* request,
                                                           v1::Member* response) {
  StaffCalls* calls = calls_.get();
  return calls_->Run(ctx, StaffRpc::kSetMemberState, request, response,
                     [calls, request](const common::v1::RequestContext&,
                                      absl::Time deadline) -> absl::StatusOr<v1::Member> {
                       MemberDirectoryKeeper* keeper = calls->services().directory;
                       if (keeper == nullptr) return NoDirectoryStore();
                       HIE_ASSIGN_OR_RETURN(
                           MemberRecord stored,
                           keeper->SetState(request->org(), request->state(),
                                            request->expected_version(), deadline));
                       return calls->MemberOf(stored, absl::Now());
                     });
}

}  // namespace hie::gateway
