// IdentityManager: what a member organisation says about its own records beyond registering
// them: a source merge (its duplicate superseded by the surviving record, HL7 ADT A40) and a
// source unlink (two of its records are not one patient, ADT A37). Each is one transaction,
// idempotent on one key; the HL7 feed (api/hl7_feed.h) only maps messages to these calls.

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/key_locks.h"
#include "services/identity/core/txn_ops.h"
#include "services/identity/core/validation.h"

namespace hie::identity {
namespace {

// An ADT A40 holds a merge group per PID/MRG pair; all of them go into one transaction, whose
// locks (about 8 per group) PostgreSQL holds in its shared lock table.
constexpr int kMaxMergeGroups = 50;

absl::Status ValidateSourceMerge(const SourceId& survivor, const SourceId& superseded,
                                 const std::string& prefix) {
  HIE_RETURN_IF_ERROR(ValidateSourceId(survivor, prefix + "survivor"));
  HIE_RETURN_IF_ERROR(ValidateSourceId(superseded, prefix + "superseded"));
  if (survivor.org() != superseded.org()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "survivor.org and ", prefix, "superseded.org must be the same org"));
  }
  if (SameId(survivor, superseded)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "survivor and ", prefix, "superseded must be different records"));
  }
  return absl::OkStatus();
}

// The superseded record follows the survivor's person (a member's own duplicate, ADT A40):
// marked SUPERSEDED, its open review tasks obsolete. NOT_FOUND when either record is unknown.
absl::StatusOr<v1::MergeSourceRecordsResponse> SupersedeInTxn(IdentityTxn& txn,
                                                              const CallContext& call,
                                                              absl::Time now,
                                                              const SourceId& survivor_id,
                                                              const SourceId& superseded_id) {
  auto survivor = txn.GetRecord(survivor_id);
  auto superseded = txn.GetRecord(superseded_id);
  if (!survivor.ok()) return survivor.status();
  if (!superseded.ok()) return superseded.status();
  if (!survivor->has_value() || !superseded->has_value()) {
    return absl::NotFoundError("survivor or superseded record not found");
  }
  if ((*superseded)->state() == v1::RECORD_STATE_SUPERSEDED &&
      !SameId((*superseded)->superseded_by(), survivor_id)) {
    return absl::FailedPreconditionError(
        "superseded record is already superseded by another record");
  }
  if ((*survivor)->state() != v1::RECORD_STATE_ACTIVE) {
    return absl::FailedPreconditionError("survivor record is not active");
  }
  HIE_RETURN_IF_ERROR(txn.SetRecordState(superseded_id, v1::RECORD_STATE_SUPERSEDED, survivor_id));
  // The superseded record follows the survivor's person.
  HIE_ASSIGN_OR_RETURN(auto to, LockActivePerson(txn, (*survivor)->person_id()));
  v1::MergeSourceRecordsResponse out;
  const std::string from = (*superseded)->person_id();
  if (from != to.person_id()) {
    HIE_ASSIGN_OR_RETURN(auto from_person, LockActivePerson(txn, from));
    HIE_ASSIGN_OR_RETURN(
        auto moved,
        MoveRecord(txn, call, now, superseded_id, from, to.person_id(), v1::LINK_METHOD_MANUAL,
                   v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED, "source_merge"));
    out.set_event_id(moved.event_id());
    HIE_RETURN_IF_ERROR(SettleAfterLoss(txn, from_person, now).status());
    HIE_RETURN_IF_ERROR(TouchPerson(txn, to, now));
  } else {
    v1::IdentityEvent e =
        NewEvent(v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED, call, now, "source_merge");
    *e.add_source_ids() = superseded_id;
    *e.add_source_ids() = survivor_id;
    e.set_to_person_id(to.person_id());
    HIE_RETURN_IF_ERROR(txn.AppendEvent(&e).status());
    out.set_event_id(e.event_id());
  }
  // Its open review tasks no longer make sense.
  HIE_ASSIGN_OR_RETURN(auto open, txn.OpenTasksWith(superseded_id));
  for (const v1::ReviewTask& task : open) {
    HIE_RETURN_IF_ERROR(
        CloseTask(txn, call, now, task, v1::REVIEW_TASK_STATE_OBSOLETE, "record superseded"));
  }
  auto survivor_now = txn.GetRecord(survivor_id);
  auto superseded_now = txn.GetRecord(superseded_id);
  if (!survivor_now.ok()) return survivor_now.status();
  if (!superseded_now.ok()) return superseded_now.status();
  *out.mutable_survivor() = **survivor_now;
  *out.mutable_superseded() = **superseded_now;
  out.set_person_id(to.person_id());
  return out;
}

}  // namespace

