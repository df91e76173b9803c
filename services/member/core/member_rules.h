#pragma once

// What a member endpoint answers (proto/hie/member/v1/member.proto), over its MemberStore.
// Pure: validation, the query, retrieval's checks, capabilities. The adapter (api/) adds the
// caller check, deadlines, streaming and fault injection.
//
// Validation (INVALID_ARGUMENT naming the field, never its value):
//   context: request_id (1..128), purpose_of_use required, actor.org and actor.role required,
//     the rest as services/common/request_checks.h CheckContext;
//   local_patient_ids: 1..100, each an id (1..128 bytes of printable ASCII without spaces):
//     "local_patient_ids[3] must be printable ASCII without spaces";
//   query: exactly what the registry accepts for its FindDocuments (services/registry/core/
//     validation.h: statuses known, <= 100 codings per list, each with system and code, time
//     ranges whose end is after their start, author_institution <= 256 bytes of text);
//   max_results: 0..1000 (0 = 100);
//   obligations: obligations.h CheckObligations;
//   retrieve: repository_unique_id empty or an id; retrieve_key 1..256 bytes of text.
//
// FindDocuments: the documents of the named local patients that match every filter of the
// query, with exactly the registry's semantics (services/registry/store/document_filter.h:
// statuses default to APPROVED; repeated codes match any; optional codings and times must be
// present to match a filter on them; half-open time ranges; author institution substring,
// ASCII case-insensitive), minus those an obligation redacts; newest creation_time first (ties:
// unique_id descending); at most max_results, `truncated` when more matched. Unknown local ids
// yield nothing. Each entry carries the registry's entry_uuid once the hub feed recorded it.
//
// RetrieveDocument: the document named by retrieve_key (or unique_id) in this member's
// repository (an empty repository_unique_id means it); NOT_FOUND when there is none, when it
// belongs to none of local_patient_ids, or when another repository is named (the same message
// in every case: an answer must not tell whether another patient's document exists);
// PERMISSION_DENIED when an obligation redacts it.

#include "absl/status/statusor.h"
#include "hie/member/v1/member.pb.h"
#include "services/member/core/member_data.h"

namespace hie::member {

inline constexpr int kMaxLocalPatientIds = 100;
inline constexpr int kDefaultMaxResults = 100;
inline constexpr int kMaxMaxResults = 1000;
inline constexpr size_t kMaxRetrieveKeyBytes = 256;
inline constexpr size_t kMaxChunkBytes = 1 << 20;  // RetrieveDocumentResponse.chunk

absl::Status ValidateFind(const v1::FindDocumentsRequest& request);
absl::Status ValidateRetrieve(const v1::RetrieveDocumentRequest& request);
absl::Status ValidateCapabilities(const v1::GetCapabilitiesRequest& request);

// Validates, then answers.
absl::StatusOr<v1::FindDocumentsResponse> FindDocuments(const MemberStore& store,
                                                        const v1::FindDocumentsRequest& request);

// Validates, then the document to stream (owned by `store`).
absl::StatusOr<const MemberDocument*> DocumentToRetrieve(
    const MemberStore& store, const v1::RetrieveDocumentRequest& request);

// The first message of a retrieval.
v1::DocumentHeader HeaderOf(const MemberDocument& document);

// How many chunks of at most `chunk_bytes` (1..kMaxChunkBytes) carry `content_bytes`; the i-th
// starts at i * chunk_bytes. An empty document has no chunk.
size_t ChunkCount(size_t content_bytes, size_t chunk_bytes);

v1::MemberCapabilities CapabilitiesOf(const MemberStore& store, size_t chunk_bytes);

}  // namespace hie::member
