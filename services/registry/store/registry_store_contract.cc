#include "services/registry/store/registry_store_contract.h"

#include <set>
#include <string>
#include <vector>

#include "services/registry/core/test_entries.h"

namespace hie::registry {
namespace {

using common::v1::Coding;

// An APPROVED entry as the submission plan makes them: uuid "urn:uuid:<name>", unique id
// "1.2.<name>", created at `created` seconds, of patient (clinic-a, <patient>).
v1::DocumentEntry Entry(const std::string& name, int64_t created,
                        const std::string& patient = "MRN-1") {
  v1::DocumentEntry e = testing::ValidEntry("1.2." + name);
  e.set_entry_uuid("urn:uuid:" + name);
  e.set_logical_id(e.entry_uuid());
  e.set_version(1);
  e.set_status(v1::AVAILABILITY_STATUS_APPROVED);
  e.mutable_patient()->set_local_id(patient);
  e.mutable_creation_time()->set_seconds(created);
  e.set_submission_set_id("urn:uuid:set-" + name);
  return e;
}

v1::SubmissionSet Set(const std::string& name) {
  v1::SubmissionSet s;
  s.set_id("urn:uuid:set-" + name);
  s.set_unique_id("9.9." + name);
  s.set_source_org("clinic-a");
  s.mutable_submission_time()->set_seconds(1'750'000'000);
  return s;
}

v1::Association Assoc(const std::string& id, v1::AssociationType type, const std::string& source,
                      const std::string& target) {
  v1::Association a;
  a.set_id("urn:uuid:" + id);
  a.set_type(type);
  a.set_source("urn:uuid:" + source);
  a.set_target_entry_uuid("urn:uuid:" + target);
  return a;
}

Coding Code(const std::string& system, const std::string& code) {
  Coding c;
  c.set_system(system);
  c.set_code(code);
  return c;
}

common::v1::SourceId Patient(const std::string& local_id) {
  common::v1::SourceId p;
  p.set_org("clinic-a");
  p.set_local_id(local_id);
  return p;
}

std::vector<std::string> Uuids(const std::vector<v1::DocumentEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.entry_uuid().substr(9));  // past "urn:uuid:"
  return out;
}

TEST_P(RegistryStoreContractTest, InsertedEntriesAreFoundByUuidAndUniqueId) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100), Entry("b", 200)}).ok());
  auto got =
      store_->GetDocuments(Deadline(), {{"urn:uuid:a", "urn:uuid:nope"}, {"1.2.b", "1.2.x"}});
  ASSERT_TRUE(got.ok()) << got.status();
  std::set<std::string> ids;
  for (const auto& e : *got) ids.insert(e.entry_uuid());
  EXPECT_EQ(ids, (std::set<std::string>{"urn:uuid:a", "urn:uuid:b"}));
  for (const auto& e : *got) {
    if (e.entry_uuid() == "urn:uuid:a") {
      v1::DocumentEntry want = Entry("a", 100);
      EXPECT_EQ(e.SerializeAsString(), want.SerializeAsString()) << "stored entry reads back whole";
    }
  }
}

v1::DocumentLocation Location(const std::string& org, const std::string& repository,
                              const std::string& key) {
  v1::DocumentLocation l;
  l.set_member_org(org);
  l.set_repository_unique_id(repository);
  l.set_retrieve_key(key);
  return l;
}

std::set<std::string> UuidSet(const absl::StatusOr<std::vector<v1::DocumentEntry>>& got) {
  EXPECT_TRUE(got.ok()) << got.status();
  std::set<std::string> out;
  if (!got.ok()) return out;
  for (const auto& e : *got) {
    EXPECT_TRUE(out.insert(e.entry_uuid().substr(9)).second) << "once: " << e.entry_uuid();
  }
  return out;
}

