#include "services/identity/core/identity_manager.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/demographics.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/identity/core/identifiers.h"
#include "services/identity/store/forwarding_txn.h"

namespace hie::identity {
namespace {

using ::google::protobuf::Timestamp;
using ::google::protobuf::util::TimeUtil;
using ::hie::common::v1::Demographics;

constexpr int kMatchLimit = 10;
constexpr int kMaxReviewTasksPerRegistration = 3;
// Entries of one RegisterSourceRecords call. Its locks (about 8 per entry) are held together, in
// this process and in PostgreSQL's shared lock table, which holds max_locks_per_transaction (64
// by default) times max_connections locks: 8 connections with calls of 50 use about 3,200.
constexpr int kMaxBatchRegistrations = 50;
constexpr int kMaxMergeChain = 16;
// Added to a cache entry's life when waiting for it to expire: the entry's PX is counted from
// when Redis receives the fill, a little after the lookup that bounds it.
constexpr absl::Duration kCacheExpiryMargin = absl::Seconds(1);

// ------------------------------------------------------------------------------------------
// Small helpers

Timestamp ToProto(absl::Time t) { return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t)); }

absl::Time FromProto(const Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

bool SameId(const SourceId& a, const SourceId& b) {
  return a.org() == b.org() && a.local_id() == b.local_id();
}

std::string PersonLock(const std::string& person_id) { return "person:" + person_id; }

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

// ------------------------------------------------------------------------------------------
// Validation: INVALID_ARGUMENT naming the field; messages never quote values.

absl::Status RequireText(const std::string& value, const char* field, size_t max = 256) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is longer than ", max, " bytes"));
  }
  for (unsigned char c : value) {
    if (c < 0x20) {
      return absl::InvalidArgumentError(absl::StrCat(field, " contains control characters"));
    }
  }
  return absl::OkStatus();
}

// Every string of every request, whatever the entry point: UTF-8, no control characters, at most
// this long (fields with tighter limits check them too).
constexpr size_t kMaxTextBytes = 1024;

// The first check of every operation: the request's text, and what the actor may touch.
template <typename Request>
absl::Status Admit(const CallContext& call, const Request& request, Operation op,
                   const std::vector<NamedSource>& sources = {}) {
  HIE_RETURN_IF_ERROR(CheckMessageText(request, kMaxTextBytes));
  return CheckActorScope(call.actor, op, sources);
}

absl::Status ValidateSourceId(const SourceId& id, const std::string& field) {
  HIE_RETURN_IF_ERROR(RequireText(id.org(), (field + ".org").c_str(), 64));
  return RequireText(id.local_id(), (field + ".local_id").c_str(), 128);
}

absl::Status ValidateContext(const hie::common::v1::RequestContext& context) {
  if (context.purpose_of_use() == hie::common::v1::PURPOSE_OF_USE_UNSPECIFIED) {
    return absl::InvalidArgumentError("context.purpose_of_use is required");
  }
  return absl::OkStatus();
}

absl::Status ValidateDemographics(const Demographics& d, const std::string& field) {
  if (!d.birth_date().empty() && !IsValidDate(d.birth_date())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".birth_date must be YYYY-MM-DD (or YYYY-MM, YYYY), a real date"));
  }
  if (!d.deceased_date().empty() && !IsValidDate(d.deceased_date())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".deceased_date must be YYYY-MM-DD"));
  }
  for (const auto& [count, name, max] :
       {std::tuple{d.other_names_size(), "other_names", 10},
        std::tuple{d.addresses_size(), "addresses", 10}, std::tuple{d.phones_size(), "phones", 10},
        std::tuple{d.emails_size(), "emails", 10}}) {
    if (count > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".", name, " holds more than ", max, " entries"));
    }
  }
  for (int i = 0; i < d.addresses_size(); ++i) {
    if (d.addresses(i).lines_size() > 4) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".addresses[", i, "].lines holds more than 4 lines"));
    }
  }
  const auto& n = d.name();
  for (const auto& [value, name] :
       {std::pair{&n.given(), "name.given"}, std::pair{&n.middle(), "name.middle"},
        std::pair{&n.family(), "name.family"}}) {
    if (value->size() > 256) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".", name, " is too long"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateWrite(const hie::common::v1::RequestContext& context,
                           const std::string& idempotency_key) {
  HIE_RETURN_IF_ERROR(ValidateContext(context));
  return RequireText(idempotency_key, "idempotency_key", 128);
}

// Page tokens are offsets; opaque to clients.
absl::StatusOr<int> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int offset = 0;
  if (!absl::SimpleAtoi(token, &offset) || offset < 0) {
    return absl::InvalidArgumentError("page_token is not valid");
  }
  return offset;
}

// ------------------------------------------------------------------------------------------
// Operations on a transaction

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
absl::Status TouchPerson(IdentityTxn& txn, v1::Person person, absl::Time now,
                         v1::PersonState state = v1::PERSON_STATE_ACTIVE,
                         const std::string& merged_into = "") {
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
                                             double score = 0,
                                             v1::MatchGrade grade = v1::MATCH_GRADE_UNSPECIFIED) {
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

// What the events of one write say it changed.
struct ChangeSet {
  std::vector<SourceId> records;
  std::set<std::string> persons;
  std::vector<int64_t> sequences;
};

// Notes what the transaction's events are about (for cache invalidation and index sync).
class ObservingTxn : public ForwardingTxn {
 public:
  ObservingTxn(IdentityTxn& inner, ChangeSet* changes) : ForwardingTxn(inner), changes_(changes) {}

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    Observe(*event);
    absl::StatusOr<int64_t> sequence = t_.AppendEvent(event);
    if (sequence.ok()) changes_->sequences.push_back(*sequence);
    return sequence;
  }
  absl::Status AppendEvents(const std::vector<v1::IdentityEvent*>& events) override {
    for (const v1::IdentityEvent* e : events) Observe(*e);
    absl::Status status = t_.AppendEvents(events);
    if (status.ok()) {
      for (const v1::IdentityEvent* e : events) changes_->sequences.push_back(e->sequence());
    }
    return status;
  }

 private:
  void Observe(const v1::IdentityEvent& event) {
    for (const SourceId& id : event.source_ids()) changes_->records.push_back(id);
    for (const std::string& p : {event.from_person_id(), event.to_person_id()}) {
      if (!p.empty()) changes_->persons.insert(p);
    }
    for (const std::string& p : event.affected_person_ids()) changes_->persons.insert(p);
  }

  ChangeSet* changes_;
};

// The transaction of a registration, or of a RegisterSourceRecords call. It answers the entries'
// first reads of their records, not-a-match decisions and idempotency keys from one read each for
// the whole batch (Prefetch), and holds back the writes a registration makes (first versions of new
// records, persons, links, events, idempotency results) until Flush, which writes each kind with
// one batch write. Reads of held data are answered from what it holds; a read it cannot answer so,
// of data a held write could change, writes everything held first. Until Flush, events carry
// provisional ids (kPendingEvent + n, sequence 0); Flush gives them their real ids and puts
// those into the held links that name them. Registration puts event ids only into links, so no
// provisional id escapes.
class BatchTxn : public ForwardingTxn {
 public:
  using ForwardingTxn::ForwardingTxn;

