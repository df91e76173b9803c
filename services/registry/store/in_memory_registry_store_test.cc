#include "services/registry/store/in_memory_registry_store.h"

#include "services/registry/store/registry_store_contract.h"

namespace hie::registry {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, RegistryStoreContractTest,
                         ::testing::Values(RegistryStoreFactory([] {
                           return std::make_unique<InMemoryRegistryStore>();
                         })));

TEST(InMemoryRegistryStore, AStoreThatIsDownFailsEveryCall) {
  InMemoryRegistryStore store;
  store.SetFailure(absl::UnavailableError("down"));
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  EXPECT_EQ(store.Transact(deadline, [](RegistryTxn&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.FindDocuments(deadline, {}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hie::registry
