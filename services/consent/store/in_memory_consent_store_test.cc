// The store contract suite on the in-memory implementation.

#include "services/consent/store/in_memory_consent_store.h"

#include "services/consent/store/consent_store_contract.h"

namespace hie::consent {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, ConsentStoreContractTest,
                         ::testing::Values(ConsentStoreFactory([] {
                           return std::make_unique<InMemoryConsentStore>();
                         })));

}  // namespace
}  // namespace hie::consent
