// IdentityManager: operators' work on identities: review decisions, manual links and unlinks,
// person merges and their undo. Every operation is idempotent on its key (IdempotentWrite).

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/identity/core/identifiers.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/txn_ops.h"
#include "services/identity/core/validation.h"

namespace hie::identity {

template <typename Response, typename Request>
absl::StatusOr<Response> IdentityManager::IdempotentWrite(
    const CallContext& call, const std::vector<std::string>& lock_keys, const std::string& kind,
    const Request& request, const std::function<absl::StatusOr<Response>(IdentityTxn&)>& produce) {
  Response response;
  // Two identical requests in flight at once: the second waits for the first, then finds its
  // stored answer (without this, operations that lock only inside the transaction, such as
  // person merges, would both miss the stored answer and the second would fail).
  std::vector<std::string> keys = lock_keys;
  keys.push_back(absl::StrCat("idempotency:", kind, ":", request.idempotency_key()));
  absl::Status status = Write(call.deadline, keys, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(
        Response result,
        Idempotent<Response>(txn, kind + ":" + request.idempotency_key(), Fingerprint(request),
                             clock_->Now(),
                             [&]() -> absl::StatusOr<Response> { return produce(txn); }));
    response = std::move(result);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ResolveReviewTaskResponse> IdentityManager::ResolveReviewTask(
    const CallContext& call, const v1::ResolveReviewTaskRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kResolveReview));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(RequireText(request.task_id(), "task_id", 64));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  if (request.resolution() == v1::ResolveReviewTaskRequest::RESOLUTION_UNSPECIFIED) {
    return absl::InvalidArgumentError("resolution is required (SAME or DIFFERENT)");
  }
  const absl::Time now = clock_->Now();
  return IdempotentWrite<v1::ResolveReviewTaskResponse>(
      call, {"task:" + request.task_id()}, "resolve_task", request,
      [&](IdentityTxn& txn) -> absl::StatusOr<v1::ResolveReviewTaskResponse> {
        HIE_ASSIGN_OR_RETURN(auto task, txn.GetTask(request.task_id()));
        if (!task.has_value()) return absl::NotFoundError("review task not found");
        if (task->state() != v1::REVIEW_TASK_STATE_OPEN) {
          return absl::FailedPreconditionError("review task is not open");
        }
        if (!request.expected_etag().empty() && request.expected_etag() != task->etag()) {
          return absl::AbortedError("review task changed since it was read (etag)");
        }
        auto left_link = txn.GetLink(task->left().source_id());
        auto right_link = txn.GetLink(task->right().source_id());
        if (!left_link.ok()) return left_link.status();
        if (!right_link.ok()) return right_link.status();
        if (!left_link->has_value() || !right_link->has_value()) {
          return absl::FailedPreconditionError("a record of the task has no person");
        }
        v1::ResolveReviewTaskResponse out;
        if (request.resolution() == v1::ResolveReviewTaskRequest::RESOLUTION_SAME) {
          HIE_ASSIGN_OR_RETURN(auto a, LockActivePerson(txn, (*left_link)->person_id()));
          HIE_ASSIGN_OR_RETURN(auto b, LockActivePerson(txn, (*right_link)->person_id()));
          if (a.person_id() != b.person_id()) {
            // The older person survives (its id is the one others have seen longest).
            bool a_older = FromProto(a.create_time()) < FromProto(b.create_time()) ||
                           (a.create_time().seconds() == b.create_time().seconds() &&
                            a.person_id() < b.person_id());
            const v1::Person& survivor = a_older ? a : b;
            const v1::Person& merged = a_older ? b : a;
            HIE_ASSIGN_OR_RETURN(auto event,
                                 MergeInTxn(txn, call, now, survivor, merged, request.reason()));
            out.add_event_ids(event.event_id());
          }
        } else if (auto s = RecordNotAMatch(txn, call, now, task->left().source_id(),
                                            task->right().source_id(), request.reason());
                   !s.ok()) {
          return s;
        }
        // a merge may have obsoleted it
        HIE_ASSIGN_OR_RETURN(auto latest, txn.GetTask(request.task_id()));
        if (latest->state() == v1::REVIEW_TASK_STATE_OPEN ||
            latest->state() == v1::REVIEW_TASK_STATE_OBSOLETE) {
          HIE_RETURN_IF_ERROR(
              CloseTask(txn, call, now, *task,
                        request.resolution() == v1::ResolveReviewTaskRequest::RESOLUTION_SAME
                            ? v1::REVIEW_TASK_STATE_RESOLVED_SAME
                            : v1::REVIEW_TASK_STATE_RESOLVED_DIFFERENT,
                        request.reason()));
        }
        HIE_ASSIGN_OR_RETURN(auto final_task, txn.GetTask(request.task_id()));
        *out.mutable_task() = *final_task;
        std::set<std::string> persons;
        for (const auto* side : {&task->left(), &task->right()}) {
          HIE_ASSIGN_OR_RETURN(auto link, txn.GetLink(side->source_id()));
          if (link.has_value()) persons.insert(link->person_id());
        }
        for (const std::string& p : persons) {
          HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, p));
          *out.add_persons() = person;
        }
        return out;
      });
}

