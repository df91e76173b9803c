#include "services/gateway/api/hub_services.h"

#include <condition_variable>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"
#include "services/registry/core/redaction.h"

namespace hie::gateway {
namespace {

using common::v1::SourceId;

void SetDeadline(grpc::ClientContext* ctx, absl::Time deadline) {
  ctx->set_deadline(absl::ToChronoTime(deadline));
}

// Prefixes a failed call's status with the service's name (no PHI: statuses carry ids only).
absl::Status Failed(const char* service, const grpc::Status& status) {
  absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(), std::string(service) + ": " + std::string(s.message()));
}

// One unary call with `deadline`: `send(context, response)` is the stub's method.
template <typename Response, typename Send>
absl::StatusOr<Response> Unary(const char* service, absl::Time deadline, Send send) {
  Response response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = send(&ctx, &response);
  if (!status.ok()) return Failed(service, status);
  return response;
}

// The FindDocuments request of one lookup: these records, one page of max_results.
registry::v1::FindDocumentsRequest FindDocumentsRequestOf(const common::v1::RequestContext& context,
                                                          const std::vector<SourceId>& records,
                                                          const registry::v1::DocumentQuery& query,
                                                          int max_results) {
  registry::v1::FindDocumentsRequest request;
  *request.mutable_context() = context;
  for (const SourceId& r : records) *request.add_patients() = r;
  *request.mutable_query() = query;
  request.set_page_size(max_results);
  return request;
}

// A FindDocuments call's entries, or its status named for the registry.
absl::StatusOr<std::vector<registry::v1::DocumentEntry>> EntriesOf(
    const grpc::Status& status, registry::v1::FindDocumentsResponse& response) {
  if (!status.ok()) return Failed("registry", status);
  return std::vector<registry::v1::DocumentEntry>(
      std::make_move_iterator(response.mutable_entries()->begin()),
      std::make_move_iterator(response.mutable_entries()->end()));
}

}  // namespace

GrpcHubServices::GrpcHubServices(const HubChannels& channels, const MemberDirectoryView* directory)
    : identity_(identity::v1::IdentityService::NewStub(channels.identity)),
      locator_(locator::v1::RecordLocator::NewStub(channels.locator)),
      consent_(consent::v1::ConsentService::NewStub(channels.consent)),
      audit_(audit::v1::AuditLog::NewStub(channels.audit)),
      registry_(registry::v1::DocumentRegistry::NewStub(channels.registry)),
      directory_(directory) {}

absl::StatusOr<ResolvedPatient> GrpcHubServices::Resolve(const common::v1::RequestContext& context,
                                                         const SourceId& record,
                                                         absl::Time deadline) {
  identity::v1::ResolveRequest request;
  *request.mutable_context() = context;
  *request.mutable_source_id() = record;
  request.set_include_inactive(true);
  identity::v1::ResolveResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = identity_->Resolve(&ctx, request, &response);
  if (!status.ok()) return Failed("identity", status);
  ResolvedPatient out;
  out.person_id = response.person_id();
  for (const auto& x : response.cross_references()) {
    if (x.state() == identity::v1::RECORD_STATE_INACTIVE) continue;
    out.records.push_back(x.source_id());
  }
  return out;
}

absl::StatusOr<std::vector<PersonCandidate>> GrpcHubServices::FindPersons(
    const common::v1::RequestContext& context, const common::v1::Demographics& demographics,
    int max, absl::Time deadline) {
  identity::v1::SearchPersonsRequest request;
  *request.mutable_context() = context;
  *request.mutable_query() = demographics;
  request.set_min_grade(identity::v1::MATCH_GRADE_PROBABLE);
  request.set_max_results(max);
  HIE_ASSIGN_OR_RETURN(
      identity::v1::SearchPersonsResponse response,
      Unary<identity::v1::SearchPersonsResponse>("identity", deadline, [&](auto* ctx, auto* out) {
        return identity_->SearchPersons(ctx, request, out);
      }));
  std::vector<PersonCandidate> out;
  for (const auto& m : response.matches()) {
    out.push_back({m.candidate().person_id(),
                   m.candidate().grade(),
                   {m.source_ids().begin(), m.source_ids().end()}});
  }
  return out;
}

