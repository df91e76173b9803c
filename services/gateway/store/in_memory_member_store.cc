#include "services/gateway/store/in_memory_member_store.h"

#include <algorithm>
#include <set>

#include "services/common/status_macros.h"

namespace hie::gateway {

absl::Status InMemoryMemberStore::Check(absl::Time deadline) const {
  if (!failure_.ok()) return failure_;
  if (absl::Now() > deadline) return absl::DeadlineExceededError("member store: deadline passed");
  return absl::OkStatus();
}

void InMemoryMemberStore::SetFailure(absl::Status failure) {
  std::lock_guard lock(mu_);
  failure_ = std::move(failure);
}

absl::StatusOr<MemberRecord> InMemoryMemberStore::Update(absl::Time deadline,
                                                         const std::string& org, absl::Time now,
                                                         const Decide& decide) {
  std::lock_guard lock(mu_);
  HIE_RETURN_IF_ERROR(Check(deadline));
  std::optional<MemberRecord> current;
  if (auto it = members_.find(org); it != members_.end()) current = it->second;
  HIE_ASSIGN_OR_RETURN(std::optional<DirectoryMember> next, decide(current));
  if (!next) {
    if (!current) return absl::NotFoundError("org is not a member of the HIE");
    return *current;
  }
  if (next->entry.org != org)
    return absl::InvalidArgumentError("member.org is not the org updated");
  HIE_RETURN_IF_ERROR(CheckDirectoryMember(*next, "member."));
  MemberRecord stored{.member = *std::move(next),
                      .version = current ? current->version + 1 : 1,
                      .update_time = now};
  members_[org] = stored;
  return stored;
}

absl::StatusOr<std::vector<std::string>> InMemoryMemberStore::InsertAbsent(
    absl::Time deadline, const std::vector<DirectoryMember>& members, absl::Time now) {
  std::lock_guard lock(mu_);
  HIE_RETURN_IF_ERROR(Check(deadline));
  std::set<std::string> orgs;
  for (const DirectoryMember& m : members) {
    HIE_RETURN_IF_ERROR(CheckDirectoryMember(m, "member."));
    if (!orgs.insert(m.entry.org).second) {
      return absl::InvalidArgumentError("member.org is repeated");
    }
  }
  std::vector<std::string> inserted;
  for (const DirectoryMember& m : members) {
    if (members_.count(m.entry.org) != 0) continue;
    members_[m.entry.org] = MemberRecord{.member = m, .version = 1, .update_time = now};
    inserted.push_back(m.entry.org);
  }
  std::sort(inserted.begin(), inserted.end());
  return inserted;
}

absl::StatusOr<std::optional<MemberRecord>> InMemoryMemberStore::Get(absl::Time deadline,
                                                                     const std::string& org) {
  std::lock_guard lock(mu_);
  HIE_RETURN_IF_ERROR(Check(deadline));
  auto it = members_.find(org);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<MemberRecord>> InMemoryMemberStore::List(absl::Time deadline) {
  std::lock_guard lock(mu_);
  HIE_RETURN_IF_ERROR(Check(deadline));
  std::vector<MemberRecord> out;
  out.reserve(members_.size());
  for (const auto& [org, record] : members_) out.push_back(record);
  return out;
}

}  // namespace hie::gateway
