#include "services/gateway/store/member_store_contract.h"

#include <atomic>
#include <thread>

namespace hie::gateway {

DirectoryMember TestMember(const std::string& org, const std::string& endpoint) {
  DirectoryMember m;
  m.entry.org = org;
  m.entry.display_name = "Clinic " + org + ", Smith & Jones";
  m.entry.state = v1::MEMBER_STATE_ACTIVE;
  m.entry.max_results = 200;
  m.endpoint = endpoint;
  m.supports_time_filters = false;
  m.certificate_subjects = {"O=" + org + ",OU=member,CN=emr", "O=" + org + ",OU=member,CN=hl7"};
  return m;
}

namespace {

const absl::Time kT1 = absl::FromUnixSeconds(1'700'000'000) + absl::Nanoseconds(123'456'789);
const absl::Time kT2 = kT1 + absl::Seconds(5);

// Stores `m` (as a new member, or over whatever is stored).
MemberStore::Decide Put(DirectoryMember m) {
  return [m](const std::optional<MemberRecord>&) -> absl::StatusOr<std::optional<DirectoryMember>> {
    return m;
  };
}

void ExpectSame(const DirectoryMember& got, const DirectoryMember& want) {
  EXPECT_TRUE(SameMember(got, want)) << got.entry.org;
  EXPECT_EQ(got.entry.display_name, want.entry.display_name);
  EXPECT_EQ(got.certificate_subjects, want.certificate_subjects);
}

TEST_P(MemberStoreContractTest, AnUnknownOrgIsAbsentAndTheStoreStartsEmpty) {
  auto got = store_->Get(Deadline(), "clinic-a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  auto all = store_->List(Deadline());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
}

TEST_P(MemberStoreContractTest, UpdateCreatesAtVersionOneThenCountsEveryChange) {
  const DirectoryMember a = TestMember("clinic-a");
  auto created = store_->Update(Deadline(), "clinic-a", kT1, Put(a));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->version, 1);
  EXPECT_EQ(created->update_time, kT1);
  ExpectSame(created->member, a);

  DirectoryMember changed = a;
  changed.entry.state = v1::MEMBER_STATE_SUSPENDED;
  changed.entry.max_results = 1000;
  changed.supports_time_filters = true;
  changed.certificate_subjects.clear();
  std::optional<MemberRecord> seen;
  auto updated = store_->Update(Deadline(), "clinic-a", kT2,
                                [&](const std::optional<MemberRecord>& current)
                                    -> absl::StatusOr<std::optional<DirectoryMember>> {
                                  seen = current;
                                  return changed;
                                });
  ASSERT_TRUE(updated.ok()) << updated.status();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->version, 1);  // decide saw the stored record
  ExpectSame(seen->member, a);
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(updated->update_time, kT2);

  auto got = store_->Get(Deadline(), "clinic-a");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->version, 2);
  EXPECT_EQ((*got)->update_time, kT2);
  ExpectSame((*got)->member, changed);
}

TEST_P(MemberStoreContractTest, NoChangeKeepsTheVersionAndAnErrorWritesNothing) {
  ASSERT_TRUE(store_->Update(Deadline(), "clinic-a", kT1, Put(TestMember("clinic-a"))).ok());
  auto same = store_->Update(
      Deadline(), "clinic-a", kT2,
      [](const std::optional<MemberRecord>&) -> absl::StatusOr<std::optional<DirectoryMember>> {
        return std::nullopt;
      });
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->version, 1);
  EXPECT_EQ(same->update_time, kT1);

  auto refused = store_->Update(
      Deadline(), "clinic-a", kT2,
      [](const std::optional<MemberRecord>&) -> absl::StatusOr<std::optional<DirectoryMember>> {
        return absl::AbortedError("stale");
      });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(refused.status().message(), "stale");

  auto absent = store_->Update(Deadline(), "clinic-z", kT2,
                               [](const std::optional<MemberRecord>& current)
                                   -> absl::StatusOr<std::optional<DirectoryMember>> {
                                 EXPECT_FALSE(current.has_value());
                                 return std::nullopt;
                               });
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  auto all = store_->List(Deadline());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].version, 1);
}

