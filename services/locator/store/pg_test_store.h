#pragma once

// A PgLocatorStore on a fresh, migrated test database it owns (tests/support/test_env.h), for
// the locator's PostgreSQL tests. Null (and a test failure when servers are required) when
// HIE_TEST_PG_DSN is unset.

#include <gtest/gtest.h>

#include <memory>

#include "services/common/pg/migrations.h"
#include "services/locator/store/migrations.h"
#include "services/locator/store/pg_locator_store.h"
#include "tests/support/test_env.h"

namespace hie::locator {

// Owns a fresh database, a pool and the store, for as long as a test uses it.
class OwningPgLocatorStore : public PgLocatorStore {
 public:
  static std::unique_ptr<OwningPgLocatorStore> Make() {
    if (hie::testing::EnvOrEmpty("HIE_TEST_PG_DSN").empty()) {
      if (hie::testing::ServersRequired()) ADD_FAILURE() << "HIE_TEST_PG_DSN is not set";
      return nullptr;
    }
    auto db = hie::testing::TestDatabase::Create();
    if (!db.ok()) {
      ADD_FAILURE() << db.status();
      return nullptr;
    }
    auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 4});
    if (!pool.ok()) {
      ADD_FAILURE() << pool.status();
      return nullptr;
    }
    auto applied =
        pg::ApplyMigrations(**pool, kSchema, Migrations(), absl::Now() + absl::Seconds(30));
    if (!applied.ok()) {
      ADD_FAILURE() << applied.status();
      return nullptr;
    }
    return std::unique_ptr<OwningPgLocatorStore>(
        new OwningPgLocatorStore(*std::move(db), *std::move(pool)));
  }
  const std::string& dsn() const { return db_->dsn(); }

 private:
  OwningPgLocatorStore(std::unique_ptr<hie::testing::TestDatabase> db,
                       std::unique_ptr<pg::PgPool> pool)
      : PgLocatorStore(pool.get()), db_(std::move(db)), pool_(std::move(pool)) {}
  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
};

}  // namespace hie::locator