absl::StatusOr<v1::LinkRecordResponse> IdentityManager::LinkRecord(
    const CallContext& call, const v1::LinkRecordRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kLink));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  HIE_RETURN_IF_ERROR(RequireText(request.person_id(), "person_id", 64));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  const absl::Time now = clock_->Now();
  return IdempotentWrite<v1::LinkRecordResponse>(
      call, {"record:" + RecordKey(request.source_id())}, "link", request,
      [&](IdentityTxn& txn) -> absl::StatusOr<v1::LinkRecordResponse> {
        HIE_ASSIGN_OR_RETURN(auto record, txn.GetRecord(request.source_id()));
        if (!record.has_value()) return absl::NotFoundError("source record not found");
        if (record->state() == v1::RECORD_STATE_SUPERSEDED) {
          return absl::FailedPreconditionError("source record is superseded");
        }
        HIE_RETURN_IF_ERROR(txn.LockKey(PersonLock(request.person_id())));
        HIE_ASSIGN_OR_RETURN(auto target, LoadPerson(txn, request.person_id()));
        if (target.state() != v1::PERSON_STATE_ACTIVE) {
          return absl::FailedPreconditionError("target person is not active");
        }
        HIE_RETURN_IF_ERROR(CheckEtag(request.expected_etag(), target));
        v1::LinkRecordResponse out;
        const std::string from = record->person_id();
        if (from == target.person_id()) {  // already there: nothing to do
          *out.mutable_person() = target;
          return out;
        }
        HIE_ASSIGN_OR_RETURN(auto previous, LockActivePerson(txn, from));
        // A manual link overrides not-a-match decisions with the target's records.
        HIE_ASSIGN_OR_RETURN(auto target_links, txn.LinksOf(target.person_id()));
        HIE_ASSIGN_OR_RETURN(auto refusals, txn.NotAMatchesOf(request.source_id()));
        for (const v1::NotAMatch& d : refusals) {
          const SourceId& other = SameId(d.a(), request.source_id()) ? d.b() : d.a();
          bool on_target =
              std::any_of(target_links.begin(), target_links.end(),
                          [&](const v1::Link& l) { return SameId(l.source_id(), other); });
          if (!on_target) continue;
          HIE_RETURN_IF_ERROR(txn.RemoveNotAMatch(d.a(), d.b()));
          v1::IdentityEvent removed =
              NewEvent(v1::IDENTITY_EVENT_TYPE_NOT_A_MATCH_REMOVED, call, now, request.reason());
          *removed.add_source_ids() = d.a();
          *removed.add_source_ids() = d.b();
          HIE_RETURN_IF_ERROR(txn.AppendEvent(&removed).status());
        }
        HIE_ASSIGN_OR_RETURN(
            auto moved, MoveRecord(txn, call, now, request.source_id(), from, target.person_id(),
                                   v1::LINK_METHOD_MANUAL, v1::IDENTITY_EVENT_TYPE_RECORD_LINKED,
                                   request.reason()));
        out.set_event_id(moved.event_id());
        HIE_RETURN_IF_ERROR(TouchPerson(txn, target, now));
        HIE_ASSIGN_OR_RETURN(auto settled, SettleAfterLoss(txn, previous, now));
        HIE_RETURN_IF_ERROR(ObsoleteSettledTasks(txn, call, now, request.source_id()));
        HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, target.person_id()));
        *out.mutable_person() = person;
        *out.mutable_previous_person() = settled;
        return out;
      });
}

