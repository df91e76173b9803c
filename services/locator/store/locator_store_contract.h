#pragma once

// The contract every LocatorStore implementation must pass. A test binary compiles
// locator_store_contract.cc and instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, LocatorStoreContractTest,
//                            ::testing::Values(LocatorStoreFactory(...)));
// A factory returning null skips the suite (PostgreSQL not configured).

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "services/locator/store/locator_store.h"

namespace hie::locator {

using LocatorStoreFactory = std::function<std::unique_ptr<LocatorStore>()>;

class LocatorStoreContractTest : public ::testing::TestWithParam<LocatorStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    if (store_ == nullptr && !HasFailure()) GTEST_SKIP() << "no store (HIE_TEST_PG_DSN unset)";
    ASSERT_NE(store_, nullptr);
  }
  absl::Status Txn(const LocatorStore::TxnFn& fn) { return store_->Transact(Deadline(), fn); }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }
  std::unique_ptr<LocatorStore> store_;
};

}  // namespace hie::locator
