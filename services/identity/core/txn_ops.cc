#include "services/identity/core/txn_ops.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/identity/core/authorization.h"

namespace hie::identity {

v1::IdentityEvent NewEvent(v1::IdentityEventType type, const CallContext& call, absl::Time now,
                           const std::string& reason) {
  v1::IdentityEvent e;
  e.set_type(type);
  *e.mutable_event_time() = ToProto(now);
  *e.mutable_actor() = call.actor;
  e.set_reason(reason);
  e.set_request_id(call.request_id);
  return e;
}

absl::StatusOr<v1::Person> LoadPerson(IdentityTxn& txn, const std::string& person_id) {
  HIE_ASSIGN_OR_RETURN(std::optional<v1::Person> person, txn.GetPerson(person_id));
  if (!person.has_value())
    return absl::NotFoundError(absl::StrCat("person ", person_id, " not found"));
  return *person;
}

// Locks and loads a person for a change; follows merges to the surviving person.
absl::StatusOr<v1::Person> LockActivePerson(IdentityTxn& txn, std::string person_id) {
  for (int hop = 0; hop < kMaxMergeChain; ++hop) {
    HIE_RETURN_IF_ERROR(txn.LockKey(PersonLock(person_id)));
    absl::StatusOr<v1::Person> person = LoadPerson(txn, person_id);
    if (!person.ok() || person->state() != v1::PERSON_STATE_MERGED) return person;
    person_id = person->merged_into_person_id();
  }
  return absl::InternalError("merge chain too long");
}

// Records a change of the person's links: new etag and update time.
absl::Status TouchPerson(IdentityTxn& txn, v1::Person person, absl::Time now, v1::PersonState state,
                         const std::string& merged_into) {
  int64_t revision = 0;
  (void)absl::SimpleAtoi(person.etag(), &revision);
  person.set_etag(absl::StrCat(revision + 1));
  *person.mutable_update_time() = ToProto(now);
  person.set_state(state);
  person.set_merged_into_person_id(merged_into);
  person.clear_links();
  return txn.PutPerson(person);
}

absl::StatusOr<v1::Person> CreatePerson(IdentityTxn& txn, const CallContext& call, absl::Time now,
                                        const std::string& reason) {
  HIE_ASSIGN_OR_RETURN(std::string id, txn.NewPersonId());
  v1::Person person;
  person.set_person_id(id);
  person.set_state(v1::PERSON_STATE_ACTIVE);
  person.set_etag("1");
  *person.mutable_create_time() = ToProto(now);
  *person.mutable_update_time() = ToProto(now);
  HIE_RETURN_IF_ERROR(txn.PutPerson(person));
  v1::IdentityEvent event = NewEvent(v1::IDENTITY_EVENT_TYPE_PERSON_CREATED, call, now, reason);
  event.set_to_person_id(id);
  HIE_RETURN_IF_ERROR(txn.AppendEvent(&event).status());
  return person;
}

// Moves (or first links) a record to `to_person`, appending the event. Returns the event.
absl::StatusOr<v1::IdentityEvent> MoveRecord(IdentityTxn& txn, const CallContext& call,
                                             absl::Time now, const SourceId& id,
                                             const std::string& from_person,
                                             const std::string& to_person, v1::LinkMethod method,
                                             v1::IdentityEventType type, const std::string& reason,
                                             double score, v1::MatchGrade grade) {
  v1::IdentityEvent event = NewEvent(type, call, now, reason);
  *event.add_source_ids() = id;
  event.set_from_person_id(from_person);
  event.set_to_person_id(to_person);
  event.set_score(score);
  event.set_grade(grade);
  if (!from_person.empty()) event.add_affected_person_ids(from_person);
  event.add_affected_person_ids(to_person);
  HIE_RETURN_IF_ERROR(txn.AppendEvent(&event).status());
  v1::Link link;
  *link.mutable_source_id() = id;
  link.set_person_id(to_person);
  link.set_method(method);
  link.set_score(score);
  link.set_grade(grade);
  *link.mutable_actor() = call.actor;
  link.set_reason(reason);
  *link.mutable_create_time() = ToProto(now);
  link.set_event_id(event.event_id());
  HIE_RETURN_IF_ERROR(txn.PutLink(link));
  return event;
}

// After `person` lost records: retire it when it has none left, else bump its etag.
absl::StatusOr<v1::Person> SettleAfterLoss(IdentityTxn& txn, const v1::Person& person,
                                           absl::Time now) {
  HIE_ASSIGN_OR_RETURN(std::vector<v1::Link> left, txn.LinksOf(person.person_id()));
  v1::PersonState state = left.empty() ? v1::PERSON_STATE_RETIRED : v1::PERSON_STATE_ACTIVE;
  HIE_RETURN_IF_ERROR(TouchPerson(txn, person, now, state));
  return LoadPerson(txn, person.person_id());
}

absl::StatusOr<v1::ReviewTask> OpenReviewTask(IdentityTxn& txn, const CallContext& call,
                                              absl::Time now, const v1::SourceRecord& left,
                                              const std::string& left_person,
                                              const v1::SourceRecord& right,
                                              const std::string& right_person,
                                              const v1::MatchExplanation& explanation) {
  HIE_ASSIGN_OR_RETURN(std::string id, txn.NewTaskId());
  v1::ReviewTask task;
  task.set_task_id(id);
  task.set_state(v1::REVIEW_TASK_STATE_OPEN);
  *task.mutable_left() = left;
  task.mutable_left()->set_person_id(left_person);
  *task.mutable_right() = right;
  task.mutable_right()->set_person_id(right_person);
  task.set_left_person_id(left_person);
  task.set_right_person_id(right_person);
  *task.mutable_explanation() = explanation;
  *task.mutable_create_time() = ToProto(now);
  task.set_etag("1");
  HIE_RETURN_IF_ERROR(txn.PutTask(task));
  v1::IdentityEvent event =
      NewEvent(v1::IDENTITY_EVENT_TYPE_REVIEW_TASK_CREATED, call, now, "possible_match");
  *event.add_source_ids() = left.source_id();
  *event.add_source_ids() = right.source_id();
  event.add_affected_person_ids(left_person);
  event.add_affected_person_ids(right_person);
  event.set_review_task_id(id);
  event.set_score(explanation.total_score());
  event.set_grade(explanation.grade());
  HIE_RETURN_IF_ERROR(txn.AppendEvent(&event).status());
  return task;
}

absl::Status CloseTask(IdentityTxn& txn, const CallContext& call, absl::Time now,
                       v1::ReviewTask task, v1::ReviewTaskState state, const std::string& reason) {
  task.set_state(state);
  *task.mutable_close_time() = ToProto(now);
  *task.mutable_resolved_by() = call.actor;
  task.set_resolution_reason(reason);
  int64_t revision = 0;
  (void)absl::SimpleAtoi(task.etag(), &revision);
  task.set_etag(absl::StrCat(revision + 1));
  HIE_RETURN_IF_ERROR(txn.PutTask(task));
  v1::IdentityEvent event = NewEvent(v1::IDENTITY_EVENT_TYPE_REVIEW_TASK_CLOSED, call, now, reason);
  *event.add_source_ids() = task.left().source_id();
  *event.add_source_ids() = task.right().source_id();
  event.set_review_task_id(task.task_id());
  return txn.AppendEvent(&event).status();
}

// Open tasks of `id` whose two records now sit on one person are moot.
absl::Status ObsoleteSettledTasks(IdentityTxn& txn, const CallContext& call, absl::Time now,
                                  const SourceId& id) {
  HIE_ASSIGN_OR_RETURN(std::vector<v1::ReviewTask> open, txn.OpenTasksWith(id));
  for (const v1::ReviewTask& task : open) {
    auto left = txn.GetLink(task.left().source_id());
    auto right = txn.GetLink(task.right().source_id());
    if (!left.ok()) return left.status();
    if (!right.ok()) return right.status();
    if (left->has_value() && right->has_value() && (*left)->person_id() == (*right)->person_id()) {
      HIE_RETURN_IF_ERROR(CloseTask(txn, call, now, task, v1::REVIEW_TASK_STATE_OBSOLETE,
                                    "records already on one person"));
    }
  }
  return absl::OkStatus();
}

// Records a not-a-match decision between two records (idempotent per pair).
absl::Status RecordNotAMatch(IdentityTxn& txn, const CallContext& call, absl::Time now,
                             const SourceId& a, const SourceId& b, const std::string& reason) {
  v1::IdentityEvent event =
      NewEvent(v1::IDENTITY_EVENT_TYPE_NOT_A_MATCH_RECORDED, call, now, reason);
  *event.add_source_ids() = a;
  *event.add_source_ids() = b;
  HIE_RETURN_IF_ERROR(txn.AppendEvent(&event).status());
  v1::NotAMatch decision;
  *decision.mutable_a() = a;
  *decision.mutable_b() = b;
  *decision.mutable_actor() = call.actor;
  decision.set_reason(reason);
  *decision.mutable_create_time() = ToProto(now);
  decision.set_event_id(event.event_id());
  return txn.PutNotAMatch(decision);
}

absl::Status CheckEtag(const std::string& expected, const v1::Person& person) {
  if (!expected.empty() && expected != person.etag()) {
    return absl::AbortedError(
        absl::StrCat("person ", person.person_id(), " changed since it was read (etag)"));
  }
  return absl::OkStatus();
}

// Moves every link of `merged` onto `survivor` and marks `merged` MERGED.
absl::StatusOr<v1::IdentityEvent> MergeInTxn(IdentityTxn& txn, const CallContext& call,
                                             absl::Time now, const v1::Person& survivor,
                                             const v1::Person& merged, const std::string& reason) {
  HIE_ASSIGN_OR_RETURN(std::vector<v1::Link> moving, txn.LinksOf(merged.person_id()));
  v1::IdentityEvent event = NewEvent(v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED, call, now, reason);
  event.set_from_person_id(merged.person_id());
  event.set_to_person_id(survivor.person_id());
  event.add_affected_person_ids(merged.person_id());
  event.add_affected_person_ids(survivor.person_id());
  for (const v1::Link& link : moving) *event.add_source_ids() = link.source_id();
  HIE_RETURN_IF_ERROR(txn.AppendEvent(&event).status());
  for (v1::Link link : moving) {
    link.set_person_id(survivor.person_id());
    link.set_method(v1::LINK_METHOD_MANUAL);
    *link.mutable_actor() = call.actor;
    link.set_reason(reason);
    *link.mutable_create_time() = ToProto(now);
    link.set_event_id(event.event_id());
    HIE_RETURN_IF_ERROR(txn.PutLink(link));
  }
  HIE_RETURN_IF_ERROR(TouchPerson(txn, merged, now, v1::PERSON_STATE_MERGED, survivor.person_id()));
  HIE_RETURN_IF_ERROR(TouchPerson(txn, survivor, now));
  for (const v1::Link& link : moving) {
    HIE_RETURN_IF_ERROR(ObsoleteSettledTasks(txn, call, now, link.source_id()));
  }
  return event;
}

// Current versions of the records linked to a person.
absl::StatusOr<std::vector<v1::SourceRecord>> RecordsOf(IdentityTxn& txn,
                                                        const std::string& person_id) {
  HIE_ASSIGN_OR_RETURN(std::vector<LinkedRecord> linked, txn.LinkedRecordsOf(person_id));
  std::vector<v1::SourceRecord> records;
  for (LinkedRecord& l : linked) records.push_back(std::move(l.record));
  return records;
}

absl::StatusOr<v1::UnlinkRecordResponse> UnlinkInTxn(IdentityTxn& txn, const CallContext& call,
                                                     absl::Time now, const SourceId& id,
                                                     const std::string& reason,
                                                     const std::string& expected_etag) {
  HIE_ASSIGN_OR_RETURN(auto record, txn.GetRecord(id));
  if (!record.has_value()) return absl::NotFoundError("source record not found");
  HIE_ASSIGN_OR_RETURN(auto previous, LockActivePerson(txn, record->person_id()));
  HIE_RETURN_IF_ERROR(CheckEtag(expected_etag, previous));
  HIE_ASSIGN_OR_RETURN(auto links, txn.LinksOf(previous.person_id()));
  if (links.size() < 2) {
    return absl::FailedPreconditionError("record is its person's only record");
  }
  HIE_ASSIGN_OR_RETURN(auto fresh, CreatePerson(txn, call, now, reason));
  HIE_ASSIGN_OR_RETURN(auto moved, MoveRecord(txn, call, now, id, previous.person_id(),
                                              fresh.person_id(), v1::LINK_METHOD_SPLIT,
                                              v1::IDENTITY_EVENT_TYPE_RECORD_UNLINKED, reason));
  // So that matching does not put it back. A member (ADT A37) speaks for its own records
  // only: its decision says nothing about other organisations' records of the person.
  for (const v1::Link& l : links) {
    if (SameId(l.source_id(), id)) continue;
    if (IsMemberRole(call.actor.role()) && l.source_id().org() != call.actor.org()) {
      continue;
    }
    HIE_RETURN_IF_ERROR(RecordNotAMatch(txn, call, now, id, l.source_id(), reason));
  }
  HIE_ASSIGN_OR_RETURN(auto settled, SettleAfterLoss(txn, previous, now));
  HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, fresh.person_id()));
  v1::UnlinkRecordResponse out;
  *out.mutable_new_person() = person;
  *out.mutable_previous_person() = settled;
  out.set_event_id(moved.event_id());
  return out;
}

}  // namespace hie::identity
