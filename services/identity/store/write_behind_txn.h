#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/identity/store/forwarding_txn.h"

namespace hie::identity {

// WriteBehindTxn: the transaction of a registration, or of a RegisterSourceRecords call. It answers
// the entries' first reads of their records, not-a-match decisions and idempotency keys from one
// read each for the whole batch (Prefetch), and holds back the writes a registration makes (first
// versions of new records, persons, links, events, idempotency results) until Flush, which writes
// each kind with one batch write. Reads of held data are answered from what it holds; a read it
// cannot answer so, of data a held write could change, writes everything held first. Until Flush,
// events carry provisional ids (kPendingEvent + n, sequence 0); Flush gives them their real ids and
// puts those into the held links that name them. Registration puts event ids only into links, and
// reads links only for their records and methods (LinksOf answers held links with their
// provisional ids), so no provisional id escapes.
//
// Events: with EventWrites::kHeld (registration), AppendEvent holds the event too and answers
// sequence 0 and a provisional id; that is the one way the layer departs from the store
// contract (identity_store.h), and only the identity rules' registration uses it. With
// kAtOnce AppendEvent writes what is held and then the event, answering its real
// sequence and id: the store contract suite runs over the layer in that mode
// (in_memory_identity_store_test.cc).
class WriteBehindTxn : public ForwardingTxn {
 public:
  enum class EventWrites { kAtOnce, kHeld };
  WriteBehindTxn(IdentityTxn& inner, EventWrites events)
      : ForwardingTxn(inner), hold_events_(events == EventWrites::kHeld) {}

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
  // LinksOf and LinksOfPersons write nothing: the store's links with the held ones in place of
  // the stored links of the same records (a held link moves its record in or out), ordered by
  // (org, local_id). Held links keep their provisional event ids until Flush.
  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    HIE_ASSIGN_OR_RETURN(std::vector<v1::Link> stored, t_.LinksOf(person_id));
    return WithHeldLinks(person_id, std::move(stored));
  }
  absl::StatusOr<std::vector<std::vector<v1::Link>>> LinksOfPersons(
      const std::vector<std::string>& person_ids) override {
    HIE_ASSIGN_OR_RETURN(std::vector<std::vector<v1::Link>> stored, t_.LinksOfPersons(person_ids));
    for (size_t i = 0; i < stored.size() && i < person_ids.size(); ++i) {
      stored[i] = WithHeldLinks(person_ids[i], std::move(stored[i]));
    }
    return stored;
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
    if (!hold_events_) {
      HIE_RETURN_IF_ERROR(Flush());
      return t_.AppendEvent(event);
    }
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
  std::vector<v1::Link> WithHeldLinks(const std::string& person_id,
                                      std::vector<v1::Link> stored) const {
    if (links_.empty()) return stored;
    std::vector<v1::Link> out;
    for (v1::Link& link : stored) {
      if (links_.count(RecordKey(link.source_id())) == 0) out.push_back(std::move(link));
    }
    for (const auto& [key, link] : links_) {
      if (link.person_id() == person_id) out.push_back(link);
    }
    std::sort(out.begin(), out.end(), [](const v1::Link& a, const v1::Link& b) {
      return std::tie(a.source_id().org(), a.source_id().local_id()) <
             std::tie(b.source_id().org(), b.source_id().local_id());
    });
    return out;
  }

  static constexpr char kPendingEvent[] = "pending-event-";

  const bool hold_events_;

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

// An IdentityStore whose every transaction runs inside a WriteBehindTxn, flushed before the
// commit. The identity rules use WriteBehindTxn directly (to prefetch a batch); this decorator
// lets the store contract suite prove that the write-behind layer keeps the store's contract.
class WriteBehindStore : public IdentityStore {
 public:
  explicit WriteBehindStore(std::unique_ptr<IdentityStore> inner) : inner_(std::move(inner)) {}

  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override {
    return inner_->Transact(deadline, lock_keys, [&](IdentityTxn& txn) -> absl::Status {
      WriteBehindTxn held(txn, WriteBehindTxn::EventWrites::kAtOnce);
      HIE_RETURN_IF_ERROR(fn(held));
      return held.Flush();
    });
  }
  absl::Status Read(absl::Time deadline, const TxnFn& fn) override {
    return inner_->Read(deadline, [&](IdentityTxn& txn) -> absl::Status {
      WriteBehindTxn held(txn, WriteBehindTxn::EventWrites::kAtOnce);
      HIE_RETURN_IF_ERROR(fn(held));
      return held.Flush();
    });
  }
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override {
    return inner_->ScanActiveRecords(deadline, fn);
  }

 private:
  std::unique_ptr<IdentityStore> inner_;
};

}  // namespace hie::identity
