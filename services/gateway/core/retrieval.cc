#include "services/gateway/core/retrieval.h"

#include <openssl/evp.h>

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"

namespace hie::gateway {
namespace {

using common::v1::SourceId;
using member::v1::DocumentHeader;
using member::v1::RetrieveDocumentResponse;
using registry::v1::ContentHash;
using registry::v1::DocumentEntry;

constexpr char kAction[] = "gateway.RetrieveDocument";

absl::Status NoSuchDocument() {
  return absl::NotFoundError("no such document for this patient at member_org");
}

// An incremental digest of the algorithm the header names.
class Digest {
 public:
  static std::optional<Digest> For(ContentHash::Algorithm algorithm) {
    const EVP_MD* md = algorithm == ContentHash::ALGORITHM_SHA256 ? EVP_sha256()
                       : algorithm == ContentHash::ALGORITHM_SHA1 ? EVP_sha1()
                                                                  : nullptr;
    if (md == nullptr) return std::nullopt;
    Digest d;
    if (d.ctx_ == nullptr || EVP_DigestInit_ex(d.ctx_.get(), md, nullptr) != 1) return std::nullopt;
    return d;
  }
  void Update(const std::string& bytes) {
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
  }
  std::string Final() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &n);
    return std::string(reinterpret_cast<const char*>(out), n);
  }

 private:
  Digest() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {}
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// The registry's entry for the requested location among the person's entries at the member.
std::optional<DocumentEntry> EntryAt(const std::vector<DocumentEntry>& entries,
                                     const v1::RetrieveDocumentRequest& r) {
  for (const DocumentEntry& e : entries) {
    const std::string& key =
        e.location().retrieve_key().empty() ? e.unique_id() : e.location().retrieve_key();
    if (e.location().member_org() != r.member_org() || key != r.retrieve_key()) continue;
    if (!r.repository_unique_id().empty() &&
        e.location().repository_unique_id() != r.repository_unique_id()) {
      continue;
    }
    return e;
  }
  return std::nullopt;
}

// What the header says, as an entry for the redaction check (the registry's codes kept too).
DocumentEntry AsEntry(const DocumentHeader& h, const std::optional<DocumentEntry>& registered) {
  DocumentEntry e = registered.value_or(DocumentEntry());
  e.set_unique_id(h.unique_id());
  if (h.has_class_code()) *e.mutable_class_code() = h.class_code();
  for (const auto& c : h.confidentiality_codes()) *e.add_confidentiality_codes() = c;
  return e;
}

// The header against the registry's entry, before anything is released.
absl::Status CheckHeader(const DocumentHeader& h, const std::optional<DocumentEntry>& registered) {
  if (h.size_bytes() < 0) return absl::DataLossError("the member's header has a negative size");
  if (h.hash().digest().empty()) {
    return absl::DataLossError("the member's header carries no content hash");
  }
  if (!registered) return absl::OkStatus();
  if (h.unique_id() != registered->unique_id()) {
    return absl::DataLossError("the member's document is not the one the registry lists");
  }
  if (registered->size_bytes() > 0 && registered->size_bytes() != h.size_bytes()) {
    return absl::DataLossError("the member's size differs from the registry's entry");
  }
  if (!registered->hash().digest().empty() &&
      (registered->hash().algorithm() != h.hash().algorithm() ||
       registered->hash().digest() != h.hash().digest())) {
    return absl::DataLossError("the member's hash differs from the registry's entry");
  }
  return absl::OkStatus();
}

// The member's stream as it comes: header checked, disclosure audited, then released.
class Relay {
 public:
  Relay(const common::v1::RequestContext& context, const ResolvedPatient& patient,
        const v1::RetrieveDocumentRequest& request, const std::optional<DocumentEntry>& registered,
        const Forbids& forbids, const std::string& decision_id, absl::Time deadline,
        HubServices& hub, RetrievalSink& out, const RetrievalOptions& options)
      : context_(context),
        patient_(patient),
        request_(request),
        registered_(registered),
        forbids_(forbids),
        decision_id_(decision_id),
        deadline_(deadline),
        hub_(hub),
        out_(out),
        options_(options) {}

