#include "services/gateway/api/gateway_service.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/logging.h"
#include "services/common/random_id.h"
#include "services/common/server.h"
#include "services/common/status.h"
#include "services/common/status_macros.h"
#include "services/common/tls.h"
#include "services/common/unary_call.h"
#include "services/gateway/core/member_access.h"

namespace hie::gateway {
namespace {

// A member's write waits at most this long (the caller's deadline when shorter).
constexpr absl::Duration kMaxWriteTimeout = absl::Seconds(30);

// A refused call, on the record (best effort: the refusal stands either way).
void AuditRefusal(HubServices& hub, const PeerIdentity& peer, const std::string& request_id,
                  const std::string& action, const absl::Status& refusal) {
  audit::v1::AuditEvent e;
  e.set_event_id(RandomId("gw-ev", 2));
  *e.mutable_event_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  e.set_type(audit::v1::EVENT_TYPE_SECURITY);
  e.set_action(action);
  e.set_outcome(audit::v1::OUTCOME_DENIED);
  e.set_status_code(GrpcCodeName(ToGrpcStatus(refusal).error_code()));
  e.mutable_actor()->set_org(peer.org);
  e.set_request_id(request_id);
  e.set_caller_subject(absl::StrFormat("O=%s,OU=%s,CN=%s", peer.org, peer.role, peer.common_name));
  e.set_source_service("gateway");
  (void)hub.Record({std::move(e)}, absl::Now() + absl::Seconds(2));
}

// A member the directory has suspended, or that has left the HIE, is refused whatever it asks.
absl::Status CheckStanding(HubServices& hub, const PeerIdentity& peer) {
  if (peer.role != "member") return absl::OkStatus();
  const std::map<std::string, DirectoryEntry> directory = hub.Directory();
  auto it = directory.find(peer.org);
  if (it != directory.end() && (it->second.state == v1::MEMBER_STATE_SUSPENDED ||
                                it->second.state == v1::MEMBER_STATE_DECOMMISSIONED)) {
    return absl::PermissionDeniedError("this member is suspended or has left the HIE");
  }
  return absl::OkStatus();
}

// A server stream written from a worker thread (the use case's). Write queues the message and
// returns at once while fewer than `kQueued` wait to be sent, so that the worker prepares the
// next message (the next results, a member's next chunk) while gRPC sends, one write in flight
// at a time (its rule), the next started as soon as the previous completes. A full queue makes
// Write wait; the client's cancellation wakes it. `Sink` is the use case's port (ResultStream,
// RetrievalSink), whose Write this implements.
template <typename Message, typename Sink>
class BlockingWriteReactor final : public grpc::ServerWriteReactor<Message>, public Sink {
 public:
  bool Write(Message message) override {
    const Message* start = nullptr;
    const size_t bytes = message.ByteSizeLong();
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return queue_.size() < kQueued || cancelled_ || failed_; });
      if (cancelled_ || failed_) return false;
      queue_.push_back(std::move(message));  // references to queued messages stay valid
      last_bytes_ = bytes;
      if (!writing_) {
        writing_ = true;
        start = &queue_.front();
      }
    }
    if (start != nullptr) this->StartWrite(start);
    return true;
  }

  // Once, after the last Write (from the worker's thread, or from the handler before any): the
  // call ends with `status` after every queued message is sent. Waits until only the last
  // message is left, in flight, and it is small (at most kDetachBytes: a summary, a short
  // chunk), then returns and that write's completion finishes the call. A client that reads
  // slowly keeps its worker busy as before, which bounds what slow or hostile clients can pin in
  // memory. Nothing touches the reactor after.
  void End(const absl::Status& status) {
    {
      std::unique_lock lock(mu_);
      end_status_ = status;
      changed_.wait(lock, [&] {
        return !writing_ || cancelled_ || (queue_.size() == 1 && last_bytes_ <= kDetachBytes);
      });
      if (writing_ && !cancelled_) {
        ending_ = true;  // OnWriteDone finishes
        return;
      }
    }
    this->Finish(FinalStatus());
  }

  void OnWriteDone(bool ok) override {
    const Message* next = nullptr;
    grpc::WriteOptions options;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      queue_.pop_front();
      if (!ok) failed_ = true;
      if (ok && !cancelled_ && !queue_.empty()) {
        next = &queue_.front();
        // More queued behind it: gRPC may hold it back and send the lot at once, flushed by the
        // last one queued (sent without the hint).
        if (queue_.size() > 1) options.set_buffer_hint();
      } else {
        writing_ = false;
        finish = ending_;
      }
      changed_.notify_all();
    }
    // Outside the lock: gRPC may react inline.
    if (next != nullptr) {
      this->StartWrite(next, options);
    } else if (finish) {
      this->Finish(FinalStatus());
    }
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    changed_.notify_all();
  }
  void OnDone() override { delete this; }

 private:
  // The status the call ends with: the use case's, or CANCELLED when a write failed under an
  // OK one (the client went away).
  grpc::Status FinalStatus() {
    std::lock_guard lock(mu_);
    return failed_ && end_status_.ok()
               ? grpc::Status(grpc::StatusCode::CANCELLED, "the client went away")
               : ToGrpcStatus(end_status_);
  }

  static constexpr size_t kQueued = 8;
  static constexpr size_t kDetachBytes = 64 * 1024;

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Message> queue_;  // front: the write in flight while `writing_`
  bool writing_ = false;
  bool cancelled_ = false;
  bool failed_ = false;
  bool ending_ = false;  // End was called while writing: the last write's completion finishes
  absl::Status end_status_;
  size_t last_bytes_ = 0;  // serialized size of the message queued last
};

