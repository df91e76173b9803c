// Integration tests of schema migrations against a real PostgreSQL (HIE_TEST_PG_DSN).

#include "services/common/pg/migrations.h"

#include <gtest/gtest.h>

#include <future>
#include <pqxx/nontransaction>
#include <vector>

#include "tests/support/test_env.h"

namespace hie::pg {
namespace {

// Deliberately not idempotent SQL: applying a version twice would fail.
const std::vector<Migration> kMigrations = {
    {1, "create patient", "CREATE TABLE demo.patient (id bigint PRIMARY KEY)"},
    {2, "add column", "ALTER TABLE demo.patient ADD COLUMN org text NOT NULL DEFAULT ''"},
    {3, "index", "CREATE INDEX patient_org ON demo.patient (org)"},
};

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    pool_ = MakePool();
  }

  std::unique_ptr<PgPool> MakePool() {
    auto pool = PgPool::Create({.dsn = db_->dsn(), .size = 1});
    EXPECT_TRUE(pool.ok()) << pool.status();
    return *std::move(pool);
  }

  int64_t Count(const std::string& sql) {
    int64_t n = -1;
    EXPECT_TRUE(pool_->Run(Deadline(), [&](pqxx::connection& c) {
                       n = pqxx::nontransaction(c).exec1(sql)[0].as<int64_t>();
                       return absl::OkStatus();
                     }).ok());
    return n;
  }

  static absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }

  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<PgPool> pool_;
};

TEST_F(MigrationsTest, AppliesInOrderAndIsIdempotent) {
  absl::StatusOr<int> first = ApplyMigrations(*pool_, "demo", kMigrations, Deadline());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 3);
  absl::StatusOr<int> second = ApplyMigrations(*pool_, "demo", kMigrations, Deadline());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM demo.schema_migrations"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM information_schema.columns "
                  "WHERE table_schema = 'demo' AND table_name = 'patient'"),
            2);
}

TEST_F(MigrationsTest, AppliesOnlyNewVersionsLater) {
  std::vector<Migration> first_two(kMigrations.begin(), kMigrations.begin() + 2);
  ASSERT_EQ(*ApplyMigrations(*pool_, "demo", first_two, Deadline()), 2);
  absl::StatusOr<int> rest = ApplyMigrations(*pool_, "demo", kMigrations, Deadline());
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(*rest, 1);
}

TEST_F(MigrationsTest, ConcurrentStartersDoNotDoubleApply) {
  constexpr int kStarters = 6;
  std::vector<std::unique_ptr<PgPool>> pools;
  for (int i = 0; i < kStarters; ++i) pools.push_back(MakePool());
  std::promise<void> go;
  std::shared_future<void> start = go.get_future().share();
  std::vector<std::future<absl::StatusOr<int>>> results;
  for (int i = 0; i < kStarters; ++i) {
    results.push_back(std::async(std::launch::async, [&, i] {
      start.wait();
      return ApplyMigrations(*pools[i], "demo", kMigrations, Deadline());
    }));
  }
  go.set_value();
  int total_applied = 0;
  for (auto& r : results) {
    absl::StatusOr<int> applied = r.get();
    ASSERT_TRUE(applied.ok()) << applied.status();
    total_applied += *applied;
  }
  EXPECT_EQ(total_applied, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM demo.schema_migrations"), 3);
}

TEST_F(MigrationsTest, ChangedAppliedMigrationIsRefused) {
  ASSERT_TRUE(ApplyMigrations(*pool_, "demo", kMigrations, Deadline()).ok());
  std::vector<Migration> edited = kMigrations;
  edited[1].sql = "ALTER TABLE demo.patient ADD COLUMN org varchar(10)";
  absl::StatusOr<int> result = ApplyMigrations(*pool_, "demo", edited, Deadline());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(MigrationsTest, FailingMigrationAppliesNothing) {
  std::vector<Migration> broken = kMigrations;
  broken[2].sql = "CREATE INDEX oops ON demo.no_such_table (x)";
  absl::StatusOr<int> result = ApplyMigrations(*pool_, "demo", broken, Deadline());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(Count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'demo'"), 0)
      << "versions 1 and 2 must have been rolled back with 3";
}

TEST_F(MigrationsTest, RejectsBadSchemaNamesAndUnorderedVersions) {
  EXPECT_EQ(ApplyMigrations(*pool_, "demo; DROP", kMigrations, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Migration> unordered = {kMigrations[1], kMigrations[0]};
  EXPECT_EQ(ApplyMigrations(*pool_, "demo", unordered, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hie::pg
