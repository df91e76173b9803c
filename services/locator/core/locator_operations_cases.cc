#include "services/locator/core/locator_operations_cases.h"

#include "services/common/proto_time.h"

namespace hie::locator {

namespace idv1 = hie::identity::v1;
namespace regv1 = hie::registry::v1;

void LocatorOperationsTest::SetUp() {
  store_ = GetParam()();
  if (store_ == nullptr && !HasFailure()) GTEST_SKIP() << "no store (HIE_TEST_PG_DSN unset)";
  ASSERT_NE(store_, nullptr);
  ops_ = std::make_unique<LocatorOperations>(store_.get(),
                                             LocatorOptions{.now = [this] { return now_; }});
}

idv1::IdentityEvent LocatorOperationsTest::IdentityEvent(int64_t sequence,
                                                         idv1::IdentityEventType type,
                                                         const std::string& org,
                                                         const std::string& local,
                                                         int64_t seconds) {
  idv1::IdentityEvent e;
  e.set_sequence(sequence);
  e.set_type(type);
  e.mutable_event_time()->set_seconds(seconds);
  auto* id = e.add_source_ids();
  id->set_org(org);
  id->set_local_id(local);
  return e;
}

regv1::EntryChange LocatorOperationsTest::Change(int64_t version, const std::string& uuid,
                                                 const std::string& org, const std::string& local,
                                                 int64_t submitted, bool deprecated) {
  regv1::EntryChange c;
  c.mutable_position()->set_version(version);
  c.mutable_position()->set_entry_uuid(uuid);
  regv1::DocumentEntry* e = c.mutable_entry();
  e->set_entry_uuid(uuid);
  e->mutable_patient()->set_org(org);
  e->mutable_patient()->set_local_id(local);
  e->set_status(deprecated ? regv1::AVAILABILITY_STATUS_DEPRECATED
                           : regv1::AVAILABILITY_STATUS_APPROVED);
  e->mutable_class_code()->set_system("http://loinc.org");
  e->mutable_class_code()->set_code("11502-2");  // laboratory report: lab-results
  e->mutable_creation_time()->set_seconds(submitted - 100);
  e->mutable_submission_time()->set_seconds(submitted);
  return c;
}

regv1::ListChangesResponse LocatorOperationsTest::Page(std::vector<regv1::EntryChange> changes) {
  regv1::ListChangesResponse page;
  for (auto& c : changes) *page.add_changes() = std::move(c);
  if (page.changes_size() > 0) *page.mutable_next_after() = page.changes().rbegin()->position();
  return page;
}

v1::LocateResponse LocatorOperationsTest::Locate(
    const std::vector<std::pair<std::string, std::string>>& ids) {
  v1::LocateRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  for (const auto& [org, local] : ids) {
    auto* id = r.add_source_ids();
    id->set_org(org);
    id->set_local_id(local);
  }
  auto out = ops_->Locate(r, Deadline());
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : v1::LocateResponse();
}

v1::RecordLocation LocatorOperationsTest::LocationOf(const std::string& org,
                                                     const std::string& local) {
  v1::LocateResponse r = Locate({{org, local}});
  return r.locations().empty() ? v1::RecordLocation() : r.locations(0);
}

absl::Status LocatorOperationsTest::Delete(const std::string& org, const std::string& local,
                                           v1::RemovalReason reason, const std::string& key) {
  v1::DeleteLocationRequest r;
  r.mutable_context()->set_request_id("req-d");
  r.mutable_source_id()->set_org(org);
  r.mutable_source_id()->set_local_id(local);
  r.set_reason_code(reason);
  r.set_reason("ticket 42");
  r.set_idempotency_key(key);
  return ops_->Remove(operator_, r, Deadline()).status();
}

namespace {

using idv1::IDENTITY_EVENT_TYPE_PERSON_CREATED;
using idv1::IDENTITY_EVENT_TYPE_RECORD_CREATED;
using idv1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED;
using idv1::IDENTITY_EVENT_TYPE_RECORD_UPDATED;

TEST_P(LocatorOperationsTest, TheIdentityFeedCreatesHoldingsAndAReplayChangesNothing) {
  std::vector<idv1::IdentityEvent> events = {
      IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "clinic-a", "MRN-1", 1000),
      IdentityEvent(2, IDENTITY_EVENT_TYPE_PERSON_CREATED, "clinic-a", "MRN-1", 1000),
      IdentityEvent(3, IDENTITY_EVENT_TYPE_RECORD_UPDATED, "clinic-a", "MRN-1", 3000),
      IdentityEvent(4, IDENTITY_EVENT_TYPE_RECORD_CREATED, "clinic-b", "B-9", 2000)};
  ASSERT_TRUE(ops_->ApplyIdentityEvents(events, Deadline()).ok());
  const std::string before = Locate({{"clinic-a", "MRN-1"}, {"clinic-b", "B-9"}}).DebugString();
  ASSERT_TRUE(ops_->ApplyIdentityEvents(events, Deadline()).ok());  // replayed whole
  EXPECT_EQ(Locate({{"clinic-a", "MRN-1"}, {"clinic-b", "B-9"}}).DebugString(), before);
  EXPECT_EQ(*ops_->IdentityPosition(Deadline()), 4);