using FindReactor = BlockingWriteReactor<v1::FindOutsideRecordsResponse, ResultStream>;
using RetrieveReactor = BlockingWriteReactor<member::v1::RetrieveDocumentResponse, RetrievalSink>;

absl::StatusOr<PeerIdentity> CallerOf(const grpc::CallbackServerContext& ctx) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no client certificate");
  return PeerIdentityOf(*auth);
}

// The client's deadline; none: the use case's default applies.
absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx) {
  return ctx.deadline() == std::chrono::system_clock::time_point::max()
             ? absl::InfiniteFuture()
             : absl::FromChrono(ctx.deadline());
}

// A member-facing stream: the caller's certificate, then `run(peer, request_id, deadline,
// reactor)` on the worker pool; a PERMISSION_DENIED outcome is audited as a refusal (`action`),
// every outcome is logged (`log_event`: ids and the code only).
template <typename Reactor, typename Run>
Reactor* StartStream(grpc::CallbackServerContext* ctx, HubServices& hub, WorkerPool& workers,
                     const char* action, const char* log_event, Run run) {
  auto* reactor = new Reactor();
  const std::string request_id = RandomId("gw", 2);
  absl::StatusOr<PeerIdentity> peer = CallerOf(*ctx);
  if (!peer.ok()) {
    reactor->End(peer.status());
    return reactor;
  }
  const absl::Time deadline = DeadlineOf(*ctx);
  const bool queued = workers.TrySubmit(
      [&hub, reactor, peer = *peer, request_id, deadline, action, log_event, run] {
        absl::Status status = CheckStanding(hub, peer);
        if (status.ok()) status = run(peer, request_id, deadline, *reactor);
        if (absl::IsPermissionDenied(status)) AuditRefusal(hub, peer, request_id, action, status);
        Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning, log_event,
            {{"request_id", request_id},
             {"org", peer.org},
             {"code", GrpcCodeName(ToGrpcStatus(status).error_code())}});
        reactor->End(status);
      });
  if (!queued) {
    reactor->End(absl::ResourceExhaustedError("the gateway is at capacity; retry with backoff"));
  }
  return reactor;
}

}  // namespace

MemberGatewayImpl::MemberGatewayImpl(HubServices* hub, HubWrites* writes, HubConsent* consent,
                                     MemberCalls* members, MemberRetrieval* retrieval,
                                     WorkerPool* workers, MemberGatewayOptions options)
    : hub_(hub),
      writes_(writes),
      consent_(consent),
      members_(members),
      retrieval_(retrieval),
      workers_(workers),
      options_(std::move(options)) {
  if (!options_.query.new_event_id)
    options_.query.new_event_id = [] { return RandomId("gw-ev", 2); };
  if (!options_.retrieval.new_event_id)
    options_.retrieval.new_event_id = options_.query.new_event_id;
}

