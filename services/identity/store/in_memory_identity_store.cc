#include "services/identity/store/in_memory_identity_store.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
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

InMemoryIdentityStore::State::PairKey PairKey(const SourceId& a, const SourceId& b) {
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

using State = InMemoryIdentityStore::State;

// Sets or erases (nullopt) map[key].
template <typename Map>
void Assign(Map& map, const typename Map::key_type& key,
            std::optional<typename Map::mapped_type> value) {
  if (value.has_value()) {
    map.insert_or_assign(key, *std::move(value));
  } else {
    map.erase(key);
  }
}

template <typename Map>
std::optional<typename Map::mapped_type> Find(const Map& map, const typename Map::key_type& key) {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

// The writes below keep the indexes in step with their tables; the transaction's journal undoes
// a write by calling the same function with the old value.
void SetLink(State& s, const std::string& key, std::optional<v1::Link> link) {
  if (auto old = s.links.find(key); old != s.links.end()) {
    auto of = s.links_of.find(old->second.person_id());
    of->second.erase(key);
    if (of->second.empty()) s.links_of.erase(of);
  }
  if (link.has_value()) s.links_of[link->person_id()].insert(key);
  Assign(s.links, key, std::move(link));
}

void SetTask(State& s, const std::string& task_id, std::optional<v1::ReviewTask> task) {
  auto index = [&](const v1::ReviewTask& t, bool add) {
    if (t.state() != v1::REVIEW_TASK_STATE_OPEN) return;
    for (const SourceId* side : {&t.left().source_id(), &t.right().source_id()}) {
      const std::string key = RecordKey(*side);
      if (add) {
        s.open_tasks_of[key].insert(t.task_id());
      } else if (auto of = s.open_tasks_of.find(key); of != s.open_tasks_of.end()) {
        of->second.erase(t.task_id());
        if (of->second.empty()) s.open_tasks_of.erase(of);
      }
    }
  };
  if (auto old = s.tasks.find(task_id); old != s.tasks.end()) index(old->second, false);
  if (task.has_value()) index(*task, true);
  Assign(s.tasks, task_id, std::move(task));
}

void SetNotAMatch(State& s, const State::PairKey& pair, std::optional<v1::NotAMatch> decision) {
  for (const std::string* key : {&pair.first, &pair.second}) {
    if (decision.has_value()) {
      s.not_a_matches_of[*key].insert(pair);
    } else if (auto of = s.not_a_matches_of.find(*key); of != s.not_a_matches_of.end()) {
      of->second.erase(pair);
      if (of->second.empty()) s.not_a_matches_of.erase(of);
    }
  }
  Assign(s.not_a_matches, pair, std::move(decision));
}

class InMemoryTxn : public IdentityTxn {
 public:
  // Every write adds its undo to `journal`.
  InMemoryTxn(State* s, std::vector<std::function<void()>>* journal) : s_(*s), journal_(*journal) {}

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
    JournalRecord(record.source_id());
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
    JournalRecord(id);
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
    journal_.push_back([&s = s_, old = s_.next_person] { s.next_person = old; });
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
    journal_.push_back(
        [&s = s_, id = person.person_id(), old = Find(s_.persons, person.person_id())] {
          Assign(s.persons, id, old);
        });
    s_.persons[person.person_id()] = std::move(stored);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    auto it = s_.links.find(RecordKey(id));
    if (it == s_.links.end()) return std::optional<v1::Link>();
    return std::optional<v1::Link>(it->second);
  }

  absl::Status PutLink(const v1::Link& link) override {
    const std::string key = RecordKey(link.source_id());
    journal_.push_back([&s = s_, key, old = Find(s_.links, key)] { SetLink(s, key, old); });
    SetLink(s_, key, link);
    return absl::OkStatus();
  }

  // Ordered by (org, local_id), as RecordKey orders them.
  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    std::vector<v1::Link> out;
    if (auto of = s_.links_of.find(person_id); of != s_.links_of.end()) {
      for (const std::string& key : of->second) out.push_back(s_.links.at(key));
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
    const absl::StatusOr<std::vector<v1::Link>> links = LinksOf(person_id);
    for (const v1::Link& link : *links) {
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
    event->set_sequence(s_.next_event++);
    event->set_event_id(absl::StrFormat("E%010d", event->sequence()));
    journal_.push_back([&s = s_] { s.events.pop_back(); });
    s_.events.push_back(*event);
    return event->sequence();
  }

  absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) override {
    int64_t sequence = 0;
    if (id.size() != 11 || id[0] != 'E' || !absl::SimpleAtoi(id.substr(1), &sequence)) {
      return std::optional<v1::IdentityEvent>();
    }
    auto it = FirstEventAfter(sequence - 1);
    if (it == s_.events.end() || it->sequence() != sequence) {
      return std::optional<v1::IdentityEvent>();
    }
    return std::optional<v1::IdentityEvent>(*it);
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(const std::string& person_id,
                                                                   absl::Time as_of,
                                                                   int64_t after_sequence,
                                                                   int limit) override {
    return EventsAbout([&](const v1::IdentityEvent& e) { return Names(e, person_id); }, as_of,
                       after_sequence, limit);
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                   absl::Time as_of,
                                                                   int64_t after_sequence,
                                                                   int limit) override {
    return EventsAbout([&](const v1::IdentityEvent& e) { return Names(e, id); }, as_of,
                       after_sequence, limit);
  }

  template <typename Pred>
  std::vector<v1::IdentityEvent> EventsAbout(Pred names, absl::Time as_of, int64_t after_sequence,
                                             int limit) {
    std::vector<v1::IdentityEvent> out;
    for (const auto& e : s_.events) {
      if (static_cast<int>(out.size()) >= limit) break;
      if (e.sequence() > after_sequence && names(e) && ToAbsl(e.event_time()) <= as_of) {
        out.push_back(e);
      }
    }
    return out;
  }

  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(
      int64_t after_sequence, int limit, const std::vector<int64_t>& missing) override {
    std::vector<v1::IdentityEvent> out;
    for (int64_t sequence : std::set<int64_t>(missing.begin(), missing.end())) {
      if (sequence > after_sequence || static_cast<int>(out.size()) >= limit) break;
      auto it = FirstEventAfter(sequence - 1);
      if (it != s_.events.end() && it->sequence() == sequence) out.push_back(*it);
    }
    for (auto it = FirstEventAfter(after_sequence);
         it != s_.events.end() && static_cast<int>(out.size()) < limit; ++it) {
      out.push_back(*it);
    }
    return out;
  }

  absl::StatusOr<int64_t> LastEventSequence() override {
    return s_.events.empty() ? 0 : s_.events.back().sequence();
  }

  absl::StatusOr<std::string> NewTaskId() override {
    journal_.push_back([&s = s_, old = s_.next_task] { s.next_task = old; });
    return absl::StrFormat("T%08d", s_.next_task++);
  }

  absl::Status PutTask(const v1::ReviewTask& task) override {
    journal_.push_back([&s = s_, id = task.task_id(), old = Find(s_.tasks, task.task_id())] {
      SetTask(s, id, old);
    });
    SetTask(s_, task.task_id(), task);
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
    if (auto of = s_.open_tasks_of.find(RecordKey(id)); of != s_.open_tasks_of.end()) {
      for (const std::string& task_id : of->second) out.push_back(s_.tasks.at(task_id));
    }
    return out;
  }

  absl::Status PutNotAMatch(const v1::NotAMatch& decision) override {
    return ChangeNotAMatch(PairKey(decision.a(), decision.b()), decision);
  }

  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    return ChangeNotAMatch(PairKey(a, b), std::nullopt);
  }

  // Ordered by pair, as PairKey orders them.
  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    std::vector<v1::NotAMatch> out;
    if (auto of = s_.not_a_matches_of.find(RecordKey(id)); of != s_.not_a_matches_of.end()) {
      for (const State::PairKey& pair : of->second) out.push_back(s_.not_a_matches.at(pair));
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
    journal_.push_back(
        [&s = s_, key, old = Find(s_.idempotent, key)] { Assign(s.idempotent, key, old); });
    s_.idempotent[key] = result;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> PurgeIdempotentBefore(absl::Time before, int limit) override {
    std::vector<std::pair<absl::Time, std::string>> old;  // (stored_at, key)
    for (const auto& [key, result] : s_.idempotent) {
      if (result.stored_at < before) old.emplace_back(result.stored_at, key);
    }
    std::sort(old.begin(), old.end());
    if (static_cast<int>(old.size()) > limit) old.resize(std::max(limit, 0));
    for (const auto& entry : old) {
      journal_.push_back([&s = s_, key = entry.second, result = s_.idempotent.at(entry.second)] {
        s.idempotent.emplace(key, result);
      });
      s_.idempotent.erase(entry.second);
    }
    return static_cast<int64_t>(old.size());
  }

 private:
  void JournalRecord(const SourceId& id) {
    const std::string key = RecordKey(id);
    journal_.push_back(
        [&s = s_, key, old = Find(s_.records, key)] { Assign(s.records, key, old); });
  }

  absl::Status ChangeNotAMatch(const State::PairKey& pair, std::optional<v1::NotAMatch> decision) {
    journal_.push_back(
        [&s = s_, pair, old = Find(s_.not_a_matches, pair)] { SetNotAMatch(s, pair, old); });
    SetNotAMatch(s_, pair, std::move(decision));
    return absl::OkStatus();
  }

  // The first event with a sequence above `sequence` (events are in ascending sequence).
  std::vector<v1::IdentityEvent>::const_iterator FirstEventAfter(int64_t sequence) const {
    return std::upper_bound(
        s_.events.begin(), s_.events.end(), sequence,
        [](int64_t seq, const v1::IdentityEvent& e) { return seq < e.sequence(); });
  }

  State& s_;
  std::vector<std::function<void()>>& journal_;
};

}  // namespace

absl::Status InMemoryIdentityStore::Transact(absl::Time deadline,
                                             const std::vector<std::string>& lock_keys,
                                             const TxnFn& fn) {
  std::lock_guard lock(mu_);  // one transaction at a time: every key is locked
  if (absl::Now() > deadline) return absl::DeadlineExceededError("deadline passed");
  std::vector<std::function<void()>> journal;
  InMemoryTxn txn(&state_, &journal);
  absl::Status status = fn(txn);
  if (!status.ok()) {
    for (auto undo = journal.rbegin(); undo != journal.rend(); ++undo) (*undo)();
  }
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