  absl::Status Prefetch(const std::vector<SourceId>& ids, const std::vector<std::string>& keys) {
    HIE_ASSIGN_OR_RETURN(std::vector<std::optional<v1::SourceRecord>> records, t_.GetRecords(ids));
    HIE_ASSIGN_OR_RETURN(std::vector<std::vector<v1::NotAMatch>> refusals,
                         t_.NotAMatchesOfRecords(ids));
    HIE_ASSIGN_OR_RETURN(std::vector<std::optional<StoredIdempotentResult>> stored,
                         t_.GetIdempotents(keys));
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string key = RecordKey(ids[i]);
      records_.insert_or_assign(key, std::move(records[i]));
      refusals_.insert_or_assign(key, std::move(refusals[i]));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      idempotent_.insert_or_assign(keys[i], std::move(stored[i]));
    }
    return absl::OkStatus();
  }

  // Writes everything held (a no-op when nothing is).
  absl::Status Flush() {
    std::vector<v1::SourceRecord> records;
    for (auto& [key, record] : new_records_) records.push_back(std::move(record));
    std::vector<v1::Person> persons;
    for (auto& [id, person] : persons_) persons.push_back(std::move(person));
    std::vector<v1::IdentityEvent*> events;
    for (v1::IdentityEvent& e : events_) events.push_back(&e);
    std::vector<std::pair<std::string, StoredIdempotentResult>> results(
        std::make_move_iterator(held_idempotent_.begin()),
        std::make_move_iterator(held_idempotent_.end()));
    std::vector<v1::Link> links;
    for (auto& [key, link] : links_) links.push_back(std::move(link));
    new_records_.clear();
    persons_.clear();
    links_.clear();
    held_idempotent_.clear();
    // A held first version fails only when the record was registered meanwhile by a writer
    // that skipped its lock: the call as a whole must be retried, no entry is at fault. (The
    // PostgreSQL store reports a write's error with the next read: AppendEvents.)
    auto conflict = [](absl::Status s) {
      return s.code() == absl::StatusCode::kAlreadyExists
                 ? absl::AbortedError("a record of this call was registered concurrently; retry")
                 : s;
    };
    if (absl::Status s = t_.PutFirstVersions(records); !s.ok()) return conflict(s);
    HIE_RETURN_IF_ERROR(t_.PutPersons(persons));
    if (absl::Status s = t_.AppendEvents(events); !s.ok()) return conflict(s);
    for (v1::Link& link : links) {
      if (!absl::StartsWith(link.event_id(), kPendingEvent)) continue;
      size_t n = 0;
      if (!absl::SimpleAtoi(link.event_id().substr(sizeof kPendingEvent - 1), &n) ||
          n >= events_.size()) {
        return absl::InternalError("link names an unknown pending event");
      }
      link.set_event_id(events_[n].event_id());
    }
    events_.clear();
    HIE_RETURN_IF_ERROR(t_.PutLinks(links));
    return t_.PutIdempotents(results);
  }

  // --- source records
  absl::StatusOr<std::optional<v1::SourceRecord>> GetRecord(const SourceId& id,
                                                            int64_t version) override {
    const std::string key = RecordKey(id);
    if (auto it = new_records_.find(key); it != new_records_.end()) {
      if (version > 1) return std::optional<v1::SourceRecord>();
      // As the store answers it: version, current state, superseded_by and person filled in.
      v1::SourceRecord record = it->second;
      record.set_version(1);
      if (record.state() == v1::RECORD_STATE_UNSPECIFIED) record.set_state(v1::RECORD_STATE_ACTIVE);
      *record.mutable_superseded_by() = it->second.superseded_by();
      if (auto link = links_.find(key); link != links_.end()) {
        record.set_person_id(link->second.person_id());
      }
      return std::optional<v1::SourceRecord>(std::move(record));
    }
    if (links_.count(key) > 0) {
      HIE_RETURN_IF_ERROR(Flush());
    }
    if (version == 0) {
      if (auto it = records_.find(key); it != records_.end()) return it->second;
    }
    return t_.GetRecord(id, version);
  }
  absl::StatusOr<int64_t> PutRecordVersion(const v1::SourceRecord& r, bool make_current) override {
    const std::string key = RecordKey(r.source_id());
    auto known = records_.find(key);
    if (make_current && r.version() <= 1 && known != records_.end() && !known->second.has_value() &&
        new_records_.count(key) == 0 && links_.count(key) == 0) {
      new_records_.emplace(key, r);
      records_.erase(known);
      return 1;
    }
    HIE_RETURN_IF_ERROR(Flush());
    records_.erase(key);
    return t_.PutRecordVersion(r, make_current);
  }
  absl::Status SetRecordState(const SourceId& id, v1::RecordState state,
                              const SourceId& superseded_by) override {
    HIE_RETURN_IF_ERROR(Flush());
    records_.erase(RecordKey(id));
    return t_.SetRecordState(id, state, superseded_by);
  }
  absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.RecordVersions(id);
  }
  absl::StatusOr<std::vector<std::optional<v1::SourceRecord>>> GetRecords(
      const std::vector<SourceId>& ids) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.GetRecords(ids);
  }

  // --- persons
  absl::StatusOr<std::optional<v1::Person>> GetPerson(const std::string& person_id) override {
    bool held = persons_.count(person_id) > 0;
    for (const auto& [key, link] : links_) held = held || link.person_id() == person_id;
    if (held) {
      HIE_RETURN_IF_ERROR(Flush());
    }
    return t_.GetPerson(person_id);
  }
  absl::Status PutPerson(const v1::Person& person) override {
    persons_.insert_or_assign(person.person_id(), person);
    return absl::OkStatus();
  }

  // --- links
  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    const std::string key = RecordKey(id);
    if (auto it = links_.find(key); it != links_.end()) return std::optional<v1::Link>(it->second);
    if (new_records_.count(key) > 0) return std::optional<v1::Link>();
    return t_.GetLink(id);
  }
  absl::StatusOr<std::vector<std::optional<v1::Link>>> GetLinks(
      const std::vector<SourceId>& ids) override {
    std::vector<std::optional<v1::Link>> out(ids.size());
    std::vector<SourceId> stored;  // not held: the store's answer is the answer
    std::vector<size_t> positions;
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string key = RecordKey(ids[i]);
      if (auto it = links_.find(key); it != links_.end()) {
        out[i] = it->second;
      } else if (new_records_.count(key) == 0) {
        stored.push_back(ids[i]);
        positions.push_back(i);
      }
    }
    if (stored.empty()) return out;
    HIE_ASSIGN_OR_RETURN(std::vector<std::optional<v1::Link>> read, t_.GetLinks(stored));
    for (size_t k = 0; k < positions.size(); ++k) out[positions[k]] = std::move(read[k]);
    return out;
  }
  absl::Status PutLink(const v1::Link& link) override {
    links_.insert_or_assign(RecordKey(link.source_id()), link);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.LinksOf(person_id);
  }
  absl::StatusOr<std::vector<std::vector<v1::Link>>> LinksOfPersons(
      const std::vector<std::string>& person_ids) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.LinksOfPersons(person_ids);
  }
  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsOf(const std::string& person_id) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.LinkedRecordsOf(person_id);
  }
  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsWith(const SourceId& id) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.LinkedRecordsWith(id);
  }

  // --- events
  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    event->set_sequence(0);
    event->set_event_id(absl::StrCat(kPendingEvent, events_.size()));
    events_.push_back(*event);
    return 0;
  }
  absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.GetEvent(id);
  }
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(const std::string& p,
                                                                   absl::Time as_of, int64_t after,
                                                                   int limit) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.EventsAboutPerson(p, as_of, after, limit);
  }
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                   absl::Time as_of, int64_t after,
                                                                   int limit) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.EventsAboutRecord(id, as_of, after, limit);
  }
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(
      int64_t after, int limit, const std::vector<int64_t>& missing) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.EventsSince(after, limit, missing);
  }
  absl::StatusOr<int64_t> LastEventSequence() override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.LastEventSequence();
  }

  // --- not-a-match decisions (not held)
  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    if (auto it = refusals_.find(RecordKey(id)); it != refusals_.end()) return it->second;
    return t_.NotAMatchesOf(id);
  }
  absl::Status PutNotAMatch(const v1::NotAMatch& d) override {
    refusals_.erase(RecordKey(d.a()));
    refusals_.erase(RecordKey(d.b()));
    return t_.PutNotAMatch(d);
  }
  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    refusals_.erase(RecordKey(a));
    refusals_.erase(RecordKey(b));
    return t_.RemoveNotAMatch(a, b);
  }

  // --- idempotency
  absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) override {
    if (auto it = held_idempotent_.find(key); it != held_idempotent_.end()) {
      return std::optional<StoredIdempotentResult>(it->second);
    }
    if (auto it = idempotent_.find(key); it != idempotent_.end()) return it->second;
    return t_.GetIdempotent(key);
  }
  absl::StatusOr<std::vector<std::optional<StoredIdempotentResult>>> GetIdempotents(
      const std::vector<std::string>& keys) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.GetIdempotents(keys);
  }
  absl::Status PutIdempotent(const std::string& key, const StoredIdempotentResult& r) override {
    idempotent_.erase(key);
    held_idempotent_.insert_or_assign(key, r);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> PurgeIdempotentBefore(absl::Time before, int limit) override {
    HIE_RETURN_IF_ERROR(Flush());
    idempotent_.clear();
    return t_.PurgeIdempotentBefore(before, limit);
  }

  // --- batch writes: whatever is held goes first, to keep the order of writes
  absl::Status PutFirstVersions(const std::vector<v1::SourceRecord>& records) override {
    HIE_RETURN_IF_ERROR(Flush());
    for (const v1::SourceRecord& r : records) records_.erase(RecordKey(r.source_id()));
    return t_.PutFirstVersions(records);
  }
  absl::Status PutPersons(const std::vector<v1::Person>& persons) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.PutPersons(persons);
  }
  absl::Status PutLinks(const std::vector<v1::Link>& links) override {
    HIE_RETURN_IF_ERROR(Flush());
    for (const v1::Link& l : links) records_.erase(RecordKey(l.source_id()));
    return t_.PutLinks(links);
  }
  absl::Status AppendEvents(const std::vector<v1::IdentityEvent*>& events) override {
    HIE_RETURN_IF_ERROR(Flush());
    return t_.AppendEvents(events);
  }
  absl::Status PutIdempotents(
      const std::vector<std::pair<std::string, StoredIdempotentResult>>& results) override {
    HIE_RETURN_IF_ERROR(Flush());
    for (const auto& [key, r] : results) idempotent_.erase(key);
    return t_.PutIdempotents(results);
  }

 private:
  static constexpr char kPendingEvent[] = "pending-event-";

  // Prefetched answers, by RecordKey / idempotency key, until a write makes them stale.
  std::map<std::string, std::optional<v1::SourceRecord>> records_;
  std::map<std::string, std::vector<v1::NotAMatch>> refusals_;
  std::map<std::string, std::optional<StoredIdempotentResult>> idempotent_;
  // Held writes, by RecordKey / person id / key; events in the order appended.
  std::map<std::string, v1::SourceRecord> new_records_;
  std::map<std::string, v1::Person> persons_;
  std::map<std::string, v1::Link> links_;
  std::vector<v1::IdentityEvent> events_;
  std::map<std::string, StoredIdempotentResult> held_idempotent_;
};

}  // namespace

