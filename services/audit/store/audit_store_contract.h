#pragma once

// The contract every AuditStore implementation must pass. A test binary includes this header,
// compiles audit_store_contract.cc, and instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, AuditStoreContractTest,
//                            ::testing::Values(AuditStoreFactory(...)));
//
// The factory returns a fresh, empty store. The suite's events are recorded in 2024 (several
// months, for retention), with realistic encodings, hashes and fingerprints (core/canonical.h).

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "services/audit/store/audit_store.h"

namespace hie::audit {

using AuditStoreFactory = std::function<std::unique_ptr<AuditStore>()>;

class AuditStoreContractTest : public ::testing::TestWithParam<AuditStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    ASSERT_NE(store_, nullptr);
  }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }
  std::unique_ptr<AuditStore> store_;
};

}  // namespace hie::audit