TEST_P(MemberStoreContractTest, AnInvalidMemberOrAnotherOrgIsRefused) {
  DirectoryMember bad = TestMember("clinic-a", "no-port");
  auto refused = store_->Update(Deadline(), "clinic-a", kT1, Put(bad));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  auto other = store_->Update(Deadline(), "clinic-a", kT1, Put(TestMember("clinic-b")));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  auto seeded = store_->InsertAbsent(Deadline(), {TestMember("clinic-c"), bad}, kT1);
  EXPECT_EQ(seeded.status().code(), absl::StatusCode::kInvalidArgument);
  auto twice =
      store_->InsertAbsent(Deadline(), {TestMember("clinic-c"), TestMember("clinic-c")}, kT1);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  auto all = store_->List(Deadline());
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());  // nothing written
}

TEST_P(MemberStoreContractTest, InsertAbsentLeavesStoredMembersAsTheAdministratorsLeftThem) {
  DirectoryMember a = TestMember("clinic-a");
  a.entry.state = v1::MEMBER_STATE_SUSPENDED;
  ASSERT_TRUE(store_->Update(Deadline(), "clinic-a", kT1, Put(a)).ok());
  ASSERT_TRUE(store_->Update(Deadline(), "clinic-a", kT1, Put(a)).ok());  // version 2

  const DirectoryMember file_a = TestMember("clinic-a", "10.0.0.1:443");
  const DirectoryMember file_b = TestMember("clinic-b", "[::1]:7102");
  const DirectoryMember file_c = TestMember("clinic-c", "clinic-c.example:443");
  auto inserted = store_->InsertAbsent(Deadline(), {file_c, file_a, file_b}, kT2);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(*inserted, (std::vector<std::string>{"clinic-b", "clinic-c"}));

  auto all = store_->List(Deadline());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].member.entry.org, "clinic-a");  // by org
  EXPECT_EQ((*all)[0].version, 2);
  ExpectSame((*all)[0].member, a);
  EXPECT_EQ((*all)[1].member.entry.org, "clinic-b");
  EXPECT_EQ((*all)[1].version, 1);
  EXPECT_EQ((*all)[1].update_time, kT2);
  ExpectSame((*all)[1].member, file_b);
  ExpectSame((*all)[2].member, file_c);

  auto again = store_->InsertAbsent(Deadline(), {file_a, file_b, file_c}, kT2);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  auto none = store_->InsertAbsent(Deadline(), {}, kT2);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(MemberStoreContractTest, TextSurvivesTheRoundTrip) {
  DirectoryMember m = TestMember("clinic-a");
  m.entry.display_name = "Clinique Sainte-Thérèse, \"Nord\" \\ 北";
  m.certificate_subjects = {"O=clinic-a,OU=member,CN=é'\"\\"};
  ASSERT_TRUE(store_->Update(Deadline(), "clinic-a", kT1, Put(m)).ok());
  auto got = store_->Get(Deadline(), "clinic-a");
  ASSERT_TRUE(got.ok() && got->has_value());
  ExpectSame((*got)->member, m);
}

TEST_P(MemberStoreContractTest, ConcurrentUpdatesOfOneOrgLoseNoChange) {
  ASSERT_TRUE(store_->Update(Deadline(), "clinic-a", kT1, Put(TestMember("clinic-a"))).ok());
  constexpr int kPerThread = 15;
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < kPerThread; ++n) {
        // Each update adds one to max_results: a lost update would show.
        auto s = store_->Update(Deadline(), "clinic-a", kT2,
                                [](const std::optional<MemberRecord>& current)
                                    -> absl::StatusOr<std::optional<DirectoryMember>> {
                                  DirectoryMember next = current->member;
                                  next.entry.max_results += 1;
                                  return next;
                                });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto got = store_->Get(Deadline(), "clinic-a");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->version, 1 + 3 * kPerThread);
  EXPECT_EQ((*got)->member.entry.max_results, 200 + 3 * kPerThread);
}

}  // namespace
}  // namespace hie::gateway