// ------------------------------------------------------------------------------------------
// In-process key locks: a caller takes all its keys at once, when none of them is held, so
// there is no lock order and no deadlock. Only callers that share a key wait for each other:
// batches of registrations, which hold hundreds of keys, still run side by side.

class IdentityManager::KeyLocks {
 public:
  class Held {
   public:
    Held(KeyLocks* locks, std::vector<uint64_t> keys) : locks_(locks), keys_(std::move(keys)) {}
    ~Held() { locks_->Release(keys_); }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    KeyLocks* locks_;
    std::vector<uint64_t> keys_;
  };

  // Waits until none of `keys` is held, at most until `deadline` (DEADLINE_EXCEEDED then: a
  // caller never waits past its request's deadline).
  absl::StatusOr<std::unique_ptr<Held>> Lock(const std::vector<std::string>& keys,
                                             absl::Time deadline) {
    std::vector<uint64_t> hashes;
    hashes.reserve(keys.size());
    for (const std::string& key : keys) hashes.push_back(std::hash<std::string>{}(key));
    std::sort(hashes.begin(), hashes.end());
    hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
    std::unique_lock lock(mu_);
    auto free = [&] {
      return std::none_of(hashes.begin(), hashes.end(),
                          [&](uint64_t h) { return held_.contains(h); });
    };
    if (deadline == absl::InfiniteFuture()) {
      released_.wait(lock, free);
    } else if (!released_.wait_until(lock, absl::ToChronoTime(deadline), free)) {
      return absl::DeadlineExceededError(
          "waited too long for a concurrent registration of the "
          "same patient");
    }
    held_.insert(hashes.begin(), hashes.end());
    return std::make_unique<Held>(this, std::move(hashes));
  }

 private:
  void Release(const std::vector<uint64_t>& keys) {
    {
      std::lock_guard lock(mu_);
      for (uint64_t h : keys) held_.erase(h);
    }
    released_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable released_;
  // Hashes of the held keys: two keys with one hash only make a caller wait longer.
  absl::flat_hash_set<uint64_t> held_;
};

IdentityManager::IdentityManager(IdentityStore* store, Matcher* matcher, const Clock* clock,
                                 ResolveCache* cache, SurvivorshipPolicy survivorship)
    : store_(store),
      matcher_(matcher),
      clock_(clock),
      cache_(cache),
      survivorship_(std::move(survivorship)),
      key_locks_(std::make_unique<KeyLocks>()) {}

IdentityManager::~IdentityManager() = default;

absl::Status IdentityManager::Write(absl::Time deadline, const std::vector<std::string>& lock_keys,
                                    const IdentityStore::TxnFn& fn) {
  ChangeSet changes;
  std::vector<SourceId> stale;  // cached resolve answers the write makes stale
  absl::Status status = store_->Transact(deadline, lock_keys, [&](IdentityTxn& txn) {
    changes = ChangeSet();  // the store may run fn again
    stale.clear();
    ObservingTxn observed(txn, &changes);
    absl::Status s = fn(observed);
    if (!s.ok() || cache_ == nullptr) return s;
    // Every record of every person the write touched, as the write leaves them.
    stale = changes.records;
    HIE_ASSIGN_OR_RETURN(std::vector<std::vector<v1::Link>> links,
                         txn.LinksOfPersons(std::vector<std::string>(changes.persons.begin(),
                                                                     changes.persons.end())));
    for (const std::vector<v1::Link>& of_person : links) {
      for (const v1::Link& link : of_person) stale.push_back(link.source_id());
    }
    return absl::OkStatus();
  });
  if (status.ok() && cache_ != nullptr) {
    if (!stale.empty()) SettleCache(stale, deadline);
    status = WaitUntilCacheSettled(deadline);
  }
  // Only a write whose caller is told OK updates the match index itself; committed events of a
  // write answered otherwise (DEADLINE_EXCEEDED while the cache settles) stay unapplied, and the
  // next catch-up reads them from the store like another replica's.
  if (status.ok()) MarkApplied(changes.sequences);
  return status;
}

// After a commit: invalidates the cached answers the write made stale. When the cache will not
// take the invalidation (it refuses writes, times out), every stale entry is gone ttl() after
// the commit anyway (resolve_cache.h): until then this replica answers Resolve from the
// database, retries the invalidation, and acknowledges no write (WaitUntilCacheSettled).
void IdentityManager::SettleCache(const std::vector<SourceId>& stale, absl::Time deadline) {
  const absl::Time expired_by = absl::Now() + cache_->ttl() + kCacheExpiryMargin;
  if (cache_->Invalidate(stale).ok()) return;
  if (cache_->Unreachable()) return;  // nobody can read it: nothing stale can be served
  Log(LogLevel::kWarning, "resolve_cache_invalidation_failed",
      {{"records", static_cast<uint64_t>(stale.size())}});
  {
    std::lock_guard lock(cache_mu_);
    cache_unsettled_until_ = std::max(cache_unsettled_until_, expired_by);
  }
  // Retried meanwhile, so that Redis holds no stale entry for longer than needed.
  while (absl::Now() < std::min(expired_by, deadline)) {
    absl::SleepFor(std::min(absl::Milliseconds(100), std::min(expired_by, deadline) - absl::Now()));
    if (cache_->Invalidate(stale).ok() || cache_->Unreachable()) return;
  }
}

absl::Status IdentityManager::WaitUntilCacheSettled(absl::Time deadline) {
  absl::Time until;
  {
    std::lock_guard lock(cache_mu_);
    until = cache_unsettled_until_;
  }
  if (absl::Now() >= until) return absl::OkStatus();
  if (deadline < until) {  // answered now: waiting would only hold the caller's key locks
    return absl::DeadlineExceededError(
        "the change is committed, but cached answers it made stale have not expired yet; retry "
        "with the same idempotency key");
  }
  absl::SleepFor(until - absl::Now());
  return absl::OkStatus();
}

bool IdentityManager::CacheSettled() {
  std::lock_guard lock(cache_mu_);
  return absl::Now() >= cache_unsettled_until_;
}

constexpr absl::Duration kGapPatience = absl::Seconds(30);
constexpr int kCatchUpBatch = 5000;
// Events re-read after a restart, in case some committed out of order around the scan.
constexpr int64_t kRebuildLookback = 10000;

void IdentityManager::MarkApplied(const std::vector<int64_t>& sequences) {
  std::lock_guard lock(sync_mu_);
  const absl::Time now = clock_->Now();
  for (int64_t seq : sequences) NoteAppliedLocked(seq, now);
  AdvanceAppliedLocked(now);
}

int64_t IdentityManager::SeenThroughLocked() const {
  return applied_above_.empty() ? applied_through_ : *applied_above_.rbegin();
}

void IdentityManager::NoteAppliedLocked(int64_t seq, absl::Time now) {
  if (seq <= applied_through_ || applied_above_.count(seq) > 0) return;
  for (int64_t skipped = SeenThroughLocked() + 1; skipped < seq; ++skipped) {
    gaps_.try_emplace(skipped, now);
  }
  gaps_.erase(seq);
  applied_above_.insert(seq);
}

void IdentityManager::AdvanceAppliedLocked(absl::Time now) {
  for (;;) {
    int64_t next = applied_through_ + 1;
    if (applied_above_.erase(next) > 0) {
      applied_through_ = next;
      continue;
    }
    auto gap = gaps_.find(next);
    if (gap != gaps_.end() && now - gap->second > kGapPatience) {
      gaps_.erase(gap);
      applied_through_ = next;
      continue;
    }
    break;
  }
}

absl::Status IdentityManager::CatchUpIndex(IdentityTxn& txn) {
  std::lock_guard lock(sync_mu_);
  for (;;) {
    // What is new since the last event seen, and the gaps below it that have filled meanwhile:
    // the events already applied are not read again.
    std::vector<int64_t> missing;  // the oldest gaps, at most a batch of them
    for (auto gap = gaps_.begin(); gap != gaps_.end() && missing.size() < kCatchUpBatch; ++gap) {
      missing.push_back(gap->first);
    }
    HIE_ASSIGN_OR_RETURN(std::vector<v1::IdentityEvent> events,
                         txn.EventsSince(SeenThroughLocked(), kCatchUpBatch, missing));
    const absl::Time now = clock_->Now();
    for (const v1::IdentityEvent& e : events) {
      if (e.sequence() <= applied_through_ || applied_above_.count(e.sequence()) > 0) continue;
      bool changes_records = e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_CREATED ||
                             e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_UPDATED ||
                             e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED;
      for (const SourceId& id : e.source_ids()) {
        if (!changes_records) break;
        HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> record, txn.GetRecord(id));
        absl::Status s = record.has_value() && record->state() == v1::RECORD_STATE_ACTIVE
                             ? matcher_->Upsert(id, record->demographics())
                             : matcher_->Remove(id);
        if (!s.ok()) return s;
      }
      NoteAppliedLocked(e.sequence(), now);
    }
    AdvanceAppliedLocked(now);
    if (static_cast<int>(events.size()) < kCatchUpBatch) return absl::OkStatus();
  }
}

