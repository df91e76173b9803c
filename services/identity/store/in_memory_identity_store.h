#pragma once

// IdentityStore in memory, for unit tests of the identity core and API and for in-process
// benchmarks (hie-identity-accuracy). Transactions are fully serialised (one at a time) and
// atomic: writes apply in place and are undone, newest first, from a journal when the
// transaction fails. Lookups that registration makes are indexed (links by person, events by
// sequence, open tasks and not-a-match decisions by record), so registering N records costs
// O(N log N); history, task lists and counts scan. Passes the same contract suite as
// PgIdentityStore.

#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "services/identity/store/identity_store.h"

namespace hie::identity {

class InMemoryIdentityStore : public IdentityStore {
 public:
  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override;
  // A read-only call is a transaction here (fn is trusted to only read).
  absl::Status Read(absl::Time deadline, const TxnFn& fn) override {
    return Transact(deadline, {}, fn);
  }
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override;

  struct State {
    struct RecordEntry {
      std::vector<v1::SourceRecord> versions;  // versions[i].version == i + 1
      int64_t current_version = 0;
      v1::RecordState state = v1::RECORD_STATE_ACTIVE;
      SourceId superseded_by;
    };
    using PairKey = std::pair<std::string, std::string>;  // two RecordKeys, smaller first
    std::map<std::string, RecordEntry> records;           // by RecordKey
    std::map<std::string, v1::Person> persons;
    std::map<std::string, v1::Link> links;                  // by RecordKey
    std::map<std::string, std::set<std::string>> links_of;  // person -> RecordKeys
    std::vector<v1::IdentityEvent> events;                  // ascending sequence
    std::map<std::string, v1::ReviewTask> tasks;
    std::map<std::string, std::set<std::string>> open_tasks_of;  // RecordKey -> task ids
    std::map<PairKey, v1::NotAMatch> not_a_matches;
    std::map<std::string, std::set<PairKey>> not_a_matches_of;  // RecordKey -> pairs
    std::map<std::string, StoredIdempotentResult> idempotent;
    int64_t next_person = 1;
    int64_t next_task = 1;
    // Like a PostgreSQL sequence, not rolled back: a failed transaction leaves a gap.
    int64_t next_event = 1;
  };

  // A copy of everything, for tests that check invariants across the whole store.
  State Snapshot() {
    std::lock_guard lock(mu_);
    return state_;
  }

 private:
  std::mutex mu_;
  State state_;
};

}  // namespace hie::identity
