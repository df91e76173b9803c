#include "services/gateway/store/member_directory_keeper.h"

#include "absl/strings/str_join.h"
#include "services/common/logging.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"

namespace hie::gateway {
namespace {

absl::Status NoStore() {
  return absl::FailedPreconditionError(
      "no directory store configured: the gateway reads its members from --members only");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> MemberDirectoryKeeper::Seed(
    std::map<std::string, DirectoryMember> file_members, absl::Time deadline) {
  std::vector<std::string> orgs;
  if (store_ == nullptr) {
    for (const auto& [org, member] : file_members) orgs.push_back(org);
    view_->Replace(RecordsOf(std::move(file_members)));
    return orgs;
  }
  std::vector<DirectoryMember> members;
  members.reserve(file_members.size());
  for (auto& [org, member] : file_members) members.push_back(std::move(member));
  HIE_ASSIGN_OR_RETURN(orgs, store_->InsertAbsent(deadline, members, now_()));
  Log(LogLevel::kInfo, "directory_seeded",
      {{"file_members", static_cast<int64_t>(members.size())},
       {"inserted", static_cast<int64_t>(orgs.size())},
       {"orgs", absl::StrJoin(orgs, ",")}});
  HIE_RETURN_IF_ERROR(Refresh(deadline));
  return orgs;
}

absl::Status MemberDirectoryKeeper::Refresh(absl::Time deadline) {
  if (store_ == nullptr) return absl::OkStatus();
  std::lock_guard lock(refresh_mu_);
  HIE_ASSIGN_OR_RETURN(std::vector<MemberRecord> records, store_->List(deadline));
  MemberDirectoryView::Members members;
  for (MemberRecord& r : records) {
    const std::string org = r.member.entry.org;
    members.emplace(org, std::move(r));
  }
  view_->Replace(std::move(members));
  return absl::OkStatus();
}

absl::StatusOr<MemberRecord> MemberDirectoryKeeper::Change(const std::string& org,
                                                           absl::Time deadline,
                                                           const MemberStore::Decide& decide) {
  if (store_ == nullptr) return NoStore();
  HIE_ASSIGN_OR_RETURN(MemberRecord stored, store_->Update(deadline, org, now_(), decide));
  if (absl::Status s = Refresh(deadline); !s.ok()) {
    Log(LogLevel::kWarning, "directory_refresh_failed",
        {{"org", org}, {"code", absl::StatusCodeToString(s.code())}});
  }
  return stored;
}

absl::StatusOr<MemberRecord> MemberDirectoryKeeper::Put(DirectoryMember member,
                                                        int64_t expected_version,
                                                        absl::Time deadline) {
  const std::string org = member.entry.org;
  if (store_ == nullptr) return NoStore();
  // The org is checked before it names a lock or a row.
  HIE_RETURN_IF_ERROR(CheckId(org, "member.org"));
  return Change(
      org, deadline,
      [member = std::move(member), expected_version](const std::optional<MemberRecord>& current) {
        return DecidePut(current, member, expected_version);
      });
}

absl::StatusOr<MemberRecord> MemberDirectoryKeeper::SetState(const std::string& org,
                                                             v1::MemberState state,
                                                             int64_t expected_version,
                                                             absl::Time deadline) {
  if (store_ == nullptr) return NoStore();
  HIE_RETURN_IF_ERROR(CheckId(org, "org"));
  return Change(org, deadline, [state, expected_version](const std::optional<MemberRecord>& c) {
    return DecideState(c, state, expected_version);
  });
}

}  // namespace hie::gateway