absl::Status IdentityManager::SyncIndex(absl::Time deadline) {
  return store_->Transact(deadline, {}, [&](IdentityTxn& txn) { return CatchUpIndex(txn); });
}

absl::StatusOr<int64_t> IdentityManager::PurgeIdempotencyKeys(absl::Duration retention,
                                                              absl::Time deadline) {
  constexpr int kPurgeBatch = 10000;  // one short transaction each
  const absl::Time before = clock_->Now() - retention;
  int64_t purged = 0;
  for (;;) {
    int64_t n = 0;
    absl::Status status = store_->Transact(deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
      HIE_ASSIGN_OR_RETURN(int64_t deleted, txn.PurgeIdempotentBefore(before, kPurgeBatch));
      n = deleted;
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    purged += n;
    if (n < kPurgeBatch) return purged;
  }
}

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

absl::StatusOr<size_t> IdentityManager::RebuildIndex(absl::Time deadline) {
  absl::Status position = store_->Transact(deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(int64_t last, txn.LastEventSequence());
    std::lock_guard lock(sync_mu_);
    applied_through_ = std::max<int64_t>(0, last - kRebuildLookback);
    applied_above_.clear();
    gaps_.clear();
    return absl::OkStatus();
  });
  if (!position.ok()) return position;
  absl::Status upsert_status;
  size_t count = 0;
  absl::Status status = store_->ScanActiveRecords(deadline, [&](const v1::SourceRecord& record) {
    if (!upsert_status.ok()) return;
    upsert_status = matcher_->Upsert(record.source_id(), record.demographics());
    ++count;
  });
  if (!status.ok()) return status;
  if (!upsert_status.ok()) return upsert_status;
  return count;
}

// ------------------------------------------------------------------------------------------
// Registration

namespace {

std::string RegisterIdempotencyKey(const v1::RegisterSourceRecordRequest& request) {
  return "register:" + request.idempotency_key();
}

absl::Status ValidateRegistration(const v1::RegisterSourceRecordRequest& request) {
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  return ValidateDemographics(request.demographics(), "demographics");
}

// A registration as the rules see it: identifiers normalised or dropped (warnings name them,
// `field_prefix` locating the entry in its request), then checked. The same request always gives
// the same result, so a retry sees the same warnings.
absl::Status AdmitRegistration(const CallContext& call, const std::string& field_prefix,
                               v1::RegisterSourceRecordRequest* request,
                               std::vector<hie::common::v1::FieldWarning>* warnings) {
  NormaliseIdentifiers(request->mutable_demographics(), field_prefix + "demographics", warnings);
  if (absl::Status s =
          Admit(call, *request, Operation::kRegister, {{&request->source_id(), "source_id"}});
      !s.ok()) {
    return s;
  }
  return ValidateRegistration(*request);
}

}  // namespace

std::vector<std::string> IdentityManager::RegistrationLockKeys(
    const v1::RegisterSourceRecordRequest& request) const {
  std::vector<std::string> lock_keys = matcher_->LockKeys(request.demographics());
  lock_keys.push_back("record:" + RecordKey(request.source_id()));
  return lock_keys;
}

absl::StatusOr<v1::RegisterSourceRecordResponse> IdentityManager::Register(
    const CallContext& call, const v1::RegisterSourceRecordRequest& sent) {
  v1::RegisterSourceRecordRequest request = sent;
  std::vector<hie::common::v1::FieldWarning> warnings;
  HIE_RETURN_IF_ERROR(AdmitRegistration(call, "", &request, &warnings));
  const std::vector<std::string> lock_keys = RegistrationLockKeys(request);
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
    BatchTxn batch(txn);
    HIE_RETURN_IF_ERROR(batch.Prefetch({request.source_id()}, {RegisterIdempotencyKey(request)}));
    HIE_ASSIGN_OR_RETURN(v1::RegisterSourceRecordResponse result,
                         RegisterInTxn(batch, call, now, request, &index));
    response = std::move(result);
    // A dry run changes nothing: roll back on purpose.
    return request.validate_only() ? absl::CancelledError("validate_only") : batch.Flush();
  });
  for (hie::common::v1::FieldWarning& warning : warnings) *response.add_warnings() = warning;
  if (request.validate_only() && status.code() == absl::StatusCode::kCancelled) {
    return response;
  }
  if (!status.ok()) return status;
  if (index.upsert) {
    HIE_RETURN_IF_ERROR(matcher_->Upsert(request.source_id(), request.demographics()));
  }
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
  std::vector<v1::RegisterSourceRecordRequest> entries(request.registrations().begin(),
                                                       request.registrations().end());
  std::vector<bool> pending(n, false);  // valid entries not refused (yet)
  std::vector<std::vector<hie::common::v1::FieldWarning>> warnings(n);
  std::vector<std::string> lock_keys;
  for (int i = 0; i < n; ++i) {
    v1::RegisterSourceRecordResult* result = response.add_results();
    *entries[i].mutable_context() = request.context();
    absl::Status valid = entries[i].validate_only()
                             ? absl::InvalidArgumentError("validate_only is not allowed in a batch")
                             : AdmitRegistration(call, absl::StrCat("registrations[", i, "]."),
                                                 &entries[i], &warnings[i]);
    if (!valid.ok()) {
      SetEntryError(result, i, valid);
      continue;
    }
    pending[i] = true;
    for (std::string& key : RegistrationLockKeys(entries[i])) lock_keys.push_back(std::move(key));
  }
  if (lock_keys.empty()) return response;  // every entry was invalid
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<KeyLocks::Held> held,
                       key_locks_->Lock(lock_keys, call.deadline));
  const absl::Time now = clock_->Now();

  // Each entry goes into the index as soon as it is decided, so that later entries match it;
  // if the transaction does not commit, the index is put back as it was.
  std::vector<std::pair<SourceId, IndexChange>> indexed;  // in the order applied
  auto restore_index = [&]() -> absl::Status {
    absl::Status first_failure;
    for (auto it = indexed.rbegin(); it != indexed.rend(); ++it) {
      first_failure.Update(it->second.before.has_value()
                               ? matcher_->Upsert(it->first, *it->second.before)
                               : matcher_->Remove(it->first));
    }
    indexed.clear();
    return first_failure;
  };
  // An entry refused inside the transaction rolls it back; the batch then runs again without
  // it (refusals are rare: a reused idempotency key, a superseded record).
  for (;;) {
    int refused = -1;
    absl::Status refusal;
    absl::Status status = Write(call.deadline, lock_keys, [&](IdentityTxn& txn) -> absl::Status {
      // The store may run this again after a failed attempt.
      HIE_RETURN_IF_ERROR(restore_index());
      HIE_RETURN_IF_ERROR(CatchUpIndex(txn));
      // Every entry first reads its record, its not-a-match decisions and its key: one read
      // each for the whole batch.
      BatchTxn batch(txn);
      std::vector<SourceId> ids;
      std::vector<std::string> keys;
      for (int i = 0; i < n; ++i) {
        if (!pending[i]) continue;
        ids.push_back(entries[i].source_id());
        keys.push_back(RegisterIdempotencyKey(entries[i]));
      }
      HIE_RETURN_IF_ERROR(batch.Prefetch(ids, keys));
      for (int i = 0; i < n; ++i) {
        if (!pending[i]) continue;
        IndexChange change;
        absl::StatusOr<v1::RegisterSourceRecordResponse> result =
            RegisterInTxn(batch, call, now, entries[i], &change);
        if (!result.ok()) {
          if (!IsEntryError(result.status())) return result.status();
          refused = i;
          refusal = result.status();
          return absl::CancelledError("a batch entry was refused");
        }
        v1::RegisterSourceRecordResponse* entry = response.mutable_results(i)->mutable_response();
        *entry = *std::move(result);
        for (const auto& warning : warnings[i]) *entry->add_warnings() = warning;
        if (change.upsert) {
          const SourceId& id = entries[i].source_id();
          HIE_RETURN_IF_ERROR(matcher_->Upsert(id, entries[i].demographics()));
          indexed.emplace_back(id, std::move(change));
        }
      }
      return batch.Flush();
    });
    if (status.ok()) return response;
    HIE_RETURN_IF_ERROR(restore_index());
    if (refused < 0) return status;
    SetEntryError(response.mutable_results(refused), refused, refusal);
    pending[refused] = false;
    if (std::find(pending.begin(), pending.end(), true) == pending.end()) return response;
  }
}

