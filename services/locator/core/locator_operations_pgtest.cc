// LocatorOperations over the real PostgreSQL store (HIE_TEST_PG_DSN): every case of
// locator_operations_cases.cc.

#include "services/locator/core/locator_operations_cases.h"
#include "services/locator/store/pg_test_store.h"

namespace hie::locator {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Pg, LocatorOperationsTest,
    ::testing::Values(LocatorStoreFactory([]() -> std::unique_ptr<LocatorStore> {
      return OwningPgLocatorStore::Make();
    })));

}  // namespace
}  // namespace hie::locator