grpc::ServerWriteReactor<v1::FindOutsideRecordsResponse>* MemberGatewayImpl::FindOutsideRecords(
    grpc::CallbackServerContext* ctx, const v1::FindOutsideRecordsRequest* request) {
  return StartStream<FindReactor>(
      ctx, *hub_, *workers_, "gateway.FindOutsideRecords", "find_outside_records",
      [this, request](const PeerIdentity& peer, const std::string& request_id, absl::Time deadline,
                      FindReactor& out) -> absl::Status {
        HIE_ASSIGN_OR_RETURN(common::v1::RequestContext context,
                             MemberQueryContext(peer, request->context(), request_id, absl::Now()));
        HIE_RETURN_IF_ERROR(ValidateFindOutsideRecords(*request));
        return RunFederatedQuery(context, *request, deadline, *hub_, *members_, out,
                                 options_.query);
      });
}

grpc::ServerWriteReactor<member::v1::RetrieveDocumentResponse>* MemberGatewayImpl::RetrieveDocument(
    grpc::CallbackServerContext* ctx, const v1::RetrieveDocumentRequest* request) {
  return StartStream<RetrieveReactor>(
      ctx, *hub_, *workers_, "gateway.RetrieveDocument", "retrieve_document",
      [this, request](const PeerIdentity& peer, const std::string& request_id, absl::Time deadline,
                      RetrieveReactor& out) -> absl::Status {
        HIE_ASSIGN_OR_RETURN(common::v1::RequestContext context,
                             MemberQueryContext(peer, request->context(), request_id, absl::Now()));
        HIE_RETURN_IF_ERROR(ValidateRetrieveDocument(*request));
        return RunRetrieval(context, *request, deadline, *hub_, *retrieval_, out,
                            options_.retrieval);
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::GetCallerInfo(grpc::CallbackServerContext* ctx,
                                                           const v1::GetCallerInfoRequest*,
                                                           v1::CallerInfo* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<PeerIdentity> peer = CallerOf(*ctx);
  if (!peer.ok()) {
    reactor->Finish(ToGrpcStatus(peer.status()));
    return reactor;
  }
  response->set_org(peer->org);
  response->set_certificate_subject(
      absl::StrFormat("O=%s,OU=%s,CN=%s", peer->org, peer->role, peer->common_name));
  if (peer->role == "member") {
    for (auto role : {common::v1::ROLE_CLINICIAN, common::v1::ROLE_CLINICAL_STAFF,
                      common::v1::ROLE_ADMINISTRATIVE_STAFF, common::v1::ROLE_MEMBER_SYSTEM}) {
      response->add_allowed_roles(role);
    }
    std::map<std::string, DirectoryEntry> directory = hub_->Directory();
    auto it = directory.find(peer->org);
    response->set_member_state(it == directory.end() ? v1::MEMBER_STATE_UNSPECIFIED
                                                     : it->second.state);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

template <typename Response, typename Send>
grpc::ServerUnaryReactor* MemberGatewayImpl::MemberUnary(grpc::CallbackServerContext* ctx,
                                                         const common::v1::ClientContext& client,
                                                         const char* action, Response* response,
                                                         Send send, ContextOf context_of) {
  // The hub's own request id, always new (never the client's x-request-id: audit records and
  // the services' histories carry it); the client's goes into client_request_id.
  return RunUnary(
      ctx, RandomId("gw", 2), response, kMaxWriteTimeout, workers_, "gw",
      [this, &client, action, send, context_of](const UnaryCall& call) -> absl::StatusOr<Response> {
        const absl::Status standing = CheckStanding(*hub_, call.peer);
        absl::StatusOr<common::v1::RequestContext> context =
            standing.ok() ? context_of(call.peer, client, call.request_id, absl::Now())
                          : absl::StatusOr<common::v1::RequestContext>(standing);
        absl::StatusOr<Response> result =
            context.ok() ? send(*context, call.deadline) : context.status();
        if (absl::IsPermissionDenied(result.status())) {
          AuditRefusal(*hub_, call.peer, call.request_id, action, result.status());
        }
        Log(result.ok() ? LogLevel::kInfo : LogLevel::kWarning, "member_call",
            {{"request_id", call.request_id},
             {"org", call.peer.org},
             {"rpc", action},
             {"code", GrpcCodeName(ToGrpcStatus(result.status()).error_code())}});
        return result;
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::FeedPatient(grpc::CallbackServerContext* ctx,
                                                         const v1::FeedPatientRequest* request,
                                                         v1::FeedPatientResponse* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.FeedPatient", response,
      [this, request](const common::v1::RequestContext& context,
                      absl::Time deadline) -> absl::StatusOr<v1::FeedPatientResponse> {
        HIE_ASSIGN_OR_RETURN(auto registration, RegistrationOf(context, *request));
        HIE_ASSIGN_OR_RETURN(auto answer, writes_->Register(registration, deadline));
        return FeedAnswerOf(answer);
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::MergeLocalPatients(
    grpc::CallbackServerContext* ctx, const v1::MergeLocalPatientsRequest* request,
    v1::MergeLocalPatientsResponse* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.MergeLocalPatients", response,
      [this, request](const common::v1::RequestContext& context,
                      absl::Time deadline) -> absl::StatusOr<v1::MergeLocalPatientsResponse> {
        HIE_ASSIGN_OR_RETURN(auto merge, LocalMergeOf(context, *request));
        HIE_RETURN_IF_ERROR(writes_->MergeRecords(merge, deadline));
        return v1::MergeLocalPatientsResponse();
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::PublishDocuments(
    grpc::CallbackServerContext* ctx, const v1::PublishDocumentsRequest* request,
    registry::v1::RegisterSubmissionSetResponse* response) {
  return MemberUnary(ctx, request->context(), "gateway.PublishDocuments", response,
                     [this, request](const common::v1::RequestContext& context, absl::Time deadline)
                         -> absl::StatusOr<registry::v1::RegisterSubmissionSetResponse> {
                       HIE_ASSIGN_OR_RETURN(auto publication, PublicationOf(context, *request));
                       return writes_->Publish(publication, deadline);
                     });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::DeprecateDocument(
    grpc::CallbackServerContext* ctx, const v1::DeprecateDocumentRequest* request,
    registry::v1::DocumentEntry* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.DeprecateDocument", response,
      [this, request](const common::v1::RequestContext& context,
                      absl::Time deadline) -> absl::StatusOr<registry::v1::DocumentEntry> {
        HIE_ASSIGN_OR_RETURN(auto deprecation, DeprecationOf(context, *request));
        return writes_->Deprecate(deprecation, deadline);
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::CreateConsentDirective(
    grpc::CallbackServerContext* ctx, const v1::CreateConsentDirectiveRequest* request,
    consent::v1::ConsentDirective* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.CreateConsentDirective", response,
      [this, request](const common::v1::RequestContext& context,
                      absl::Time deadline) -> absl::StatusOr<consent::v1::ConsentDirective> {
        HIE_ASSIGN_OR_RETURN(auto creation, DirectiveCreationOf(context, *request));
        return consent_->CreateDirective(creation, deadline);
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::ListConsentDirectives(
    grpc::CallbackServerContext* ctx, const v1::ListConsentDirectivesRequest* request,
    consent::v1::ListDirectivesResponse* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.ListConsentDirectives", response,
      [this, request](const common::v1::RequestContext& context, absl::Time deadline) {
        return ListOwnDirectives(context, *request, *consent_, *hub_, options_.query.new_event_id(),
                                 absl::Now(), deadline);
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::RevokeConsentDirective(
    grpc::CallbackServerContext* ctx, const v1::RevokeConsentDirectiveRequest* request,
    consent::v1::ConsentDirective* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.RevokeConsentDirective", response,
      [this, request](const common::v1::RequestContext& context, absl::Time deadline) {
        return RevokeOwnDirective(context, *request, *consent_, deadline);
      });
}

grpc::ServerUnaryReactor* MemberGatewayImpl::BreakGlass(grpc::CallbackServerContext* ctx,
                                                        const v1::BreakGlassRequest* request,
                                                        v1::BreakGlassResponse* response) {
  return MemberUnary(
      ctx, request->context(), "gateway.BreakGlass", response,
      [this, request](const common::v1::RequestContext& context, absl::Time deadline) {
        return OpenBreakGlass(context, *request, *hub_, *consent_, deadline);
      },
      &BreakGlassContext);
}

}  // namespace hie::gateway