absl::StatusOr<v1::RegisterSourceRecordResponse> IdentityManager::RegisterInTxn(
    IdentityTxn& txn, const CallContext& call, absl::Time now,
    const v1::RegisterSourceRecordRequest& request, IndexChange* index) {
  *index = IndexChange();
  const SourceId& id = request.source_id();
  const std::string fingerprint = Fingerprint(request);
  bool index_it = false;
  std::vector<RecordMatch> matches = matcher_->Match(id, request.demographics(), kMatchLimit);
  // An organisation has one record per patient unless it says otherwise (a source merge), so
  // another record of the same org is at most a question for a human.
  for (RecordMatch& m : matches) {
    if (m.source_id.org() != id.org()) continue;
    if (m.grade == v1::MATCH_GRADE_CERTAIN) m.grade = v1::MATCH_GRADE_PROBABLE;
    m.explanation.set_grade(m.grade);
    v1::GuardResult* guard = m.explanation.add_guards();
    guard->set_kind(v1::GuardResult::KIND_SAME_SOURCE_ORG);
    guard->set_field("org");
  }
  std::function<absl::StatusOr<v1::RegisterSourceRecordResponse>()> produce =
      [&]() -> absl::StatusOr<v1::RegisterSourceRecordResponse> {
    v1::RegisterSourceRecordResponse out;
    HIE_ASSIGN_OR_RETURN(std::optional<v1::SourceRecord> existing, txn.GetRecord(id));
    if (existing.has_value() && existing->state() == v1::RECORD_STATE_SUPERSEDED) {
      return absl::FailedPreconditionError(
          "source record was superseded by a source merge; register the survivor");
    }
    if (existing.has_value() && existing->state() == v1::RECORD_STATE_ACTIVE) {
      index->before = existing->demographics();
    }
    v1::SourceRecord record;
    *record.mutable_source_id() = id;
    *record.mutable_demographics() = request.demographics();
    record.set_state(v1::RECORD_STATE_ACTIVE);
    *record.mutable_source_event_time() =
        request.has_source_event_time() ? request.source_event_time() : ToProto(now);
    *record.mutable_record_time() = ToProto(now);
    const bool created = !existing.has_value();
    const bool stale = !created && FromProto(record.source_event_time()) <
                                       FromProto(existing->source_event_time());
    out.set_created(created);
    out.set_stale(stale);
    HIE_ASSIGN_OR_RETURN(int64_t version, txn.PutRecordVersion(record, !stale));
    record.set_version(version);
    v1::IdentityEvent recorded = NewEvent(
        created ? v1::IDENTITY_EVENT_TYPE_RECORD_CREATED : v1::IDENTITY_EVENT_TYPE_RECORD_UPDATED,
        call, now, "source_update");
    *recorded.add_source_ids() = id;
    recorded.set_record_version(record.version());
    HIE_RETURN_IF_ERROR(txn.AppendEvent(&recorded).status());

    // Candidates by person: the best record of each person, not-a-match decisions applied.
    HIE_ASSIGN_OR_RETURN(std::vector<v1::NotAMatch> refusals, txn.NotAMatchesOf(id));
    // One read for the links of the candidates and of the refused records, in that order.
    std::vector<SourceId> linked_ids;
    for (const RecordMatch& m : matches) linked_ids.push_back(m.source_id);
    for (const v1::NotAMatch& d : refusals) {
      linked_ids.push_back(SameId(d.a(), id) ? d.b() : d.a());
    }
    HIE_ASSIGN_OR_RETURN(std::vector<std::optional<v1::Link>> links, txn.GetLinks(linked_ids));
    std::set<std::string> refused_persons;
    for (size_t i = matches.size(); i < links.size(); ++i) {
      if (links[i].has_value()) refused_persons.insert(links[i]->person_id());
    }
    std::vector<std::pair<std::string, const RecordMatch*>> by_person;  // best first
    std::set<std::string> seen;
    for (size_t i = 0; i < matches.size(); ++i) {
      if (!links[i].has_value()) continue;
      const std::string& person = links[i]->person_id();
      if (refused_persons.count(person) > 0 || !seen.insert(person).second) continue;
      by_person.emplace_back(person, &matches[i]);
    }
    for (int i = 0; i < static_cast<int>(by_person.size()) && i < kMatchLimit; ++i) {
      v1::MatchCandidate* c = out.mutable_decision()->add_candidates();
      c->set_person_id(by_person[i].first);
      *c->mutable_best_source_id() = by_person[i].second->source_id;
      c->set_score(by_person[i].second->score);
      c->set_grade(by_person[i].second->grade);
      *c->mutable_explanation() = by_person[i].second->explanation;
    }

    std::optional<v1::Link> current_link;
    if (!created) {
      HIE_ASSIGN_OR_RETURN(auto link, txn.GetLink(id));
      current_link = link;
    }
    v1::MatchDecision* decision = out.mutable_decision();
    if (stale) {
      decision->set_outcome(v1::MATCH_OUTCOME_UNCHANGED);
      decision->set_person_id(current_link ? current_link->person_id() : "");
    } else if (current_link.has_value()) {
      // An update never moves a record by itself. An automatically linked record that no
      // longer matches its person, or now matches another person, goes to review.
      decision->set_outcome(v1::MATCH_OUTCOME_UNCHANGED);
      decision->set_person_id(current_link->person_id());
      index_it = true;
      bool automatic = current_link->method() == v1::LINK_METHOD_AUTO ||
                       current_link->method() == v1::LINK_METHOD_NEW_PERSON;
      if (automatic) {
        const RecordMatch* best_elsewhere = nullptr;
        bool still_certain_at_home = false;
        for (const auto& [person, m] : by_person) {
          if (person == current_link->person_id()) {
            still_certain_at_home = m->grade == v1::MATCH_GRADE_CERTAIN;
          } else if (best_elsewhere == nullptr && m->grade == v1::MATCH_GRADE_CERTAIN) {
            best_elsewhere = m;
          }
        }
        HIE_ASSIGN_OR_RETURN(auto home, txn.LinksOf(current_link->person_id()));
        const bool alone = home.size() <= 1;
        const v1::Link* home_other = nullptr;
        for (const v1::Link& l : home) {
          if (!SameId(l.source_id(), id)) home_other = &l;
        }
        std::optional<std::pair<SourceId, RecordMatch>> question;
        if (!alone && !still_certain_at_home && home_other != nullptr) {
          HIE_ASSIGN_OR_RETURN(auto other, txn.GetRecord(home_other->source_id()));
          if (other.has_value()) {
            question.emplace(home_other->source_id(),
                             matcher_->Compare(id, request.demographics(), home_other->source_id(),
                                               other->demographics()));
          }
        } else if (best_elsewhere != nullptr) {
          question.emplace(best_elsewhere->source_id, *best_elsewhere);
        }
        if (question.has_value()) {
          HIE_ASSIGN_OR_RETURN(auto right, txn.GetRecord(question->first));
          HIE_ASSIGN_OR_RETURN(auto right_link, txn.GetLink(question->first));
          if (right.has_value() && right_link.has_value()) {
            HIE_ASSIGN_OR_RETURN(
                auto task, OpenReviewTask(txn, call, now, record, current_link->person_id(), *right,
                                          right_link->person_id(), question->second.explanation));
            decision->set_review_task_id(task.task_id());
          }
        }
      }
    } else {
      // First version: link to a CERTAIN person, else found a new person (and ask about
      // PROBABLE / POSSIBLE ones).
      index_it = true;
      const RecordMatch* certain = nullptr;
      std::string certain_person;
      if (!by_person.empty() && by_person[0].second->grade == v1::MATCH_GRADE_CERTAIN) {
        certain = by_person[0].second;
        certain_person = by_person[0].first;
      }
      if (certain != nullptr) {
        HIE_ASSIGN_OR_RETURN(v1::Person person, LockActivePerson(txn, certain_person));
        HIE_ASSIGN_OR_RETURN(
            auto moved, MoveRecord(txn, call, now, id, "", person.person_id(), v1::LINK_METHOD_AUTO,
                                   v1::IDENTITY_EVENT_TYPE_RECORD_LINKED, "auto_match",
                                   certain->score, certain->grade));
        HIE_RETURN_IF_ERROR(TouchPerson(txn, person, now));
        decision->set_outcome(v1::MATCH_OUTCOME_LINKED);
        decision->set_person_id(person.person_id());
      } else {
        HIE_ASSIGN_OR_RETURN(v1::Person person, CreatePerson(txn, call, now, "no_certain_match"));
        HIE_ASSIGN_OR_RETURN(
            auto moved,
            MoveRecord(txn, call, now, id, "", person.person_id(), v1::LINK_METHOD_NEW_PERSON,
                       v1::IDENTITY_EVENT_TYPE_RECORD_LINKED, "no_certain_match"));
        decision->set_outcome(v1::MATCH_OUTCOME_NEW_PERSON);
        decision->set_person_id(person.person_id());
        int opened = 0;
        for (const auto& [candidate_person, m] : by_person) {
          if (opened == kMaxReviewTasksPerRegistration) break;
          HIE_ASSIGN_OR_RETURN(auto right, txn.GetRecord(m->source_id));
          if (!right.has_value()) continue;
          HIE_ASSIGN_OR_RETURN(auto task, OpenReviewTask(txn, call, now, record, person.person_id(),
                                                         *right, candidate_person, m->explanation));
          if (opened++ == 0) decision->set_review_task_id(task.task_id());
          decision->set_outcome(v1::MATCH_OUTCOME_REVIEW);
        }
      }
    }
    *out.mutable_record() = record;
    out.mutable_record()->set_person_id(decision->person_id());
    out.set_person_id(decision->person_id());
    return out;
  };
  absl::StatusOr<v1::RegisterSourceRecordResponse> result =
      request.validate_only()
          ? produce()
          : Idempotent<v1::RegisterSourceRecordResponse>(txn, RegisterIdempotencyKey(request),
                                                         fingerprint, now, produce);
  if (result.ok()) index->upsert = index_it && !result->stale();
  return result;
}

