#include "services/locator/core/locator_operations_cases.h"
#include "services/locator/store/in_memory_locator_store.h"

namespace hie::locator {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, LocatorOperationsTest, ::testing::Values(LocatorStoreFactory([] {
                           return std::make_unique<InMemoryLocatorStore>();
                         })));

}  // namespace
}  // namespace hie::locator