absl::StatusOr<std::vector<Holder>> GrpcHubServices::Locate(
    const common::v1::RequestContext& context, const std::vector<SourceId>& records,
    absl::Time deadline) {
  locator::v1::LocateRequest request;
  *request.mutable_context() = context;
  for (const SourceId& r : records) *request.add_source_ids() = r;
  locator::v1::LocateResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = locator_->Locate(&ctx, request, &response);
  if (!status.ok()) return Failed("locator", status);
  std::map<std::string, std::set<std::string>> by_org;
  for (const auto& location : response.locations()) {
    by_org[location.source_id().org()].insert(location.source_id().local_id());
  }
  std::vector<Holder> out;
  for (auto& [org, ids] : by_org) out.push_back(Holder{org, {ids.begin(), ids.end()}});
  return out;
}

absl::StatusOr<std::map<std::string, Verdict>> GrpcHubServices::Decide(
    const common::v1::RequestContext& context, const std::vector<SourceId>& patients,
    const std::vector<std::string>& custodian_orgs, absl::Time deadline) {
  consent::v1::BatchDecideRequest request;
  *request.mutable_context() = context;
  for (const SourceId& p : patients) *request.add_patients() = p;
  for (const std::string& org : custodian_orgs) request.add_custodian_orgs(org);
  consent::v1::BatchDecideResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = consent_->BatchDecide(&ctx, request, &response);
  if (!status.ok()) return Failed("consent", status);
  std::map<std::string, Verdict> out;
  for (const auto& d : response.decisions()) {
    Verdict v;
    v.permit = d.decision().effect() == consent::v1::EFFECT_PERMIT;
    v.obligations.assign(d.decision().obligations().begin(), d.decision().obligations().end());
    v.decision_id = d.decision().decision_id();
    out[d.custodian_org()] = std::move(v);
  }
  return out;
}

absl::Status GrpcHubServices::Record(std::vector<audit::v1::AuditEvent> events,
                                     absl::Time deadline) {
  audit::v1::RecordBatchRequest request;
  for (auto& e : events) *request.add_events() = std::move(e);
  audit::v1::RecordBatchResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = audit_->RecordBatch(&ctx, request, &response);
  if (!status.ok()) return Failed("audit", status);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<registry::v1::DocumentEntry>> GrpcHubServices::RegistryEntries(
    const common::v1::RequestContext& context, const std::vector<SourceId>& records,
    const registry::v1::DocumentQuery& query, int max_results, absl::Time deadline) {
  registry::v1::FindDocumentsResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = registry_->FindDocuments(
      &ctx, FindDocumentsRequestOf(context, records, query, max_results), &response);
  return EntriesOf(status, response);
}

std::vector<absl::StatusOr<std::vector<registry::v1::DocumentEntry>>>
GrpcHubServices::RegistryEntriesEach(const common::v1::RequestContext& context,
                                     const std::vector<RegistryLookup>& lookups,
                                     const registry::v1::DocumentQuery& query,
                                     absl::Time deadline) {
  struct Call {
    grpc::ClientContext ctx;
    registry::v1::FindDocumentsRequest request;
    registry::v1::FindDocumentsResponse response;
    grpc::Status status;
  };
  std::vector<Call> calls(lookups.size());  // not resized: the calls point into it
  std::mutex mu;
  std::condition_variable finished;
  size_t pending = calls.size();
  for (size_t i = 0; i < calls.size(); ++i) {
    Call& call = calls[i];
    call.request =
        FindDocumentsRequestOf(context, lookups[i].records, query, lookups[i].max_results);
    SetDeadline(&call.ctx, deadline);
    registry_->async()->FindDocuments(&call.ctx, &call.request, &call.response,
                                      [&call, &mu, &finished, &pending](grpc::Status status) {
                                        std::lock_guard lock(mu);
                                        call.status = std::move(status);
                                        if (--pending == 0) finished.notify_one();
                                      });
  }
  {
    std::unique_lock lock(mu);  // every call ends by its deadline
    finished.wait(lock, [&pending] { return pending == 0; });
  }
  std::vector<absl::StatusOr<std::vector<registry::v1::DocumentEntry>>> out;
  for (Call& call : calls) out.push_back(EntriesOf(call.status, call.response));
  return out;
}

std::map<std::string, DirectoryEntry> GrpcHubServices::Directory() {
  std::map<std::string, DirectoryEntry> out;
  for (const auto& [org, record] : *directory_->Snapshot()) {
    out[org] = record.member.entry;
    out[org].supports_time_filters = record.member.supports_time_filters;
  }
  return out;
}

std::string GrpcHubServices::EndpointOf(const std::string& org) {
  std::shared_ptr<const MemberDirectoryView::Members> members = directory_->Snapshot();
  auto it = members->find(org);
  return it == members->end() ? "" : it->second.member.endpoint;
}

Forbids GrpcHubServices::RedactionFor(const std::vector<consent::v1::Obligation>& obligations) {
  auto redaction = std::make_shared<registry::Redaction>(obligations);
  if (redaction->empty()) return nullptr;
  return [redaction](const registry::v1::DocumentEntry& e) { return redaction->Forbids(e); };
}

absl::StatusOr<identity::v1::RegisterSourceRecordResponse> GrpcHubServices::Register(
    const identity::v1::RegisterSourceRecordRequest& r, absl::Time deadline) {
  identity::v1::RegisterSourceRecordResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = identity_->RegisterSourceRecord(&ctx, r, &response);
  if (!status.ok()) return Failed("identity", status);
  return response;
}

absl::Status GrpcHubServices::MergeRecords(const identity::v1::MergeSourceRecordsRequest& r,
                                           absl::Time deadline) {
  identity::v1::MergeSourceRecordsResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = identity_->MergeSourceRecords(&ctx, r, &response);
  if (!status.ok()) return Failed("identity", status);
  return absl::OkStatus();
}

absl::StatusOr<registry::v1::RegisterSubmissionSetResponse> GrpcHubServices::Publish(
    const registry::v1::RegisterSubmissionSetRequest& r, absl::Time deadline) {
  std::set<std::string> checked;
  for (int i = 0; i < r.entries_size(); ++i) {
    const SourceId& patient = r.entries(i).patient();
    if (!checked.insert(patient.local_id()).second) continue;
    identity::v1::GetSourceRecordRequest request;
    *request.mutable_context() = r.context();
    *request.mutable_source_id() = patient;
    identity::v1::SourceRecord record;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, deadline);
    grpc::Status status = identity_->GetSourceRecord(&ctx, request, &record);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      return absl::NotFoundError(
          absl::StrCat("entries[", i, "].patient.local_id: was never fed (FeedPatient first)"));
    }
    if (!status.ok()) return Failed("identity", status);
  }
  registry::v1::RegisterSubmissionSetResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = registry_->RegisterSubmissionSet(&ctx, r, &response);
  if (!status.ok()) return Failed("registry", status);
  return response;
}