TEST_P(RegistryStoreContractTest, EntriesAreFoundByLocation) {
  v1::DocumentEntry keyed = Entry("keyed", 100);  // Entry's location: clinic-a, 1.2.3.4
  keyed.mutable_location()->set_retrieve_key("doc-1");
  v1::DocumentEntry defaulted = Entry("defaulted", 200);  // no retrieve key: its unique id
  v1::DocumentEntry elsewhere = Entry("elsewhere", 300);
  elsewhere.mutable_location()->set_repository_unique_id("1.2.3.5");
  elsewhere.mutable_location()->set_retrieve_key("doc-1");
  v1::DocumentEntry shared = Entry("shared", 400);  // a key two entries share
  shared.mutable_location()->set_retrieve_key("doc-1");
  ASSERT_TRUE(Publish("s1", {keyed, defaulted, elsewhere}).ok());
  ASSERT_TRUE(Publish("s2", {shared}).ok());
  ASSERT_TRUE(Txn([](RegistryTxn& txn) {
                return txn.Deprecate("urn:uuid:shared", absl::FromUnixSeconds(500), "");
              }).ok());

  auto by = [&](std::vector<v1::DocumentLocation> locations) {
    return UuidSet(store_->GetDocuments(Deadline(), {.locations = std::move(locations)}));
  };
  EXPECT_EQ(by({Location("clinic-a", "1.2.3.4", "doc-1")}),
            (std::set<std::string>{"keyed", "shared"}))
      << "every entry at the location, deprecated ones too";
  EXPECT_EQ(by({Location("clinic-a", "1.2.3.4", "1.2.defaulted")}),
            (std::set<std::string>{"defaulted"}))
      << "no retrieve key: found by its unique id";
  EXPECT_EQ(by({Location("clinic-a", "1.2.3.5", "doc-1"), Location("clinic-a", "1.2.3.4", "x")}),
            (std::set<std::string>{"elsewhere"}));
  EXPECT_TRUE(by({Location("clinic-b", "1.2.3.4", "doc-1")}).empty()) << "another member";
  EXPECT_TRUE(by({Location("clinic-a", "1.2.3.9", "doc-1")}).empty()) << "another repository";
  EXPECT_TRUE(by({Location("clinic-a", "1.2.3.4", "DOC-1")}).empty()) << "keys are exact";
  EXPECT_TRUE(by({Location("clinic-a", "1.2.3.4", "")}).empty());

  DocumentKeys mixed{.entry_uuids = {"urn:uuid:keyed"},
                     .unique_ids = {"1.2.defaulted", "1.2.keyed"},
                     .locations = {Location("clinic-a", "1.2.3.4", "doc-1")}};
  EXPECT_EQ(UuidSet(store_->GetDocuments(Deadline(), mixed)),
            (std::set<std::string>{"keyed", "defaulted", "shared"}))
      << "any key names an entry; each entry once";
  auto whole =
      store_->GetDocuments(Deadline(), {.locations = {Location("clinic-a", "1.2.3.5", "doc-1")}});
  ASSERT_TRUE(whole.ok() && whole->size() == 1);
  EXPECT_EQ(whole->at(0).SerializeAsString(), elsewhere.SerializeAsString());
}

TEST_P(RegistryStoreContractTest, ATakenUniqueIdFailsAndTheTransactionLeavesNothing) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100)}).ok());
  v1::DocumentEntry again = Entry("c", 300);
  again.set_unique_id("1.2.a");
  absl::Status s = Publish("s2", {Entry("b", 200), again});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  auto got = store_->GetDocuments(Deadline(), {.entry_uuids = {"urn:uuid:b", "urn:uuid:c"}});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty()) << "nothing of the failed submission stays";
  EXPECT_EQ(Publish("s1", {Entry("d", 100)}).code(), absl::StatusCode::kAlreadyExists)
      << "a submission set id is taken once";
}

TEST_P(RegistryStoreContractTest, AFailedTransactionLeavesNothing) {
  absl::Status s = Txn([&](RegistryTxn& txn) -> absl::Status {
    EXPECT_TRUE(txn.Insert(Set("s1"), {Entry("a", 100)}, {}).ok());
    EXPECT_TRUE(txn.PutIdempotent("k", {"f", "r"}).ok());
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Find({}).empty());
  EXPECT_TRUE(Txn([&](RegistryTxn& txn) -> absl::Status {
                auto got = txn.GetIdempotent("k");
                EXPECT_TRUE(got.ok() && !got->has_value());
                return absl::OkStatus();
              }).ok());
}

TEST_P(RegistryStoreContractTest, IdempotencyRecords) {
  ASSERT_TRUE(Txn([](RegistryTxn& txn) { return txn.PutIdempotent("k", {"f", "r"}); }).ok());
  EXPECT_EQ(Txn([](RegistryTxn& txn) {
              return txn.PutIdempotent("k", {"g", "s"});
            }).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(Txn([](RegistryTxn& txn) -> absl::Status {
                auto got = txn.GetIdempotent("k");
                EXPECT_TRUE(got.ok() && got->has_value());
                if (got.ok() && got->has_value()) {
                  EXPECT_EQ((*got)->fingerprint, "f");
                  EXPECT_EQ((*got)->response, "r");
                }
                return absl::OkStatus();
              }).ok());
}

TEST_P(RegistryStoreContractTest, ReadsInsideATransaction) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100), Entry("b", 200)},
                      {Assoc("x", v1::ASSOCIATION_TYPE_APPEND, "b", "a")})
                  .ok());
  ASSERT_TRUE(Txn([](RegistryTxn& txn) -> absl::Status {
                auto by_unique = txn.EntriesByUniqueId({"1.2.a", "1.2.zz"});
                EXPECT_TRUE(by_unique.ok());
                EXPECT_EQ(by_unique->size(), 1u);
                EXPECT_EQ(by_unique->at("1.2.a").entry_uuid(), "urn:uuid:a");
                auto locked = txn.LockEntries({"urn:uuid:b", "urn:uuid:zz"});
                EXPECT_TRUE(locked.ok());
                EXPECT_EQ(locked->size(), 1u);
                EXPECT_EQ(locked->at("urn:uuid:b").unique_id(), "1.2.b");
                auto from = txn.AssociationsFrom({"urn:uuid:b", "urn:uuid:a"});
                EXPECT_TRUE(from.ok());
                EXPECT_EQ(*from, (std::set<std::tuple<int, std::string, std::string>>{
                                     {v1::ASSOCIATION_TYPE_APPEND, "urn:uuid:b", "urn:uuid:a"}}));
                return absl::OkStatus();
              }).ok());
}

