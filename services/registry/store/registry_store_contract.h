#pragma once

// The contract every RegistryStore implementation must pass. A test binary compiles
// registry_store_contract.cc and instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(InMemory, RegistryStoreContractTest,
//                            ::testing::Values(RegistryStoreFactory(...)));
// A factory returning null skips the suite (PostgreSQL not configured).

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "services/registry/store/registry_store.h"

namespace hie::registry {

using RegistryStoreFactory = std::function<std::unique_ptr<RegistryStore>()>;

class RegistryStoreContractTest : public ::testing::TestWithParam<RegistryStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    if (store_ == nullptr && !HasFailure()) GTEST_SKIP() << "no store (HIE_TEST_PG_DSN unset)";
    ASSERT_NE(store_, nullptr);
  }
  absl::Status Txn(const RegistryStore::TxnFn& fn) { return store_->Transact(Deadline(), fn); }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }
  // Inserts submission set "urn:uuid:set-<set>" with `entries` and `associations`.
  absl::Status Publish(const std::string& set, std::vector<v1::DocumentEntry> entries,
                       std::vector<v1::Association> associations = {});
  // FindDocuments (patient MRN-1 unless `f` names patients): the entries' uuids without
  // "urn:uuid:".
  std::vector<std::string> Find(DocumentFilter f);
  std::unique_ptr<RegistryStore> store_;
};

}  // namespace hie::registry