absl::StatusOr<v1::MergeSourceRecordsResponse> IdentityManager::MergeSourceRecords(
    const CallContext& call, const v1::MergeSourceRecordsRequest& request) {
  if (absl::Status s =
          Admit(call, request, Operation::kMergeSourceRecords,
                {{&request.survivor(), "survivor"}, {&request.superseded(), "superseded"}});
      !s.ok())
    return s;
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.survivor(), "survivor"));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.superseded(), "superseded"));
  if (request.survivor().org() != request.superseded().org()) {
    return absl::InvalidArgumentError("survivor.org and superseded.org must be the same org");
  }
  if (SameId(request.survivor(), request.superseded())) {
    return absl::InvalidArgumentError("survivor and superseded must be different records");
  }
  const absl::Time now = clock_->Now();
  v1::MergeSourceRecordsResponse response;
  absl::Status status = Write(
      call.deadline,
      {"record:" + RecordKey(request.survivor()), "record:" + RecordKey(request.superseded())},
      [&](IdentityTxn& txn) -> absl::Status {
        auto result = Idempotent<v1::MergeSourceRecordsResponse>(
            txn, "source_merge:" + request.idempotency_key(), Fingerprint(request), now,
            [&]() -> absl::StatusOr<v1::MergeSourceRecordsResponse> {
              auto survivor = txn.GetRecord(request.survivor());
              auto superseded = txn.GetRecord(request.superseded());
              if (!survivor.ok()) return survivor.status();
              if (!superseded.ok()) return superseded.status();
              if (!survivor->has_value() || !superseded->has_value()) {
                return absl::NotFoundError("survivor or superseded record not found");
              }
              if ((*superseded)->state() == v1::RECORD_STATE_SUPERSEDED &&
                  !SameId((*superseded)->superseded_by(), request.survivor())) {
                return absl::FailedPreconditionError(
                    "superseded record is already superseded by another record");
              }
              if ((*survivor)->state() != v1::RECORD_STATE_ACTIVE) {
                return absl::FailedPreconditionError("survivor record is not active");
              }
              if (auto s = txn.SetRecordState(request.superseded(), v1::RECORD_STATE_SUPERSEDED,
                                              request.survivor());
                  !s.ok()) {
                return s;
              }
              // The superseded record follows the survivor's person.
              HIE_ASSIGN_OR_RETURN(auto to, LockActivePerson(txn, (*survivor)->person_id()));
              v1::MergeSourceRecordsResponse out;
              const std::string from = (*superseded)->person_id();
              if (from != to.person_id()) {
                HIE_ASSIGN_OR_RETURN(auto from_person, LockActivePerson(txn, from));
                HIE_ASSIGN_OR_RETURN(
                    auto moved,
                    MoveRecord(txn, call, now, request.superseded(), from, to.person_id(),
                               v1::LINK_METHOD_MANUAL, v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED,
                               "source_merge"));
                out.set_event_id(moved.event_id());
                HIE_RETURN_IF_ERROR(SettleAfterLoss(txn, from_person, now).status());
                if (auto s = TouchPerson(txn, to, now); !s.ok()) return s;
              } else {
                v1::IdentityEvent e =
                    NewEvent(v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED, call, now, "source_merge");
                *e.add_source_ids() = request.superseded();
                *e.add_source_ids() = request.survivor();
                e.set_to_person_id(to.person_id());
                HIE_RETURN_IF_ERROR(txn.AppendEvent(&e).status());
                out.set_event_id(e.event_id());
              }
              // Its open review tasks no longer make sense.
              HIE_ASSIGN_OR_RETURN(auto open, txn.OpenTasksWith(request.superseded()));
              for (const v1::ReviewTask& task : open) {
                if (auto s = CloseTask(txn, call, now, task, v1::REVIEW_TASK_STATE_OBSOLETE,
                                       "record superseded");
                    !s.ok()) {
                  return s;
                }
              }
              auto survivor_now = txn.GetRecord(request.survivor());
              auto superseded_now = txn.GetRecord(request.superseded());
              if (!survivor_now.ok()) return survivor_now.status();
              if (!superseded_now.ok()) return superseded_now.status();
              *out.mutable_survivor() = **survivor_now;
              *out.mutable_superseded() = **superseded_now;
              out.set_person_id(to.person_id());
              return out;
            });
        if (!result.ok()) return result.status();
        response = *std::move(result);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  HIE_RETURN_IF_ERROR(matcher_->Remove(request.superseded()));
  return response;
}

// ------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<v1::SourceRecord> IdentityManager::GetSourceRecord(
    const CallContext& call, const v1::GetSourceRecordRequest& request) {
  if (absl::Status s =
          Admit(call, request, Operation::kReadRecord, {{&request.source_id(), "source_id"}});
      !s.ok())
    return s;
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  if (request.version() < 0) return absl::InvalidArgumentError("version must not be negative");
  v1::SourceRecord out;
  absl::Status status = store_->Read(call.deadline, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto record, txn.GetRecord(request.source_id(), request.version()));
    if (!record.has_value()) return absl::NotFoundError("source record not found");
    out = *record;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<v1::ResolveResponse> IdentityManager::Resolve(const CallContext& call,
                                                             const v1::ResolveRequest& request) {
  if (absl::Status s =
          Admit(call, request, Operation::kReadRecord, {{&request.source_id(), "source_id"}});
      !s.ok())
    return s;
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  const bool cacheable = cache_ != nullptr && request.target_orgs_size() == 0 &&
                         !request.include_inactive() && CacheSettled();
  ResolveCache::Lookup lookup;
  if (cacheable) {
    lookup = cache_->Get(request.source_id());
    if (lookup.hit.has_value()) return *std::move(lookup.hit);
  }
  v1::ResolveResponse out;
  // One read: the record's person and every record linked to it, in one statement.
  absl::Status status = store_->Read(call.deadline, [&](IdentityTxn& txn) -> absl::Status {
    out.Clear();
    HIE_ASSIGN_OR_RETURN(auto linked, txn.LinkedRecordsWith(request.source_id()));
    if (linked.empty()) return absl::NotFoundError("source record not found");
    out.set_person_id(linked.front().link.person_id());
    std::set<std::string> orgs(request.target_orgs().begin(), request.target_orgs().end());
    for (const auto& [link, record] : linked) {
      if (!orgs.empty() && orgs.count(link.source_id().org()) == 0) continue;
      if (record.state() != v1::RECORD_STATE_ACTIVE && !request.include_inactive()) continue;
      v1::CrossReference* xref = out.add_cross_references();
      *xref->mutable_source_id() = link.source_id();
      xref->set_state(record.state());
      *xref->mutable_link() = link;
      *xref->mutable_record_time() = record.record_time();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (cacheable) cache_->Put(request.source_id(), lookup, out);
  return out;
}

absl::StatusOr<v1::SearchPersonsResponse> IdentityManager::SearchPersons(
    const CallContext& call, const v1::SearchPersonsRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kSearch));
  const Demographics& q = request.query();
  if (q.name().family().empty() && q.birth_date().empty() && q.identifiers_size() == 0) {
    return absl::InvalidArgumentError(
        "query needs at least one of name.family, birth_date or identifiers");
  }
  HIE_RETURN_IF_ERROR(ValidateDemographics(q, "query"));
  if (request.max_results() < 0 || request.max_results() > 100) {
    return absl::InvalidArgumentError("max_results must be between 0 and 100");
  }
  const int max_results = request.max_results() == 0 ? 10 : request.max_results();
  v1::MatchGrade worst = request.only_certain_matches() ? v1::MATCH_GRADE_CERTAIN
                         : request.min_grade() == v1::MATCH_GRADE_UNSPECIFIED
                             ? v1::MATCH_GRADE_POSSIBLE
                             : request.min_grade();
  // Grades are ordered CERTAIN(1) < PROBABLE(2) < POSSIBLE(3): lower is better.
  std::vector<RecordMatch> matches = matcher_->Match(SourceId(), q, 4 * max_results);
  std::erase_if(matches, [&](const RecordMatch& m) { return m.grade > worst; });
  const absl::Time now = clock_->Now();
  v1::SearchPersonsResponse out;
  // Without a transaction: a merge committed between two reads can show a merged person with
  // no records; the next search shows the survivor.
  absl::Status status = store_->Read(call.deadline, [&](IdentityTxn& txn) -> absl::Status {
    out.Clear();
    std::vector<SourceId> ids;
    for (const RecordMatch& m : matches) ids.push_back(m.source_id);
    HIE_ASSIGN_OR_RETURN(auto candidate_links, txn.GetLinks(ids));
    std::set<std::string> seen;
    for (size_t i = 0; i < matches.size() && out.matches_size() < max_results; ++i) {
      const RecordMatch& m = matches[i];
      const std::optional<v1::Link>& link = candidate_links[i];
      if (!link.has_value() || !seen.insert(link->person_id()).second) continue;
      HIE_ASSIGN_OR_RETURN(auto links, txn.LinksOf(link->person_id()));
      if (links.empty()) continue;  // merged away since the first read
      v1::PersonMatch* pm = out.add_matches();
      v1::MatchCandidate* c = pm->mutable_candidate();
      c->set_person_id(link->person_id());
      *c->mutable_best_source_id() = m.source_id;
      c->set_score(m.score);
      c->set_grade(m.grade);
      *c->mutable_explanation() = m.explanation;
      for (const v1::Link& l : links) *pm->add_source_ids() = l.source_id();
      if (request.include_golden_record()) {
        HIE_ASSIGN_OR_RETURN(auto records, RecordsOf(txn, link->person_id()));
        *pm->mutable_golden_record() = ComputeGoldenRecord(records, now, survivorship_);
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<v1::Person> IdentityManager::GetPerson(const CallContext& call,
                                                      const v1::GetPersonRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kReadPerson));
  HIE_RETURN_IF_ERROR(RequireText(request.person_id(), "person_id", 64));
  const absl::Time now = clock_->Now();
  v1::Person out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, request.person_id()));
    out = person;
    if (request.view() == v1::PERSON_VIEW_FULL) {
      HIE_ASSIGN_OR_RETURN(auto records, RecordsOf(txn, request.person_id()));
      *out.mutable_golden_record() = ComputeGoldenRecord(records, now, survivorship_);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<v1::ListReviewTasksResponse> IdentityManager::ListReviewTasks(
    const CallContext& call, const v1::ListReviewTasksRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kReadReview));
  if (request.page_size() < 0 || request.page_size() > 500) {
    return absl::InvalidArgumentError("page_size must be between 0 and 500");
  }
  if (!request.order_by().empty() && request.order_by() != "create_time" &&
      request.order_by() != "score desc") {
    return absl::InvalidArgumentError("order_by must be 'create_time' or 'score desc'");
  }
  HIE_ASSIGN_OR_RETURN(int offset, ParsePageToken(request.page_token()));
  TaskFilter filter;
  filter.state = request.state() == v1::REVIEW_TASK_STATE_UNSPECIFIED ? v1::REVIEW_TASK_STATE_OPEN
                                                                      : request.state();
  filter.org = request.org();
  filter.person_id = request.person_id();
  filter.order_by_score_desc = request.order_by() == "score desc";
  filter.limit = request.page_size() == 0 ? 50 : request.page_size();
  filter.offset = offset;
  v1::ListReviewTasksResponse out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    out.Clear();
    HIE_ASSIGN_OR_RETURN(auto tasks, txn.ListTasks(filter));
    HIE_ASSIGN_OR_RETURN(auto total, txn.CountTasks(filter));
    for (v1::ReviewTask& task : tasks) *out.add_tasks() = std::move(task);
    out.set_total_size(total);
    if (offset + out.tasks_size() < total) {
      out.set_next_page_token(absl::StrCat(offset + out.tasks_size()));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<v1::ReviewTask> IdentityManager::GetReviewTask(
    const CallContext& call, const v1::GetReviewTaskRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kReadReview));
  HIE_RETURN_IF_ERROR(RequireText(request.task_id(), "task_id", 64));
  v1::ReviewTask out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto task, txn.GetTask(request.task_id()));
    if (!task.has_value()) return absl::NotFoundError("review task not found");
    out = *task;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

// ------------------------------------------------------------------------------------------
// Operator operations

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
          if (auto s =
                  CloseTask(txn, call, now, *task,
                            request.resolution() == v1::ResolveReviewTaskRequest::RESOLUTION_SAME
                                ? v1::REVIEW_TASK_STATE_RESOLVED_SAME
                                : v1::REVIEW_TASK_STATE_RESOLVED_DIFFERENT,
                            request.reason());
              !s.ok()) {
            return s;
          }
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
        if (auto s = txn.LockKey(PersonLock(request.person_id())); !s.ok()) return s;
        HIE_ASSIGN_OR_RETURN(auto target, LoadPerson(txn, request.person_id()));
        if (target.state() != v1::PERSON_STATE_ACTIVE) {
          return absl::FailedPreconditionError("target person is not active");
        }
        if (auto s = CheckEtag(request.expected_etag(), target); !s.ok()) return s;
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
          if (auto s = txn.RemoveNotAMatch(d.a(), d.b()); !s.ok()) return s;
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
        if (auto s = TouchPerson(txn, target, now); !s.ok()) return s;
        HIE_ASSIGN_OR_RETURN(auto settled, SettleAfterLoss(txn, previous, now));
        if (auto s = ObsoleteSettledTasks(txn, call, now, request.source_id()); !s.ok()) {
          return s;
        }
        HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, target.person_id()));
        *out.mutable_person() = person;
        *out.mutable_previous_person() = settled;
        return out;
      });
}