TEST_P(RegistryStoreContractTest, DeprecateChangesStatusTimeAndReplacement) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100)}).ok());
  const absl::Time at = absl::FromUnixSeconds(1'760'000'000);
  ASSERT_TRUE(
      Txn([&](RegistryTxn& txn) { return txn.Deprecate("urn:uuid:a", at, "urn:uuid:b"); }).ok());
  auto got = store_->GetDocuments(Deadline(), {.entry_uuids = {"urn:uuid:a"}});
  ASSERT_TRUE(got.ok() && got->size() == 1);
  EXPECT_EQ(got->at(0).status(), v1::AVAILABILITY_STATUS_DEPRECATED);
  EXPECT_EQ(got->at(0).deprecate_time().seconds(), 1'760'000'000);
  EXPECT_EQ(got->at(0).replaced_by_entry_uuid(), "urn:uuid:b");
  EXPECT_EQ(Txn([&](RegistryTxn& txn) { return txn.Deprecate("urn:uuid:zz", at, ""); }).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(RegistryStoreContractTest, FindNewestFirstApprovedByDefault) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100), Entry("b", 300), Entry("c", 200),
                             Entry("other", 400, "MRN-2")})
                  .ok());
  ASSERT_TRUE(Txn([&](RegistryTxn& txn) {
                return txn.Deprecate("urn:uuid:c", absl::FromUnixSeconds(500), "");
              }).ok());
  EXPECT_EQ(Find({}), (std::vector<std::string>{"b", "a"}));
  DocumentFilter both;
  both.statuses = {v1::AVAILABILITY_STATUS_APPROVED, v1::AVAILABILITY_STATUS_DEPRECATED};
  EXPECT_EQ(Find(both), (std::vector<std::string>{"b", "c", "a"}));
  DocumentFilter deprecated;
  deprecated.statuses = {v1::AVAILABILITY_STATUS_DEPRECATED};
  EXPECT_EQ(Find(deprecated), (std::vector<std::string>{"c"}));
  DocumentFilter two;
  two.patients = {Patient("MRN-1"), Patient("MRN-2")};
  EXPECT_EQ(Find(two), (std::vector<std::string>{"other", "b", "a"}));
  DocumentFilter nobody;
  nobody.patients = {Patient("MRN-9")};
  EXPECT_TRUE(Find(nobody).empty());
}

// A page is filled past newer entries of another status, across patients, and only entries in
// status count against the bound.
TEST_P(RegistryStoreContractTest, APageFillsPastNewerEntriesOfAnotherStatus) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100), Entry("b", 200), Entry("c", 300), Entry("d", 400),
                             Entry("e", 500), Entry("x", 250, "MRN-2"), Entry("y", 450, "MRN-2")})
                  .ok());
  for (const char* newest : {"urn:uuid:e", "urn:uuid:d", "urn:uuid:y"}) {
    ASSERT_TRUE(Txn([&](RegistryTxn& txn) {
                  return txn.Deprecate(newest, absl::FromUnixSeconds(600), "");
                }).ok());
  }
  DocumentFilter f;
  f.patients = {Patient("MRN-1"), Patient("MRN-2")};
  f.limit = 2;
  EXPECT_EQ(Find(f), (std::vector<std::string>{"c", "x"}));
  f.after = {250'000'000'000, "urn:uuid:x"};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"b", "a"}));
  f.after.reset();
  f.limit = 3;
  f.statuses = {v1::AVAILABILITY_STATUS_DEPRECATED};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"e", "y", "d"}));
  f.statuses = {};
  f.max_scanned = 2;
  EXPECT_EQ(store_->FindDocuments(Deadline(), f).status().code(),
            absl::StatusCode::kResourceExhausted)
      << "entries of another status do not count against the bound; three in status do";
  f.max_scanned = 3;
  EXPECT_EQ(Find(f), (std::vector<std::string>{"c", "x", "b"}));
}

