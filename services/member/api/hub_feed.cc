#include "services/member/api/hub_feed.h"

#include <algorithm>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/idempotency.h"
#include "services/common/logging.h"
#include "services/common/status.h"
#include "services/member/core/fault_plan.h"

namespace hie::member {
namespace {

constexpr char kFeedPatient[] = "FeedPatient";
constexpr char kPublishDocuments[] = "PublishDocuments";

// 32 hex digits of SHA-256 over `bytes`.
std::string Digest32(const std::string& bytes) {
  return absl::BytesToHexString(Sha256(bytes).substr(0, 16));
}

common::v1::ClientContext Context() {
  common::v1::ClientContext c;
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  c.set_user_role(common::v1::ROLE_MEMBER_SYSTEM);
  return c;
}

bool Retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::UNKNOWN:
      return true;
    default:
      return false;
  }
}

}  // namespace

HubFeed::HubFeed(MemberStore* store, std::shared_ptr<grpc::Channel> hub, HubFeedOptions options)
    : store_(store),
      stub_(gateway::v1::MemberGateway::NewStub(std::move(hub))),
      options_(std::move(options)) {}

HubFeed::~HubFeed() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

gateway::v1::FeedPatientRequest HubFeed::FeedRequestOf(const std::string& org,
                                                       const MemberPatient& patient) {
  gateway::v1::FeedPatientRequest r;
  *r.mutable_context() = Context();
  r.set_local_id(patient.local_id);
  *r.mutable_demographics() = patient.demographics;
  r.set_idempotency_key(
      absl::StrCat("fp-", Digest32(absl::StrCat("patient\n", org, "\n", patient.local_id, "\n",
                                                Fingerprint(patient.demographics)))));
  return r;
}

std::vector<gateway::v1::PublishDocumentsRequest> HubFeed::PublishRequestsOf(
    const MemberStore& store, const std::string& local_id, size_t batch_size) {
  std::vector<const MemberDocument*> docs = store.DocumentsOf(local_id);
  std::sort(docs.begin(), docs.end(), [](const MemberDocument* a, const MemberDocument* b) {
    return a->entry.unique_id() < b->entry.unique_id();
  });
  std::vector<gateway::v1::PublishDocumentsRequest> out;
  for (size_t i = 0; i < docs.size(); i += batch_size) {
    gateway::v1::PublishDocumentsRequest& r = out.emplace_back();
    *r.mutable_context() = Context();
    std::string identity = absl::StrCat("documents\n", store.org(), "\n", local_id);
    for (size_t j = i; j < std::min(docs.size(), i + batch_size); ++j) {
      registry::v1::DocumentEntry* e = r.add_entries();
      *e = docs[j]->entry;
      e->clear_status();  // output-only at the registry
      absl::StrAppend(&identity, "\n", e->unique_id(), " ",
                      absl::BytesToHexString(e->hash().digest()));
    }
    const std::string digest = Digest32(identity);
    r.mutable_submission_set()->set_unique_id(absl::StrCat("urn:hie:member-feed:", digest));
    r.mutable_submission_set()->set_title("hie-member feed");
    r.set_idempotency_key(absl::StrCat("pd-", digest));
  }
  return out;
}

bool HubFeed::SleepUnlessStopped(absl::Duration pause) {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(pause), [this] { return stop_; });
  return !stop_;
}

