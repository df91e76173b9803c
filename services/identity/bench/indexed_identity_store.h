#pragma once

// IdentityStore in memory for large in-process benchmarks (hie-identity-accuracy).
//
// InMemoryIdentityStore (the unit tests' fake) copies its whole state for every transaction and
// scans all events, links and tasks on reads, so registering N records costs O(N^2): hours at
// 100k records. This store keeps the same data with indexes (links by person, events by
// sequence, open tasks and not-a-match decisions by record) and applies writes in place,
// undoing them from a journal when the transaction fails. Transactions run one at a time.
//
// Deliberate differences, acceptable for a benchmark that registers each record once:
//  - idempotency results are not kept (only their keys): GetIdempotent of a key already stored
//    returns FAILED_PRECONDITION instead of the stored response;
//  - EventsAboutPerson / EventsAboutRecord / GetEvent / ListTasks scan (slow, unused by Register).
// It is not part of the contract suite; the accuracy program can run the same registrations on
// InMemoryIdentityStore (--store in-memory) to check that the answers are the same.

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity::bench {

class IndexedIdentityStore : public IdentityStore {
 public:
  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override;
  // IdentityStore::Read in a change in progress (hence no override): runs fn under the store's
  // lock and undoes any write it made.
  absl::Status Read(absl::Time deadline, const TxnFn& fn);
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override;

  // Everything, for the benchmark's evaluation (call with no transaction running).
  struct RecordEntry {
    std::vector<v1::SourceRecord> versions;  // versions[i].version == i + 1
    int64_t current_version = 0;
    v1::RecordState state = v1::RECORD_STATE_ACTIVE;
    SourceId superseded_by;
  };
  struct State {
    absl::flat_hash_map<std::string, RecordEntry> records;  // by RecordKey
    absl::flat_hash_map<std::string, v1::Person> persons;
    absl::flat_hash_map<std::string, v1::Link> links;                  // by RecordKey
    absl::flat_hash_map<std::string, std::set<std::string>> links_of;  // person -> record keys
    std::vector<v1::IdentityEvent> events;  // events[i].sequence() == i + 1
    std::map<std::string, v1::ReviewTask> tasks;
    absl::flat_hash_map<std::string, std::set<std::string>> open_tasks_of;  // record key -> ids
    std::map<std::pair<std::string, std::string>, v1::NotAMatch> not_a_matches;
    absl::flat_hash_map<std::string, std::set<std::pair<std::string, std::string>>>
        not_a_matches_of;  // record key -> pair keys
    absl::flat_hash_set<std::string> idempotency_keys;
    int64_t next_person = 1;
    int64_t next_task = 1;
  };
  const State& state() const { return state_; }

 private:
  std::mutex mu_;
  State state_;
};

}  // namespace hie::identity::bench
