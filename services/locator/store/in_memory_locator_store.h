#pragma once

// LocatorStore in memory, for unit tests and fuzz targets. Transactions run one at a time on a
// copy of the state that replaces it at commit, so a failed transaction leaves nothing. Passes
// locator_store_contract.h. Thread-safe.

#include <map>
#include <mutex>

#include "services/locator/store/locator_store.h"

namespace hie::locator {

class InMemoryLocatorStore : public LocatorStore {
 public:
  absl::Status Transact(absl::Time deadline, const TxnFn& fn) override;
  absl::StatusOr<std::vector<Holding>> Get(absl::Time deadline,
                                           const std::vector<HoldingKey>& keys) override;
  absl::StatusOr<std::vector<Holding>> List(absl::Time deadline, const ListQuery& query) override;
  absl::StatusOr<std::string> FeedPosition(absl::Time deadline, const std::string& feed) override;

  // Test hook: when set, every call fails with this status (a store that is down).
  void SetFailure(absl::Status failure);

  struct State {
    std::map<HoldingKey, Holding> holdings;
    std::map<std::string, bool> marks;
    std::map<std::string, std::string> positions;
    std::map<std::string, StoredResponse> idempotency;
  };

 private:
  absl::Status Failure() const;

  mutable std::mutex mu_;  // guards state_ and failure_
  std::mutex txn_mu_;      // one transaction at a time
  State state_;
  absl::Status failure_;
};

}  // namespace hie::locator
