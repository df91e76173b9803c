#pragma once

// Checks of every registry request, before anything is read or written: INVALID_ARGUMENT
// naming the field (with its path, e.g. "entries[3].hash.digest") and the problem, never the
// value. Strings: UTF-8 without control characters and within their limit; ids 1..128 bytes of
// printable ASCII without spaces (services/common/request_checks.h). Limits:
//   entries 1..1000 with distinct unique_ids; associations 0..1000, each naming an entry of the
//   submission by unique_id as its source, a known type, and a target entry_uuid; one entry
//   replaces at most one target and one target is replaced at most once per submission;
//   entry: patient, class/type/format codes, mime_type ("type/subtype", <= 128), 1..100
//   confidentiality codes, creation_time, a SHA-256 hash of 32 bytes (SHA-1 alone is refused:
//   it no longer proves content unaltered), size_bytes > 0, location (member_org,
//   repository_unique_id; retrieve_key <= 256) required; title <= 1024, language_code <= 35,
//   authors <= 100 (text fields <= 256), event codes <= 100; creation and service times within
//   1800-01-01..2199-12-31, service_stop_time not before service_start_time;
//   FindDocuments: patients 1..1000, page_size 0..1000, page_token <= 512, query codes <= 100
//   each, time ranges with end after start, author_institution <= 256;
//   GetDocuments: 1..1000 ids in all (entry_uuids, unique_ids and locations together), each
//   location with member_org, repository_unique_id (ids) and retrieve_key (1..256 bytes of
//   text) all required; request_id, idempotency_key 1..128; reason 1..1024;
//   ListChanges: page_size 0..1000, after.version >= 0, after.entry_uuid empty or an entry
//   uuid as the registry assigns them ("urn:uuid:" and 8-4-4-4-12 lowercase hex digits); no
//   purpose of use required (the feed is replication between hub services, not a query).
// Output-only fields of entries and submission sets are ignored (the registry assigns them).
// Pure.

#include <string>

#include "absl/status/status.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::registry {

inline constexpr int kMaxEntries = 1000;
inline constexpr int kMaxPatients = 1000;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kDefaultChangesPageSize = 500;  // ListChanges' page_size 0

absl::Status ValidateContext(const common::v1::RequestContext& context, bool need_purpose);
absl::Status ValidateRegister(const v1::RegisterSubmissionSetRequest& r);
absl::Status ValidateFind(const v1::FindDocumentsRequest& r);
absl::Status ValidateGet(const v1::GetDocumentsRequest& r);
absl::Status ValidateRelated(const v1::GetRelatedDocumentsRequest& r);
absl::Status ValidateDeprecate(const v1::DeprecateDocumentRequest& r);
absl::Status ValidateListChanges(const v1::ListChangesRequest& r);

// The caller's org (from its certificate) must be every entry's patient.org and
// location.member_org: else PERMISSION_DENIED naming the first entry field that differs.
absl::Status CheckPublisher(const v1::RegisterSubmissionSetRequest& r, const std::string& org);

}  // namespace hie::registry
