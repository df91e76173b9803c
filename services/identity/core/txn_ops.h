#pragma once

// The steps the identity rules compose inside one store transaction: idempotent results,
// events, persons, links and review tasks. Each step appends the events of what it changes, so
// an operation built from them leaves a complete history. Pure apart from the transaction
// (no clock: callers pass `now`).

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/status_macros.h"
#include "services/identity/core/call_context.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {

using ::google::protobuf::Timestamp;
using ::google::protobuf::util::TimeUtil;

// Persons merged into persons merged into ...: followed at most this far.
inline constexpr int kMaxMergeChain = 16;

inline Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

inline absl::Time FromProto(const Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

inline bool SameId(const SourceId& a, const SourceId& b) {
  return a.org() == b.org() && a.local_id() == b.local_id();
}

inline std::string PersonLock(const std::string& person_id) { return "person:" + person_id; }

// A stable digest of a request without its context (request ids differ between retries).
template <typename Request>
std::string Fingerprint(const Request& request) {
  Request copy = request;
  copy.clear_context();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    copy.SerializeToCodedStream(&coded);
  }
  uint64_t hash = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  return absl::StrFormat("%016x:%d", hash, bytes.size());
}

// Runs `produce` unless `key` already holds a result: then returns that result when the
// request is the same, ALREADY_EXISTS when it differs. Stores the produced result under `key`
// in the same transaction.
template <typename Response>
absl::StatusOr<Response> Idempotent(IdentityTxn& txn, const std::string& key,
                                    const std::string& fingerprint, absl::Time now,
                                    const std::function<absl::StatusOr<Response>()>& produce) {
  HIE_ASSIGN_OR_RETURN(std::optional<StoredIdempotentResult> stored, txn.GetIdempotent(key));
  if (stored.has_value()) {
    if (stored->request_fingerprint != fingerprint) {
      return absl::AlreadyExistsError("idempotency_key was already used for a different request");
    }
    Response response;
    if (!response.ParseFromString(stored->response)) {
      return absl::InternalError("stored idempotent response is corrupt");
    }
    return response;
  }
  absl::StatusOr<Response> response = produce();
  if (!response.ok()) return response.status();
  HIE_RETURN_IF_ERROR(txn.PutIdempotent(key, {fingerprint, response->SerializeAsString(), now}));
  return response;
}

v1::IdentityEvent NewEvent(v1::IdentityEventType type, const CallContext& call, absl::Time now,
                           const std::string& reason);
// NOT_FOUND naming the id when there is no such person.
absl::StatusOr<v1::Person> LoadPerson(IdentityTxn& txn, const std::string& person_id);
// Locks and loads a person for a change; follows merges to the surviving person.
absl::StatusOr<v1::Person> LockActivePerson(IdentityTxn& txn, std::string person_id);
// Records a change of the person's links: new etag and update time.
absl::Status TouchPerson(IdentityTxn& txn, v1::Person person, absl::Time now,
                         v1::PersonState state = v1::PERSON_STATE_ACTIVE,
                         const std::string& merged_into = "");
absl::StatusOr<v1::Person> CreatePerson(IdentityTxn& txn, const CallContext& call, absl::Time now,
                                        const std::string& reason);
// Moves (or first links) a record to `to_person`, appending the event. Returns the event.
absl::StatusOr<v1::IdentityEvent> MoveRecord(IdentityTxn& txn, const CallContext& call,
                                             absl::Time now, const SourceId& id,
                                             const std::string& from_person,
                                             const std::string& to_person, v1::LinkMethod method,
                                             v1::IdentityEventType type, const std::string& reason,
                                             double score = 0,
                                             v1::MatchGrade grade = v1::MATCH_GRADE_UNSPECIFIED);
// After `person` lost records: retire it when it has none left, else bump its etag.
absl::StatusOr<v1::Person> SettleAfterLoss(IdentityTxn& txn, const v1::Person& person,
                                           absl::Time now);
absl::StatusOr<v1::ReviewTask> OpenReviewTask(IdentityTxn& txn, const CallContext& call,
                                              absl::Time now, const v1::SourceRecord& left,
                                              const std::string& left_person,
                                              const v1::SourceRecord& right,
                                              const std::string& right_person,
                                              const v1::MatchExplanation& explanation);
absl::Status CloseTask(IdentityTxn& txn, const CallContext& call, absl::Time now,
                       v1::ReviewTask task, v1::ReviewTaskState state, const std::string& reason);
// Open tasks of `id` whose two records now sit on one person are moot.
absl::Status ObsoleteSettledTasks(IdentityTxn& txn, const CallContext& call, absl::Time now,
                                  const SourceId& id);
// Records a not-a-match decision between two records (idempotent per pair).
absl::Status RecordNotAMatch(IdentityTxn& txn, const CallContext& call, absl::Time now,
                             const SourceId& a, const SourceId& b, const std::string& reason);
// ABORTED when `expected` (an etag the caller read) is set and the person changed since.
absl::Status CheckEtag(const std::string& expected, const v1::Person& person);
// Moves every link of `merged` onto `survivor` and marks `merged` MERGED.
absl::StatusOr<v1::IdentityEvent> MergeInTxn(IdentityTxn& txn, const CallContext& call,
                                             absl::Time now, const v1::Person& survivor,
                                             const v1::Person& merged, const std::string& reason);
// Moves `id` off its person onto a new one (LINK_METHOD_SPLIT) and records not-a-match decisions
// with the person's other records (a member actor's: with its own organisation's records only),
// so that matching does not put it back. FAILED_PRECONDITION for a person's only record; ABORTED
// when `expected_etag` is set and the person changed.
absl::StatusOr<v1::UnlinkRecordResponse> UnlinkInTxn(IdentityTxn& txn, const CallContext& call,
                                                     absl::Time now, const SourceId& id,
                                                     const std::string& reason,
                                                     const std::string& expected_etag);
// Current versions of the records linked to a person.
absl::StatusOr<std::vector<v1::SourceRecord>> RecordsOf(IdentityTxn& txn,
                                                        const std::string& person_id);

}  // namespace hie::identity
