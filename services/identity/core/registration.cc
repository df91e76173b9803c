// IdentityManager: registrations, one and in batches (source_events.cc has a member's merges).

#include <algorithm>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/key_locks.h"
#include "services/identity/core/registration_plan.h"
#include "services/identity/core/txn_ops.h"
#include "services/identity/core/validation.h"
#include "services/identity/store/write_behind_txn.h"

namespace hie::identity {

namespace {

constexpr int kMatchLimit = 10;
// Entries of one RegisterSourceRecords call. Its locks (about 8 per entry) are held together, in
// this process and in PostgreSQL's shared lock table, which holds max_locks_per_transaction (64
// by default) times max_connections locks: 8 connections with calls of 50 use about 3,200.
constexpr int kMaxBatchRegistrations = 50;

std::string RegisterIdempotencyKey(const v1::RegisterSourceRecordRequest& request) {
  return "register:" + request.idempotency_key();
}

}  // namespace

std::vector<std::string> IdentityManager::RegistrationLockKeys(
    const v1::RegisterSourceRecordRequest& request, const PreparedRecord& prepared) const {
  std::vector<std::string> lock_keys = matcher_->LockKeys(prepared);
  lock_keys.push_back("record:" + RecordKey(request.source_id()));
  return lock_keys;
}

absl::StatusOr<v1::RegisterSourceRecordResponse> IdentityManager::Register(
    const CallContext& call, const v1::RegisterSourceRecordRequest& sent) {
  v1::RegisterSourceRecordRequest request = sent;
  std::vector<hie::common::v1::FieldWarning> warnings;
  HIE_RETURN_IF_ERROR(AdmitRegistration(call, "", &request, &warnings));
  // Prepared (normalised) once: the lock keys, every attempt's match and the upsert use it.
  const std::shared_ptr<const PreparedRecord> prepared =
      matcher_->Prepare(request.source_id(), request.demographics());
  const std::vector<std::string> lock_keys = RegistrationLockKeys(request, *prepared);
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<KeyLocks::Held> held,
                       key_locks_->Lock(lock_keys, call.deadline));
  const absl::Time now = clock_->Now();
  IndexChange index;
  v1::RegisterSourceRecordResponse response;
  absl::Status status = Write(call.deadline, lock_keys, [&](IdentityTxn& txn) -> absl::Status {
    // Under the locks (in this process and, through the store, across replicas): first bring
    // the index up to date with what other replicas committed, then match. Every registration
    // that could match this one has either committed and is now indexed, or waits for us.
    HIE_RETURN_IF_ERROR(CatchUpIndex(txn));
    WriteBehindTxn batch(txn, WriteBehindTxn::EventWrites::kHeld);
    HIE_RETURN_IF_ERROR(batch.Prefetch({request.source_id()}, {RegisterIdempotencyKey(request)}));
    HIE_ASSIGN_OR_RETURN(v1::RegisterSourceRecordResponse result,
                         RegisterInTxn(batch, call, now, request, *prepared, &index));
    response = std::move(result);
    // A dry run changes nothing: roll back on purpose.
    return request.validate_only() ? absl::CancelledError("validate_only") : batch.Flush();
  });
  for (hie::common::v1::FieldWarning& warning : warnings) *response.add_warnings() = warning;
  if (request.validate_only() && status.code() == absl::StatusCode::kCancelled) {
    return response;
  }
  if (!status.ok()) return status;
  if (index.upsert) HIE_RETURN_IF_ERROR(matcher_->Upsert(*prepared));
  return response;
}

namespace {

// Errors that belong to one entry of a batch (the request, not the store): the entry is
// refused and the others go on.
bool IsEntryError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

void SetEntryError(v1::RegisterSourceRecordResult* result, int index, const absl::Status& s) {
  result->Clear();
  result->set_code(static_cast<int32_t>(s.code()));
  result->set_message(absl::StrCat("registrations[", index, "]: ", s.message()));
}

}  // namespace

// A RegisterSourceRecords call's entries as admitted (the refused ones are answered already).
struct IdentityManager::AdmittedBatch {
  std::vector<v1::RegisterSourceRecordRequest> entries;
  std::vector<bool> pending;                                    // valid entries not refused (yet)
  std::vector<std::shared_ptr<const PreparedRecord>> prepared;  // of the valid entries, once
  std::vector<std::vector<hie::common::v1::FieldWarning>> warnings;
  std::vector<std::string> lock_keys;
};

