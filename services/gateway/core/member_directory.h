#pragma once

// The member directory, as the gateway reads it: org, display name, MemberEndpoint address,
// state, capabilities (max_results, supports_time_filters) and the certificate subjects that
// authenticate as the org. It is seeded from a file at start (--members) and, with a database
// (--pg-dsn), kept by administrators through AdminGateway PutMember / SetMemberState
// (store/member_store.h; the rules of those writes are DecidePut and DecideState below).
//
// File format: UTF-8 text, one member per line, '#' starts a comment line, blank lines ignored:
//   org,endpoint,state,max_results,display name
//   clinic-a,127.0.0.1:7101,active,1000,Clinic A
// org an id (printable ASCII, no spaces or commas, <= 128 bytes), endpoint host:port,
// state active|suspended|decommissioned, max_results 1..1000, display name any text without
// control characters (<= 200 bytes; commas allowed, it is the rest of the line). At most 10,000
// members and 1,024 bytes per line. An error names the line and the field, never its value.
// A file member supports time filters and names no certificate subjects.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/gateway/core/federation.h"

namespace hie::gateway {

inline constexpr size_t kMaxDirectoryMembers = 10'000;
inline constexpr size_t kMaxCertificateSubjects = 16;

struct DirectoryMember {
  DirectoryEntry entry;  // org, display name, state, max_results
  std::string endpoint;  // host:port of its MemberEndpoint
  // Capability: whether the member's endpoint honours a query's time filters.
  bool supports_time_filters = true;
  // Certificate subjects ("O=...,OU=member,CN=...") that authenticate as the org, for the
  // administrators' record (each <= 256 bytes of text, at most 16, no duplicates). Calls are
  // authenticated by the certificate's O, as before.
  std::vector<std::string> certificate_subjects;
};

bool SameMember(const DirectoryMember& a, const DirectoryMember& b);

// A member as stored: its version (1 when created, +1 per change; 0 for a member read from the
// file without a database) and the time of its last change (InfinitePast for file members).
struct MemberRecord {
  DirectoryMember member;
  int64_t version = 0;
  absl::Time update_time = absl::InfinitePast();
};

// Parses a directory file's text. INVALID_ARGUMENT "members line 3: state: ..." on bad input; a
// repeated org is an error too.
absl::StatusOr<std::map<std::string, DirectoryMember>> ParseMemberDirectory(absl::string_view text);

// The field rules every member satisfies, wherever it comes from (the file's rules above, plus:
// state not UNSPECIFIED; certificate subjects as described). INVALID_ARGUMENT
// "<prefix><field> <problem>" naming the field (org, endpoint, state, max_results, display_name,
// certificate_subjects), never its value.
absl::Status CheckDirectoryMember(const DirectoryMember& member, absl::string_view prefix = "");

// PutMember's rule (create or replace one member), given the stored record (`current`, none when
// the org is not stored) and the request's `expected_version`:
//   - the requested member must pass CheckDirectoryMember (prefix "member."); an UNSPECIFIED
//     state means the stored one (ACTIVE for a new member); a new member is ACTIVE or SUSPENDED;
//   - a request that equals the stored member field for field changes nothing (nullopt), whatever
//     its expected_version: a retry after a lost answer is safe;
//   - expected_version 0 creates: ALREADY_EXISTS if the org is stored;
//   - expected_version N > 0 replaces version N: NOT_FOUND if the org is not stored, ABORTED if
//     the stored version is not N (someone else changed it: read it again and decide again);
//   - a DECOMMISSIONED member cannot be changed (FAILED_PRECONDITION); negative versions are
//     INVALID_ARGUMENT.
// Returns the member to store, or nullopt for no change.
absl::StatusOr<std::optional<DirectoryMember>> DecidePut(const std::optional<MemberRecord>& current,
                                                         DirectoryMember requested,
                                                         int64_t expected_version);

// SetMemberState's rule: `state` ACTIVE (reactivate), SUSPENDED or DECOMMISSIONED
// (INVALID_ARGUMENT otherwise); NOT_FOUND when the org is not stored; the same state as stored
// changes nothing (nullopt); expected_version 0 = any version, else ABORTED when the stored one
// differs; DECOMMISSIONED is final (FAILED_PRECONDITION).
absl::StatusOr<std::optional<DirectoryMember>> DecideState(
    const std::optional<MemberRecord>& current, v1::MemberState state, int64_t expected_version);

// File members as records (version 0, no update time).
std::map<std::string, MemberRecord> RecordsOf(std::map<std::string, DirectoryMember> members);

// The directory the gateway answers from now: an immutable snapshot, replaced whole. Readers
// keep the snapshot they got for as long as they use it. Thread-safe.
class MemberDirectoryView {
 public:
  using Members = std::map<std::string, MemberRecord>;

  MemberDirectoryView() : members_(std::make_shared<const Members>()) {}
  explicit MemberDirectoryView(Members members)
      : members_(std::make_shared<const Members>(std::move(members))) {}

  std::shared_ptr<const Members> Snapshot() const {
    std::lock_guard lock(mu_);
    return members_;
  }
  void Replace(Members members) {
    auto next = std::make_shared<const Members>(std::move(members));
    std::lock_guard lock(mu_);
    members_.swap(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Members> members_;
};

}  // namespace hie::gateway
