#pragma once

// A PgRegistryStore on a fresh, migrated test database it owns (tests/support/owning_pg_store.h),
// for the registry's PostgreSQL tests. Null (and a test failure when servers are required) when
// HIE_TEST_PG_DSN is unset.

#include "services/registry/store/migrations.h"
#include "services/registry/store/pg_registry_store.h"
#include "tests/support/owning_pg_store.h"

namespace hie::registry {

struct OwningPgRegistryStore {
  static std::unique_ptr<hie::testing::OwningPgStore<PgRegistryStore>> Make() {
    return hie::testing::OwningPgStore<PgRegistryStore>::Make(kSchema, Migrations());
  }
};

}  // namespace hie::registry