IdentityManager::AdmittedBatch IdentityManager::AdmitBatch(
    const CallContext& call, const v1::RegisterSourceRecordsRequest& request,
    v1::RegisterSourceRecordsResponse* response) const {
  const int n = request.registrations_size();
  AdmittedBatch batch;
  batch.entries.assign(request.registrations().begin(), request.registrations().end());
  batch.pending.assign(n, false);
  batch.prepared.resize(n);
  batch.warnings.resize(n);
  for (int i = 0; i < n; ++i) {
    v1::RegisterSourceRecordResult* result = response->add_results();
    v1::RegisterSourceRecordRequest& entry = batch.entries[i];
    *entry.mutable_context() = request.context();
    absl::Status valid = entry.validate_only()
                             ? absl::InvalidArgumentError("validate_only is not allowed in a batch")
                             : AdmitRegistration(call, absl::StrCat("registrations[", i, "]."),
                                                 &entry, &batch.warnings[i]);
    if (!valid.ok()) {
      SetEntryError(result, i, valid);
      continue;
    }
    batch.pending[i] = true;
    batch.prepared[i] = matcher_->Prepare(entry.source_id(), entry.demographics());
    for (std::string& key : RegistrationLockKeys(entry, *batch.prepared[i])) {
      batch.lock_keys.push_back(std::move(key));
    }
  }
  return batch;
}

absl::Status IdentityManager::RegisterAdmitted(IdentityTxn& txn, const CallContext& call,
                                               absl::Time now, const AdmittedBatch& admitted,
                                               v1::RegisterSourceRecordsResponse* response,
                                               std::vector<IndexedChange>* indexed,
                                               BatchRefusal* refusal) {
  // Every entry first reads its record, its not-a-match decisions and its key: one read each
  // for the whole batch.
  WriteBehindTxn batch(txn, WriteBehindTxn::EventWrites::kHeld);
  std::vector<SourceId> ids;
  std::vector<std::string> keys;
  const int n = static_cast<int>(admitted.entries.size());
  for (int i = 0; i < n; ++i) {
    if (!admitted.pending[i]) continue;
    ids.push_back(admitted.entries[i].source_id());
    keys.push_back(RegisterIdempotencyKey(admitted.entries[i]));
  }
  HIE_RETURN_IF_ERROR(batch.Prefetch(ids, keys));
  for (int i = 0; i < n; ++i) {
    if (!admitted.pending[i]) continue;
    IndexChange change;
    absl::StatusOr<v1::RegisterSourceRecordResponse> result =
        RegisterInTxn(batch, call, now, admitted.entries[i], *admitted.prepared[i], &change);
    if (!result.ok()) {
      if (!IsEntryError(result.status())) return result.status();
      *refusal = {i, result.status()};
      return absl::CancelledError("a batch entry was refused");
    }
    v1::RegisterSourceRecordResponse* entry = response->mutable_results(i)->mutable_response();
    *entry = *std::move(result);
    for (const auto& warning : admitted.warnings[i]) *entry->add_warnings() = warning;
    if (change.upsert) {  // indexed at once, so that later entries match it
      HIE_RETURN_IF_ERROR(matcher_->Upsert(*admitted.prepared[i]));
      indexed->push_back({admitted.entries[i].source_id(), std::move(change)});
    }
  }
  return batch.Flush();
}

