#include "services/identity/bench/indexed_identity_store.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace hie::identity::bench {
namespace {

using google::protobuf::util::TimeUtil;
using State = IndexedIdentityStore::State;

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

// Derived indexes, kept in step with the primary maps.
void IndexLink(State& s, const v1::Link& link, bool add) {
  const std::string key = RecordKey(link.source_id());
  if (add) {
    s.links_of[link.person_id()].insert(key);
  } else if (auto it = s.links_of.find(link.person_id()); it != s.links_of.end()) {
    it->second.erase(key);
    if (it->second.empty()) s.links_of.erase(it);
  }
}

void IndexTask(State& s, const v1::ReviewTask& task, bool add) {
  if (task.state() != v1::REVIEW_TASK_STATE_OPEN) return;
  for (const std::string& key :
       {RecordKey(task.left().source_id()), RecordKey(task.right().source_id())}) {
    if (add) {
      s.open_tasks_of[key].insert(task.task_id());
    } else if (auto it = s.open_tasks_of.find(key); it != s.open_tasks_of.end()) {
      it->second.erase(task.task_id());
      if (it->second.empty()) s.open_tasks_of.erase(it);
    }
  }
}

void IndexNotAMatch(State& s, const std::pair<std::string, std::string>& pair, bool add) {
  for (const std::string& key : {pair.first, pair.second}) {
    if (add) {
      s.not_a_matches_of[key].insert(pair);
    } else if (auto it = s.not_a_matches_of.find(key); it != s.not_a_matches_of.end()) {
      it->second.erase(pair);
      if (it->second.empty()) s.not_a_matches_of.erase(it);
    }
  }
}

class IndexedTxn : public IdentityTxn {
 public:
  explicit IndexedTxn(State* s) : s_(*s) {}

  // Undoes every write of this transaction, newest first.
  void Rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
    undo_.clear();
  }