absl::StatusOr<v1::UnlinkRecordResponse> IdentityManager::UnlinkRecord(
    const CallContext& call, const v1::UnlinkRecordRequest& request) {
  if (absl::Status s =
          Admit(call, request, Operation::kUnlink, {{&request.source_id(), "source_id"}});
      !s.ok())
    return s;
  HIE_RETURN_IF_ERROR(ValidateWrite(request.context(), request.idempotency_key()));
  HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  HIE_RETURN_IF_ERROR(RequireText(request.reason(), "reason", 1000));
  const absl::Time now = clock_->Now();
  return IdempotentWrite<v1::UnlinkRecordResponse>(
      call, {"record:" + RecordKey(request.source_id())}, "unlink", request,
      [&](IdentityTxn& txn) -> absl::StatusOr<v1::UnlinkRecordResponse> {
        HIE_ASSIGN_OR_RETURN(auto record, txn.GetRecord(request.source_id()));
        if (!record.has_value()) return absl::NotFoundError("source record not found");
        HIE_ASSIGN_OR_RETURN(auto previous, LockActivePerson(txn, record->person_id()));
        if (auto s = CheckEtag(request.expected_etag(), previous); !s.ok()) return s;
        HIE_ASSIGN_OR_RETURN(auto links, txn.LinksOf(previous.person_id()));
        if (links.size() < 2) {
          return absl::FailedPreconditionError("record is its person's only record");
        }
        HIE_ASSIGN_OR_RETURN(auto fresh, CreatePerson(txn, call, now, request.reason()));
        HIE_ASSIGN_OR_RETURN(auto moved,
                             MoveRecord(txn, call, now, request.source_id(), previous.person_id(),
                                        fresh.person_id(), v1::LINK_METHOD_SPLIT,
                                        v1::IDENTITY_EVENT_TYPE_RECORD_UNLINKED, request.reason()));
        // So that matching does not put it back. A member (ADT A37) speaks for its own records
        // only: its decision says nothing about other organisations' records of the person.
        for (const v1::Link& l : links) {
          if (SameId(l.source_id(), request.source_id())) continue;
          if (IsMemberRole(call.actor.role()) && l.source_id().org() != call.actor.org()) {
            continue;
          }
          if (auto s = RecordNotAMatch(txn, call, now, request.source_id(), l.source_id(),
                                       request.reason());
              !s.ok()) {
            return s;
          }
        }
        HIE_ASSIGN_OR_RETURN(auto settled, SettleAfterLoss(txn, previous, now));
        HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, fresh.person_id()));
        v1::UnlinkRecordResponse out;
        *out.mutable_new_person() = person;
        *out.mutable_previous_person() = settled;
        out.set_event_id(moved.event_id());
        return out;
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
          if (auto s = txn.LockKey(PersonLock(id)); !s.ok()) return s;
        }
        HIE_ASSIGN_OR_RETURN(auto survivor, LoadPerson(txn, request.survivor_person_id()));
        HIE_ASSIGN_OR_RETURN(auto merged, LoadPerson(txn, request.merged_person_id()));
        if (survivor.state() != v1::PERSON_STATE_ACTIVE ||
            merged.state() != v1::PERSON_STATE_ACTIVE) {
          return absl::FailedPreconditionError("both persons must be active");
        }
        if (auto s = CheckEtag(request.survivor_expected_etag(), survivor); !s.ok()) return s;
        if (auto s = CheckEtag(request.merged_expected_etag(), merged); !s.ok()) return s;
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
          if (auto s = txn.LockKey(PersonLock(id)); !s.ok()) return s;
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
          if (auto s = txn.PutLink(back); !s.ok()) return s;
        }
        if (auto s = TouchPerson(txn, *restored, now); !s.ok()) return s;
        HIE_ASSIGN_OR_RETURN(auto settled, SettleAfterLoss(txn, *survivor, now));
        HIE_ASSIGN_OR_RETURN(auto restored_now, LoadPerson(txn, restored_id));
        v1::UnmergePersonsResponse out;
        *out.mutable_restored() = restored_now;
        *out.mutable_survivor() = settled;
        out.set_event_id(event.event_id());
        return out;
      });
}