  bool OnMessage(RetrieveDocumentResponse m) {
    if (!header_) return OnHeader(std::move(m));
    if (!m.has_chunk()) return Fail(absl::DataLossError("the member sent a second header"));
    received_ += static_cast<int64_t>(m.chunk().size());
    if (received_ > header_->size_bytes()) {
      return Fail(absl::DataLossError("the member sent more bytes than its header says"));
    }
    digest_->Update(m.chunk());
    if (!out_.Write(std::move(m))) return Fail(absl::CancelledError("the client went away"));
    return true;
  }

  // The outcome once the member's stream has ended with `stream`.
  absl::Status End(const absl::Status& stream) {
    if (!failure_.ok()) return failure_;
    if (!stream.ok()) {
      if (!header_) return stream;  // nothing released: the member's answer stands
      return absl::Status(stream.code(),
                          absl::StrCat("the member's stream broke: discard what was received (",
                                       stream.message(), ")"));
    }
    if (!header_) return absl::DataLossError("the member sent no content");
    if (received_ != header_->size_bytes()) {
      return absl::DataLossError("the content's size differs from the header's");
    }
    if (digest_->Final() != header_->hash().digest()) {
      return absl::DataLossError("the content's hash differs from the header's");
    }
    return absl::OkStatus();
  }

 private:
  bool Fail(absl::Status status) {
    failure_ = std::move(status);
    return false;
  }

  bool OnHeader(RetrieveDocumentResponse m) {
    if (!m.has_header()) return Fail(absl::DataLossError("the member's stream has no header"));
    const DocumentHeader& h = m.header();
    if (absl::Status s = CheckHeader(h, registered_); !s.ok()) return Fail(s);
    digest_ = Digest::For(h.hash().algorithm());
    if (!digest_) return Fail(absl::DataLossError("the member's hash algorithm is not known"));
    if (forbids_ && forbids_(AsEntry(h, registered_))) {
      return Fail(absl::PermissionDeniedError(
          "consent withholds this document's category or sensitivity from the caller"));
    }
    audit::v1::AuditEvent e =
        GatewayAuditEvent(context_, patient_, kAction, audit::v1::EVENT_TYPE_DISCLOSURE,
                          audit::v1::OUTCOME_SUCCESS, options_.new_event_id(), options_.now());
    e.set_custodian_org(request_.member_org());
    e.set_decision_id(decision_id_);
    audit::v1::ObjectRef* ref = e.add_objects();
    ref->set_kind(registered_ ? "document_entry" : "document");
    ref->set_id(registered_ ? registered_->entry_uuid() : h.unique_id());
    (*e.mutable_details())["size_bytes"] = absl::StrCat(h.size_bytes());
    const absl::Time audit_deadline =
        std::min(deadline_, options_.now() + options_.hub_step_timeout);
    if (absl::Status s = hub_.Record({std::move(e)}, audit_deadline); !s.ok()) {
      return Fail(absl::UnavailableError(
          absl::StrCat("audit unavailable: nothing released (", s.message(), ")")));
    }
    header_ = h;
    if (!out_.Write(std::move(m))) return Fail(absl::CancelledError("the client went away"));
    return true;
  }

  const common::v1::RequestContext& context_;
  const ResolvedPatient& patient_;
  const v1::RetrieveDocumentRequest& request_;
  const std::optional<DocumentEntry>& registered_;
  const Forbids& forbids_;
  const std::string& decision_id_;
  const absl::Time deadline_;  // the whole retrieval's
  HubServices& hub_;
  RetrievalSink& out_;
  const RetrievalOptions& options_;
  std::optional<DocumentHeader> header_;  // set once released
  std::optional<Digest> digest_;
  int64_t received_ = 0;
  absl::Status failure_;
};

}  // namespace

