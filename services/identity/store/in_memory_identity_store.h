#pragma once

// IdentityStore in memory, for unit tests of the identity core and API. Transactions are fully
// serialised (one at a time) and atomic: a transaction works on a copy of the state that
// replaces the state only when it commits. Passes the same contract suite as PgIdentityStore.

#include <map>
#include <mutex>

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
    std::map<std::string, RecordEntry> records;  // by RecordKey
    std::map<std::string, v1::Person> persons;
    std::map<std::string, v1::Link> links;  // by RecordKey
    std::vector<v1::IdentityEvent> events;
    std::map<std::string, v1::ReviewTask> tasks;
    std::map<std::pair<std::string, std::string>, v1::NotAMatch> not_a_matches;  // ordered keys
    std::map<std::string, StoredIdempotentResult> idempotent;
    int64_t next_person = 1;
    int64_t next_task = 1;
    int64_t next_sequence = 1;
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