// ------------------------------------------------------------------------------------------
// History

namespace {

// GetHistory page tokens: "s" and the sequence of the last event delivered (opaque to clients).
absl::StatusOr<int64_t> ParseHistoryToken(const std::string& token) {
  if (token.empty()) return 0;
  int64_t after = 0;
  if (token[0] != 's' || !absl::SimpleAtoi(token.substr(1), &after) || after < 0) {
    return absl::InvalidArgumentError("page_token is not valid");
  }
  return after;
}

bool MovesRecords(const v1::IdentityEvent& e) {
  return e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_LINKED ||
         e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_UNLINKED ||
         e.type() == v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED ||
         e.type() == v1::IDENTITY_EVENT_TYPE_PERSONS_UNMERGED ||
         e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED;
}

// Replays a person's link-changing events into its state as of the events' end.
class PersonReplay {
 public:
  explicit PersonReplay(std::string person_id) : person_id_(std::move(person_id)) {}
  void Apply(const v1::IdentityEvent& e) {
    if (!MovesRecords(e) ||
        (e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED && e.from_person_id().empty())) {
      return;
    }
    for (const SourceId& id : e.source_ids()) {
      if (e.from_person_id() == person_id_) links_.erase(RecordKey(id));
      if (e.to_person_id() == person_id_) {
        v1::Link l;
        *l.mutable_source_id() = id;
        l.set_person_id(person_id_);
        *l.mutable_create_time() = e.event_time();
        l.set_event_id(e.event_id());
        links_[RecordKey(id)] = l;
      }
    }
    if (e.type() == v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED) {
      merged_away_ = e.from_person_id() == person_id_;
    } else if (e.type() == v1::IDENTITY_EVENT_TYPE_PERSONS_UNMERGED &&
               e.to_person_id() == person_id_) {
      merged_away_ = false;
    }
  }
  void Fill(const v1::Person& now, v1::Person* then) const {
    then->set_person_id(now.person_id());
    *then->mutable_create_time() = now.create_time();
    then->set_state(!links_.empty() ? v1::PERSON_STATE_ACTIVE
                    : merged_away_  ? v1::PERSON_STATE_MERGED
                                    : v1::PERSON_STATE_RETIRED);
    for (const auto& [key, link] : links_) *then->add_links() = link;
  }

 private:
  const std::string person_id_;
  std::map<std::string, v1::Link> links_;
  bool merged_away_ = false;
};

}  // namespace

absl::StatusOr<v1::GetHistoryResponse> IdentityManager::GetHistory(
    const CallContext& call, const v1::GetHistoryRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kReadHistory));
  const bool by_person = request.subject_case() == v1::GetHistoryRequest::kPersonId;
  if (request.subject_case() == v1::GetHistoryRequest::SUBJECT_NOT_SET) {
    return absl::InvalidArgumentError("person_id or source_id is required");
  }
  if (!by_person) {
    HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  }
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError("page_size must be between 0 and 1000");
  }
  HIE_ASSIGN_OR_RETURN(int64_t after, ParseHistoryToken(request.page_token()));
  const bool first_page = request.page_token().empty();
  const int page_size = request.page_size() == 0 ? 100 : request.page_size();
  const absl::Time as_of =
      request.has_as_of() ? FromProto(request.as_of()) : absl::InfiniteFuture();
  std::set<int> types(request.types().begin(), request.types().end());
  constexpr int kBatch = 1000;  // events read per statement: memory holds one batch
  v1::GetHistoryResponse out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    out.Clear();
    // Calls fn(event) for the subject's events after `from`, in order, until it returns false.
    auto each_event = [&](int64_t from, const auto& fn) -> absl::Status {
      for (;;) {
        HIE_ASSIGN_OR_RETURN(std::vector<v1::IdentityEvent> events,
                             by_person
                                 ? txn.EventsAboutPerson(request.person_id(), as_of, from, kBatch)
                                 : txn.EventsAboutRecord(request.source_id(), as_of, from, kBatch));
        for (const v1::IdentityEvent& e : events) {
          if (!fn(e)) return absl::OkStatus();
        }
        if (static_cast<int>(events.size()) < kBatch) return absl::OkStatus();
        from = events.back().sequence();
      }
    };
    if (by_person) {
      HIE_ASSIGN_OR_RETURN(auto person, LoadPerson(txn, request.person_id()));
      if (first_page) {  // the state as of the requested time: a replay of the whole history
        PersonReplay replay(request.person_id());
        absl::Status s = each_event(0, [&](const v1::IdentityEvent& e) {
          replay.Apply(e);
          return true;
        });
        if (!s.ok()) return s;
        replay.Fill(person, out.mutable_state()->mutable_person());
      }
    } else {
      HIE_ASSIGN_OR_RETURN(auto versions, txn.RecordVersions(request.source_id()));
      if (versions.empty()) return absl::NotFoundError("source record not found");
      const v1::SourceRecord* current = nullptr;
      for (const v1::SourceRecord& v : versions) {
        if (FromProto(v.record_time()) <= as_of &&
            (current == nullptr ||
             FromProto(v.source_event_time()) >= FromProto(current->source_event_time()))) {
          current = &v;
        }
      }
      if (first_page && current != nullptr) {
        v1::SourceRecord* then = out.mutable_state()->mutable_record();
        *then = *current;
        absl::Status s = each_event(0, [&](const v1::IdentityEvent& e) {
          if (!e.to_person_id().empty() && MovesRecords(e)) then->set_person_id(e.to_person_id());
          return true;
        });
        if (!s.ok()) return s;
      }
    }
    // The page: events after the token's, of the requested types; a next token when another
    // matching event follows.
    return each_event(after, [&](const v1::IdentityEvent& e) {
      if (!types.empty() && types.count(e.type()) == 0) return true;
      if (out.events_size() == page_size) {
        out.set_next_page_token(absl::StrCat("s", out.events(page_size - 1).sequence()));
        return false;
      }
      *out.add_events() = e;
      return true;
    });
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<v1::ListNotAMatchesResponse> IdentityManager::ListNotAMatches(
    const CallContext& call, const v1::ListNotAMatchesRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kReadHistory));
  if (request.subject_case() == v1::ListNotAMatchesRequest::SUBJECT_NOT_SET) {
    return absl::InvalidArgumentError("person_id or source_id is required");
  }
  v1::ListNotAMatchesResponse out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    out.Clear();
    std::vector<SourceId> subjects;
    if (request.subject_case() == v1::ListNotAMatchesRequest::kSourceId) {
      subjects.push_back(request.source_id());
    } else {
      HIE_ASSIGN_OR_RETURN(auto links, txn.LinksOf(request.person_id()));
      for (const v1::Link& l : links) subjects.push_back(l.source_id());
    }
    std::set<std::string> seen;
    for (const SourceId& id : subjects) {
      HIE_ASSIGN_OR_RETURN(auto decisions, txn.NotAMatchesOf(id));
      for (const v1::NotAMatch& d : decisions) {
        if (seen.insert(d.event_id()).second) *out.add_decisions() = d;
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<v1::IdentityEvent>> IdentityManager::EventsAfter(const CallContext& call,
                                                                            int64_t after_sequence,
                                                                            int limit) {
  if (after_sequence < 0) return absl::InvalidArgumentError("after_sequence must not be negative");
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kWatchEvents));
  std::vector<v1::IdentityEvent> out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(int64_t last, txn.LastEventSequence());
    if (after_sequence > last) {
      return absl::OutOfRangeError("after_sequence is beyond the last event");
    }
    HIE_ASSIGN_OR_RETURN(std::vector<v1::IdentityEvent> events,
                         txn.EventsSince(after_sequence, limit, {}));
    out = std::move(events);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace hie::identity
