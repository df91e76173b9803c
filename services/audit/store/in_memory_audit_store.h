#pragma once

// AuditStore in memory, for unit tests: the same contract as the PostgreSQL store (the contract
// suite runs over both). Transactions are serialised by one mutex and applied only on commit.
// Test hooks stand in for direct SQL tampering and for an unreachable database.

#include <map>
#include <mutex>

#include "services/audit/store/audit_store.h"

namespace hie::audit {

class InMemoryAuditStore : public AuditStore {
 public:
  absl::Status Transact(absl::Time deadline,
                        const std::function<absl::Status(AuditTxn&)>& work) override;
  absl::StatusOr<ChainHead> Head(absl::Time deadline) override;
  absl::Status ScanChain(int64_t from, int64_t to, absl::Time deadline,
                         const std::function<absl::Status(const ChainRow&)>& visit) override;
  absl::StatusOr<std::vector<ChainRow>> Search(const EventQuery& query,
                                               absl::Time deadline) override;
  absl::Status PutCheckpoint(const v1::Checkpoint& checkpoint, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(
      absl::Time start, absl::Time end, std::optional<int64_t> before_sequence, int limit,
      absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::Checkpoint>> CheckpointsIn(int64_t from, int64_t to,
                                                           absl::Time deadline) override;
  absl::Status AddSigningKey(const v1::SigningKey& key, absl::Time deadline) override;
  absl::StatusOr<std::vector<v1::SigningKey>> ListSigningKeys(absl::Time deadline) override;
  absl::StatusOr<RetentionHorizon> Horizon(absl::Time deadline) override;
  absl::StatusOr<int64_t> DropBefore(absl::Time cutoff, int64_t covered_sequence,
                                     absl::Time deadline) override;

  // Test hooks. Tamper: replace the stored row of `sequence` (what an UPDATE in SQL would do),
  // or erase it. SetUnavailable: every call answers UNAVAILABLE.
  void TamperRow(const ChainRow& row);
  void EraseRow(int64_t sequence);
  // Cuts the chain after `last_sequence`: rows, head and checkpoints beyond it go.
  void Truncate(int64_t last_sequence);
  void SetUnavailable(bool unavailable);

  struct State {
    ChainHead head{0, GenesisHash(), absl::UnixEpoch()};
    std::map<int64_t, ChainRow> chain;             // by sequence
    std::map<int64_t, v1::AuditEvent> events;      // by sequence, for search columns
    std::map<std::string, ExistingEvent> by_id;
    std::map<std::string, int64_t> positions;
    RetentionHorizon horizon{1, GenesisHash()};
  };

 private:
  absl::Status Check() const;
  mutable std::mutex mu_;
  State state_;
  std::map<int64_t, v1::Checkpoint> checkpoints_;  // by sequence
  std::vector<v1::SigningKey> keys_;
  bool unavailable_ = false;
};

}  // namespace hie::audit
