#pragma once

// The contract every IdentityStore implementation must pass. A test binary includes this
// header, compiles identity_store_contract.cc, and instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, IdentityStoreContractTest,
//                            ::testing::Values(IdentityStoreFactory(...)));

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "services/identity/store/identity_store.h"

namespace hie::identity {

using IdentityStoreFactory = std::function<std::unique_ptr<IdentityStore>()>;

class IdentityStoreContractTest : public ::testing::TestWithParam<IdentityStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    ASSERT_NE(store_, nullptr);
  }
  absl::Status Txn(const IdentityStore::TxnFn& fn) {
    return store_->Transact(absl::Now() + absl::Seconds(10), {}, fn);
  }
  std::unique_ptr<IdentityStore> store_;
};

}  // namespace hie::identity
