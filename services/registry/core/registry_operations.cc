#include "services/registry/core/registry_operations.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/idempotency.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"
#include "services/registry/core/submission_plan.h"
#include "services/registry/core/validation.h"

namespace hie::registry {
namespace {

// 16 hex digits of SHA-256 over the fingerprint: binds a page token to its query.
std::string QueryKey(const v1::FindDocumentsRequest& r) {
  v1::FindDocumentsRequest q;
  *q.mutable_patients() = r.patients();
  *q.mutable_query() = r.query();
  const std::string bytes = Fingerprint(q);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 8));
}

// Page token: "<query key>.<creation ns>.<entry uuid>".
std::string PageToken(const std::string& query_key, const v1::DocumentEntry& last) {
  return absl::StrCat(query_key, ".", UnixNanosOf(last.creation_time()), ".", last.entry_uuid());
}

absl::StatusOr<std::pair<int64_t, std::string>> ParsePageToken(const std::string& token,
                                                               const std::string& query_key) {
  std::vector<std::string> parts = absl::StrSplit(token, absl::MaxSplits('.', 2));
  int64_t ns = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &ns) || parts[2].empty()) {
    return absl::InvalidArgumentError("page_token is not valid");
  }
  if (parts[0] != query_key) {
    return absl::InvalidArgumentError("page_token belongs to another query");
  }
  return std::make_pair(ns, parts[2]);
}

std::optional<absl::Time> From(const common::v1::TimeRange& r, bool present) {
  if (!present || !r.has_start()) return std::nullopt;
  return TimeOf(r.start());
}
std::optional<absl::Time> Before(const common::v1::TimeRange& r, bool present) {
  if (!present || !r.has_end()) return std::nullopt;
  return TimeOf(r.end());
}

template <typename Field>
std::vector<common::v1::Coding> Codes(const Field& f) {
  return {f.begin(), f.end()};
}

DocumentFilter FilterOf(const v1::FindDocumentsRequest& r, size_t max_scanned) {
  const v1::DocumentQuery& q = r.query();
  DocumentFilter f;
  f.patients.assign(r.patients().begin(), r.patients().end());
  for (int s : q.statuses()) f.statuses.push_back(static_cast<v1::AvailabilityStatus>(s));
  f.class_codes = Codes(q.class_codes());
  f.type_codes = Codes(q.type_codes());
  f.format_codes = Codes(q.format_codes());
  f.confidentiality_codes = Codes(q.confidentiality_codes());
  f.event_codes = Codes(q.event_codes());
  f.practice_setting_codes = Codes(q.practice_setting_codes());
  f.facility_type_codes = Codes(q.healthcare_facility_type_codes());
  f.creation_from = From(q.creation_time(), q.has_creation_time());
  f.creation_before = Before(q.creation_time(), q.has_creation_time());
  f.service_start_from = From(q.service_start_time(), q.has_service_start_time());
  f.service_start_before = Before(q.service_start_time(), q.has_service_start_time());
  f.service_stop_from = From(q.service_stop_time(), q.has_service_stop_time());
  f.service_stop_before = Before(q.service_stop_time(), q.has_service_stop_time());
  f.author_institution = q.author_institution();
  f.max_scanned = max_scanned;
  return f;
}

}  // namespace

std::string RandomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) std::abort();  // no randomness: ids could collide
  b[6] = (b[6] & 0x0f) | 0x40;                      // version 4
  b[8] = (b[8] & 0x3f) | 0x80;                      // RFC 4122 variant
  const std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(b), 16));
  return absl::StrCat("urn:uuid:", hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4),
                      "-", hex.substr(16, 4), "-", hex.substr(20));
}

RegistryOperations::RegistryOperations(RegistryStore* store, RegistryOptions options)
    : store_(store), options_(std::move(options)) {}

absl::Status RegistryOperations::Transact(absl::Time deadline, const RegistryStore::TxnFn& fn) {
  absl::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = store_->Transact(deadline, fn);
    if (!absl::IsAborted(status)) break;
  }
  return status;
}

