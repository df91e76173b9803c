#pragma once

// ForwardingTxn passes every call of an IdentityTxn to another one, unchanged; decorators
// (prefetching, observing, counting in tests) derive from it and override what they add.

#include <optional>
#include <string>
#include <vector>

#include "services/identity/store/identity_store.h"

namespace hie::identity {

class ForwardingTxn : public IdentityTxn {
 public:
  explicit ForwardingTxn(IdentityTxn& inner) : t_(inner) {}

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    return t_.AppendEvent(event);
  }

  absl::Status LockKey(const std::string& key) override { return t_.LockKey(key); }
  absl::StatusOr<std::optional<v1::SourceRecord>> GetRecord(const SourceId& id,
                                                            int64_t version) override {
    return t_.GetRecord(id, version);
  }
  absl::StatusOr<int64_t> PutRecordVersion(const v1::SourceRecord& r, bool make_current) override {
    return t_.PutRecordVersion(r, make_current);
  }
  absl::Status SetRecordState(const SourceId& id, v1::RecordState state,
                              const SourceId& superseded_by) override {
    return t_.SetRecordState(id, state, superseded_by);
  }
  absl::StatusOr<std::vector<v1::SourceRecord>> RecordVersions(const SourceId& id) override {
    return t_.RecordVersions(id);
  }
  absl::StatusOr<std::string> NewPersonId() override { return t_.NewPersonId(); }
  absl::StatusOr<std::optional<v1::Person>> GetPerson(const std::string& id) override {
    return t_.GetPerson(id);
  }
  absl::Status PutPerson(const v1::Person& person) override { return t_.PutPerson(person); }
  absl::StatusOr<std::optional<v1::Link>> GetLink(const SourceId& id) override {
    return t_.GetLink(id);
  }
  absl::StatusOr<std::vector<std::optional<v1::Link>>> GetLinks(
      const std::vector<SourceId>& ids) override {
    return t_.GetLinks(ids);
  }
  absl::Status PutLink(const v1::Link& link) override { return t_.PutLink(link); }
  absl::StatusOr<std::vector<v1::Link>> LinksOf(const std::string& person_id) override {
    return t_.LinksOf(person_id);
  }
  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsOf(const std::string& person_id) override {
    return t_.LinkedRecordsOf(person_id);
  }
  absl::StatusOr<std::vector<LinkedRecord>> LinkedRecordsWith(const SourceId& id) override {
    return t_.LinkedRecordsWith(id);
  }
  absl::StatusOr<std::optional<v1::IdentityEvent>> GetEvent(const std::string& id) override {
    return t_.GetEvent(id);
  }
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutPerson(const std::string& p,
                                                                   absl::Time as_of, int64_t after,
                                                                   int limit) override {
    return t_.EventsAboutPerson(p, as_of, after, limit);
  }
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsAboutRecord(const SourceId& id,
                                                                   absl::Time as_of, int64_t after,
                                                                   int limit) override {
    return t_.EventsAboutRecord(id, as_of, after, limit);
  }
  absl::StatusOr<std::vector<v1::IdentityEvent>> EventsSince(
      int64_t after, int limit, const std::vector<int64_t>& missing) override {
    return t_.EventsSince(after, limit, missing);
  }
  absl::StatusOr<int64_t> LastEventSequence() override { return t_.LastEventSequence(); }
  absl::StatusOr<std::string> NewTaskId() override { return t_.NewTaskId(); }
  absl::Status PutTask(const v1::ReviewTask& task) override { return t_.PutTask(task); }
  absl::StatusOr<std::optional<v1::ReviewTask>> GetTask(const std::string& id) override {
    return t_.GetTask(id);
  }
  absl::StatusOr<std::vector<v1::ReviewTask>> ListTasks(const TaskFilter& f) override {
    return t_.ListTasks(f);
  }
  absl::StatusOr<int64_t> CountTasks(const TaskFilter& f) override { return t_.CountTasks(f); }
  absl::StatusOr<std::vector<v1::ReviewTask>> OpenTasksWith(const SourceId& id) override {
    return t_.OpenTasksWith(id);
  }
  absl::Status PutNotAMatch(const v1::NotAMatch& d) override { return t_.PutNotAMatch(d); }
  absl::Status RemoveNotAMatch(const SourceId& a, const SourceId& b) override {
    return t_.RemoveNotAMatch(a, b);
  }
  absl::StatusOr<std::vector<v1::NotAMatch>> NotAMatchesOf(const SourceId& id) override {
    return t_.NotAMatchesOf(id);
  }
  absl::StatusOr<std::optional<StoredIdempotentResult>> GetIdempotent(
      const std::string& key) override {
    return t_.GetIdempotent(key);
  }
  absl::Status PutIdempotent(const std::string& key, const StoredIdempotentResult& r) override {
    return t_.PutIdempotent(key, r);
  }
  absl::StatusOr<int64_t> PurgeIdempotentBefore(absl::Time before, int limit) override {
    return t_.PurgeIdempotentBefore(before, limit);
  }

  absl::StatusOr<std::vector<std::optional<v1::SourceRecord>>> GetRecords(
      const std::vector<SourceId>& ids) override {
    return t_.GetRecords(ids);
  }
  absl::StatusOr<std::vector<std::vector<v1::NotAMatch>>> NotAMatchesOfRecords(
      const std::vector<SourceId>& ids) override {
    return t_.NotAMatchesOfRecords(ids);
  }
  absl::StatusOr<std::vector<std::vector<v1::Link>>> LinksOfPersons(
      const std::vector<std::string>& person_ids) override {
    return t_.LinksOfPersons(person_ids);
  }
  absl::StatusOr<std::vector<std::optional<StoredIdempotentResult>>> GetIdempotents(
      const std::vector<std::string>& keys) override {
    return t_.GetIdempotents(keys);
  }
  absl::Status PutFirstVersions(const std::vector<v1::SourceRecord>& records) override {
    return t_.PutFirstVersions(records);
  }
  absl::Status PutPersons(const std::vector<v1::Person>& persons) override {
    return t_.PutPersons(persons);
  }
  absl::Status PutLinks(const std::vector<v1::Link>& links) override { return t_.PutLinks(links); }
  absl::Status AppendEvents(const std::vector<v1::IdentityEvent*>& events) override {
    return t_.AppendEvents(events);
  }
  absl::Status PutIdempotents(
      const std::vector<std::pair<std::string, StoredIdempotentResult>>& results) override {
    return t_.PutIdempotents(results);
  }

 protected:
  IdentityTxn& t_;
};

}  // namespace hie::identity