absl::StatusOr<v1::RegisterSourceRecordsResponse> IdentityManager::RegisterBatch(
    const CallContext& call, const v1::RegisterSourceRecordsRequest& request) {
  HIE_RETURN_IF_ERROR(ValidateContext(request.context()));
  HIE_RETURN_IF_ERROR(CheckMessageText(request.context(), kMaxTextBytes));
  const int n = request.registrations_size();
  if (n == 0 || n > kMaxBatchRegistrations) {
    return absl::InvalidArgumentError(
        absl::StrCat("registrations must hold 1 to ", kMaxBatchRegistrations, " entries"));
  }
  v1::RegisterSourceRecordsResponse response;
  AdmittedBatch admitted = AdmitBatch(call, request, &response);
  if (admitted.lock_keys.empty()) return response;  // every entry was invalid
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<KeyLocks::Held> held,
                       key_locks_->Lock(admitted.lock_keys, call.deadline));
  const absl::Time now = clock_->Now();
  // Entries indexed inside the transaction: put back as they were if it does not commit.
  std::vector<IndexedChange> indexed;
  // An entry refused inside the transaction rolls it back; the batch then runs again without
  // it (refusals are rare: a reused idempotency key, a superseded record).
  for (;;) {
    BatchRefusal refusal;
    absl::Status status =
        Write(call.deadline, admitted.lock_keys, [&](IdentityTxn& txn) -> absl::Status {
          // The store may run this again after a failed attempt.
          HIE_RETURN_IF_ERROR(RestoreIndex(&indexed));
          HIE_RETURN_IF_ERROR(CatchUpIndex(txn));
          return RegisterAdmitted(txn, call, now, admitted, &response, &indexed, &refusal);
        });
    if (status.ok()) return response;
    HIE_RETURN_IF_ERROR(RestoreIndex(&indexed));
    if (refusal.entry < 0) return status;
    SetEntryError(response.mutable_results(refusal.entry), refusal.entry, refusal.status);
    admitted.pending[refusal.entry] = false;
    if (std::find(admitted.pending.begin(), admitted.pending.end(), true) ==
        admitted.pending.end()) {
      return response;
    }
  }
}

namespace {

// The record's new version, stored (current unless stale) with its event.
struct StoredVersion {
  v1::SourceRecord record;  // version set
  bool created = false;
  bool stale = false;
};

absl::StatusOr<StoredVersion> StoreVersion(IdentityTxn& txn, const CallContext& call,
                                           absl::Time now,
                                           const v1::RegisterSourceRecordRequest& request,
                                           const std::optional<v1::SourceRecord>& existing) {
  StoredVersion out;
  v1::SourceRecord& record = out.record;
  *record.mutable_source_id() = request.source_id();
  *record.mutable_demographics() = request.demographics();
  record.set_state(v1::RECORD_STATE_ACTIVE);
  *record.mutable_source_event_time() =
      request.has_source_event_time() ? request.source_event_time() : ToProto(now);
  *record.mutable_record_time() = ToProto(now);
  out.created = !existing.has_value();
  out.stale = !out.created &&
              FromProto(record.source_event_time()) < FromProto(existing->source_event_time());
  HIE_ASSIGN_OR_RETURN(int64_t version, txn.PutRecordVersion(record, !out.stale));
  record.set_version(version);
  v1::IdentityEvent recorded = NewEvent(
      out.created ? v1::IDENTITY_EVENT_TYPE_RECORD_CREATED : v1::IDENTITY_EVENT_TYPE_RECORD_UPDATED,
      call, now, "source_update");
  *recorded.add_source_ids() = request.source_id();
  recorded.set_record_version(record.version());
  HIE_RETURN_IF_ERROR(txn.AppendEvent(&recorded).status());
  return out;
}

// The persons the matches belong to, best first, without those the record was declared not to
// be (one read for the links of the matches and of the refused records).
absl::StatusOr<std::vector<PersonCandidate>> ReadCandidates(
    IdentityTxn& txn, const SourceId& id, const std::vector<RecordMatch>& matches) {
  HIE_ASSIGN_OR_RETURN(std::vector<v1::NotAMatch> refusals, txn.NotAMatchesOf(id));
  std::vector<SourceId> linked_ids;
  for (const RecordMatch& m : matches) linked_ids.push_back(m.source_id);
  for (const v1::NotAMatch& d : refusals) linked_ids.push_back(SameId(d.a(), id) ? d.b() : d.a());
  HIE_ASSIGN_OR_RETURN(std::vector<std::optional<v1::Link>> links, txn.GetLinks(linked_ids));
  std::set<std::string> refused_persons;
  for (size_t i = matches.size(); i < links.size(); ++i) {
    if (links[i].has_value()) refused_persons.insert(links[i]->person_id());
  }
  links.resize(matches.size());
  return CandidatesByPerson(matches, links, refused_persons);
}

// A new record links to its best person only if no guard separates it from another of that
// person's automatically linked records (PersonDisagreement), not merely from the best one.
// Otherwise the best record's match, in `matches`, is demoted to PROBABLE with a
// KIND_PERSON_DISAGREES guard naming the record it disagrees with, and the registration asks a
// person instead. Costs one read of the person's links per certain registration; the records
// are compared as the index holds them (read from the store only if one is not indexed).
absl::Status CheckBestPerson(IdentityTxn& txn, const Matcher& matcher,
                             const PreparedRecord& prepared, const PersonCandidate& best,
                             std::vector<RecordMatch>* matches) {
  HIE_ASSIGN_OR_RETURN(std::vector<v1::Link> links, txn.LinksOf(best.person_id));
  std::vector<RecordMatch> others;
  for (const v1::Link& link : links) {
    // Records an operator put there (a merge, a manual link) are one person by decision, not
    // by likeness: they do not speak against the record.
    if (SameId(link.source_id(), best.match->source_id) || !IsAutomaticLink(link)) continue;
    std::optional<RecordMatch> compared = matcher.CompareIndexed(prepared, link.source_id());
    if (!compared.has_value()) {
      HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> record, txn.GetRecord(link.source_id()));
      if (!record.has_value()) continue;
      compared =
          matcher.Compare(prepared, *matcher.Prepare(record->source_id(), record->demographics()));
    }
    others.push_back(*std::move(compared));
  }
  const int worst = PersonDisagreement(others);
  if (worst < 0) return absl::OkStatus();
  RecordMatch& demoted = (*matches)[static_cast<size_t>(best.match - matches->data())];
  demoted.grade = v1::MATCH_GRADE_PROBABLE;
  demoted.explanation.set_grade(demoted.grade);
  v1::GuardResult* guard = demoted.explanation.add_guards();
  guard->set_kind(v1::GuardResult::KIND_PERSON_DISAGREES);
  guard->set_field("person");
  *guard->mutable_other_record() = others[static_cast<size_t>(worst)].source_id;
  return absl::OkStatus();
}