absl::StatusOr<v1::UnlinkRecordResponse> IdentityManager::UnlinkRecord(
    const CallContext& call, const v1::UnlinkRecordRequest& request) {
  HIE_RETURN_IF_ERROR(
      Admit(call, request, Operation::kUnlink, {{&request.source_id(), "source_id"}}));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  const absl::Time now = clock_->Now();
  return IdempotentWrite<v1::UnlinkRecordResponse>(
      call, {"record:" + RecordKey(request.source_id())}, "unlink", request,
      [&](IdentityTxn& txn) -> absl::StatusOr<v1::UnlinkRecordResponse> {
        return UnlinkInTxn(txn, call, now, request.source_id(), request.reason(),
                           request.expected_etag());
      });
}

absl::StatusOr<v1::MergePersonsResponse> IdentityManager::MergePersons(
    const CallContext& call, const v1::MergePersonsRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kMergePersons));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(RequireText(request.survivor_person_id(), "survivor_person_id", 64));
  HIE_RETURN_IF_ERROR(RequireText(request.merged_person_id(), "merged_person_id", 64));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  if (request.survivor_person_id() == request.merged_person_id()) {
    return absl::InvalidArgumentError("survivor_person_id and merged_person_id must differ");
  }
  const absl::Time now = clock_->Now();
  return IdempotentWrite<v1::MergePersonsResponse>(
      call, {}, "merge", request,
      [&](IdentityTxn& txn) -> absl::StatusOr<v1::MergePersonsResponse> {
        // Lock both persons in id order (no deadlock between opposite merges).
        std::vector<std::string> ids = {request.survivor_person_id(), request.merged_person_id()};
        std::sort(ids.begin(), ids.end());
        for (const std::string& id : ids) {
          HIE_RETURN_IF_ERROR(txn.LockKey(PersonLock(id)));
        }
        HIE_ASSIGN_OR_RETURN(auto survivor, LoadPerson(txn, request.survivor_person_id()));
        HIE_ASSIGN_OR_RETURN(auto merged, LoadPerson(txn, request.merged_person_id()));
        if (survivor.state() != v1::PERSON_STATE_ACTIVE ||
            merged.state() != v1::PERSON_STATE_ACTIVE) {
          return absl::FailedPreconditionError("both persons must be active");
        }
        HIE_RETURN_IF_ERROR(CheckEtag(request.survivor_expected_etag(), survivor));
        HIE_RETURN_IF_ERROR(CheckEtag(request.merged_expected_etag(), merged));
        if (!request.force()) {
          // Hard guards between any pair of their records forbid the merge.
          auto a = RecordsOf(txn, survivor.person_id());
          auto b = RecordsOf(txn, merged.person_id());
          if (!a.ok()) return a.status();
          if (!b.ok()) return b.status();
          for (const auto& ra : *a) {
            for (const auto& rb : *b) {
              RecordMatch m = matcher_->Compare(ra.source_id(), ra.demographics(), rb.source_id(),
                                                rb.demographics());
              for (const auto& guard : m.explanation.guards()) {
                if (guard.kind() == v1::GuardResult::KIND_CONFLICTING_IDENTIFIER) {
                  return absl::FailedPreconditionError(
                      "the persons have conflicting identifiers; pass force to merge anyway");
                }
              }
            }
          }
        }
        HIE_ASSIGN_OR_RETURN(auto event,
                             MergeInTxn(txn, call, now, survivor, merged, request.reason()));
        v1::MergePersonsResponse out;
        auto s_now = LoadPerson(txn, survivor.person_id());
        auto m_now = LoadPerson(txn, merged.person_id());
        if (!s_now.ok()) return s_now.status();
        if (!m_now.ok()) return m_now.status();
        *out.mutable_survivor() = *s_now;
        *out.mutable_merged() = *m_now;
        out.set_merge_event_id(event.event_id());
        return out;
      });
}

