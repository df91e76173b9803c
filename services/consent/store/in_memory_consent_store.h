#pragma once

// ConsentStore in memory, for unit tests and the fuzz target. Transactions run one at a time
// on a copy of the state that replaces it at commit, so a failed transaction leaves nothing.
// Passes consent_store_contract.h. Thread-safe.

#include <map>
#include <memory>
#include <mutex>

#include "services/consent/store/consent_store.h"

namespace hie::consent {

class InMemoryConsentStore : public ConsentStore {
 public:
  absl::Status Transact(absl::Time deadline, const TxnFn& fn) override;
  absl::StatusOr<std::optional<v1::ConsentDirective>> GetDirective(
      absl::Time deadline, const std::string& directive_id) override;
  absl::StatusOr<std::vector<v1::ConsentDirective>> DirectiveHistory(
      absl::Time deadline, const std::string& directive_id) override;
  absl::StatusOr<std::vector<v1::ConsentDirective>> ListDirectives(
      absl::Time deadline, const DirectiveFilter& filter) override;
  absl::StatusOr<std::optional<v1::BreakGlassGrant>> GetGrant(absl::Time deadline,
                                                              const std::string& grant_id) override;
  absl::StatusOr<std::vector<v1::BreakGlassGrant>> ListGrants(absl::Time deadline,
                                                              const GrantFilter& filter) override;
  absl::StatusOr<ChangeSet> ChangesSince(absl::Time deadline, int64_t after_version,
                                         bool in_force_only, absl::Time now) override;
  absl::StatusOr<size_t> DeliverOutbox(absl::Time deadline, size_t limit,
                                       const SendFn& send) override;
  absl::StatusOr<int64_t> OutboxBacklog(absl::Time deadline) override;

  // Test hook: when set, every call fails with this status (a store that is down).
  void SetFailure(absl::Status failure);

  struct State {
    int64_t version = 0;
    std::map<std::string, std::pair<int64_t, v1::ConsentDirective>> directives;  // id -> (ver, row)
    std::map<std::string, std::vector<v1::ConsentDirective>> history;
    std::map<std::string, std::pair<int64_t, v1::BreakGlassGrant>> grants;
    std::vector<OutboxRow> outbox;
    std::map<int64_t, bool> delivered;  // outbox sequence -> delivered
    std::map<std::string, StoredResponse> idempotency;
  };

 private:
  absl::Status Failure() const;

  mutable std::mutex mu_;  // guards state_ and failure_
  std::mutex txn_mu_;      // one transaction at a time
  std::mutex deliver_mu_;  // one deliverer at a time
  State state_;
  absl::Status failure_;
};

}  // namespace hie::consent
