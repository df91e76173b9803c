#pragma once

// A PgLocatorStore on a fresh, migrated test database it owns (tests/support/owning_pg_store.h),
// for the locator's PostgreSQL tests. Null (and a test failure when servers are required) when
// HIE_TEST_PG_DSN is unset.

#include "services/locator/store/migrations.h"
#include "services/locator/store/pg_locator_store.h"
#include "tests/support/owning_pg_store.h"

namespace hie::locator {

struct OwningPgLocatorStore {
  static std::unique_ptr<hie::testing::OwningPgStore<PgLocatorStore>> Make() {
    return hie::testing::OwningPgStore<PgLocatorStore>::Make(kSchema, Migrations());
  }
};

}  // namespace hie::locator
