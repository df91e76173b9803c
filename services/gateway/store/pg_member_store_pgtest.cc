// PgMemberStore against a real PostgreSQL (HIE_TEST_PG_DSN): the store contract suite, then what
// only the PostgreSQL store has to show (a bad row skipped, never fatal, and repaired by a put).

#include <gtest/gtest.h>

#include <pqxx/nontransaction>

#include "services/gateway/store/member_store_contract.h"
#include "services/gateway/store/migrations.h"
#include "services/gateway/store/pg_member_store.h"
#include "tests/support/owning_pg_store.h"

namespace hie::gateway {
namespace {

std::unique_ptr<hie::testing::OwningPgStore<PgMemberStore>> MakeStore() {
  return hie::testing::OwningPgStore<PgMemberStore>::Make(kSchema, Migrations());
}

INSTANTIATE_TEST_SUITE_P(Pg, MemberStoreContractTest,
                         ::testing::Values(MemberStoreFactory([]() -> std::unique_ptr<MemberStore> {
                           return MakeStore();
                         })));

absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }

TEST(PgMemberStore, ABadRowIsSkippedNotFatalAndAPutRepairsIt) {
  auto store = MakeStore();
  if (store == nullptr) GTEST_SKIP() << "HIE_TEST_PG_DSN unset";
  ASSERT_TRUE(store->InsertAbsent(Deadline(), {TestMember("clinic-a")}, absl::Now()).ok());
  {
    pqxx::connection c(store->dsn());
    pqxx::nontransaction t(c);
    t.exec(
        "INSERT INTO gateway.members (org, display_name, endpoint, state, max_results, "
        "supports_time_filters, certificate_subjects, version, update_ns) VALUES "
        "('clinic-bad', 'Bad', 'no-port', 'paused', 5000, true, '', 3, 0)");
  }
  auto all = store->List(Deadline());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].member.entry.org, "clinic-a");
  auto bad = store->Get(Deadline(), "clinic-bad");
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->has_value());
  // The seed leaves it alone; a put (as a creation) replaces it, its version counting on.
  auto seeded = store->InsertAbsent(Deadline(), {TestMember("clinic-bad")}, absl::Now());
  ASSERT_TRUE(seeded.ok());
  EXPECT_TRUE(seeded->empty());
  auto repaired = store->Update(Deadline(), "clinic-bad", absl::Now(),
                                [](const std::optional<MemberRecord>& current)
                                    -> absl::StatusOr<std::optional<DirectoryMember>> {
                                  EXPECT_FALSE(current.has_value());
                                  return TestMember("clinic-bad");
                                });
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(repaired->version, 4);
  all = store->List(Deadline());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

}  // namespace
}  // namespace hie::gateway
