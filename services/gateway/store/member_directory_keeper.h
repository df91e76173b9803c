#pragma once

// The member directory the gateway runs on: a MemberDirectoryView (core/member_directory.h) that
// the fan-out, retrieval and the staff APIs read, kept from a MemberStore when there is one.
//
//  - Seed: at start, the --members file's members not yet stored are inserted; stored ones stay
//    as the administrators left them (logged: "directory_seeded" with the count and the orgs).
//  - Refresh: the view replaced by the store's members (main.cc runs it every
//    --directory-refresh, and Put / SetState after each change). Refreshes serialise, read and
//    install under one lock, so an older read never lands after a newer one. When the store
//    cannot be read the view stays as it was (the caller logs).
//  - Put / SetState: AdminGateway's writes (rules: core/member_directory.h DecidePut,
//    DecideState) through MemberStore::Update, then a refresh, so the change takes effect at
//    once; a failed refresh leaves it to the next periodic one (logged), the change stands.
// Without a store (no --pg-dsn) the view holds the file's members for good; Put and SetState
// answer FAILED_PRECONDITION "no directory store configured".
// Thread-safe. The store and the view must outlive the keeper.

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/core/member_directory.h"
#include "services/gateway/store/member_store.h"

namespace hie::gateway {

class MemberDirectoryKeeper {
 public:
  // `store` may be null (file-only). `now` is the clock of update times.
  MemberDirectoryKeeper(MemberStore* store, MemberDirectoryView* view,
                        std::function<absl::Time()> now = absl::Now)
      : store_(store), view_(view), now_(std::move(now)) {}

  bool has_store() const { return store_ != nullptr; }
  const MemberDirectoryView& view() const { return *view_; }

  // With a store: inserts the file's members not stored (returns their orgs) and refreshes.
  // Without: the view becomes the file's members (version 0); returns every org.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> Seed(
      std::map<std::string, DirectoryMember> file_members, absl::Time deadline);

  // The view replaced by the store's members. OK (nothing done) without a store.
  [[nodiscard]] absl::Status Refresh(absl::Time deadline);

  // PutMember: create or replace `member` (DecidePut); the stored record after the call.
  [[nodiscard]] absl::StatusOr<MemberRecord> Put(DirectoryMember member, int64_t expected_version,
                                                 absl::Time deadline);
  // SetMemberState (DecideState); the stored record after the call.
  [[nodiscard]] absl::StatusOr<MemberRecord> SetState(const std::string& org, v1::MemberState state,
                                                      int64_t expected_version,
                                                      absl::Time deadline);

 private:
  absl::StatusOr<MemberRecord> Change(const std::string& org, absl::Time deadline,
                                      const MemberStore::Decide& decide);

  MemberStore* const store_;
  MemberDirectoryView* const view_;
  const std::function<absl::Time()> now_;
  std::mutex refresh_mu_;
};

}  // namespace hie::gateway