  absl::Status LockKey(const std::string&) override { return absl::OkStatus(); }

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
    const std::string key = RecordKey(record.source_id());
    auto existing = s_.records.find(key);
    const int64_t version = existing == s_.records.end()
                                ? 1
                                : static_cast<int64_t>(existing->second.versions.size()) + 1;
    if (record.version() != 0 && record.version() != version) {
      return absl::FailedPreconditionError("record version is not the next version");
    }
    SaveRecord(key);
    auto& entry = s_.records[key];
    v1::SourceRecord stored = record;
    stored.clear_person_id();
    stored.set_version(version);
    entry.versions.push_back(std::move(stored));
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
    const std::string key = RecordKey(id);
    if (!s_.records.contains(key)) return absl::NotFoundError("source record not found");
    SaveRecord(key);
    auto& entry = s_.records[key];
    entry.state = state;
    entry.superseded_by = superseded_by;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) override {
    auto it = s_.records.find(RecordKey(id));
    if (it == s_.records.end()) return std::vector<v1::SourceRecord>();
    return it->second.versions;
  }

  absl::StatusOr<std::string> NewPersonId() override {
    undo_.push_back([this] { --s_.next_person; });
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
    Assign(s_.persons, person.person_id(), std::move(stored));
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    auto it = s_.links.find(RecordKey(id));
    if (it == s_.links.end()) return std::optional<v1::Link>();
    return std::optional<v1::Link>(it->second);
  }

  absl::StatusOr<std::vector<std::optional<v1::Link>>> GetLinks(
      const std::vector<SourceId>& ids) override {
    std::vector<std::optional<v1::Link>> out;
    out.reserve(ids.size());
    for (const SourceId& id : ids) {
      auto it = s_.links.find(RecordKey(id));
      out.push_back(it == s_.links.end() ? std::nullopt : std::optional<v1::Link>(it->second));
    }
    return out;
  }

  absl::Status PutLink(const v1::Link& link) override {
    const std::string key = RecordKey(link.source_id());
    std::optional<v1::Link> old;
    if (auto it = s_.links.find(key); it != s_.links.end()) old = it->second;
    if (old) IndexLink(s_, *old, false);
    s_.links[key] = link;
    IndexLink(s_, link, true);
    undo_.push_back([this, key, old, link] {
      IndexLink(s_, link, false);
      if (old) {
        s_.links[key] = *old;
        IndexLink(s_, *old, true);
      } else {
        s_.links.erase(key);
      }
    });
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    std::vector<v1::Link> out;
    auto it = s_.links_of.find(person_id);
    if (it == s_.links_of.end()) return out;
    for (const std::string& key : it->second) out.push_back(s_.links.at(key));
    return out;
  }

  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsOf(const std::string& person_id) override {
    std::vector<LinkedRecord> out;
    auto it = s_.links_of.find(person_id);
    if (it == s_.links_of.end()) return out;
    for (const std::string& key : it->second) {  // record keys sort as (org, local_id)
      const v1::Link& link = s_.links.at(key);
      absl::StatusOr<std::optional<v1::SourceRecord>> record = GetRecord(link.source_id(), 0);
      if (!record.ok()) return record.status();
      if (!record->has_value()) return absl::InternalError("linked record missing");
      out.push_back(LinkedRecord{link, **std::move(record)});
    }
    return out;
  }

  // Not marked override: IdentityTxn gains this method in a change in progress; without the
  // keyword this compiles both before and after it.
  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsWith(const SourceId& id) {
    auto it = s_.links.find(RecordKey(id));
    if (it == s_.links.end()) return std::vector<LinkedRecord>();
    return LinkedRecordsOf(it->second.person_id());
  }

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    event->set_sequence(static_cast<int64_t>(s_.events.size()) + 1);
    event->set_event_id(absl::StrFormat("E%010d", event->sequence()));
    s_.events.push_back(*event);
    undo_.push_back([this] { s_.events.pop_back(); });
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
    for (int64_t i = std::max<int64_t>(after_sequence, 0);
         i < static_cast<int64_t>(s_.events.size()) && static_cast<int>(out.size()) < limit; ++i) {
      out.push_back(s_.events[i]);
    }
    return out;
  }

  absl::StatusOr<int64_t> LastEventSequence() override {
    return static_cast<int64_t>(s_.events.size());
  }

  absl::StatusOr<std::string> NewTaskId() override {
    undo_.push_back([this] { --s_.next_task; });
    return absl::StrFormat("T%08d", s_.next_task++);
  }

  absl::Status PutTask(const v1::ReviewTask& task) override {
    std::optional<v1::ReviewTask> old;
    if (auto it = s_.tasks.find(task.task_id()); it != s_.tasks.end()) old = it->second;
    if (old) IndexTask(s_, *old, false);
    s_.tasks[task.task_id()] = task;
    IndexTask(s_, task, true);
    undo_.push_back([this, old, task] {
      IndexTask(s_, task, false);
      if (old) {
        s_.tasks[task.task_id()] = *old;
        IndexTask(s_, *old, true);
      } else {
        s_.tasks.erase(task.task_id());
      }
    });
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
      const int64_t ta = TimeUtil::TimestampToNanoseconds(a.create_time());
      const int64_t tb = TimeUtil::TimestampToNanoseconds(b.create_time());
      if (ta != tb) return ta < tb;
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
    auto it = s_.open_tasks_of.find(RecordKey(id));
    if (it == s_.open_tasks_of.end()) return out;
    for (const std::string& task_id : it->second) out.push_back(s_.tasks.at(task_id));
    return out;
  }

  absl::Status PutNotAMatch(const v1::NotAMatch& decision) override {
    const auto pair = PairKey(decision.a(), decision.b());
    std::optional<v1::NotAMatch> old;
    if (auto it = s_.not_a_matches.find(pair); it != s_.not_a_matches.end()) old = it->second;
    s_.not_a_matches[pair] = decision;
    IndexNotAMatch(s_, pair, true);
    undo_.push_back([this, pair, old] {
      if (old) {
        s_.not_a_matches[pair] = *old;
      } else {
        s_.not_a_matches.erase(pair);
        IndexNotAMatch(s_, pair, false);
      }
    });
    return absl::OkStatus();
  }

  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    const auto pair = PairKey(a, b);
    auto it = s_.not_a_matches.find(pair);
    if (it == s_.not_a_matches.end()) return absl::OkStatus();
    v1::NotAMatch old = it->second;
    s_.not_a_matches.erase(it);
    IndexNotAMatch(s_, pair, false);
    undo_.push_back([this, pair, old] {
      s_.not_a_matches[pair] = old;
      IndexNotAMatch(s_, pair, true);
    });
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    std::vector<v1::NotAMatch> out;
    auto it = s_.not_a_matches_of.find(RecordKey(id));
    if (it == s_.not_a_matches_of.end()) return out;
    for (const auto& pair : it->second) out.push_back(s_.not_a_matches.at(pair));
    return out;
  }

  absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) override {
    if (s_.idempotency_keys.contains(key)) {
      return absl::FailedPreconditionError(
          "IndexedIdentityStore keeps no idempotent responses: a key may be used once");
    }
    return std::optional<StoredIdempotentResult>();
  }

  absl::Status PutIdempotent(const std::string& key, const StoredIdempotentResult&) override {
    if (s_.idempotency_keys.insert(key).second) {
      undo_.push_back([this, key] { s_.idempotency_keys.erase(key); });
    }
    return absl::OkStatus();
  }

 private:
  // Saves a record entry (or its absence) for rollback.
  void SaveRecord(const std::string& key) {
    std::optional<IndexedIdentityStore::RecordEntry> old;
    if (auto it = s_.records.find(key); it != s_.records.end()) old = it->second;
    undo_.push_back([this, key, old] {
      if (old) {
        s_.records[key] = *old;
      } else {
        s_.records.erase(key);
      }
    });
  }

  template <typename Map, typename Value>
  void Assign(Map& map, const std::string& key, Value value) {
    std::optional<Value> old;
    if (auto it = map.find(key); it != map.end()) old = it->second;
    map[key] = std::move(value);
    undo_.push_back([&map, key, old] {
      if (old) {
        map[key] = *old;
      } else {
        map.erase(key);
      }
    });
  }

  State& s_;
  std::vector<std::function<void()>> undo_;
};

}  // namespace

absl::Status IndexedIdentityStore::Transact(absl::Time deadline,
                                            const std::vector<std::string>& lock_keys,
                                            const TxnFn& fn) {
  std::lock_guard lock(mu_);  // one transaction at a time: every key is locked
  if (absl::Now() > deadline) return absl::DeadlineExceededError("deadline passed");
  IndexedTxn txn(&state_);
  absl::Status status = fn(txn);
  if (!status.ok()) txn.Rollback();
  return status;
}

absl::Status IndexedIdentityStore::Read(absl::Time deadline, const TxnFn& fn) {
  std::lock_guard lock(mu_);
  if (absl::Now() > deadline) return absl::DeadlineExceededError("deadline passed");
  IndexedTxn txn(&state_);
  absl::Status status = fn(txn);
  txn.Rollback();  // a read-only run: undo anything it wrote
  return status;
}

absl::Status IndexedIdentityStore::ScanActiveRecords(
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

}  // namespace hie::identity::bench
