#pragma once

// MemberStore in memory, for tests: one mutex, the same rules as PgMemberStore
// (member_store_contract.h). SetFailure makes every call answer that status (a store that is
// down). Thread-safe.

#include <map>
#include <mutex>

#include "services/gateway/store/member_store.h"

namespace hie::gateway {

class InMemoryMemberStore : public MemberStore {
 public:
  absl::StatusOr<MemberRecord> Update(absl::Time deadline, const std::string& org, absl::Time now,
                                      const Decide& decide) override;
  absl::StatusOr<std::vector<std::string>> InsertAbsent(absl::Time deadline,
                                                        const std::vector<DirectoryMember>& members,
                                                        absl::Time now) override;
  absl::StatusOr<std::optional<MemberRecord>> Get(absl::Time deadline,
                                                  const std::string& org) override;
  absl::StatusOr<std::vector<MemberRecord>> List(absl::Time deadline) override;

  // OK = working again.
  void SetFailure(absl::Status failure);

 private:
  absl::Status Check(absl::Time deadline) const;  // mu_ held

  mutable std::mutex mu_;
  absl::Status failure_;
  std::map<std::string, MemberRecord> members_;
};

}  // namespace hie::gateway
