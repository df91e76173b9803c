#pragma once

// The contract every ConsentStore implementation must pass. A test binary compiles
// consent_store_contract.cc and instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, ConsentStoreContractTest,
//                            ::testing::Values(ConsentStoreFactory(...)));

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "services/consent/store/consent_store.h"

namespace hie::consent {

using ConsentStoreFactory = std::function<std::unique_ptr<ConsentStore>()>;

class ConsentStoreContractTest : public ::testing::TestWithParam<ConsentStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    if (store_ == nullptr && !HasFailure()) GTEST_SKIP() << "no store (HIE_TEST_PG_DSN unset)";
    ASSERT_NE(store_, nullptr);
  }
  absl::Status Txn(const ConsentStore::TxnFn& fn) {
    return store_->Transact(absl::Now() + absl::Seconds(10), fn);
  }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }
  std::unique_ptr<ConsentStore> store_;
};

}  // namespace hie::consent