absl::StatusOr<v1::RegisterSubmissionSetResponse> RegistryOperations::Register(
    const Actor& actor, const v1::RegisterSubmissionSetRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateRegister(request));
  HIE_RETURN_IF_ERROR(CheckPublisher(request, actor.org));
  v1::RegisterSubmissionSetRequest content = request;
  content.clear_context();
  const std::string fingerprint = Fingerprint(content);
  const std::string key = absl::StrCat("register|", actor.org, "|", request.idempotency_key());
  std::vector<std::string> unique_ids, targets;
  for (const auto& e : request.entries()) unique_ids.push_back(e.unique_id());
  for (const auto& a : request.associations()) targets.push_back(a.target_entry_uuid());

  v1::RegisterSubmissionSetResponse response;
  HIE_RETURN_IF_ERROR(Transact(deadline, [&](RegistryTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(
        auto replayed, ReplayIdempotent<v1::RegisterSubmissionSetResponse>(txn, key, fingerprint));
    if (replayed) {
      response = *std::move(replayed);
      return absl::OkStatus();
    }
    SubmissionState state;
    HIE_ASSIGN_OR_RETURN(state.by_unique_id, txn.EntriesByUniqueId(unique_ids));
    HIE_ASSIGN_OR_RETURN(state.targets, txn.LockEntries(targets));
    std::vector<std::string> registered;
    for (const auto& [unique_id, entry] : state.by_unique_id)
      registered.push_back(entry.entry_uuid());
    HIE_ASSIGN_OR_RETURN(state.associations, txn.AssociationsFrom(registered));
    const absl::Time now = options_.now();
    HIE_ASSIGN_OR_RETURN(SubmissionPlan plan,
                         PlanSubmission(request, actor.org, state, now, options_.new_id));
    absl::Status inserted =
        txn.Insert(plan.submission_set, plan.new_entries, plan.new_associations);
    if (absl::IsAlreadyExists(inserted)) {
      return absl::AlreadyExistsError(
          "submission_set.unique_id is already registered (or an entry's unique_id was "
          "registered by a concurrent submission)");
    }
    HIE_RETURN_IF_ERROR(inserted);
    for (const Deprecation& d : plan.deprecations) {
      HIE_RETURN_IF_ERROR(txn.Deprecate(d.entry_uuid, now, d.replaced_by_entry_uuid));
    }
    response = std::move(plan.response);
    return txn.PutIdempotent(key, {fingerprint, response.SerializeAsString()});
  }));
  return response;
}

absl::StatusOr<v1::FindDocumentsResponse> RegistryOperations::Find(
    const v1::FindDocumentsRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateFind(request));
  const std::string query_key = QueryKey(request);
  DocumentFilter filter = FilterOf(request, options_.max_scanned);
  if (!request.page_token().empty()) {
    HIE_ASSIGN_OR_RETURN(filter.after, ParsePageToken(request.page_token(), query_key));
  }
  const size_t page = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  filter.limit = page + 1;  // one more tells whether another page follows
  HIE_ASSIGN_OR_RETURN(std::vector<v1::DocumentEntry> found,
                       store_->FindDocuments(deadline, filter));
  v1::FindDocumentsResponse response;
  const bool more = found.size() > page;
  if (more) found.resize(page);
  for (auto& e : found) *response.add_entries() = std::move(e);
  if (more) response.set_next_page_token(PageToken(query_key, response.entries(page - 1)));
  return response;
}

absl::StatusOr<v1::GetDocumentsResponse> RegistryOperations::Get(
    const v1::GetDocumentsRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateGet(request));
  DocumentKeys keys;
  keys.entry_uuids.assign(request.entry_uuids().begin(), request.entry_uuids().end());
  keys.unique_ids.assign(request.unique_ids().begin(), request.unique_ids().end());
  keys.locations.assign(request.locations().begin(), request.locations().end());
  HIE_ASSIGN_OR_RETURN(std::vector<v1::DocumentEntry> found, store_->GetDocuments(deadline, keys));
  v1::GetDocumentsResponse response;
  for (auto& e : found) *response.add_entries() = std::move(e);
  return response;
}