  v1::LocateResponse both = Locate({{"clinic-b", "B-9"}, {"clinic-a", "MRN-1"}, {"x", "y"}});
  ASSERT_EQ(both.locations_size(), 2);
  EXPECT_EQ(both.locations(0).source_id().org(), "clinic-a");  // most recent activity first
  EXPECT_EQ(both.locations(0).last_activity_time().seconds(), 3000);
  EXPECT_EQ(both.locations(0).first_seen_time().seconds(), 1000);
  EXPECT_TRUE(both.locations(0).identity_record());
  EXPECT_EQ(both.locations(0).document_count(), 0);
  ASSERT_EQ(both.locations(0).origins_size(), 1);
  EXPECT_EQ(both.locations(0).origins(0), v1::LOCATION_ORIGIN_IDENTITY_FEED);
}

TEST_P(LocatorOperationsTest, PublicationsAreCountedOnceAndDeprecationLowersTheCount) {
  ASSERT_TRUE(ops_->ApplyRegistryChanges(Page({Change(1, "urn:uuid:e1", "clinic-a", "M", 5000),
                                               Change(1, "urn:uuid:e2", "clinic-a", "M", 6000)}),
                                         Deadline())
                  .ok());
  // A replay of the same page, and a page repeating e1 at a later position (the same entry seen
  // again, still approved), count nothing more.
  ASSERT_TRUE(ops_->ApplyRegistryChanges(Page({Change(1, "urn:uuid:e1", "clinic-a", "M", 5000),
                                               Change(1, "urn:uuid:e2", "clinic-a", "M", 6000)}),
                                         Deadline())
                  .ok());
  ASSERT_TRUE(ops_->ApplyRegistryChanges(Page({Change(2, "urn:uuid:e1", "clinic-a", "M", 5000)}),
                                         Deadline())
                  .ok());
  v1::RecordLocation l = LocationOf("clinic-a", "M");
  EXPECT_EQ(l.document_count(), 2);
  EXPECT_FALSE(l.identity_record());
  EXPECT_EQ(l.last_activity_time().seconds(), 5900);  // e2's creation time
  ASSERT_EQ(l.origins_size(), 1);
  EXPECT_EQ(l.origins(0), v1::LOCATION_ORIGIN_DOCUMENT_PUBLICATION);
  bool lab = false;
  for (const auto& c : l.data_categories()) lab |= c.code() == "lab-results";
  EXPECT_TRUE(lab);

  ASSERT_TRUE(ops_->ApplyRegistryChanges(
                      Page({Change(3, "urn:uuid:e1", "clinic-a", "M", 5000, /*deprecated=*/true)}),
                      Deadline())
                  .ok());
  ASSERT_TRUE(ops_->ApplyRegistryChanges(
                      Page({Change(4, "urn:uuid:e1", "clinic-a", "M", 5000, /*deprecated=*/true)}),
                      Deadline())
                  .ok());
  EXPECT_EQ(LocationOf("clinic-a", "M").document_count(), 1);
  // The last document withdrawn, with no identity record: the holding disappears.
  ASSERT_TRUE(ops_->ApplyRegistryChanges(
                      Page({Change(5, "urn:uuid:e2", "clinic-a", "M", 6000, /*deprecated=*/true)}),
                      Deadline())
                  .ok());
  EXPECT_EQ(Locate({{"clinic-a", "M"}}).locations_size(), 0);
  auto position = ops_->RegistryPosition(Deadline());
  ASSERT_TRUE(position.ok());
  EXPECT_EQ(position->version(), 5);
  EXPECT_EQ(position->entry_uuid(), "urn:uuid:e2");
}

TEST_P(LocatorOperationsTest, AnEntryWithdrawnBeforeItWasSeenIsNeverCounted) {
  ASSERT_TRUE(ops_->ApplyRegistryChanges(
                      Page({Change(1, "urn:uuid:e1", "clinic-a", "M", 5000, /*deprecated=*/true)}),
                      Deadline())
                  .ok());
  EXPECT_EQ(Locate({{"clinic-a", "M"}}).locations_size(), 0);
}

TEST_P(LocatorOperationsTest, ARecordSupersededAtItsSourceLosesItsIdentityRecord) {
  ASSERT_TRUE(ops_->ApplyIdentityEvents(
                      {IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "old", 1000),
                       IdentityEvent(2, IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED, "c", "old", 2000)},
                      Deadline())
                  .ok());
  EXPECT_EQ(Locate({{"c", "old"}}).locations_size(), 0);
}

