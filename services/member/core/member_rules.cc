#include "services/member/core/member_rules.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/proto_time.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/member/core/obligations.h"
#include "services/registry/core/validation.h"
#include "services/registry/store/document_filter.h"

namespace hie::member {
namespace {

using google::protobuf::RepeatedPtrField;

absl::Status CheckMemberContext(const common::v1::RequestContext& c) {
  HIE_RETURN_IF_ERROR(CheckContext(c, /*need_purpose=*/true));
  if (c.actor().org().empty()) return InvalidField("context.actor.org", "is required");
  if (c.actor().role() == common::v1::ROLE_UNSPECIFIED) {
    return InvalidField("context.actor.role", "is required");
  }
  return absl::OkStatus();
}

absl::Status CheckLocalIds(const RepeatedPtrField<std::string>& ids) {
  if (ids.empty()) return InvalidField("local_patient_ids", "is required");
  if (ids.size() > kMaxLocalPatientIds) {
    return InvalidField("local_patient_ids", "has more than 100 entries");
  }
  for (int i = 0; i < ids.size(); ++i) {
    HIE_RETURN_IF_ERROR(CheckId(ids[i], absl::StrCat("local_patient_ids[", i, "]")));
  }
  return absl::OkStatus();
}

std::optional<absl::Time> From(bool present, const common::v1::TimeRange& r) {
  if (!present || !r.has_start()) return std::nullopt;
  return TimeOf(r.start());
}
std::optional<absl::Time> Before(bool present, const common::v1::TimeRange& r) {
  if (!present || !r.has_end()) return std::nullopt;
  return TimeOf(r.end());
}

template <typename Field>
std::vector<common::v1::Coding> Codes(const Field& f) {
  return {f.begin(), f.end()};
}

// The registry's filter for the query (document_filter.h), over this member's patients.
registry::DocumentFilter FilterOf(const std::string& org, const v1::FindDocumentsRequest& r) {
  const registry::v1::DocumentQuery& q = r.query();
  registry::DocumentFilter f;
  for (const std::string& id : r.local_patient_ids()) {
    common::v1::SourceId& p = f.patients.emplace_back();
    p.set_org(org);
    p.set_local_id(id);
  }
  for (int s : q.statuses()) f.statuses.push_back(static_cast<registry::v1::AvailabilityStatus>(s));
  f.class_codes = Codes(q.class_codes());
  f.type_codes = Codes(q.type_codes());
  f.format_codes = Codes(q.format_codes());
  f.confidentiality_codes = Codes(q.confidentiality_codes());
  f.event_codes = Codes(q.event_codes());
  f.practice_setting_codes = Codes(q.practice_setting_codes());
  f.facility_type_codes = Codes(q.healthcare_facility_type_codes());
  f.creation_from = From(q.has_creation_time(), q.creation_time());
  f.creation_before = Before(q.has_creation_time(), q.creation_time());
  f.service_start_from = From(q.has_service_start_time(), q.service_start_time());
  f.service_start_before = Before(q.has_service_start_time(), q.service_start_time());
  f.service_stop_from = From(q.has_service_stop_time(), q.service_stop_time());
  f.service_stop_before = Before(q.has_service_stop_time(), q.service_stop_time());
  f.author_institution = q.author_institution();
  return f;
}

bool NewerFirst(const MemberDocument* a, const MemberDocument* b) {
  const int64_t ta = UnixNanosOf(a->entry.creation_time());
  const int64_t tb = UnixNanosOf(b->entry.creation_time());
  if (ta != tb) return ta > tb;
  return a->entry.unique_id() > b->entry.unique_id();
}

}  // namespace

absl::Status ValidateFind(const v1::FindDocumentsRequest& r) {
  HIE_RETURN_IF_ERROR(CheckMemberContext(r.context()));
  HIE_RETURN_IF_ERROR(CheckLocalIds(r.local_patient_ids()));
  // The query's checks are the registry's: the same DocumentQuery is valid at both.
  registry::v1::FindDocumentsRequest as_registry;
  *as_registry.mutable_context() = r.context();
  common::v1::SourceId* any_patient = as_registry.add_patients();
  any_patient->set_org("member");
  any_patient->set_local_id("patient");
  *as_registry.mutable_query() = r.query();
  HIE_RETURN_IF_ERROR(registry::ValidateFind(as_registry));
  if (r.max_results() < 0 || r.max_results() > kMaxMaxResults) {
    return InvalidField("max_results", "must be 0 to 1000");
  }
  return CheckObligations(r.obligations());
}

absl::Status ValidateRetrieve(const v1::RetrieveDocumentRequest& r) {
  HIE_RETURN_IF_ERROR(CheckMemberContext(r.context()));
  HIE_RETURN_IF_ERROR(CheckLocalIds(r.local_patient_ids()));
  if (!r.repository_unique_id().empty()) {
    HIE_RETURN_IF_ERROR(CheckId(r.repository_unique_id(), "repository_unique_id"));
  }
  HIE_RETURN_IF_ERROR(CheckText(r.retrieve_key(), "retrieve_key", kMaxRetrieveKeyBytes));
  return CheckObligations(r.obligations());
}

absl::Status ValidateCapabilities(const v1::GetCapabilitiesRequest& r) {
  HIE_RETURN_IF_ERROR(CheckContext(r.context(), /*need_purpose=*/false));
  if (r.context().actor().org().empty()) return InvalidField("context.actor.org", "is required");
  return absl::OkStatus();
}

absl::StatusOr<v1::FindDocumentsResponse> FindDocuments(const MemberStore& store,
                                                        const v1::FindDocumentsRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateFind(r));
  const registry::DocumentFilter filter = FilterOf(store.org(), r);
  const Redaction redaction(r.obligations());
  std::vector<const MemberDocument*> matches;
  std::set<std::string_view> seen;
  for (const std::string& id : r.local_patient_ids()) {
    if (!seen.insert(id).second) continue;  // a repeated id answers once
    for (const MemberDocument* d : store.DocumentsOf(id)) {
      if (registry::MatchesFilter(d->entry, filter) && !redaction.Forbids(d->entry)) {
        matches.push_back(d);
      }
    }
  }
  const size_t limit = r.max_results() == 0 ? kDefaultMaxResults : r.max_results();
  v1::FindDocumentsResponse out;
  out.set_truncated(matches.size() > limit);
  const size_t n = std::min(limit, matches.size());
  std::partial_sort(matches.begin(), matches.begin() + n, matches.end(), NewerFirst);
  for (size_t i = 0; i < n; ++i) {
    registry::v1::DocumentEntry* e = out.add_entries();
    *e = matches[i]->entry;
    e->set_entry_uuid(store.EntryUuidOf(e->unique_id()));
  }
  return out;
}

