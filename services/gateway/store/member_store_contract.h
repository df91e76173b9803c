#pragma once

// The contract every MemberStore implementation must pass. A test binary compiles
// member_store_contract.cc and instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, MemberStoreContractTest,
//                            ::testing::Values(MemberStoreFactory(...)));
// A factory returning null skips the suite (PostgreSQL not configured).

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "services/gateway/store/member_store.h"

namespace hie::gateway {

using MemberStoreFactory = std::function<std::unique_ptr<MemberStore>()>;

class MemberStoreContractTest : public ::testing::TestWithParam<MemberStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    if (store_ == nullptr && !HasFailure()) GTEST_SKIP() << "no store (HIE_TEST_PG_DSN unset)";
    ASSERT_NE(store_, nullptr);
  }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }
  std::unique_ptr<MemberStore> store_;
};

// A valid member for tests.
DirectoryMember TestMember(const std::string& org, const std::string& endpoint = "127.0.0.1:7101");

}  // namespace hie::gateway
