#include "services/registry/core/submission_plan.h"

#include <gtest/gtest.h>

#include "services/registry/core/test_entries.h"

namespace hie::registry {
namespace {

using testing::ValidEntry;
using testing::ValidSubmission;

const absl::Time kNow = absl::FromUnixSeconds(1'750'000'000);

class PlanTest : public ::testing::Test {
 protected:
  absl::StatusOr<SubmissionPlan> Plan(const v1::RegisterSubmissionSetRequest& r) {
    return PlanSubmission(r, "clinic-a", state_, kNow,
                          [this] { return "urn:uuid:new-" + std::to_string(++ids_); });
  }
  // A stored APPROVED entry of the valid patient.
  v1::DocumentEntry Stored(const std::string& uuid, const std::string& unique_id) {
    v1::DocumentEntry e = ValidEntry(unique_id);
    e.set_entry_uuid(uuid);
    e.set_logical_id(uuid);
    e.set_version(1);
    e.set_status(v1::AVAILABILITY_STATUS_APPROVED);
    return e;
  }
  static v1::RegisterSubmissionSetRequest Replacing(const std::string& target,
                                                    v1::AssociationType type) {
    v1::RegisterSubmissionSetRequest r = ValidSubmission();
    auto* a = r.add_associations();
    a->set_type(type);
    a->set_source("1.2.3.4.5");
    a->set_target_entry_uuid(target);
    return r;
  }

  SubmissionState state_;
  int ids_ = 0;
};

TEST_F(PlanTest, NewEntryStartsALogicalDocument) {
  auto plan = Plan(ValidSubmission());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->new_entries.size(), 1u);
  const v1::DocumentEntry& e = plan->new_entries[0];
  EXPECT_EQ(e.entry_uuid(), "urn:uuid:new-2");  // the set took the first id
  EXPECT_EQ(e.logical_id(), e.entry_uuid());
  EXPECT_EQ(e.version(), 1);
  EXPECT_EQ(e.status(), v1::AVAILABILITY_STATUS_APPROVED);
  EXPECT_EQ(e.submission_set_id(), "urn:uuid:new-1");
  EXPECT_EQ(e.submission_time().seconds(), 1'750'000'000);
  EXPECT_EQ(plan->submission_set.source_org(), "clinic-a");
  ASSERT_EQ(plan->submission_set.entry_uuids_size(), 1);
  EXPECT_EQ(plan->response.entries(0).entry_uuid(), e.entry_uuid());
  EXPECT_TRUE(plan->deprecations.empty());
}

TEST_F(PlanTest, ARetrieveKeyDefaultsToTheUniqueId) {
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  *r.add_entries() = ValidEntry("1.2.3.4.6");
  r.mutable_entries(1)->mutable_location()->set_retrieve_key("doc-6");
  auto plan = Plan(r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->new_entries.size(), 2u);
  EXPECT_EQ(plan->new_entries[0].location().retrieve_key(), "1.2.3.4.5") << "stated";
  EXPECT_EQ(plan->new_entries[1].location().retrieve_key(), "doc-6") << "kept";
  EXPECT_EQ(plan->response.entries(0).location().retrieve_key(), "1.2.3.4.5");
}

TEST_F(PlanTest, OutputOnlyFieldsFromTheCallerAreIgnored) {
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  r.mutable_entries(0)->set_status(v1::AVAILABILITY_STATUS_DEPRECATED);
  r.mutable_entries(0)->set_version(42);
  r.mutable_entries(0)->set_replaced_by_entry_uuid("urn:uuid:x");
  auto plan = Plan(r);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->new_entries[0].status(), v1::AVAILABILITY_STATUS_APPROVED);
  EXPECT_EQ(plan->new_entries[0].version(), 1);
  EXPECT_TRUE(plan->new_entries[0].replaced_by_entry_uuid().empty());
}

TEST_F(PlanTest, ReplaceContinuesTheChainAndDeprecatesTheTarget) {
  v1::DocumentEntry v2 = Stored("urn:uuid:v2", "1.2.3.4.2");
  v2.set_logical_id("urn:uuid:v1");
  v2.set_version(2);
  state_.targets[v2.entry_uuid()] = v2;
  for (auto type : {v1::ASSOCIATION_TYPE_REPLACE, v1::ASSOCIATION_TYPE_TRANSFORM_AND_REPLACE}) {
    auto plan = Plan(Replacing("urn:uuid:v2", type));
    ASSERT_TRUE(plan.ok()) << plan.status();
    const v1::DocumentEntry& v3 = plan->new_entries[0];
    EXPECT_EQ(v3.logical_id(), "urn:uuid:v1");
    EXPECT_EQ(v3.version(), 3);
    ASSERT_EQ(plan->deprecations.size(), 1u);
    EXPECT_EQ(plan->deprecations[0].entry_uuid, "urn:uuid:v2");
    EXPECT_EQ(plan->deprecations[0].replaced_by_entry_uuid, v3.entry_uuid());
    ASSERT_EQ(plan->response.deprecated_entry_uuids_size(), 1);
    ASSERT_EQ(plan->new_associations.size(), 1u);
    EXPECT_EQ(plan->new_associations[0].source(), v3.entry_uuid());
  }
}

TEST_F(PlanTest, AppendTransformSignLeaveTheTargetApproved) {
  state_.targets["urn:uuid:t"] = Stored("urn:uuid:t", "1.2.3.4.9");
  for (auto type :
       {v1::ASSOCIATION_TYPE_APPEND, v1::ASSOCIATION_TYPE_TRANSFORM, v1::ASSOCIATION_TYPE_SIGNS}) {
    auto plan = Plan(Replacing("urn:uuid:t", type));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_TRUE(plan->deprecations.empty());
    EXPECT_EQ(plan->new_entries[0].version(), 1);
    EXPECT_EQ(plan->new_entries[0].logical_id(), plan->new_entries[0].entry_uuid());
  }
}

TEST_F(PlanTest, RefusalsNameTheAssociation) {
  auto plan = Plan(Replacing("urn:uuid:missing", v1::ASSOCIATION_TYPE_REPLACE));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(plan.status().message(), "associations[0].target_entry_uuid is not registered");

  v1::DocumentEntry deprecated = Stored("urn:uuid:d", "1.2.3.4.8");
  deprecated.set_status(v1::AVAILABILITY_STATUS_DEPRECATED);
  state_.targets["urn:uuid:d"] = deprecated;
  for (auto type : {v1::ASSOCIATION_TYPE_REPLACE, v1::ASSOCIATION_TYPE_APPEND}) {
    plan = Plan(Replacing("urn:uuid:d", type));
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(plan.status().message(), "associations[0].target_entry_uuid is deprecated");
  }

  v1::DocumentEntry other = Stored("urn:uuid:o", "1.2.3.4.7");
  other.mutable_patient()->set_local_id("MRN-2");
  state_.targets["urn:uuid:o"] = other;
  plan = Plan(Replacing("urn:uuid:o", v1::ASSOCIATION_TYPE_REPLACE));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(plan.status().message(),
            "associations[0].target_entry_uuid belongs to another patient");
}

TEST_F(PlanTest, ReusedUniqueIdWithAnotherHashIsRefused) {
  v1::DocumentEntry stored = Stored("urn:uuid:s", "1.2.3.4.5");
  stored.mutable_hash()->set_digest(std::string(32, '\x22'));
  state_.by_unique_id["1.2.3.4.5"] = stored;
  auto plan = Plan(ValidSubmission());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(plan.status().message(),
            "entries[0].unique_id is already registered with different content");
}

TEST_F(PlanTest, IdenticalReRegistrationIsANoOp) {
  state_.by_unique_id["1.2.3.4.5"] = Stored("urn:uuid:s", "1.2.3.4.5");
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  *r.add_entries() = ValidEntry("1.2.3.4.6");
  auto plan = Plan(r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->new_entries.size(), 1u);  // only the new one is written
  EXPECT_EQ(plan->new_entries[0].unique_id(), "1.2.3.4.6");
  ASSERT_EQ(plan->response.entries_size(), 2);  // the answer holds both, in request order
  EXPECT_EQ(plan->response.entries(0).entry_uuid(), "urn:uuid:s");
}

TEST_F(PlanTest, RetriedPublicationWithItsAssociationIsANoOp) {
  v1::DocumentEntry v2 = Stored("urn:uuid:v2", "1.2.3.4.5");
  v2.set_logical_id("urn:uuid:v1");
  v2.set_version(2);
  state_.by_unique_id["1.2.3.4.5"] = v2;
  v1::DocumentEntry v1e = Stored("urn:uuid:v1", "1.2.3.4.1");
  v1e.set_status(v1::AVAILABILITY_STATUS_DEPRECATED);
  state_.targets["urn:uuid:v1"] = v1e;
  const auto request = Replacing("urn:uuid:v1", v1::ASSOCIATION_TYPE_REPLACE);
  // Not recorded: metadata is immutable.
  EXPECT_EQ(Plan(request).status().code(), absl::StatusCode::kFailedPrecondition);
  state_.associations.insert({v1::ASSOCIATION_TYPE_REPLACE, "urn:uuid:v2", "urn:uuid:v1"});
  auto plan = Plan(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->new_entries.empty());
  EXPECT_TRUE(plan->deprecations.empty());
  EXPECT_TRUE(plan->new_associations.empty());
}

}  // namespace
}  // namespace hie::registry