TEST_P(LocatorOperationsTest, APatientsRemovalIsNeverUndoneByFeedsOrReports) {
  ASSERT_TRUE(
      ops_->ApplyIdentityEvents(
              {IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "P", 1000)}, Deadline())
          .ok());
  ASSERT_TRUE(Delete("c", "P", v1::REMOVAL_REASON_PATIENT_REQUEST, "k1").ok());
  EXPECT_EQ(Locate({{"c", "P"}}).locations_size(), 0);
  // New evidence, after the removal, from every origin.
  now_ += absl::Hours(1);
  const int64_t later = absl::ToUnixSeconds(now_);
  ASSERT_TRUE(ops_->ApplyIdentityEvents(
                      {IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "P", 1000),
                       IdentityEvent(2, IDENTITY_EVENT_TYPE_RECORD_UPDATED, "c", "P", later)},
                      Deadline())
                  .ok());
  ASSERT_TRUE(
      ops_->ApplyRegistryChanges(Page({Change(1, "urn:uuid:p1", "c", "P", later)}), Deadline())
          .ok());
  v1::ReportActivityRequest report;
  report.mutable_context()->set_request_id("req-r");
  report.mutable_source_id()->set_org("c");
  report.mutable_source_id()->set_local_id("P");
  report.set_origin(v1::LOCATION_ORIGIN_ADMIN);
  report.set_idempotency_key("r1");
  EXPECT_EQ(ops_->Report(operator_, report, Deadline()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Locate({{"c", "P"}}).locations_size(), 0);
  // A patient's request also holds for a record the locator has not heard of yet.
  ASSERT_TRUE(Delete("c", "unseen", v1::REMOVAL_REASON_PATIENT_REQUEST, "k2").ok());
  ASSERT_TRUE(ops_->ApplyIdentityEvents(
                      {IdentityEvent(3, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "unseen", later)},
                      Deadline())
                  .ok());
  EXPECT_EQ(Locate({{"c", "unseen"}}).locations_size(), 0);
  // The tombstones are listed for operators, with their reason.
  v1::ListLocationsRequest list;
  list.mutable_context()->set_request_id("req-l");
  list.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  list.set_org("c");
  list.set_include_removed(true);
  auto listed = ops_->List(operator_, list, Deadline());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->locations_size(), 2);
  EXPECT_EQ(listed->locations(0).removal().reason_code(), v1::REMOVAL_REASON_PATIENT_REQUEST);
  EXPECT_EQ(listed->locations(0).removal().reason(), "ticket 42");
  EXPECT_EQ(listed->locations(0).removal().removed_by().role(), common::v1::ROLE_HIE_OPERATOR);
}

