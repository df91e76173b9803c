// MemberDirectoryKeeper over the in-memory store: seeding leaves administrators' changes alone,
// writes reach the view at once, a store that is down leaves the view as it was, and without a
// store the file is the directory and writes are refused.

#include "services/gateway/store/member_directory_keeper.h"

#include <gtest/gtest.h>

#include "services/gateway/store/in_memory_member_store.h"
#include "services/gateway/store/member_store_contract.h"

namespace hie::gateway {
namespace {

absl::Time Deadline() { return absl::Now() + absl::Seconds(5); }

std::map<std::string, DirectoryMember> File(std::initializer_list<DirectoryMember> members) {
  std::map<std::string, DirectoryMember> out;
  for (const auto& m : members) out[m.entry.org] = m;
  return out;
}

TEST(MemberDirectoryKeeper, SeedsOnlyWhatIsNotStoredAndChangesShowAtOnce) {
  InMemoryMemberStore store;
  MemberDirectoryView view;
  const absl::Time t0 = absl::FromUnixSeconds(1'700'000'000);
  MemberDirectoryKeeper keeper(&store, &view, [t0] { return t0; });

  auto seeded = keeper.Seed(File({TestMember("clinic-a"), TestMember("clinic-b")}), Deadline());
  ASSERT_TRUE(seeded.ok()) << seeded.status();
  EXPECT_EQ(*seeded, (std::vector<std::string>{"clinic-a", "clinic-b"}));
  ASSERT_EQ(view.Snapshot()->size(), 2u);
  EXPECT_EQ(view.Snapshot()->at("clinic-a").version, 1);
  EXPECT_EQ(view.Snapshot()->at("clinic-a").update_time, t0);

  auto suspended = keeper.SetState("clinic-a", v1::MEMBER_STATE_SUSPENDED, 1, Deadline());
  ASSERT_TRUE(suspended.ok()) << suspended.status();
  EXPECT_EQ(suspended->version, 2);
  EXPECT_EQ(view.Snapshot()->at("clinic-a").member.entry.state, v1::MEMBER_STATE_SUSPENDED);

  // A restart with the same file: clinic-a stays suspended, clinic-c is new.
  MemberDirectoryView view2;
  MemberDirectoryKeeper restarted(&store, &view2);
  auto again = restarted.Seed(
      File({TestMember("clinic-a"), TestMember("clinic-b"), TestMember("clinic-c")}), Deadline());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, (std::vector<std::string>{"clinic-c"}));
  EXPECT_EQ(view2.Snapshot()->at("clinic-a").member.entry.state, v1::MEMBER_STATE_SUSPENDED);
  EXPECT_EQ(view2.Snapshot()->size(), 3u);

  // A snapshot taken before a change stays as it was.
  std::shared_ptr<const MemberDirectoryView::Members> before = view.Snapshot();
  DirectoryMember d = TestMember("clinic-d", "clinic-d.example:443");
  auto put = keeper.Put(d, 0, Deadline());
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->version, 1);
  EXPECT_EQ(before->count("clinic-d"), 0u);
  EXPECT_EQ(view.Snapshot()->at("clinic-d").member.endpoint, "clinic-d.example:443");

  // Stale, then the same member again (no new version), then an unknown org.
  d.entry.max_results = 5;
  EXPECT_EQ(keeper.Put(d, 7, Deadline()).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(keeper.Put(TestMember("clinic-d", "clinic-d.example:443"), 7, Deadline())->version, 1);
  EXPECT_EQ(keeper.SetState("clinic-z", v1::MEMBER_STATE_ACTIVE, 0, Deadline()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(keeper.SetState("bad org", v1::MEMBER_STATE_ACTIVE, 0, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemberDirectoryKeeper, AStoreThatIsDownLeavesTheViewAsItWas) {
  InMemoryMemberStore store;
  MemberDirectoryView view;
  MemberDirectoryKeeper keeper(&store, &view);
  ASSERT_TRUE(keeper.Seed(File({TestMember("clinic-a")}), Deadline()).ok());
  store.SetFailure(absl::UnavailableError("down"));
  EXPECT_EQ(keeper.Refresh(Deadline()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(view.Snapshot()->size(), 1u);
  EXPECT_EQ(keeper.SetState("clinic-a", v1::MEMBER_STATE_SUSPENDED, 0, Deadline()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(view.Snapshot()->at("clinic-a").member.entry.state, v1::MEMBER_STATE_ACTIVE);
}

TEST(MemberDirectoryKeeper, WithoutAStoreTheFileIsTheDirectoryAndWritesAreRefused) {
  MemberDirectoryView view;
  MemberDirectoryKeeper keeper(nullptr, &view);
  auto seeded = keeper.Seed(File({TestMember("clinic-a")}), Deadline());
  ASSERT_TRUE(seeded.ok());
  EXPECT_EQ(view.Snapshot()->at("clinic-a").version, 0);
  EXPECT_TRUE(keeper.Refresh(Deadline()).ok());
  auto put = keeper.Put(TestMember("clinic-b"), 0, Deadline());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(put.status().message().find("no directory store configured"), std::string::npos);
  EXPECT_EQ(keeper.SetState("clinic-a", v1::MEMBER_STATE_SUSPENDED, 0, Deadline()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.Snapshot()->size(), 1u);
}

}  // namespace
}  // namespace hie::gateway