absl::StatusOr<const MemberDocument*> DocumentToRetrieve(const MemberStore& store,
                                                         const v1::RetrieveDocumentRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateRetrieve(r));
  const absl::Status not_found =
      absl::NotFoundError("no such document for these patients at this member");
  if (!r.repository_unique_id().empty() && r.repository_unique_id() != store.repository_id()) {
    return not_found;
  }
  const MemberDocument* d = store.FindDocument(r.retrieve_key());
  if (d == nullptr) return not_found;
  const auto& ids = r.local_patient_ids();
  if (std::find(ids.begin(), ids.end(), d->entry.patient().local_id()) == ids.end()) {
    return not_found;
  }
  if (Redaction(r.obligations()).Forbids(d->entry)) {
    return absl::PermissionDeniedError(
        "an obligation of the request forbids releasing this "
        "document");
  }
  return d;
}

v1::DocumentHeader HeaderOf(const MemberDocument& d) {
  v1::DocumentHeader h;
  h.set_unique_id(d.entry.unique_id());
  h.set_mime_type(d.entry.mime_type());
  h.set_size_bytes(static_cast<int64_t>(d.content->size()));
  *h.mutable_hash() = d.entry.hash();
  if (d.entry.has_class_code()) *h.mutable_class_code() = d.entry.class_code();
  *h.mutable_confidentiality_codes() = d.entry.confidentiality_codes();
  return h;
}

size_t ChunkCount(size_t content_bytes, size_t chunk_bytes) {
  return (content_bytes + chunk_bytes - 1) / chunk_bytes;
}

v1::MemberCapabilities CapabilitiesOf(const MemberStore& store, size_t chunk_bytes) {
  v1::MemberCapabilities c;
  c.set_org(store.org());
  c.set_max_results_per_request(kMaxMaxResults);
  c.set_max_local_patient_ids(kMaxLocalPatientIds);
  c.set_supports_time_filters(true);
  c.set_supports_code_filters(true);
  c.set_supports_obligations(true);
  c.set_supports_retrieve(true);
  c.set_max_chunk_bytes(static_cast<int32_t>(chunk_bytes));
  c.add_repository_unique_ids(store.repository_id());
  return c;
}

}  // namespace hie::member