template <typename Request, typename Response, typename Rpc>
grpc::Status HubFeed::CallWithRetries(const char* what, const Request& request, Response* response,
                                      Rpc rpc, HubFeedResult* result) {
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    ctx.AddMetadata("x-request-id",
                    absl::StrCat(options_.request_id_prefix, "-", request.idempotency_key()));
    {
      std::lock_guard lock(mu_);
      if (stop_) return grpc::Status(grpc::StatusCode::CANCELLED, "the feed was stopped");
      in_flight_ = &ctx;
    }
    ++result->calls;
    status = rpc(&ctx, request, response);
    uint64_t draw = 0;
    {
      std::lock_guard lock(mu_);
      in_flight_ = nullptr;
      draw = draws_++;
    }
    if (status.ok()) return status;
    const bool retry = Retryable(status.error_code()) && attempt < options_.max_attempts;
    Log(retry ? LogLevel::kInfo : LogLevel::kWarning, retry ? "hub_feed_retry" : "hub_feed_failed",
        {{"rpc", what},
         {"code", GrpcCodeName(status.error_code())},
         {"attempt", attempt},
         {"idempotency_key", request.idempotency_key()}});
    if (!retry) return status;
    const absl::Duration ceiling = std::min(
        options_.max_backoff, options_.initial_backoff * (int64_t{1} << std::min(attempt - 1, 20)));
    if (!SleepUnlessStopped(ceiling * (0.5 + 0.5 * UniformDraw(options_.seed, draw)))) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the feed was stopped");
    }
  }
}

HubFeedResult HubFeed::Run() {
  HubFeedResult result;
  const absl::Time start = absl::Now();
  std::map<std::string, bool, std::less<>> fed;  // local id -> fed
  for (const MemberPatient& patient : store_->patients()) {
    gateway::v1::FeedPatientResponse response;
    const grpc::Status status = CallWithRetries(
        kFeedPatient, FeedRequestOf(store_->org(), patient), &response,
        [this](grpc::ClientContext* c, const auto& r, auto* out) {
          return stub_->FeedPatient(c, r, out);
        },
        &result);
    if (status.error_code() == grpc::StatusCode::CANCELLED && Stopped()) break;
    fed[patient.local_id] = status.ok();
    ++(status.ok() ? result.patients_fed : result.patients_failed);
  }
  for (const MemberPatient& patient : store_->patients()) {
    if (Stopped()) break;
    for (const auto& request : PublishRequestsOf(*store_, patient.local_id, options_.batch_size)) {
      const size_t n = static_cast<size_t>(request.entries_size());
      auto it = fed.find(patient.local_id);
      if (it == fed.end() || !it->second) {
        result.documents_skipped += n;
        continue;
      }
      registry::v1::RegisterSubmissionSetResponse response;
      const grpc::Status status = CallWithRetries(
          kPublishDocuments, request, &response,
          [this](grpc::ClientContext* c, const auto& r, auto* out) {
            return stub_->PublishDocuments(c, r, out);
          },
          &result);
      if (status.error_code() == grpc::StatusCode::CANCELLED && Stopped()) break;
      if (!status.ok()) {
        result.documents_failed += n;
        continue;
      }
      result.documents_published += n;
      for (const registry::v1::DocumentEntry& e : response.entries()) {
        if (!e.entry_uuid().empty()) store_->SetEntryUuid(e.unique_id(), e.entry_uuid());
      }
    }
  }
  result.stopped = Stopped();
  Log(LogLevel::kInfo, "hub_feed_done",
      {{"patients_fed", static_cast<uint64_t>(result.patients_fed)},
       {"patients_failed", static_cast<uint64_t>(result.patients_failed)},
       {"documents_published", static_cast<uint64_t>(result.documents_published)},
       {"documents_failed", static_cast<uint64_t>(result.documents_failed)},
       {"documents_skipped", static_cast<uint64_t>(result.documents_skipped)},
       {"calls", static_cast<uint64_t>(result.calls)},
       {"stopped", result.stopped},
       {"elapsed_ms", absl::ToDoubleMilliseconds(absl::Now() - start)}});
  return result;
}

bool HubFeed::Stopped() {
  std::lock_guard lock(mu_);
  return stop_;
}

void HubFeed::Start() {
  thread_ = std::thread([this] { result_ = Run(); });
}

HubFeedResult HubFeed::Join() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

void HubFeed::Stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  if (in_flight_ != nullptr) in_flight_->TryCancel();
  stop_cv_.notify_all();
}

}  // namespace hie::member
