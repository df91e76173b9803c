#pragma once

// RegistryStore in memory, for unit tests and fuzz targets. Transactions run one at a time on a
// copy of the state that replaces it at commit, so a failed transaction leaves nothing. Passes
// registry_store_contract.h. Thread-safe.

#include <map>
#include <mutex>

#include "services/registry/store/registry_store.h"

namespace hie::registry {

class InMemoryRegistryStore : public RegistryStore {
 public:
  absl::Status Transact(absl::Time deadline, const TxnFn& fn) override;
  absl::StatusOr<std::vector<v1::DocumentEntry>> FindDocuments(
      absl::Time deadline, const DocumentFilter& filter) override;
  absl::StatusOr<std::vector<v1::DocumentEntry>> GetDocuments(absl::Time deadline,
                                                              const DocumentKeys& keys) override;
  absl::StatusOr<Related> GetRelated(absl::Time deadline, const std::string& entry_uuid) override;
  absl::StatusOr<std::vector<EntryChange>> ChangesSince(absl::Time deadline,
                                                        const FeedPosition& after,
                                                        size_t limit) override;

  // Test hook: when set, every call fails with this status (a store that is down).
  void SetFailure(absl::Status failure);

  struct State {
    int64_t version = 0;
    std::map<std::string, std::pair<int64_t, v1::DocumentEntry>> entries;  // uuid -> (ver, row)
    std::map<std::string, std::string> by_unique_id;                       // -> entry uuid
    std::map<std::string, v1::SubmissionSet> sets;                         // id -> set
    std::set<std::string> set_unique_ids;
    std::vector<v1::Association> associations;  // in insertion order
    std::map<std::string, StoredResponse> idempotency;
  };

 private:
  absl::Status Failure() const;

  mutable std::mutex mu_;  // guards state_ and failure_
  std::mutex txn_mu_;      // one transaction at a time
  State state_;
  absl::Status failure_;
};

}  // namespace hie::registry
