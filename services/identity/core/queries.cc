// IdentityManager: reads (records, Resolve, search, persons, review tasks) and history.

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

using ::hie::common::v1::Demographics;

absl::StatusOr<v1::SourceRecord> IdentityManager::GetSourceRecord(
    const CallContext& call, const v1::GetSourceRecordRequest& request) {
  HIE_RETURN_IF_ERROR(
      Admit(call, request, Operation::kReadRecord, {{&request.source_id(), "source_id"}}));
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
  HIE_RETURN_IF_ERROR(
      Admit(call, request, Operation::kReadRecord, {{&request.source_id(), "source_id"}}));
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

namespace {

constexpr int kHistoryBatch = 1000;  // events read per statement: memory holds one batch

absl::Status ValidateHistoryRequest(const v1::GetHistoryRequest& request) {
  if (request.subject_case() == v1::GetHistoryRequest::SUBJECT_NOT_SET) {
    return absl::InvalidArgumentError("person_id or source_id is required");
  }
  if (request.subject_case() == v1::GetHistoryRequest::kSourceId) {
    HIE_RETURN_IF_ERROR(ValidateSourceId(request.source_id(), "source_id"));
  }
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError("page_size must be between 0 and 1000");
  }
  return absl::OkStatus();
}

// Calls fn(event) for the request's subject's events recorded by `as_of` after sequence `from`,
// in order, until it returns false.
absl::Status ForEachEvent(IdentityTxn& txn, const v1::GetHistoryRequest& request, absl::Time as_of,
                          int64_t from, const std::function<bool(const v1::IdentityEvent&)>& fn) {
  const bool by_person = request.subject_case() == v1::GetHistoryRequest::kPersonId;
  for (;;) {
    HIE_ASSIGN_OR_RETURN(
        std::vector<v1::IdentityEvent> events,
        by_person ? txn.EventsAboutPerson(request.person_id(), as_of, from, kHistoryBatch)
                  : txn.EventsAboutRecord(request.source_id(), as_of, from, kHistoryBatch));
    for (const v1::IdentityEvent& e : events) {
      if (!fn(e)) return absl::OkStatus();
    }
    if (static_cast<int>(events.size()) < kHistoryBatch) return absl::OkStatus();
    from = events.back().sequence();
  }
}

// The subject's state as of the request's time (the first page only): a replay of its history.
absl::Status FillHistoryState(IdentityTxn& txn, const v1::GetHistoryRequest& request,
                              absl::Time as_of, v1::GetHistoryResponse* out) {
  if (request.subject_case() == v1::GetHistoryRequest::kPersonId) {
    HIE_ASSIGN_OR_RETURN(v1::Person person, LoadPerson(txn, request.person_id()));
    if (!request.page_token().empty()) return absl::OkStatus();
    PersonReplay replay(request.person_id());
    HIE_RETURN_IF_ERROR(ForEachEvent(txn, request, as_of, 0, [&](const v1::IdentityEvent& e) {
      replay.Apply(e);
      return true;
    }));
    replay.Fill(person, out->mutable_state()->mutable_person());
    return absl::OkStatus();
  }
  HIE_ASSIGN_OR_RETURN(std::vector<v1::SourceRecord> versions,
                       txn.RecordVersions(request.source_id()));
  if (versions.empty()) return absl::NotFoundError("source record not found");
  // The version in force then: the latest by source event time among those recorded by then.
  const v1::SourceRecord* current = nullptr;
  for (const v1::SourceRecord& v : versions) {
    if (FromProto(v.record_time()) <= as_of &&
        (current == nullptr ||
         FromProto(v.source_event_time()) >= FromProto(current->source_event_time()))) {
      current = &v;
    }
  }
  if (!request.page_token().empty() || current == nullptr) return absl::OkStatus();
  v1::SourceRecord* then = out->mutable_state()->mutable_record();
  *then = *current;
  return ForEachEvent(txn, request, as_of, 0, [&](const v1::IdentityEvent& e) {
    if (!e.to_person_id().empty() && MovesRecords(e)) then->set_person_id(e.to_person_id());
    return true;
  });
}

}  // namespace

absl::StatusOr<v1::GetHistoryResponse> IdentityManager::GetHistory(
    const CallContext& call, const v1::GetHistoryRequest& request) {
  HIE_RETURN_IF_ERROR(Admit(call, request, Operation::kReadHistory));
  HIE_RETURN_IF_ERROR(ValidateHistoryRequest(request));
  HIE_ASSIGN_OR_RETURN(int64_t after, ParseHistoryToken(request.page_token()));
  const int page_size = request.page_size() == 0 ? 100 : request.page_size();
  const absl::Time as_of =
      request.has_as_of() ? FromProto(request.as_of()) : absl::InfiniteFuture();
  const std::set<int> types(request.types().begin(), request.types().end());
  v1::GetHistoryResponse out;
  absl::Status status = store_->Transact(call.deadline, {}, [&](IdentityTxn& txn) -> absl::Status {
    out.Clear();
    HIE_RETURN_IF_ERROR(FillHistoryState(txn, request, as_of, &out));
    // The page: events after the token's, of the requested types; a next token when another
    // matching event follows.
    return ForEachEvent(txn, request, as_of, after, [&](const v1::IdentityEvent& e) {
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
