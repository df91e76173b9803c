#pragma once

// LocatorOperations' cases, run over every store: locator_operations_test (in memory) and
// locator_operations_pgtest (PostgreSQL) instantiate the suite with a LocatorStoreFactory
// (locator_store_contract.h). The clock is the test's.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "services/locator/core/locator_operations.h"
#include "services/locator/store/locator_store_contract.h"

namespace hie::locator {

class LocatorOperationsTest : public ::testing::TestWithParam<LocatorStoreFactory> {
 protected:
  void SetUp() override;
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }

  // Identity event `sequence` of `type` about (org, local) at `seconds`.
  static hie::identity::v1::IdentityEvent IdentityEvent(int64_t sequence,
                                                        hie::identity::v1::IdentityEventType type,
                                                        const std::string& org,
                                                        const std::string& local, int64_t seconds);
  // A registry change at position (version, uuid) of an entry of (org, local), submitted at
  // `submitted` seconds, APPROVED unless `deprecated`.
  static hie::registry::v1::EntryChange Change(int64_t version, const std::string& uuid,
                                               const std::string& org, const std::string& local,
                                               int64_t submitted, bool deprecated = false);
  static hie::registry::v1::ListChangesResponse Page(
      std::vector<hie::registry::v1::EntryChange> changes);
  // Locate over these source ids (org, local), purpose treatment.
  v1::LocateResponse Locate(const std::vector<std::pair<std::string, std::string>>& ids);
  // The one location of (org, local), or a default one (source_id unset) when not listed.
  v1::RecordLocation LocationOf(const std::string& org, const std::string& local);
  absl::Status Delete(const std::string& org, const std::string& local, v1::RemovalReason reason,
                      const std::string& key);

  std::unique_ptr<LocatorStore> store_;
  std::unique_ptr<LocatorOperations> ops_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  const Actor operator_{"hie-operations", common::v1::ROLE_HIE_OPERATOR, "operator"};
};

}  // namespace hie::locator
