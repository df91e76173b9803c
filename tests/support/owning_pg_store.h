#pragma once

// A PostgreSQL store on a fresh, migrated test database it owns (test_env.h), for the services'
// PostgreSQL tests: `Store` is constructed from a pg::PgPool*. Null (and a test failure when
// servers are required) when HIE_TEST_PG_DSN is unset.
//
//   auto store = OwningPgStore<PgRegistryStore>::Make(kSchema, Migrations());

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>

#include "services/common/pg/migrations.h"
#include "services/common/pg/pool.h"
#include "tests/support/test_env.h"

namespace hie::testing {

template <typename Store>
class OwningPgStore : public Store {
 public:
  static std::unique_ptr<OwningPgStore> Make(const std::string& schema,
                                             std::span<const pg::Migration> migrations) {
    if (EnvOrEmpty("HIE_TEST_PG_DSN").empty()) {
      if (ServersRequired()) ADD_FAILURE() << "HIE_TEST_PG_DSN is not set";
      return nullptr;
    }
    auto db = TestDatabase::Create();
    if (!db.ok()) {
      ADD_FAILURE() << db.status();
      return nullptr;
    }
    auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 4});
    if (!pool.ok()) {
      ADD_FAILURE() << pool.status();
      return nullptr;
    }
    auto applied = pg::ApplyMigrations(**pool, schema, migrations, absl::Now() + absl::Seconds(30));
    if (!applied.ok()) {
      ADD_FAILURE() << applied.status();
      return nullptr;
    }
    return std::unique_ptr<OwningPgStore>(new OwningPgStore(*std::move(db), *std::move(pool)));
  }
  const std::string& dsn() const { return db_->dsn(); }

 private:
  OwningPgStore(std::unique_ptr<TestDatabase> db, std::unique_ptr<pg::PgPool> pool)
      : Store(pool.get()), db_(std::move(db)), pool_(std::move(pool)) {}
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
};

}  // namespace hie::testing