// The facts PlanRegistration decides on, read in the transaction.
absl::StatusOr<RegistrationFacts> ReadFacts(IdentityTxn& txn, const SourceId& id,
                                            const StoredVersion& stored, const Matcher& matcher,
                                            const PreparedRecord& prepared,
                                            std::vector<RecordMatch>* matches) {
  RegistrationFacts facts;
  facts.created = stored.created;
  facts.stale = stored.stale;
  HIE_ASSIGN_OR_RETURN(facts.candidates, ReadCandidates(txn, id, *matches));
  if (stored.created && !facts.candidates.empty() &&
      facts.candidates[0].match->grade == v1::MATCH_GRADE_CERTAIN) {
    HIE_RETURN_IF_ERROR(CheckBestPerson(txn, matcher, prepared, facts.candidates[0], matches));
  }
  if (stored.created) return facts;
  HIE_ASSIGN_OR_RETURN(facts.current_link, txn.GetLink(id));
  if (stored.stale || !facts.current_link.has_value() || !IsAutomaticLink(*facts.current_link)) {
    return facts;
  }
  HIE_ASSIGN_OR_RETURN(std::vector<v1::Link> home, txn.LinksOf(facts.current_link->person_id()));
  facts.home_links = static_cast<int>(home.size());
  for (const v1::Link& l : home) {
    if (!SameId(l.source_id(), id)) facts.home_other = l.source_id();
  }
  return facts;
}

}  // namespace