absl::StatusOr<v1::UnmergePersonsResponse> IdentityManager::UnmergePersons(
    const CallContext& call, const v1::UnmergePersonsRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kUnmergePersons));
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(RequireText(request.merge_event_id(), "merge_event_id", 64));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  const absl::Time now = clock_->Now();
  return IdempotentWrite<v1::UnmergePersonsResponse>(
      call, {}, "unmerge", request,
      [&](IdentityTxn& txn) -> absl::StatusOr<v1::UnmergePersonsResponse> {
        HIE_ASSIGN_OR_RETURN(auto merge, txn.GetEvent(request.merge_event_id()));
        if (!merge.has_value() || merge->type() != v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED) {
          return absl::NotFoundError("no such merge event");
        }
        const std::string survivor_id = merge->to_person_id();
        const std::string restored_id = merge->from_person_id();
        std::vector<std::string> ids = {survivor_id, restored_id};
        std::sort(ids.begin(), ids.end());
        for (const std::string& id : ids) {
          HIE_RETURN_IF_ERROR(txn.LockKey(PersonLock(id)));
        }
        auto survivor = LoadPerson(txn, survivor_id);
        auto restored = LoadPerson(txn, restored_id);
        if (!survivor.ok()) return survivor.status();
        if (!restored.ok()) return restored.status();
        if (restored->state() != v1::PERSON_STATE_MERGED ||
            restored->merged_into_person_id() != survivor_id ||
            survivor->state() != v1::PERSON_STATE_ACTIVE) {
          return absl::FailedPreconditionError(
              "merge was already undone, or the persons changed state since");
        }
        // Exactly what the merge moved must still be where the merge put it.
        for (const SourceId& moved : merge->source_ids()) {
          HIE_ASSIGN_OR_RETURN(auto link, txn.GetLink(moved));
          if (!link.has_value() || link->person_id() != survivor_id ||
              link->event_id() != request.merge_event_id()) {
            return absl::FailedPreconditionError(
                "a record moved by the merge was changed by a later event; undo that first");
          }
        }
        v1::IdentityEvent event =
            NewEvent(v1::IDENTITY_EVENT_TYPE_PERSONS_UNMERGED, call, now, request.reason());
        event.set_from_person_id(survivor_id);
        event.set_to_person_id(restored_id);
        event.add_affected_person_ids(survivor_id);
        event.add_affected_person_ids(restored_id);
        event.set_undoes_event_id(request.merge_event_id());
        *event.mutable_source_ids() = merge->source_ids();
        HIE_RETURN_IF_ERROR(txn.AppendEvent(&event).status());
        for (const SourceId& moved : merge->source_ids()) {
          HIE_ASSIGN_OR_RETURN(auto link, txn.GetLink(moved));
          v1::Link back = *link;
          back.set_person_id(restored_id);
          back.set_method(v1::LINK_METHOD_SPLIT);
          *back.mutable_actor() = call.actor;
          back.set_reason(request.reason());
          *back.mutable_create_time() = ToProto(now);
          back.set_event_id(event.event_id());
          HIE_RETURN_IF_ERROR(txn.PutLink(back));
        }
        HIE_RETURN_IF_ERROR(TouchPerson(txn, *restored, now));
        HIE_ASSIGN_OR_RETURN(auto settled, SettleAfterLoss(txn, *survivor, now));
        HIE_ASSIGN_OR_RETURN(auto restored_now, LoadPerson(txn, restored_id));
        v1::UnmergePersonsResponse out;
        *out.mutable_restored() = restored_now;
        *out.mutable_survivor() = settled;
        out.set_event_id(event.event_id());
        return out;
      });
}

}  // namespace hie::identity
