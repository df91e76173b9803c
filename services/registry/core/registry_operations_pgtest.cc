// RegistryOperations over the PostgreSQL store (HIE_TEST_PG_DSN): every case of
// registry_operations_cases.cc, with real transactions and row locks (two concurrent
// replacements of one document: one wins).

#include "services/registry/core/registry_operations_cases.h"
#include "services/registry/store/pg_test_store.h"

namespace hie::registry {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Pg, RegistryOperationsTest,
    ::testing::Values(RegistryStoreFactory([]() -> std::unique_ptr<RegistryStore> {
      return OwningPgRegistryStore::Make();
    })));

}  // namespace
}  // namespace hie::registry