absl::StatusOr<v1::RegisterSourceRecordResponse> IdentityManager::RegisterInTxn(
    IdentityTxn& txn, const CallContext& call, absl::Time now,
    const v1::RegisterSourceRecordRequest& request, const PreparedRecord& prepared,
    IndexChange* index) {
  *index = IndexChange();
  const SourceId& id = request.source_id();
  std::vector<RecordMatch> matches = matcher_->Match(prepared, kMatchLimit);
  CapSameOrgMatches(id, &matches);
  bool index_it = false;
  auto produce = [&]() -> absl::StatusOr<v1::RegisterSourceRecordResponse> {
    HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> existing, txn.GetRecord(id));
    if (existing.has_value() && existing->state() == v1::RECORD_STATE_SUPERSEDED) {
      return absl::FailedPreconditionError(
          "source record was superseded by a source merge; register the survivor");
    }
    if (existing.has_value() && existing->state() == v1::RECORD_STATE_ACTIVE) {
      index->before = existing->demographics();
    }
    HIE_ASSIGN_OR_RETURN(StoredVersion stored, StoreVersion(txn, call, now, request, existing));
    std::vector<RecordMatch> attempt = matches;  // ReadFacts may demote one: per attempt
    HIE_ASSIGN_OR_RETURN(RegistrationFacts facts,
                         ReadFacts(txn, id, stored, *matcher_, prepared, &attempt));
    const RegistrationPlan plan = PlanRegistration(facts);
    index_it = plan.index;
    v1::RegisterSourceRecordResponse out;
    out.set_created(stored.created);
    out.set_stale(stored.stale);
    for (int i = 0; i < static_cast<int>(facts.candidates.size()) && i < kMatchLimit; ++i) {
      const PersonCandidate& c = facts.candidates[i];
      v1::MatchCandidate* candidate = out.mutable_decision()->add_candidates();
      candidate->set_person_id(c.person_id);
      *candidate->mutable_best_source_id() = c.match->source_id;
      candidate->set_score(c.match->score);
      candidate->set_grade(c.match->grade);
      *candidate->mutable_explanation() = c.match->explanation;
    }
    HIE_RETURN_IF_ERROR(
        CarryOutPlan(txn, call, now, stored.record, prepared, plan, out.mutable_decision()));
    *out.mutable_record() = stored.record;
    out.mutable_record()->set_person_id(out.decision().person_id());
    out.set_person_id(out.decision().person_id());
    return out;
  };
  absl::StatusOr<v1::RegisterSourceRecordResponse> result =
      request.validate_only()
          ? produce()
          : Idempotent<v1::RegisterSourceRecordResponse>(txn, RegisterIdempotencyKey(request),
                                                         Fingerprint(request), now, produce);
  if (result.ok()) index->upsert = index_it && !result->stale();
  return result;
}

absl::Status IdentityManager::CarryOutPlan(IdentityTxn& txn, const CallContext& call,
                                           absl::Time now, const v1::SourceRecord& record,
                                           const PreparedRecord& prepared,
                                           const RegistrationPlan& plan,
                                           v1::MatchDecision* decision) {
  const SourceId& id = record.source_id();
  decision->set_outcome(plan.outcome);
  decision->set_person_id(plan.person_id);
  if (plan.action == RegistrationAction::kLinkToCandidate) {
    HIE_ASSIGN_OR_RETURN(v1::Person person, LockActivePerson(txn, plan.person_id));
    HIE_RETURN_IF_ERROR(MoveRecord(txn, call, now, id, "", person.person_id(), v1::LINK_METHOD_AUTO,
                                   v1::IDENTITY_EVENT_TYPE_RECORD_LINKED, "auto_match",
                                   plan.link_to->match->score, plan.link_to->match->grade)
                            .status());
    HIE_RETURN_IF_ERROR(TouchPerson(txn, person, now));
    decision->set_person_id(person.person_id());
    return absl::OkStatus();
  }
  if (plan.action == RegistrationAction::kNewPerson) {
    HIE_ASSIGN_OR_RETURN(v1::Person person, CreatePerson(txn, call, now, "no_certain_match"));
    HIE_RETURN_IF_ERROR(MoveRecord(txn, call, now, id, "", person.person_id(),
                                   v1::LINK_METHOD_NEW_PERSON,
                                   v1::IDENTITY_EVENT_TYPE_RECORD_LINKED, "no_certain_match")
                            .status());
    decision->set_person_id(person.person_id());
  }
  int asked = 0;
  for (const ReviewQuestion& q : plan.questions) {
    if (asked == plan.max_questions) break;
    HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> right, txn.GetRecord(q.right));
    if (!right.has_value()) {
      if (plan.action == RegistrationAction::kNewPerson) continue;
      break;  // an update asks one question or none
    }
    std::string right_person = q.right_person;
    if (right_person.empty()) {
      HIE_ASSIGN_OR_RETURN(std::optional<v1::Link> right_link, txn.GetLink(q.right));
      if (!right_link.has_value()) break;
      right_person = right_link->person_id();
    }
    const v1::MatchExplanation explanation =
        q.match != nullptr
            ? q.match->explanation
            : matcher_->Compare(prepared, *matcher_->Prepare(q.right, right->demographics()))
                  .explanation;
    HIE_ASSIGN_OR_RETURN(v1::ReviewTask task,
                         OpenReviewTask(txn, call, now, record, decision->person_id(), *right,
                                        right_person, explanation));
    if (asked++ == 0) decision->set_review_task_id(task.task_id());
    if (plan.action == RegistrationAction::kNewPerson) {
      decision->set_outcome(v1::MATCH_OUTCOME_REVIEW);
    }
  }
  return absl::OkStatus();
}

}  // namespace hie::identity
