#include "services/identity/store/in_memory_identity_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace hie::identity {

namespace {

using google::protobuf::util::TimeUtil;

absl::Time ToAbsl(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

bool Names(const v1::IdentityEvent& e, const std::string& person_id) {
  if (e.from_person_id() == person_id || e.to_person_id() == person_id) return true;
  return std::find(e.affected_person_ids().begin(), e.affected_person_ids().end(), person_id) !=
         e.affected_person_ids().end();
}

bool Names(const v1::IdentityEvent& e, const SourceId& id) {
  return std::any_of(e.source_ids().begin(), e.source_ids().end(), [&](const SourceId& s) {
    return s.org() == id.org() && s.local_id() == id.local_id();
  });
}

std::pair<std::string, std::string> PairKey(const SourceId& a, const SourceId& b) {
  std::string ka = RecordKey(a), kb = RecordKey(b);
  return ka < kb ? std::make_pair(ka, kb) : std::make_pair(kb, ka);
}

bool Matches(const v1::ReviewTask& t, const TaskFilter& f) {
  if (t.state() != f.state) return false;
  if (!f.org.empty() && t.left().source_id().org() != f.org &&
      t.right().source_id().org() != f.org) {
    return false;
  }
  if (!f.person_id.empty() && t.left_person_id() != f.person_id &&
      t.right_person_id() != f.person_id) {
    return false;
  }
  return true;
}

class InMemoryTxn : public IdentityTxn {
 public:
  explicit InMemoryTxn(InMemoryIdentityStore::State* s) : s_(*s) {}

  absl::Status LockKey(const std::string&) override {
    return absl::OkStatus();  // transactions are serial already
  }

  absl::StatusOr<std::optional<v1::SourceRecord>> GetRecord(const SourceId& id,
                                                            int64_t version) override {
    auto it = s_.records.find(RecordKey(id));
    if (it == s_.records.end()) return std::optional<v1::SourceRecord>();
    const auto& entry = it->second;
    int64_t v = version == 0 ? entry.current_version : version;
    if (v < 1 || v > static_cast<int64_t>(entry.versions.size())) {
      return std::optional<v1::SourceRecord>();
    }
    v1::SourceRecord record = entry.versions[v - 1];
    if (version == 0 || v == entry.current_version) {
      record.set_state(entry.state);
      *record.mutable_superseded_by() = entry.superseded_by;
    }
    if (auto link = s_.links.find(it->first); link != s_.links.end()) {
      record.set_person_id(link->second.person_id());
    }
    return std::optional<v1::SourceRecord>(std::move(record));
  }

  absl::StatusOr<int64_t> PutRecordVersion(const v1::SourceRecord& record,
                                           bool make_current) override {
    auto existing = s_.records.find(RecordKey(record.source_id()));
    const int64_t version = existing == s_.records.end()
                                ? 1
                                : static_cast<int64_t>(existing->second.versions.size()) + 1;
    if (record.version() != 0 && record.version() != version) {
      return absl::FailedPreconditionError("record version is not the next version");
    }
    auto& entry = s_.records[RecordKey(record.source_id())];
    v1::SourceRecord stored = record;
    stored.clear_person_id();
    stored.set_version(version);
    entry.versions.push_back(stored);
    if (make_current || entry.current_version == 0) {
      entry.current_version = version;
      entry.state =
          record.state() == v1::RECORD_STATE_UNSPECIFIED ? v1::RECORD_STATE_ACTIVE : record.state();
      entry.superseded_by = record.superseded_by();
    }
    return version;
  }

  absl::Status SetRecordState(const SourceId& id, v1::RecordState state,
                              const SourceId& superseded_by) override {
    auto it = s_.records.find(RecordKey(id));
    if (it == s_.records.end()) return absl::NotFoundError("source record not found");
    it->second.state = state;
    it->second.superseded_by = superseded_by;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) override {
    auto it = s_.records.find(RecordKey(id));
    if (it == s_.records.end()) return std::vector<v1::SourceRecord>();
    return it->second.versions;
  }

  absl::StatusOr<std::string> NewPersonId() override {
    return absl::StrFormat("P%08d", s_.next_person++);
  }

  absl::StatusOr<std::optional<v1::Person>> GetPerson(const std::string& person_id) override {
    auto it = s_.persons.find(person_id);
    if (it == s_.persons.end()) return std::optional<v1::Person>();
    v1::Person person = it->second;
    absl::StatusOr<std::vector<v1::Link>> links = LinksOf(person_id);
    for (v1::Link& link : *links) *person.add_links() = std::move(link);
    return std::optional<v1::Person>(std::move(person));
  }

  absl::Status PutPerson(const v1::Person& person) override {
    v1::Person stored = person;
    stored.clear_links();
    stored.clear_golden_record();
    s_.persons[person.person_id()] = std::move(stored);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    auto it = s_.links.find(RecordKey(id));
    if (it == s_.links.end()) return std::optional<v1::Link>();
    return std::optional<v1::Link>(it->second);
  }

  absl::Status PutLink(const v1::Link& link) override {
    s_.links[RecordKey(link.source_id())] = link;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    std::vector<v1::Link> out;
    for (const auto& [key, link] : s_.links) {
      if (link.person_id() == person_id) out.push_back(link);
    }
    return out;
  }

  absl::StatusOr<std::vector<std::optional<v1::Link>>> GetLinks(
      const std::vector<SourceId>& ids) override {
    std::vector<std::optional<v1::Link>> out;
    for (const SourceId& id : ids) {
      auto it = s_.links.find(RecordKey(id));
      out.push_back(it == s_.links.end() ? std::nullopt : std::optional<v1::Link>(it->second));
    }
    return out;
  }

  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsOf(const std::string& person_id) override {
    std::vector<LinkedRecord> out;
    for (const auto& [key, link] : s_.links) {
      if (link.person_id() != person_id) continue;
      absl::StatusOr<std::optional<v1::SourceRecord>> record = GetRecord(link.source_id(), 0);
      if (!record.ok()) return record.status();
      if (!record->has_value()) return absl::InternalError("linked record missing");
      out.push_back(LinkedRecord{link, **std::move(record)});
    }
    return out;
  }

  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsWith(const SourceId& id) override {
    auto link = s_.links.find(RecordKey(id));
    if (link == s_.links.end()) return std::vector<LinkedRecord>();
    return LinkedRecordsOf(link->second.person_id());
  }

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    event->set_sequence(s_.next_sequence++);
    event->set_event_id(absl::StrFormat("E%010d", event->sequence()));
    s_.events.push_back(*event);
    return event->sequence();
  }

  absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) override {
    for (const auto& e : s_.events) {
      if (e.event_id() == id) return std::optional<v1::IdentityEvent>(e);
    }
    return std::optional<v1::IdentityEvent>();
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(const std::string& person_id,
                                                                   absl::Time as_of) override {
    std::vector<v1::IdentityEvent> out;
    for (const auto& e : s_.events) {
      if (Names(e, person_id) && ToAbsl(e.event_time()) <= as_of) out.push_back(e);
    }
    return out;
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                   absl::Time as_of) override {
    std::vector<v1::IdentityEvent> out;
    for (const auto& e : s_.events) {
      if (Names(e, id) && ToAbsl(e.event_time()) <= as_of) out.push_back(e);
    }
    return out;
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(int64_t after_sequence,
                                                             int limit) override {
    std::vector<v1::IdentityEvent> out;
    for (const auto& e : s_.events) {
      if (e.sequence() > after_sequence && static_cast<int>(out.size()) < limit) out.push_back(e);
    }
    return out;
  }

  absl::StatusOr<int64_t> LastEventSequence() override {
    return s_.events.empty() ? 0 : s_.events.back().sequence();
  }

  absl::StatusOr<std::string> NewTaskId() override {
    return absl::StrFormat("T%08d", s_.next_task++);
  }

  absl::Status PutTask(const v1::ReviewTask& task) override {
    s_.tasks[task.task_id()] = task;
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::ReviewTask>> GetTask(const std::string& task_id) override {
    auto it = s_.tasks.find(task_id);
    if (it == s_.tasks.end()) return std::optional<v1::ReviewTask>();
    return std::optional<v1::ReviewTask>(it->second);
  }

  absl::StatusOr<std::vector<v1::ReviewTask>> ListTasks(const TaskFilter& filter) override {
    std::vector<v1::ReviewTask> all;
    for (const auto& [id, task] : s_.tasks) {
      if (Matches(task, filter)) all.push_back(task);
    }
    std::stable_sort(all.begin(), all.end(), [&](const v1::ReviewTask& a, const v1::ReviewTask& b) {
      if (filter.order_by_score_desc &&
          a.explanation().total_score() != b.explanation().total_score()) {
        return a.explanation().total_score() > b.explanation().total_score();
      }
      if (a.create_time().seconds() != b.create_time().seconds() ||
          a.create_time().nanos() != b.create_time().nanos()) {
        return TimeUtil::TimestampToNanoseconds(a.create_time()) <
               TimeUtil::TimestampToNanoseconds(b.create_time());
      }
      return a.task_id() < b.task_id();
    });
    std::vector<v1::ReviewTask> page;
    for (int i = filter.offset;
         i < static_cast<int>(all.size()) && static_cast<int>(page.size()) < filter.limit; ++i) {
      page.push_back(all[i]);
    }
    return page;
  }

  absl::StatusOr<int64_t> CountTasks(const TaskFilter& filter) override {
    int64_t n = 0;
    for (const auto& [id, task] : s_.tasks) n += Matches(task, filter) ? 1 : 0;
    return n;
  }

  absl::StatusOr<std::vector<v1::ReviewTask>> OpenTasksWith(const SourceId& id) override {
    std::vector<v1::ReviewTask> out;
    std::string key = RecordKey(id);
    for (const auto& [task_id, task] : s_.tasks) {
      if (task.state() == v1::REVIEW_TASK_STATE_OPEN &&
          (RecordKey(task.left().source_id()) == key ||
           RecordKey(task.right().source_id()) == key)) {
        out.push_back(task);
      }
    }
    return out;
  }

  absl::Status PutNotAMatch(const v1::NotAMatch& decision) override {
    s_.not_a_matches[PairKey(decision.a(), decision.b())] = decision;
    return absl::OkStatus();
  }

  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    s_.not_a_matches.erase(PairKey(a, b));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    std::vector<v1::NotAMatch> out;
    std::string key = RecordKey(id);
    for (const auto& [pair, decision] : s_.not_a_matches) {
      if (pair.first == key || pair.second == key) out.push_back(decision);
    }
    return out;
  }

  absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) override {
    auto it = s_.idempotent.find(key);
    if (it == s_.idempotent.end()) return std::optional<StoredIdempotentResult>();
    return std::optional<StoredIdempotentResult>(it->second);
  }

  absl::Status PutIdempotent(const std::string& key,
                             const StoredIdempotentResult& result) override {
    s_.idempotent[key] = result;
    return absl::OkStatus();
  }

 private:
  InMemoryIdentityStore::State& s_;
};

}  // namespace

absl::Status InMemoryIdentityStore::Transact(absl::Time deadline,
                                             const std::vector<std::string>& lock_keys,
                                             const TxnFn& fn) {
  std::lock_guard lock(mu_);  // one transaction at a time: every key is locked
  if (absl::Now() > deadline) return absl::DeadlineExceededError("deadline passed");
  State working = state_;
  InMemoryTxn txn(&working);
  absl::Status status = fn(txn);
  if (status.ok()) state_ = std::move(working);
  return status;
}

absl::Status InMemoryIdentityStore::ScanActiveRecords(
    absl::Time deadline, const std::function<void(const v1::SourceRecord&)>& fn) {
  std::lock_guard lock(mu_);
  for (const auto& [key, entry] : state_.records) {
    if (entry.state != v1::RECORD_STATE_ACTIVE) continue;
    v1::SourceRecord record = entry.versions[entry.current_version - 1];
    record.set_state(entry.state);
    if (auto link = state_.links.find(key); link != state_.links.end()) {
      record.set_person_id(link->second.person_id());
    }
    fn(record);
  }
  return absl::OkStatus();
}

}  // namespace hie::identity
