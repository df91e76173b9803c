#pragma once

// A PgRegistryStore on a fresh, migrated test database it owns (tests/support/test_env.h), for
// the registry's PostgreSQL tests. Null (and a test failure when servers are required) when
// HIE_TEST_PG_DSN is unset.

#include <gtest/gtest.h>

#include <memory>

#include "services/common/pg/migrations.h"
#include "services/registry/store/migrations.h"
#include "services/registry/store/pg_registry_store.h"
#include "tests/support/test_env.h"

namespace hie::registry {

// Owns a fresh database, a pool and the store, for as long as a test uses it.
class OwningPgRegistryStore : public PgRegistryStore {
 public:
  static std::unique_ptr<OwningPgRegistryStore> Make() {
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
    return std::unique_ptr<OwningPgRegistryStore>(
        new OwningPgRegistryStore(*std::move(db), *std::move(pool)));
  }
  const std::string& dsn() const { return db_->dsn(); }

 private:
  OwningPgRegistryStore(std::unique_ptr<hie::testing::TestDatabase> db,
                        std::unique_ptr<pg::PgPool> pool)
      : PgRegistryStore(pool.get()), db_(std::move(db)), pool_(std::move(pool)) {}
  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
};

}  // namespace hie::registry
