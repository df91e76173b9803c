// The store contract suite on the in-memory implementation.

#include "services/identity/store/identity_store_contract.h"
#include "services/identity/store/in_memory_identity_store.h"

namespace hie::identity {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, IdentityStoreContractTest,
                         ::testing::Values(IdentityStoreFactory(
                             [] { return std::make_unique<InMemoryIdentityStore>(); })));

}  // namespace
}  // namespace hie::identity