TEST_P(LocatorOperationsTest, AMembersRemovalIsUndoneByNewerEvidenceOnly) {
  ASSERT_TRUE(
      ops_->ApplyIdentityEvents(
              {IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "M", 1000)}, Deadline())
          .ok());
  ASSERT_TRUE(
      ops_->ApplyRegistryChanges(Page({Change(1, "urn:uuid:m1", "c", "M", 1500)}), Deadline())
          .ok());
  ASSERT_TRUE(Delete("c", "M", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "k1").ok());
  EXPECT_EQ(Delete("c", "M", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "k2").code(),
            absl::StatusCode::kNotFound);  // already removed
  EXPECT_TRUE(Delete("c", "M", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "k1").ok());  // retry
  // Older evidence (the feed replayed from scratch into a fresh position) does not revive it.
  ASSERT_TRUE(
      ops_->ApplyRegistryChanges(Page({Change(2, "urn:uuid:m2", "c", "M", 1600)}), Deadline())
          .ok());
  EXPECT_EQ(Locate({{"c", "M"}}).locations_size(), 0);
  // A publication submitted after the removal does, with every count exact.
  const int64_t later = absl::ToUnixSeconds(now_) + 60;
  ASSERT_TRUE(
      ops_->ApplyRegistryChanges(Page({Change(3, "urn:uuid:m3", "c", "M", later)}), Deadline())
          .ok());
  v1::RecordLocation l = LocationOf("c", "M");
  EXPECT_FALSE(l.has_removal());
  EXPECT_EQ(l.document_count(), 3);
  // A member's removal may become a patient's request, not the other way round.
  ASSERT_TRUE(Delete("c", "M", v1::REMOVAL_REASON_PATIENT_REQUEST, "k3").ok());
  EXPECT_EQ(Delete("c", "M", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "k4").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Delete("c", "never", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "k5").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(LocatorOperationsTest, ReportsAreIdempotentAndMembersReportTheirOwnRecordsOnly) {
  v1::ReportActivityRequest r;
  r.mutable_context()->set_request_id("req-r");
  r.mutable_source_id()->set_org("clinic-a");
  r.mutable_source_id()->set_local_id("MRN-7");
  r.set_origin(v1::LOCATION_ORIGIN_ADMIN);
  r.set_documents_added(3);
  r.mutable_activity_time()->set_seconds(1'700'000'000);
  auto* c = r.add_data_categories();
  c->set_system("urn:hie:data-category");
  c->set_code("imaging");
  r.set_idempotency_key("bulk-1");
  auto first = ops_->Report(operator_, r, Deadline());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->document_count(), 3);
  auto again = ops_->Report(operator_, r, Deadline());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(LocationOf("clinic-a", "MRN-7").document_count(), 3);
  r.set_documents_added(4);
  EXPECT_EQ(ops_->Report(operator_, r, Deadline()).status().code(),
            absl::StatusCode::kAlreadyExists);
  const Actor member{"clinic-b", common::v1::ROLE_MEMBER_SYSTEM, "emr"};
  r.set_idempotency_key("bulk-2");
  EXPECT_EQ(ops_->Report(member, r, Deadline()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Categories filter: imaging passes, labs do not, and unknown categories always pass.
  v1::LocateRequest q;
  q.mutable_context()->set_request_id("req-q");
  q.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  *q.add_source_ids() = r.source_id();
  *q.add_data_categories() = *c;
  EXPECT_EQ(ops_->Locate(q, Deadline())->locations_size(), 1);
  q.mutable_data_categories(0)->set_code("lab-results");
  EXPECT_EQ(ops_->Locate(q, Deadline())->locations_size(), 0);
  q.mutable_active_since()->set_seconds(1'700'000'001);
  q.clear_data_categories();
  EXPECT_EQ(ops_->Locate(q, Deadline())->locations_size(), 0);
}

TEST_P(LocatorOperationsTest, ListPagesAreStableAndBoundToTheirQuery) {
  std::vector<idv1::IdentityEvent> events;
  for (int i = 0; i < 7; ++i) {
    events.push_back(IdentityEvent(i + 1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "org",
                                   "R" + std::to_string(i), 1000 + (i % 3)));
  }
  ASSERT_TRUE(ops_->ApplyIdentityEvents(events, Deadline()).ok());
  v1::ListLocationsRequest r;
  r.mutable_context()->set_request_id("req-l");
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  r.set_org("org");
  r.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto got = ops_->List(operator_, r, Deadline());
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& l : got->locations()) seen.push_back(l.source_id().local_id());
    if (got->next_page_token().empty()) break;
    r.set_page_token(got->next_page_token());
    // New holdings arriving between pages do not disturb the rest of the listing.
    ASSERT_TRUE(
        ops_->ApplyIdentityEvents({IdentityEvent(100 + page, IDENTITY_EVENT_TYPE_RECORD_CREATED,
                                                 "org", "new" + std::to_string(page), 9000)},
                                  Deadline())
            .ok());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"R5", "R2", "R4", "R1", "R6", "R3", "R0"}));
  r.set_org("other");
  EXPECT_EQ(ops_->List(operator_, r, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Found by locator_fuzz: a holding made of a feed's empty or control-character local id could
// not be paged past (its page token was refused), so ListLocations stopped at it.
TEST_P(LocatorOperationsTest, FeedSourceIdsThatAreNotIdsMakeNoHolding) {
  ASSERT_TRUE(ops_->ApplyIdentityEvents(
                      {IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "ok-1", 3000),
                       IdentityEvent(2, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "", 2000),
                       IdentityEvent(3, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "x\x01y", 2000),
                       IdentityEvent(4, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "ok-2", 1000)},
                      Deadline())
                  .ok());
  ASSERT_TRUE(ops_->ApplyRegistryChanges(Page({Change(1, "urn:uuid:e1", "c", "", 1500),
                                               Change(2, "urn:uuid:e2", "c", "sp ace", 1500),
                                               Change(3, "urn:uuid:e3", "c", "ok-2", 1500)}),
                                         Deadline())
                  .ok());
  EXPECT_EQ(*ops_->IdentityPosition(Deadline()), 4);
  EXPECT_EQ(ops_->RegistryPosition(Deadline())->version(), 3);
  v1::ListLocationsRequest r;
  r.mutable_context()->set_request_id("req-l");
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  r.set_org("c");
  r.set_page_size(1);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto got = ops_->List(operator_, r, Deadline());
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& l : got->locations()) seen.push_back(l.source_id().local_id());
    if (got->next_page_token().empty()) break;
    r.set_page_token(got->next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ok-1", "ok-2"}));
  EXPECT_EQ(LocationOf("c", "ok-2").document_count(), 1);
}

TEST_P(LocatorOperationsTest, InvalidRequestsNameTheFieldAndChangeNothing) {
  v1::ReportActivityRequest r;
  r.mutable_context()->set_request_id("req-r");
  r.mutable_source_id()->set_org("clinic-a");
  r.mutable_source_id()->set_local_id("MRN 31337");
  r.set_origin(v1::LOCATION_ORIGIN_ADMIN);
  r.set_idempotency_key("k");
  auto bad = ops_->Report(operator_, r, Deadline());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("source_id.local_id"), std::string::npos);
  EXPECT_EQ(bad.status().message().find("31337"), std::string::npos);  // never the value
  v1::DeleteLocationRequest d;
  d.mutable_context()->set_request_id("req-d");
  *d.mutable_source_id() = r.source_id();
  d.mutable_source_id()->set_local_id("ok");
  d.set_reason("x");
  d.set_idempotency_key("k");
  auto no_code = ops_->Remove(operator_, d, Deadline());
  EXPECT_NE(no_code.status().message().find("reason_code"), std::string::npos);
  v1::LocateRequest q;
  q.mutable_context()->set_request_id("req-q");
  EXPECT_NE(ops_->Locate(q, Deadline()).status().message().find("purpose_of_use"),
            std::string::npos);
  auto stored = store_->Get(Deadline(), {{"clinic-a", "MRN 31337"}, {"clinic-a", "ok"}});
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->empty());
  v1::ListLocationsRequest list;
  list.mutable_context()->set_request_id("req-l");
  list.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  list.set_org("clinic-a");
  list.set_page_token("0123456789abcdef.12.x");
  auto forged = ops_->List(operator_, list, Deadline());
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(forged.status().message().find("page_token"), std::string::npos);
}