absl::Status ValidateRetrieveDocument(const v1::RetrieveDocumentRequest& r) {
  HIE_RETURN_IF_ERROR(CheckId(r.local_id(), "local_id"));
  HIE_RETURN_IF_ERROR(CheckId(r.member_org(), "member_org"));
  HIE_RETURN_IF_ERROR(CheckId(r.retrieve_key(), "retrieve_key"));
  if (!r.repository_unique_id().empty()) {
    HIE_RETURN_IF_ERROR(CheckId(r.repository_unique_id(), "repository_unique_id"));
  }
  return absl::OkStatus();
}

absl::Status RunRetrieval(const common::v1::RequestContext& context,
                          const v1::RetrieveDocumentRequest& request, absl::Time client_deadline,
                          HubServices& hub, MemberRetrieval& member, RetrievalSink& out,
                          const RetrievalOptions& options) {
  const absl::Time start = options.now();
  const absl::Time deadline = std::min(
      client_deadline == absl::InfiniteFuture() ? start + options.default_timeout : client_deadline,
      start + options.max_timeout);
  auto step = [&] { return std::min(deadline, options.now() + options.hub_step_timeout); };
  if (request.member_org() == context.actor().org()) {
    return InvalidField("member_org", "is the caller's own organisation");
  }

  // 1. The person's records at the member.
  SourceId own;
  own.set_org(context.actor().org());
  own.set_local_id(request.local_id());
  HIE_ASSIGN_OR_RETURN(ResolvedPatient patient, hub.Resolve(context, own, step()));
  std::vector<SourceId> at_member;
  for (const SourceId& r : patient.records) {
    if (r.org() == request.member_org()) at_member.push_back(r);
  }
  if (at_member.empty()) return NoSuchDocument();
  std::map<std::string, DirectoryEntry> directory = hub.Directory();
  auto listed = directory.find(request.member_org());
  const std::string endpoint = hub.EndpointOf(request.member_org());
  if (listed == directory.end() || listed->second.state != v1::MEMBER_STATE_ACTIVE ||
      endpoint.empty()) {
    return absl::UnavailableError("member_org is not an active member with an endpoint");
  }

  // 2. Consent for that member.
  absl::StatusOr<std::map<std::string, Verdict>> verdicts =
      hub.Decide(context, patient.records, {request.member_org()}, step());
  if (!verdicts.ok()) {
    return absl::UnavailableError(
        absl::StrCat("consent unavailable: nothing released (", verdicts.status().message(), ")"));
  }
  auto verdict = verdicts->find(request.member_org());
  if (verdict == verdicts->end() || !verdict->second.permit) {
    return absl::PermissionDeniedError(
        "consent does not permit disclosing this member's records to the caller");
  }
  const Forbids forbids = hub.RedactionFor(verdict->second.obligations);

  // 3. The registry's entry, when the document was published (a failed lookup leaves the
  // header's codes to decide).
  registry::v1::DocumentQuery any_status;
  any_status.add_statuses(registry::v1::AVAILABILITY_STATUS_APPROVED);
  any_status.add_statuses(registry::v1::AVAILABILITY_STATUS_DEPRECATED);
  std::optional<DocumentEntry> registered;
  if (auto entries =
          hub.RegistryEntries(context, at_member, any_status, kMaxResultsPerMember, step());
      entries.ok()) {
    registered = EntryAt(*entries, request);
  }
  if (registered && forbids && forbids(*registered)) {
    return absl::PermissionDeniedError(
        "consent withholds this document's category or sensitivity from the caller");
  }

  // 4-6. The member's stream.
  member::v1::RetrieveDocumentRequest call;
  *call.mutable_context() = context;
  for (const SourceId& r : at_member) call.add_local_patient_ids(r.local_id());
  call.set_repository_unique_id(request.repository_unique_id());
  call.set_retrieve_key(request.retrieve_key());
  for (const auto& o : verdict->second.obligations) *call.add_obligations() = o;
  Relay relay(context, patient, request, registered, forbids, verdict->second.decision_id, deadline,
              hub, out, options);
  absl::Status stream = member.Retrieve(
      endpoint, call, deadline,
      [&relay](RetrieveDocumentResponse m) { return relay.OnMessage(std::move(m)); });
  return relay.End(stream);
}

}  // namespace hie::gateway
