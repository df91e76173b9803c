#include "services/gateway/store/in_memory_member_store.h"

#include "services/gateway/store/member_store_contract.h"

namespace hie::gateway {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, MemberStoreContractTest,
                         ::testing::Values(MemberStoreFactory([] {
                           return std::make_unique<InMemoryMemberStore>();
                         })));

TEST(InMemoryMemberStore, AStoreThatIsDownFailsEveryCall) {
  InMemoryMemberStore store;
  store.SetFailure(absl::UnavailableError("down"));
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  EXPECT_EQ(store.List(deadline).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Get(deadline, "clinic-a").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.InsertAbsent(deadline, {TestMember("clinic-a")}, absl::Now()).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hie::gateway