absl::StatusOr<registry::v1::DocumentEntry> GrpcHubServices::Deprecate(
    const registry::v1::DeprecateDocumentRequest& r, absl::Time deadline) {
  registry::v1::DocumentEntry response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline);
  grpc::Status status = registry_->DeprecateDocument(&ctx, r, &response);
  if (!status.ok()) return Failed("registry", status);
  return response;
}

absl::StatusOr<consent::v1::ConsentDirective> GrpcHubServices::CreateDirective(
    const consent::v1::CreateDirectiveRequest& r, absl::Time deadline) {
  return Unary<consent::v1::ConsentDirective>("consent", deadline, [&](auto* ctx, auto* out) {
    return consent_->CreateDirective(ctx, r, out);
  });
}

absl::StatusOr<consent::v1::ConsentDirective> GrpcHubServices::GetDirective(
    const consent::v1::GetDirectiveRequest& r, absl::Time deadline) {
  return Unary<consent::v1::ConsentDirective>("consent", deadline, [&](auto* ctx, auto* out) {
    return consent_->GetDirective(ctx, r, out);
  });
}

absl::StatusOr<consent::v1::ListDirectivesResponse> GrpcHubServices::ListDirectives(
    const consent::v1::ListDirectivesRequest& r, absl::Time deadline) {
  return Unary<consent::v1::ListDirectivesResponse>("consent", deadline, [&](auto* ctx, auto* out) {
    return consent_->ListDirectives(ctx, r, out);
  });
}

absl::StatusOr<consent::v1::ConsentDirective> GrpcHubServices::RevokeDirective(
    const consent::v1::RevokeDirectiveRequest& r, absl::Time deadline) {
  return Unary<consent::v1::ConsentDirective>("consent", deadline, [&](auto* ctx, auto* out) {
    return consent_->RevokeDirective(ctx, r, out);
  });
}

absl::StatusOr<consent::v1::BreakGlassGrant> GrpcHubServices::BreakGlass(
    const consent::v1::BreakGlassRequest& r, absl::Time deadline) {
  return Unary<consent::v1::BreakGlassGrant>(
      "consent", deadline, [&](auto* ctx, auto* out) { return consent_->BreakGlass(ctx, r, out); });
}

}  // namespace hie::gateway