absl::StatusOr<v1::GetRelatedDocumentsResponse> RegistryOperations::Related(
    const v1::GetRelatedDocumentsRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateRelated(request));
  absl::StatusOr<registry::Related> related = store_->GetRelated(deadline, request.entry_uuid());
  if (absl::IsNotFound(related.status())) {
    return absl::NotFoundError("entry_uuid is not registered");
  }
  HIE_RETURN_IF_ERROR(related.status());
  const std::set<int> types(request.types().begin(), request.types().end());
  std::set<std::string> kept;
  v1::GetRelatedDocumentsResponse response;
  for (const v1::Association& a : related->associations) {
    if (!types.empty() && !types.contains(a.type())) continue;
    kept.insert(a.source() == request.entry_uuid() ? a.target_entry_uuid() : a.source());
    *response.add_associations() = a;
  }
  for (const v1::DocumentEntry& e : related->entries) {
    if (kept.contains(e.entry_uuid())) *response.add_entries() = e;
  }
  return response;
}

absl::StatusOr<v1::DocumentEntry> RegistryOperations::Deprecate(
    const Actor& actor, const v1::DeprecateDocumentRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateDeprecate(request));
  v1::DeprecateDocumentRequest content = request;
  content.clear_context();
  const std::string fingerprint = Fingerprint(content);
  const std::string key = absl::StrCat("deprecate|", actor.org, "|", request.idempotency_key());
  v1::DocumentEntry out;
  HIE_RETURN_IF_ERROR(Transact(deadline, [&](RegistryTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto replayed, ReplayIdempotent<v1::DocumentEntry>(txn, key, fingerprint));
    if (replayed) {
      out = *std::move(replayed);
      return absl::OkStatus();
    }
    HIE_ASSIGN_OR_RETURN(auto locked, txn.LockEntries({request.entry_uuid()}));
    if (locked.empty()) return absl::NotFoundError("entry_uuid is not registered");
    v1::DocumentEntry entry = locked.begin()->second;
    if (entry.location().member_org() != actor.org) {
      return absl::PermissionDeniedError("entry_uuid was published by another organisation");
    }
    if (entry.status() == v1::AVAILABILITY_STATUS_DEPRECATED) {
      return absl::FailedPreconditionError("entry_uuid is already deprecated");
    }
    const absl::Time now = options_.now();
    HIE_RETURN_IF_ERROR(txn.Deprecate(entry.entry_uuid(), now, ""));
    HIE_ASSIGN_OR_RETURN(locked, txn.LockEntries({request.entry_uuid()}));
    out = locked.begin()->second;
    return txn.PutIdempotent(key, {fingerprint, out.SerializeAsString()});
  }));
  return out;
}

absl::StatusOr<v1::ListChangesResponse> RegistryOperations::Changes(
    const v1::ListChangesRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateListChanges(request));
  const size_t page =
      request.page_size() == 0 ? kDefaultChangesPageSize : static_cast<size_t>(request.page_size());
  const FeedPosition after{request.after().version(), request.after().entry_uuid()};
  HIE_ASSIGN_OR_RETURN(std::vector<EntryChange> changes,
                       store_->ChangesSince(deadline, after, page));
  v1::ListChangesResponse response;
  *response.mutable_next_after() = request.after();
  for (EntryChange& change : changes) {
    v1::EntryChange* out = response.add_changes();
    out->mutable_position()->set_version(change.position.version);
    out->mutable_position()->set_entry_uuid(change.position.entry_uuid);
    if (change.unreadable) {
      out->set_unreadable(true);
    } else {
      *out->mutable_entry() = std::move(change.entry);
    }
    *response.mutable_next_after() = out->position();
  }
  return response;
}

}  // namespace hie::registry
