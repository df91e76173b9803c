#pragma once

// MemberStore on PostgreSQL (schema `gateway`, table `members`: store/migrations.h), over a
// PgPool.
//
// Update runs one READ COMMITTED transaction: a transaction-scoped advisory lock on the org
// (hashtextextended("member|<org>")), so two updates of one org serialise, including two
// creators of a new one; then the row is read, `decide` runs, and the member is written with
// INSERT ... ON CONFLICT DO UPDATE (version = stored + 1). A stored row that does not pass
// CheckDirectoryMember (edited by hand) reads as absent everywhere (logged as
// "unreadable_member" with the org only); a PutMember that creates the org replaces it, its
// version counting on from the row's. InsertAbsent is one INSERT ... ON CONFLICT DO NOTHING. No
// retries here: ABORTED (serialization, deadlock) and UNKNOWN (commit outcome lost) go to the
// caller, who reads the member again (its version says whether the change landed).
// Thread-safe (the pool is).

#include "services/common/pg/pool.h"
#include "services/gateway/store/member_store.h"

namespace hie::gateway {

class PgMemberStore : public MemberStore {
 public:
  // `pool` must outlive the store; the schema must be migrated.
  explicit PgMemberStore(pg::PgPool* pool) : pool_(pool) {}

  absl::StatusOr<MemberRecord> Update(absl::Time deadline, const std::string& org, absl::Time now,
                                      const Decide& decide) override;
  absl::StatusOr<std::vector<std::string>> InsertAbsent(absl::Time deadline,
                                                        const std::vector<DirectoryMember>& members,
                                                        absl::Time now) override;
  absl::StatusOr<std::optional<MemberRecord>> Get(absl::Time deadline,
                                                  const std::string& org) override;
  absl::StatusOr<std::vector<MemberRecord>> List(absl::Time deadline) override;

 private:
  pg::PgPool* pool_;
};

}  // namespace hie::gateway