TEST_P(LocatorOperationsTest, MembersListAndReportOnlyWhatIsTheirs) {
  const Actor member{"clinic-a", common::v1::ROLE_CLINICIAN, "dr"};
  v1::ListLocationsRequest list;
  list.mutable_context()->set_request_id("req-l");
  list.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  list.set_org("clinic-b");
  EXPECT_EQ(ops_->List(member, list, Deadline()).status().code(),
            absl::StatusCode::kPermissionDenied);
  list.set_org("clinic-a");
  EXPECT_TRUE(ops_->List(member, list, Deadline()).ok());
  const Actor patient{"clinic-a", common::v1::ROLE_PATIENT, "p"};
  EXPECT_EQ(ops_->List(patient, list, Deadline()).status().code(),
            absl::StatusCode::kPermissionDenied);

  v1::ReportActivityRequest r;
  r.mutable_context()->set_request_id("req-r");
  r.mutable_source_id()->set_org("clinic-a");
  r.mutable_source_id()->set_local_id("M1");
  r.set_origin(v1::LOCATION_ORIGIN_IDENTITY_FEED);
  r.set_idempotency_key("k1");
  EXPECT_EQ(ops_->Report(member, r, Deadline()).status().code(),
            absl::StatusCode::kPermissionDenied);  // members report as ADMIN only
  // An operator's report of another origin keeps nothing listed by itself.
  auto reported = ops_->Report(operator_, r, Deadline());
  ASSERT_TRUE(reported.ok()) << reported.status();
  EXPECT_EQ(Locate({{"clinic-a", "M1"}}).locations_size(), 0);
  r.set_origin(v1::LOCATION_ORIGIN_ADMIN);
  r.set_idempotency_key("k2");
  r.mutable_activity_time()->set_seconds(absl::ToUnixSeconds(now_ + absl::Hours(25)));
  auto future = ops_->Report(operator_, r, Deadline());
  EXPECT_EQ(future.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(future.status().message().find("activity_time"), std::string::npos);
}

TEST_P(LocatorOperationsTest, TheIdentityFeedLiftsAMembersRemovalOnlyFromLaterAndNewer) {
  const int64_t before = absl::ToUnixSeconds(now_) - 60;
  const int64_t after = absl::ToUnixSeconds(now_) + 60;
  ASSERT_TRUE(
      ops_->ApplyIdentityEvents(
              {IdentityEvent(1, IDENTITY_EVENT_TYPE_RECORD_CREATED, "c", "M", before)}, Deadline())
          .ok());
  ASSERT_TRUE(Delete("c", "M", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "k1").ok());
  // An event the locator had not applied yet at the removal, from before it: still removed.
  ASSERT_TRUE(
      ops_->ApplyIdentityEvents(
              {IdentityEvent(2, IDENTITY_EVENT_TYPE_RECORD_UPDATED, "c", "M", before)}, Deadline())
          .ok());
  EXPECT_EQ(Locate({{"c", "M"}}).locations_size(), 0);
  // A new version after the removal lifts it.
  ASSERT_TRUE(
      ops_->ApplyIdentityEvents(
              {IdentityEvent(3, IDENTITY_EVENT_TYPE_RECORD_UPDATED, "c", "M", after)}, Deadline())
          .ok());
  v1::RecordLocation l = LocationOf("c", "M");
  EXPECT_EQ(l.source_id().local_id(), "M");
  EXPECT_FALSE(l.has_removal());
}

}  // namespace
}  // namespace hie::locator
