#include "services/registry/core/validation.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "services/registry/core/test_entries.h"

namespace hie::registry {
namespace {

using testing::ValidEntry;
using testing::ValidSubmission;

struct Case {
  std::string name;
  std::function<void(v1::RegisterSubmissionSetRequest&)> change;
  std::string error;  // the message expected; the field named first
};

TEST(RegistryValidation, ValidSubmissionPasses) {
  EXPECT_TRUE(ValidateRegister(ValidSubmission()).ok());
}

TEST(RegistryValidation, EachRefusalNamesItsField) {
  const std::vector<Case> cases = {
      {"no entries", [](auto& r) { r.clear_entries(); }, "entries is required"},
      {"no key", [](auto& r) { r.clear_idempotency_key(); }, "idempotency_key is required"},
      {"no set id", [](auto& r) { r.mutable_submission_set()->clear_unique_id(); },
       "submission_set.unique_id is required"},
      {"sha1 only",
       [](auto& r) {
         r.mutable_entries(0)->mutable_hash()->set_algorithm(v1::ContentHash::ALGORITHM_SHA1);
         r.mutable_entries(0)->mutable_hash()->set_digest(std::string(20, 'x'));
       },
       "entries[0].hash.algorithm SHA-1 alone is refused"},
      {"short digest", [](auto& r) { r.mutable_entries(0)->mutable_hash()->set_digest("abc"); },
       "entries[0].hash.digest must be the 32 bytes"},
      {"no hash", [](auto& r) { r.mutable_entries(0)->clear_hash(); },
       "entries[0].hash is required"},
      {"no patient", [](auto& r) { r.mutable_entries(0)->clear_patient(); },
       "entries[0].patient is required"},
      {"space in local id",
       [](auto& r) { r.mutable_entries(0)->mutable_patient()->set_local_id("MRN 1"); },
       "entries[0].patient.local_id must be printable ASCII"},
      {"no class", [](auto& r) { r.mutable_entries(0)->clear_class_code(); },
       "entries[0].class_code is required"},
      {"class without system",
       [](auto& r) { r.mutable_entries(0)->mutable_class_code()->clear_system(); },
       "entries[0].class_code.system is required"},
      {"bad mime", [](auto& r) { r.mutable_entries(0)->set_mime_type("pdf"); },
       "entries[0].mime_type must be a MIME type"},
      {"no confidentiality", [](auto& r) { r.mutable_entries(0)->clear_confidentiality_codes(); },
       "entries[0].confidentiality_codes is required"},
      {"no creation time", [](auto& r) { r.mutable_entries(0)->clear_creation_time(); },
       "entries[0].creation_time is required"},
      {"bad nanos", [](auto& r) { r.mutable_entries(0)->mutable_creation_time()->set_nanos(-1); },
       "entries[0].creation_time is not a valid timestamp"},
      {"year 9999",
       [](auto& r) { r.mutable_entries(0)->mutable_creation_time()->set_seconds(253402300799); },
       "entries[0].creation_time is outside 1800-01-01..2199-12-31"},
      {"stop before start",
       [](auto& r) {
         r.mutable_entries(0)->mutable_service_start_time()->set_seconds(100);
         r.mutable_entries(0)->mutable_service_stop_time()->set_seconds(99);
       },
       "entries[0].service_stop_time is before service_start_time"},
      {"zero size", [](auto& r) { r.mutable_entries(0)->set_size_bytes(0); },
       "entries[0].size_bytes must be positive"},
      {"no repository",
       [](auto& r) { r.mutable_entries(0)->mutable_location()->clear_repository_unique_id(); },
       "entries[0].location.repository_unique_id is required"},
      {"bad utf-8 title", [](auto& r) { r.mutable_entries(0)->set_title("caf\xc3"); },
       "entries[0].title is not valid UTF-8"},
      {"escape in author",
       [](auto& r) { r.mutable_entries(0)->add_authors()->set_display_name("Dr \x1b[2J"); },
       "entries[0].authors[0].display_name contains control characters"},
      {"repeated unique id", [](auto& r) { *r.add_entries() = ValidEntry("1.2.3.4.5"); },
       "entries[1].unique_id repeats entries[0]"},
      {"association to nothing",
       [](auto& r) {
         auto* a = r.add_associations();
         a->set_type(v1::ASSOCIATION_TYPE_REPLACE);
         a->set_source("9.9.9");
         a->set_target_entry_uuid("urn:uuid:1");
       },
       "associations[0].source names no entry of this submission"},
      {"association type missing",
       [](auto& r) {
         auto* a = r.add_associations();
         a->set_source("1.2.3.4.5");
         a->set_target_entry_uuid("urn:uuid:1");
       },
       "associations[0].type must be a known association type"},
      {"one entry replacing two",
       [](auto& r) {
         for (const char* target : {"urn:uuid:1", "urn:uuid:2"}) {
           auto* a = r.add_associations();
           a->set_type(v1::ASSOCIATION_TYPE_REPLACE);
           a->set_source("1.2.3.4.5");
           a->set_target_entry_uuid(target);
         }
       },
       "associations[1].source replaces a second document"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::RegisterSubmissionSetRequest r = ValidSubmission();
    c.change(r);
    absl::Status s = ValidateRegister(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(s.message()).rfind(c.error, 0), 0u) << s.message();
  }
}

TEST(RegistryValidation, TooManyEntries) {
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  r.clear_entries();
  for (int i = 0; i <= kMaxEntries; ++i) *r.add_entries() = ValidEntry("1.2." + std::to_string(i));
  EXPECT_EQ(ValidateRegister(r).message(), "entries has more than 1000 entries");
}

TEST(RegistryValidation, PublisherMustBeTheCaller) {
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  EXPECT_TRUE(CheckPublisher(r, "clinic-a").ok());
  absl::Status s = CheckPublisher(r, "clinic-b");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(std::string(s.message()).rfind("entries[0].patient.org", 0), 0u);
  r.mutable_entries(0)->mutable_location()->set_member_org("clinic-z");
  s = CheckPublisher(r, "clinic-a");
  EXPECT_EQ(std::string(s.message()).rfind("entries[0].location.member_org", 0), 0u);
}

TEST(RegistryValidation, FindDocuments) {
  v1::FindDocumentsRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  auto* p = r.add_patients();
  p->set_org("clinic-a");
  p->set_local_id("MRN-1");
  EXPECT_TRUE(ValidateFind(r).ok());
  r.set_page_size(1001);
  EXPECT_EQ(ValidateFind(r).message(), "page_size must be 0 to 1000");
  r.set_page_size(10);
  r.mutable_query()->mutable_creation_time()->mutable_start()->set_seconds(10);
  r.mutable_query()->mutable_creation_time()->mutable_end()->set_seconds(10);
  EXPECT_EQ(ValidateFind(r).message(), "query.creation_time.end must be after start");
  r.mutable_query()->clear_creation_time();
  r.mutable_query()->add_statuses(static_cast<v1::AvailabilityStatus>(7));
  EXPECT_EQ(ValidateFind(r).message(), "query.statuses[0] is not a known status");
  r.mutable_query()->clear_statuses();
  r.mutable_context()->clear_purpose_of_use();
  EXPECT_EQ(ValidateFind(r).message(), "context.purpose_of_use is required");
}

TEST(RegistryValidation, GetRelatedDeprecate) {
  v1::GetDocumentsRequest get;
  get.mutable_context()->set_request_id("req-1");
  get.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  EXPECT_EQ(ValidateGet(get).message(), "entry_uuids, unique_ids or locations is required");
  get.add_unique_ids("1.2.3");
  EXPECT_TRUE(ValidateGet(get).ok());
  v1::DocumentLocation* l = get.add_locations();
  l->set_member_org("clinic-a");
  l->set_repository_unique_id("1.2.3.4");
  l->set_retrieve_key("doc 42 \xc3\xa9");  // text, not an id
  EXPECT_TRUE(ValidateGet(get).ok());
  const std::vector<std::pair<std::function<void(v1::DocumentLocation&)>, std::string>> cases = {
      {[](auto& l) { l.clear_member_org(); }, "locations[1].member_org is required"},
      {[](auto& l) { l.clear_repository_unique_id(); },
       "locations[1].repository_unique_id is required"},
      {[](auto& l) { l.clear_retrieve_key(); }, "locations[1].retrieve_key is required"},
      {[](auto& l) { l.set_retrieve_key(std::string(257, 'k')); },
       "locations[1].retrieve_key is longer than 256 bytes"},
      {[](auto& l) { l.set_retrieve_key("key\x1b"); },
       "locations[1].retrieve_key contains control characters"},
  };
  for (const auto& [change, error] : cases) {
    v1::GetDocumentsRequest bad = get;
    *bad.add_locations() = *l;
    change(*bad.mutable_locations(1));
    EXPECT_EQ(ValidateGet(bad).message(), error);
  }
  v1::GetDocumentsRequest many = get;  // 1 unique id, 1 location
  for (int i = 0; i < 499; ++i) many.add_entry_uuids("urn:uuid:" + std::to_string(i));
  for (int i = 0; i < 499; ++i) *many.add_locations() = *l;
  EXPECT_TRUE(ValidateGet(many).ok()) << "1000 in all";
  *many.add_locations() = *l;
  EXPECT_EQ(ValidateGet(many).message(),
            "entry_uuids, unique_ids and locations hold more than 1000 ids");

  v1::DeprecateDocumentRequest dep;
  dep.mutable_context()->set_request_id("req-1");
  dep.set_entry_uuid("urn:uuid:1");
  dep.set_idempotency_key("k");
  EXPECT_EQ(ValidateDeprecate(dep).message(), "reason is required");
  dep.set_reason("entered in error");
  EXPECT_TRUE(ValidateDeprecate(dep).ok());
}

TEST(RegistryValidation, ListChanges) {
  v1::ListChangesRequest r;
  r.mutable_context()->set_request_id("req-1");
  EXPECT_TRUE(ValidateListChanges(r).ok()) << "from the beginning; no purpose of use needed";
  r.mutable_after()->set_version(42);
  r.mutable_after()->set_entry_uuid("urn:uuid:0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b");
  r.set_page_size(1000);
  EXPECT_TRUE(ValidateListChanges(r).ok());
  const std::vector<std::pair<std::function<void(v1::ListChangesRequest&)>, std::string>> cases = {
      {[](auto& r) { r.set_page_size(-1); }, "page_size must be 0 to 1000"},
      {[](auto& r) { r.set_page_size(1001); }, "page_size must be 0 to 1000"},
      {[](auto& r) { r.mutable_after()->set_version(-1); }, "after.version must not be negative"},
      {[](auto& r) { r.mutable_after()->set_entry_uuid("urn:uuid:1"); },
       "after.entry_uuid must be \"urn:uuid:\" and a lowercase UUID"},
      {[](auto& r) {
         r.mutable_after()->set_entry_uuid("urn:uuid:0F1E2D3C-4B5A-4978-8A6B-5C4D3E2F1A0B");
       },
       "after.entry_uuid must be \"urn:uuid:\" and a lowercase UUID"},
      {[](auto& r) {
         r.mutable_after()->set_entry_uuid("urn:uuid:0f1e2d3c+4b5a-4978-8a6b-5c4d3e2f1a0b");
       },
       "after.entry_uuid must be \"urn:uuid:\" and a lowercase UUID"},
      {[](auto& r) {
         r.mutable_after()->set_entry_uuid("0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b-abcdefghi");
       },
       "after.entry_uuid must be \"urn:uuid:\" and a lowercase UUID"},
      {[](auto& r) { r.mutable_context()->clear_request_id(); }, "context.request_id is required"},
  };
  for (const auto& [change, error] : cases) {
    v1::ListChangesRequest bad = r;
    change(bad);
    absl::Status s = ValidateListChanges(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), error);
  }
}

}  // namespace
}  // namespace hie::registry
