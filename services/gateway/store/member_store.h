#pragma once

// The gateway's storage port for the member directory (issue 14: kept by administrators through
// AdminGateway). Implementations: InMemoryMemberStore (tests) and PgMemberStore (schema
// `gateway`, table `members`); both must pass member_store_contract.h.
//
// Model: one record per member org (core/member_directory.h MemberRecord): the member's fields,
// its version (1 when created, +1 per change) and the time of its last change. Every stored
// member passes CheckDirectoryMember: the stores refuse others (INVALID_ARGUMENT), and a stored
// row that does not (edited by hand, or written by a later version) is logged with its org only
// and skipped by every read, never fatal.
//
// Errors: UNAVAILABLE when the database cannot be reached; DEADLINE_EXCEEDED; ABORTED on a
// serialization conflict (retry); UNKNOWN when a commit's outcome is unknown (read the member
// again: its version says whether the change landed). Messages carry orgs and versions only.
// Thread-safe.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/core/member_directory.h"

namespace hie::gateway {

class MemberStore {
 public:
  virtual ~MemberStore() = default;

  // Decides a change from the stored record (none when the org is not stored): the member to
  // store, nullopt for no change, or an error (nothing written, returned as is). A pure
  // function of its argument: it runs under the org's lock and may run again.
  using Decide = std::function<absl::StatusOr<std::optional<DirectoryMember>>(
      const std::optional<MemberRecord>& current)>;

  // Under a lock on `org` (concurrent updates of one org serialise): reads the stored record,
  // calls `decide`, and when it returns a member stores it with version current + 1 (1 when
  // new) and update_time `now`. Returns the record stored after the call (the current one when
  // `decide` changed nothing). NOT_FOUND when `decide` returns nullopt for an org not stored;
  // INVALID_ARGUMENT when the decided member breaks CheckDirectoryMember or names another org.
  [[nodiscard]] virtual absl::StatusOr<MemberRecord> Update(absl::Time deadline,
                                                            const std::string& org, absl::Time now,
                                                            const Decide& decide) = 0;

  // Inserts each of `members` whose org is not stored (version 1, update_time `now`), leaving
  // stored ones (including unreadable rows) as they are; all or nothing. Returns the orgs
  // inserted, sorted. INVALID_ARGUMENT (nothing written) when one breaks CheckDirectoryMember or
  // an org is repeated.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> InsertAbsent(
      absl::Time deadline, const std::vector<DirectoryMember>& members, absl::Time now) = 0;

  // The stored record of `org`, if any (an unreadable row reads as absent).
  [[nodiscard]] virtual absl::StatusOr<std::optional<MemberRecord>> Get(absl::Time deadline,
                                                                        const std::string& org) = 0;

  // Every readable stored record, ordered by org.
  [[nodiscard]] virtual absl::StatusOr<std::vector<MemberRecord>> List(absl::Time deadline) = 0;
};

}  // namespace hie::gateway
