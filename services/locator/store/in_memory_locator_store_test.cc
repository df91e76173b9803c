#include "services/locator/store/in_memory_locator_store.h"

#include "services/locator/store/locator_store_contract.h"

namespace hie::locator {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, LocatorStoreContractTest,
                         ::testing::Values(LocatorStoreFactory([] {
                           return std::make_unique<InMemoryLocatorStore>();
                         })));

TEST(InMemoryLocatorStore, AStoreThatIsDownFailsEveryCall) {
  InMemoryLocatorStore store;
  store.SetFailure(absl::UnavailableError("down"));
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  EXPECT_EQ(store.Transact(deadline, [](LocatorTxn&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Get(deadline, {{"o", "1"}}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.List(deadline, {.org = "o"}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hie::locator
