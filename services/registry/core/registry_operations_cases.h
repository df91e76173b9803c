#pragma once

// RegistryOperations' cases, run over every store: registry_operations_test (in memory) and
// registry_operations_pgtest (PostgreSQL) instantiate the suite with a RegistryStoreFactory
// (registry_store_contract.h). The clock and the ids are the test's.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "services/registry/core/registry_operations.h"
#include "services/registry/core/test_entries.h"
#include "services/registry/store/registry_store_contract.h"

namespace hie::registry {

using testing::ValidEntry;
using testing::ValidSubmission;

inline absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }

class RegistryOperationsTest : public ::testing::TestWithParam<RegistryStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    if (store_ == nullptr && !HasFailure()) GTEST_SKIP() << "no store (HIE_TEST_PG_DSN unset)";
    ASSERT_NE(store_, nullptr);
    ops_ = std::make_unique<RegistryOperations>(
        store_.get(), RegistryOptions{.now = [this] { return now_; },
                                      .new_id = [this] { return TestUuid(++ids_); }});
  }

  // Well-formed uuids in the order of `n` (as the feed orders uuids of one version).
  static std::string TestUuid(int n) {
    return absl::StrFormat("urn:uuid:00000000-0000-4000-8000-%012d", n);
  }

  // Publishes entry `unique_id` (created at `created` seconds), with an association of `type`
  // to `target` when given; returns the new entry's uuid.
  absl::StatusOr<std::string> Publish(const std::string& unique_id, int64_t created = 1000,
                                      v1::AssociationType type = v1::ASSOCIATION_TYPE_UNSPECIFIED,
                                      const std::string& target = "") {
    v1::RegisterSubmissionSetRequest r = ValidSubmission();
    r.set_idempotency_key("key-" + unique_id);
    r.mutable_submission_set()->set_unique_id("set-" + unique_id);
    *r.mutable_entries(0) = ValidEntry(unique_id);
    r.mutable_entries(0)->mutable_creation_time()->set_seconds(created);
    if (!target.empty()) {
      auto* a = r.add_associations();
      a->set_type(type);
      a->set_source(unique_id);
      a->set_target_entry_uuid(target);
    }
    auto response = ops_->Register(kClinicA, r, Deadline());
    if (!response.ok()) return response.status();
    return response->entries(0).entry_uuid();
  }
  v1::FindDocumentsRequest FindRequest() {
    v1::FindDocumentsRequest r;
    r.mutable_context()->set_request_id("req-1");
    r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
    auto* p = r.add_patients();
    p->set_org("clinic-a");
    p->set_local_id("MRN-1");
    return r;
  }
  std::vector<std::string> Found(const v1::FindDocumentsRequest& r) {
    auto found = ops_->Find(r, Deadline());
    EXPECT_TRUE(found.ok()) << found.status();
    std::vector<std::string> out;
    if (found.ok()) {
      for (const auto& e : found->entries()) out.push_back(e.unique_id());
    }
    return out;
  }
  v1::DocumentEntry Stored(const std::string& uuid) {
    v1::GetDocumentsRequest r;
    r.mutable_context()->set_request_id("req-1");
    r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
    r.add_entry_uuids(uuid);
    auto got = ops_->Get(r, Deadline());
    EXPECT_TRUE(got.ok() && got->entries_size() == 1) << uuid;
    return got.ok() && got->entries_size() == 1 ? got->entries(0) : v1::DocumentEntry{};
  }

  // One page of ListChanges after `after` (unset: from the beginning).
  v1::ListChangesResponse Changes(int page_size, const v1::ChangePosition* after = nullptr) {
    v1::ListChangesRequest r;
    r.mutable_context()->set_request_id("req-1");
    r.set_page_size(page_size);
    if (after != nullptr) *r.mutable_after() = *after;
    auto page = ops_->Changes(r, Deadline());
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? *page : v1::ListChangesResponse{};
  }

  const Actor kClinicA{"clinic-a", common::v1::ROLE_MEMBER_SYSTEM, ""};
  std::unique_ptr<RegistryStore> store_;
  absl::Time now_ = absl::FromUnixSeconds(1'750'000'000);
  std::atomic<int> ids_ = 0;
  std::unique_ptr<RegistryOperations> ops_;
};

}  // namespace hie::registry