TEST_P(RegistryStoreContractTest, FiltersCombine) {
  v1::DocumentEntry lab = Entry("lab", 100);
  lab.mutable_class_code()->set_code("11502-2");
  *lab.add_confidentiality_codes() =
      Code("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV");
  *lab.add_event_codes() = Code("http://snomed.info/sct", "123");
  lab.mutable_service_start_time()->set_seconds(50);
  lab.mutable_service_stop_time()->set_seconds(60);
  lab.add_authors()->set_institution("Clinic A Laboratory");
  *lab.mutable_practice_setting_code() = Code("http://snomed.info/sct", "lab");
  v1::DocumentEntry note = Entry("note", 200);
  note.mutable_format_code()->set_code("urn:other");
  note.add_authors()->set_institution("Clinic A Cardiology");
  *note.mutable_healthcare_facility_type_code() = Code("http://snomed.info/sct", "hosp");
  ASSERT_TRUE(Publish("s1", {lab, note}).ok());

  DocumentFilter f;
  f.class_codes = {Code("http://loinc.org", "11502-2"), Code("http://loinc.org", "0000-0")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"lab"}));
  f = {};
  f.class_codes = {Code("urn:other-system", "11502-2")};
  EXPECT_TRUE(Find(f).empty()) << "codings compare by system and code";
  f = {};
  f.type_codes = {Code("http://loinc.org", "11488-4")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"note", "lab"}));
  f.format_codes = {Code("urn:ihe:format", "urn:other")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"note"})) << "filters combine";
  f = {};
  f.confidentiality_codes = {Code("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"lab"}));
  f = {};
  f.event_codes = {Code("http://snomed.info/sct", "123")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"lab"}));
  f = {};
  f.practice_setting_codes = {Code("http://snomed.info/sct", "lab")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"lab"}));
  f = {};
  f.facility_type_codes = {Code("http://snomed.info/sct", "hosp")};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"note"}));
  f = {};
  f.creation_from = absl::FromUnixSeconds(100);
  f.creation_before = absl::FromUnixSeconds(200);
  EXPECT_EQ(Find(f), (std::vector<std::string>{"lab"})) << "[from, before)";
  f = {};
  f.service_start_from = absl::FromUnixSeconds(0);
  EXPECT_EQ(Find(f), (std::vector<std::string>{"lab"})) << "no service time: no match";
  f = {};
  f.service_stop_before = absl::FromUnixSeconds(60);
  EXPECT_TRUE(Find(f).empty());
  f = {};
  f.author_institution = "cardio";
  EXPECT_EQ(Find(f), (std::vector<std::string>{"note"})) << "substring, case-insensitive";
  f.author_institution = "clinic a";
  EXPECT_EQ(Find(f), (std::vector<std::string>{"note", "lab"}));
}