absl::StatusOr<v1::MergeSourceRecordsResponse> IdentityManager::MergeSourceRecords(
    const CallContext& call, const v1::MergeSourceRecordsRequest& request) {
  HIE_RETURN_IF_ERROR(
      Admit(call, request, Operation::kMergeSourceRecords,
            {{&request.survivor(), "survivor"}, {&request.superseded(), "superseded"}}));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceMerge(request.survivor(), request.superseded(), ""));
  const absl::Time now = clock_->Now();
  v1::MergeSourceRecordsResponse response;
  absl::Status status = Write(
      call.deadline,
      {"record:" + RecordKey(request.survivor()), "record:" + RecordKey(request.superseded())},
      [&](IdentityTxn& txn) -> absl::Status {
        auto result = Idempotent<v1::MergeSourceRecordsResponse>(
            txn, "source_merge:" + request.idempotency_key(), Fingerprint(request), now,
            [&]() -> absl::StatusOr<v1::MergeSourceRecordsResponse> {
              return SupersedeInTxn(txn, call, now, request.survivor(), request.superseded());
            });
        if (!result.ok()) return result.status();
        response = *std::move(result);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  HIE_RETURN_IF_ERROR(matcher_->Remove(request.superseded()));
  return response;
}

absl::StatusOr<std::vector<v1::RegisterSourceRecordResponse>> IdentityManager::MergeFromSource(
    const CallContext& call, const hie::common::v1::RequestContext& context,
    std::vector<SourceMergeGroup> groups, const std::string& idempotency_key) {
  HIE_RETURN_IF_ERROR(ValidateWrite(context, idempotency_key));
  const int n = static_cast<int>(groups.size());
  if (n == 0 || n > kMaxMergeGroups) {
    return absl::InvalidArgumentError(
        absl::StrCat("merges must hold 1 to ", kMaxMergeGroups, " groups"));
  }
  // Each group's steps keep the keys the HL7 feed gave them when they were separate calls.
  std::vector<std::vector<hie::common::v1::FieldWarning>> warnings(n);
  std::vector<std::optional<v1::MergeSourceRecordsRequest>> merges(n);
  std::vector<std::shared_ptr<const PreparedRecord>> prepared(n);  // each survivor, once
  std::vector<std::string> lock_keys;
  for (int i = 0; i < n; ++i) {
    v1::RegisterSourceRecordRequest& survivor = groups[i].survivor;
    const std::string prefix = absl::StrCat("merges[", i, "].");
    *survivor.mutable_context() = context;
    survivor.set_idempotency_key(absl::StrCat(idempotency_key, ":survivor:", i));
    HIE_RETURN_IF_ERROR(AdmitRegistration(call, prefix + "survivor.", &survivor, &warnings[i]));
    prepared[i] = matcher_->Prepare(survivor.source_id(), survivor.demographics());
    for (std::string& key : RegistrationLockKeys(survivor, *prepared[i])) {
      lock_keys.push_back(std::move(key));
    }
    if (!groups[i].superseded.has_value()) continue;
    v1::MergeSourceRecordsRequest& merge = merges[i].emplace();
    *merge.mutable_context() = context;
    *merge.mutable_survivor() = survivor.source_id();
    *merge.mutable_superseded() = *groups[i].superseded;
    merge.set_idempotency_key(absl::StrCat(idempotency_key, ":merge:", i));
    const std::string field = prefix + "superseded";
    HIE_RETURN_IF_ERROR(
        Admit(call, merge, Operation::kMergeSourceRecords, {{&merge.superseded(), field}}));
    HIE_RETURN_IF_ERROR(ValidateSourceMerge(merge.survivor(), merge.superseded(), prefix));
    lock_keys.push_back("record:" + RecordKey(merge.superseded()));
  }
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<KeyLocks::Held> held,
                       key_locks_->Lock(lock_keys, call.deadline));
  const absl::Time now = clock_->Now();
  std::vector<v1::RegisterSourceRecordResponse> responses;
  // Survivors indexed and superseded records taken out of the index in the transaction.
  std::vector<IndexedChange> indexed;
  absl::Status status = Write(call.deadline, lock_keys, [&](IdentityTxn& txn) -> absl::Status {
    // The store may run this again after a failed attempt.
    HIE_RETURN_IF_ERROR(RestoreIndex(&indexed));
    responses.clear();
    HIE_RETURN_IF_ERROR(CatchUpIndex(txn));
    for (int i = 0; i < n; ++i) {
      const v1::RegisterSourceRecordRequest& survivor = groups[i].survivor;
      IndexChange change;
      HIE_ASSIGN_OR_RETURN(v1::RegisterSourceRecordResponse registered,
                           RegisterInTxn(txn, call, now, survivor, *prepared[i], &change));
      for (const auto& warning : warnings[i]) *registered.add_warnings() = warning;
      responses.push_back(std::move(registered));
      if (change.upsert) {  // so that the next group's survivor matches this one
        HIE_RETURN_IF_ERROR(matcher_->Upsert(*prepared[i]));
        indexed.push_back({survivor.source_id(), std::move(change)});
      }
      if (merges[i].has_value()) {
        HIE_RETURN_IF_ERROR(SupersedeFromSource(txn, call, now, *merges[i], &indexed));
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    HIE_RETURN_IF_ERROR(RestoreIndex(&indexed));
    return status;
  }
  return responses;
}

absl::Status IdentityManager::SupersedeFromSource(IdentityTxn& txn, const CallContext& call,
                                                  absl::Time now,
                                                  const v1::MergeSourceRecordsRequest& merge,
                                                  std::vector<IndexedChange>* indexed) {
  // A prior record this hub never received: nothing to merge (the survivor is registered).
  HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> prior, txn.GetRecord(merge.superseded()));
  if (!prior.has_value()) return absl::OkStatus();
  HIE_RETURN_IF_ERROR(Idempotent<v1::MergeSourceRecordsResponse>(
                          txn, "source_merge:" + merge.idempotency_key(), Fingerprint(merge), now,
                          [&]() -> absl::StatusOr<v1::MergeSourceRecordsResponse> {
                            return SupersedeInTxn(txn, call, now, merge.survivor(),
                                                  merge.superseded());
                          })
                          .status());
  if (prior->state() == v1::RECORD_STATE_ACTIVE) {
    // Out of the index at once, so that the message's later survivors cannot match it; put
    // back if the transaction does not commit.
    HIE_RETURN_IF_ERROR(matcher_->Remove(merge.superseded()));
    IndexChange change;
    change.before = prior->demographics();
    indexed->push_back({merge.superseded(), std::move(change)});
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::UnlinkRecordResponse> IdentityManager::UnlinkFromSource(
    const CallContext& call, const SourceId& other, const v1::UnlinkRecordRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kUnlink,
                            {{&request.source_id(), "source_id"}, {&other, "other"}}));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  HIE_RETURN_IF_ERROR(ValidateSourceId(other, "other"));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  const absl::Time now = clock_->Now();
  const std::string key = "source_unlink:" + request.idempotency_key();
  // The request names one record; the fingerprint covers the other too.
  const std::string fingerprint = Fingerprint(request) + "/" + RecordKey(other);
  v1::UnlinkRecordResponse response;
  absl::Status status = Write(
      call.deadline,
      {"record:" + RecordKey(request.source_id()), "record:" + RecordKey(other),
       "idempotency:" + key},
      [&](IdentityTxn& txn) -> absl::Status {
        HIE_ASSIGN_OR_RETURN(
            response,
            Idempotent<v1::UnlinkRecordResponse>(
                txn, key, fingerprint, now, [&]() -> absl::StatusOr<v1::UnlinkRecordResponse> {
                  HIE_ASSIGN_OR_RETURN(std::optional<v1::Link> a, txn.GetLink(other));
                  HIE_ASSIGN_OR_RETURN(std::optional<v1::Link> b, txn.GetLink(request.source_id()));
                  if (!a.has_value() || !b.has_value()) {
                    return absl::NotFoundError("source record not found");
                  }
                  if (a->person_id() != b->person_id()) {
                    return v1::UnlinkRecordResponse();  // not linked: nothing to undo
                  }
                  return UnlinkInTxn(txn, call, now, request.source_id(), request.reason(), "");
                }));
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return response;
}

}  // namespace hie::identity