TEST_P(RegistryStoreContractTest, PagingIsStableWhilePublicationsContinue) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100), Entry("b", 200), Entry("c", 200), Entry("d", 300),
                             Entry("e", 50)})
                  .ok());
  DocumentFilter f;
  f.limit = 2;
  EXPECT_EQ(Find(f), (std::vector<std::string>{"d", "c"}));  // equal times: uuid descending
  f.after = {200'000'000'000, "urn:uuid:c"};
  // Published between pages: newer than the position, and one at the position's very time.
  ASSERT_TRUE(Publish("s2", {Entry("z", 400), Entry("bb", 200), Entry("ca", 200)}).ok());
  EXPECT_EQ(Find(f), (std::vector<std::string>{"bb", "b"}));
  f.after = {200'000'000'000, "urn:uuid:b"};
  EXPECT_EQ(Find(f), (std::vector<std::string>{"a", "e"}));
  f.after = {50'000'000'000, "urn:uuid:e"};
  EXPECT_TRUE(Find(f).empty());
}

TEST_P(RegistryStoreContractTest, AScanBeyondItsBoundIsTooManyResults) {
  std::vector<v1::DocumentEntry> entries;
  for (int i = 1; i <= 5; ++i) entries.push_back(Entry("e" + std::to_string(i), 100 * i));
  entries[0].mutable_type_code()->set_code("wanted");  // the oldest, e1
  ASSERT_TRUE(Publish("s1", entries).ok());
  DocumentFilter f;
  f.patients = {Patient("MRN-1")};
  f.type_codes = {Code("http://loinc.org", "wanted")};
  f.max_scanned = 4;
  auto found = store_->FindDocuments(Deadline(), f);
  EXPECT_EQ(found.status().code(), absl::StatusCode::kResourceExhausted) << found.status();
  f.max_scanned = 5;
  EXPECT_EQ(Find(f), (std::vector<std::string>{"e1"}));
  f = {};
  f.limit = 2;
  f.max_scanned = 2;
  EXPECT_EQ(Find(f), (std::vector<std::string>{"e5", "e4"})) << "a full page within the bound";
}

TEST_P(RegistryStoreContractTest, RelatedDocumentsBothWays) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100)}).ok());
  ASSERT_TRUE(Publish("s2", {Entry("b", 200), Entry("sig", 200)},
                      {Assoc("x", v1::ASSOCIATION_TYPE_REPLACE, "b", "a"),
                       Assoc("y", v1::ASSOCIATION_TYPE_SIGNS, "sig", "b")})
                  .ok());
  auto related = store_->GetRelated(Deadline(), "urn:uuid:b");
  ASSERT_TRUE(related.ok()) << related.status();
  ASSERT_EQ(related->associations.size(), 2u);
  EXPECT_EQ(related->associations[0].id(), "urn:uuid:x");
  EXPECT_EQ(related->associations[1].id(), "urn:uuid:y");
  std::set<std::string> others;
  for (const auto& e : related->entries) others.insert(e.entry_uuid());
  EXPECT_EQ(others, (std::set<std::string>{"urn:uuid:a", "urn:uuid:sig"}));
  related = store_->GetRelated(Deadline(), "urn:uuid:a");
  ASSERT_TRUE(related.ok());
  EXPECT_EQ(related->associations.size(), 1u);
  EXPECT_EQ(store_->GetRelated(Deadline(), "urn:uuid:zz").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(RegistryStoreContractTest, TheChangeFeedIsCompleteAndResumable) {
  ASSERT_TRUE(Publish("s1", {Entry("a", 100), Entry("b", 200)}).ok());
  ASSERT_TRUE(Publish("s2", {Entry("c", 300)}).ok());
  auto all = store_->ChangesSince(Deadline(), {}, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->at(0).entry.entry_uuid(), "urn:uuid:a");
  EXPECT_LE(all->at(0).position.version, all->at(1).position.version);
  EXPECT_LT(all->at(1).position.version, all->at(2).position.version) << "a later transaction";

  auto page = store_->ChangesSince(Deadline(), {}, 1);  // ends inside the first submission
  ASSERT_TRUE(page.ok() && page->size() == 1);
  auto rest = store_->ChangesSince(Deadline(), page->back().position, 100);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Uuids({rest->at(0).entry, rest->at(1).entry}), (std::vector<std::string>{"b", "c"}));

  const FeedPosition end = all->back().position;
  ASSERT_TRUE(Txn([](RegistryTxn& txn) {
                return txn.Deprecate("urn:uuid:a", absl::FromUnixSeconds(500), "");
              }).ok());
  auto after = store_->ChangesSince(Deadline(), end, 100);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u) << "a deprecation is a change";
  EXPECT_EQ(after->at(0).entry.status(), v1::AVAILABILITY_STATUS_DEPRECATED);
  auto again = store_->ChangesSince(Deadline(), {}, 100);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 3u) << "each entry once, at its latest change";
  EXPECT_EQ(again->back().entry.entry_uuid(), "urn:uuid:a");
}

}  // namespace

absl::Status RegistryStoreContractTest::Publish(const std::string& set,
                                                std::vector<v1::DocumentEntry> entries,
                                                std::vector<v1::Association> associations) {
  return Txn([&](RegistryTxn& txn) { return txn.Insert(Set(set), entries, associations); });
}

std::vector<std::string> RegistryStoreContractTest::Find(DocumentFilter f) {
  if (f.patients.empty()) f.patients = {Patient("MRN-1")};
  auto found = store_->FindDocuments(Deadline(), f);
  EXPECT_TRUE(found.ok()) << found.status();
  return found.ok() ? Uuids(*found) : std::vector<std::string>{};
}

}  // namespace hie::registry
