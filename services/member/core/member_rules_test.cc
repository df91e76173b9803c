#include "services/member/core/member_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "absl/time/civil_time.h"
#include "services/common/proto_time.h"
#include "services/member/core/test_data.h"
#include "services/registry/core/categories.h"

namespace hie::member {
namespace {

using testing::Code;
using ::testing::ElementsAre;
using testing::FindRequest;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Numbers;
using testing::RetrieveRequest;

void At(int y, int m, int d, google::protobuf::Timestamp* out) {
  SetTimestamp(absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()), out);
}

class MemberRulesTest : public ::testing::Test {
 protected:
  std::vector<std::string> Find(const std::function<void(v1::FindDocumentsRequest&)>& edit,
                                bool* truncated = nullptr) {
    v1::FindDocumentsRequest r = FindRequest({"P1", "P2", "P3"});
    edit(r);
    absl::StatusOr<v1::FindDocumentsResponse> out = FindDocuments(*store_, r);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return {};
    if (truncated != nullptr) *truncated = out->truncated();
    return Numbers(*out);
  }

  std::unique_ptr<MemberStore> store_ = testing::TestStore();
};

TEST_F(MemberRulesTest, NewestFirstApprovedOnlyByDefault) {
  // d4 is deprecated; d1 and d6 share a creation time: unique id descending.
  EXPECT_THAT(Find([](auto&) {}), ElementsAre("3", "2", "6", "1", "5"));
}

TEST_F(MemberRulesTest, OnlyTheNamedPatients) {
  EXPECT_THAT(Find([](auto& r) {
                r.clear_local_patient_ids();
                r.add_local_patient_ids("P2");
                r.add_local_patient_ids("P2");  // repeated: answered once
                r.add_local_patient_ids("UNKNOWN");
              }),
              ElementsAre("5"));
  EXPECT_THAT(Find([](auto& r) {
                r.clear_local_patient_ids();
                r.add_local_patient_ids("P3");
              }),
              IsEmpty());
}

struct FilterCase {
  const char* name;
  std::function<void(registry::v1::DocumentQuery&)> query;
  std::vector<std::string> expected;
};

TEST_F(MemberRulesTest, EveryFilterOfDocumentQuery) {
  const std::vector<FilterCase> cases = {
      {"statuses deprecated",
       [](auto& q) { q.add_statuses(registry::v1::AVAILABILITY_STATUS_DEPRECATED); },
       {"4"}},
      {"statuses both",
       [](auto& q) {
         q.add_statuses(registry::v1::AVAILABILITY_STATUS_APPROVED);
         q.add_statuses(registry::v1::AVAILABILITY_STATUS_DEPRECATED);
       },
       {"4", "3", "2", "6", "1", "5"}},
      {"class codes any of",
       [](auto& q) {
         *q.add_class_codes() = Code(registry::kLoincSystem, "11488-4");
         *q.add_class_codes() = Code(registry::kLoincSystem, "18748-4");
       },
       {"1", "5"}},
      {"class code of another system",
       [](auto& q) { *q.add_class_codes() = Code("urn:other", "11488-4"); },
       {}},
      {"type codes",
       [](auto& q) { *q.add_type_codes() = Code(registry::kLoincSystem, "11502-2"); },
       {"2"}},
      {"format codes",
       [](auto& q) {
         *q.add_format_codes() = Code("urn:oid:1.3.6.1.4.1.19376.1.2.3", "urn:ihe:pcc:xphr:2007");
       },
       {"3", "2", "6", "1", "5"}},
      {"confidentiality codes",
       [](auto& q) { *q.add_confidentiality_codes() = Code(registry::kActCodeSystem, "PSY"); },
       {"3"}},
      {"event codes", [](auto& q) { *q.add_event_codes() = Code("urn:test:event", "E1"); }, {"1"}},
      {"practice setting (absent does not match)",
       [](auto& q) {
         *q.add_practice_setting_codes() = Code("http://snomed.info/sct", "394579002");
       },
       {"1"}},
      {"facility type",
       [](auto& q) { *q.add_healthcare_facility_type_codes() = Code("urn:test:facility", "F1"); },
       {"1"}},
      {"creation time [2020-01-01, 2022-03-01)",
       [](auto& q) {
         At(2020, 1, 1, q.mutable_creation_time()->mutable_start());
         At(2022, 3, 1, q.mutable_creation_time()->mutable_end());
       },
       {"2", "6", "1"}},
      {"creation time open start",
       [](auto& q) { At(2019, 1, 1, q.mutable_creation_time()->mutable_end()); },
       {"5"}},
      {"service start time (absent does not match)",
       [](auto& q) { At(2019, 1, 1, q.mutable_service_start_time()->mutable_start()); },
       {"1"}},
      {"service stop time before 2019-12-31 excludes d1",
       [](auto& q) { At(2019, 12, 31, q.mutable_service_stop_time()->mutable_end()); },
       {}},
      {"author institution, substring, any case",
       [](auto& q) { q.set_author_institution("a CARDIO"); },
       {"1"}},
  };
  for (const FilterCase& c : cases) {
    EXPECT_EQ(Find([&](auto& r) { c.query(*r.mutable_query()); }), c.expected) << c.name;
  }
}

TEST_F(MemberRulesTest, MaxResultsTruncates) {
  bool truncated = false;
  EXPECT_THAT(Find([](auto& r) { r.set_max_results(2); }, &truncated), ElementsAre("3", "2"));
  EXPECT_TRUE(truncated);
  EXPECT_THAT(Find([](auto& r) { r.set_max_results(5); }, &truncated), ::testing::SizeIs(5));
  EXPECT_FALSE(truncated);
}

TEST_F(MemberRulesTest, EntriesArePointedAtThisMemberAndCarryRecordedEntryUuids) {
  store_->SetEntryUuid("urn:oid:1.2.3.5", "urn:uuid:00000000-0000-4000-8000-000000000005");
  absl::StatusOr<v1::FindDocumentsResponse> out = FindDocuments(*store_, FindRequest({"P2"}));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->entries_size(), 1);
  const registry::v1::DocumentEntry& e = out->entries(0);
  EXPECT_EQ(e.entry_uuid(), "urn:uuid:00000000-0000-4000-8000-000000000005");
  EXPECT_EQ(e.patient().org(), "clinic-a");
  EXPECT_EQ(e.location().member_org(), "clinic-a");
  EXPECT_EQ(e.location().repository_unique_id(), "repo-a");
  EXPECT_EQ(e.location().retrieve_key(), "key-d5");
  EXPECT_EQ(e.size_bytes(), (5 << 19) + 7);
}

consent::v1::Obligation Redact(consent::v1::Obligation::Type type, const std::string& system,
                               const std::string& code) {
  consent::v1::Obligation o;
  o.set_type(type);
  *o.add_codes() = Code(system, code);
  return o;
}

TEST_F(MemberRulesTest, ObligationsLeaveRedactedEntriesOut) {
  using O = consent::v1::Obligation;
  const std::vector<std::pair<O, std::vector<std::string>>> cases = {
      // clinical-notes: consult (d1), progress (d3) and referral (d6) notes.
      {Redact(O::TYPE_REDACT_DATA_CATEGORIES, registry::kHieCategorySystem, "clinical-notes"),
       {"2", "5"}},
      {Redact(O::TYPE_REDACT_DATA_CATEGORIES, registry::kLoincOid, "11502-2"),
       {"3", "6", "1", "5"}},
      {Redact(O::TYPE_REDACT_SENSITIVITY_LABELS, registry::kActCodeSystem, "PSY"),
       {"2", "6", "1", "5"}},
      {Redact(O::TYPE_REDACT_SENSITIVITY_LABELS, registry::kActCodeOid, "PSY"),
       {"2", "6", "1", "5"}},
      {Redact(O::TYPE_REDACT_SENSITIVITY_LABELS,
              "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N"),
       {}},
      {Redact(O::TYPE_AUDIT_AS_BREAK_GLASS, registry::kActCodeSystem, "PSY"),
       {"3", "2", "6", "1", "5"}},
      {Redact(O::TYPE_NO_REDISCLOSURE, registry::kActCodeSystem, "PSY"), {"3", "2", "6", "1", "5"}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Find([&](auto& r) { *r.add_obligations() = c.first; }), c.second)
        << c.first.ShortDebugString();
  }
}

struct InvalidCase {
  const char* name;
  std::function<void(v1::FindDocumentsRequest&)> edit;
  const char* field;
};

TEST_F(MemberRulesTest, InvalidFindRequestsNameTheField) {
  const std::vector<InvalidCase> cases = {
      {"no request id", [](auto& r) { r.mutable_context()->clear_request_id(); },
       "context.request_id"},
      {"no purpose", [](auto& r) { r.mutable_context()->clear_purpose_of_use(); },
       "context.purpose_of_use"},
      {"no actor org", [](auto& r) { r.mutable_context()->mutable_actor()->clear_org(); },
       "context.actor.org"},
      {"no actor role", [](auto& r) { r.mutable_context()->mutable_actor()->clear_role(); },
       "context.actor.role"},
      {"no ids", [](auto& r) { r.clear_local_patient_ids(); }, "local_patient_ids is required"},
      {"101 ids",
       [](auto& r) {
         for (int i = 0; i < 98; ++i) r.add_local_patient_ids("X");
       },
       "local_patient_ids has more than 100"},
      {"id with a space", [](auto& r) { r.add_local_patient_ids("A B"); }, "local_patient_ids[3]"},
      {"id bad UTF-8", [](auto& r) { r.add_local_patient_ids("\xc3\x28"); },
       "local_patient_ids[3]"},
      {"empty id", [](auto& r) { r.set_local_patient_ids(1, ""); }, "local_patient_ids[1]"},
      {"unknown status",
       [](auto& r) { r.mutable_query()->add_statuses(registry::v1::AvailabilityStatus(7)); },
       "query.statuses"},
      {"coding without system",
       [](auto& r) { r.mutable_query()->add_class_codes()->set_code("x"); },
       "query.class_codes[0].system"},
      {"control character in code",
       [](auto& r) { *r.mutable_query()->add_type_codes() = Code("urn:x", "a\x01"); },
       "query.type_codes[0].code"},
      {"time range backwards",
       [](auto& r) {
         At(2022, 1, 1, r.mutable_query()->mutable_creation_time()->mutable_start());
         At(2021, 1, 1, r.mutable_query()->mutable_creation_time()->mutable_end());
       },
       "query.creation_time"},
      {"author institution bad UTF-8",
       [](auto& r) { r.mutable_query()->set_author_institution("\xff"); },
       "query.author_institution"},
      {"max_results negative", [](auto& r) { r.set_max_results(-1); }, "max_results"},
      {"max_results 1001", [](auto& r) { r.set_max_results(1001); }, "max_results"},
      {"obligation of unknown type",
       [](auto& r) { r.add_obligations()->set_type(consent::v1::Obligation::Type(99)); },
       "obligations[0].type"},
      {"obligation without type", [](auto& r) { r.add_obligations(); }, "obligations[0].type"},
      {"obligation code without system",
       [](auto& r) {
         auto* o = r.add_obligations();
         o->set_type(consent::v1::Obligation::TYPE_REDACT_SENSITIVITY_LABELS);
         o->add_codes()->set_code("HIV");
       },
       "obligations[0].codes[0].system"},
  };
  for (const InvalidCase& c : cases) {
    v1::FindDocumentsRequest r = FindRequest({"P1", "P2", "P3"});
    c.edit(r);
    absl::StatusOr<v1::FindDocumentsResponse> out = FindDocuments(*store_, r);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(out.status().message()), HasSubstr(c.field)) << c.name;
  }
}

TEST_F(MemberRulesTest, MaxResultsLimitsAreAccepted) {
  for (int n : {0, 1, 1000}) {
    v1::FindDocumentsRequest r = FindRequest({"P1"});
    r.set_max_results(n);
    EXPECT_TRUE(FindDocuments(*store_, r).ok()) << n;
  }
  v1::FindDocumentsRequest r = FindRequest({});
  for (int i = 0; i < 100; ++i) r.add_local_patient_ids("P1");
  EXPECT_TRUE(FindDocuments(*store_, r).ok());
}

TEST_F(MemberRulesTest, RetrieveFindsThePatientsDocumentByKeyOrUniqueId) {
  for (const char* key : {"key-d5", "urn:oid:1.2.3.5"}) {
    absl::StatusOr<const MemberDocument*> d =
        DocumentToRetrieve(*store_, RetrieveRequest({"P9", "P2"}, key));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ((*d)->entry.unique_id(), "urn:oid:1.2.3.5");
  }
  v1::RetrieveDocumentRequest r = RetrieveRequest({"P2"}, "key-d5");
  r.set_repository_unique_id("repo-a");
  EXPECT_TRUE(DocumentToRetrieve(*store_, r).ok());
}

TEST_F(MemberRulesTest, RetrieveOfAnotherPatientsOrUnknownDocumentIsNotFound) {
  v1::RetrieveDocumentRequest other_repository = RetrieveRequest({"P2"}, "key-d5");
  other_repository.set_repository_unique_id("repo-b");
  for (const v1::RetrieveDocumentRequest& r :
       {RetrieveRequest({"P1"}, "key-d5"), RetrieveRequest({"P2"}, "key-none"), other_repository}) {
    absl::StatusOr<const MemberDocument*> d = DocumentToRetrieve(*store_, r);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound) << r.ShortDebugString();
    EXPECT_EQ(d.status().message(), "no such document for these patients at this member");
  }
}

TEST_F(MemberRulesTest, RetrieveForbiddenByAnObligationIsPermissionDenied) {
  v1::RetrieveDocumentRequest r = RetrieveRequest({"P1"}, "key-d3");
  *r.add_obligations() = Redact(consent::v1::Obligation::TYPE_REDACT_SENSITIVITY_LABELS,
                                registry::kActCodeSystem, "PSY");
  EXPECT_EQ(DocumentToRetrieve(*store_, r).status().code(), absl::StatusCode::kPermissionDenied);
  r.set_retrieve_key("key-d2");
  EXPECT_TRUE(DocumentToRetrieve(*store_, r).ok());
}

TEST_F(MemberRulesTest, InvalidRetrieveRequestsNameTheField) {
  v1::RetrieveDocumentRequest r = RetrieveRequest({"P1"}, "");
  EXPECT_THAT(std::string(DocumentToRetrieve(*store_, r).status().message()),
              HasSubstr("retrieve_key is required"));
  r.set_retrieve_key(std::string(257, 'k'));
  EXPECT_THAT(std::string(DocumentToRetrieve(*store_, r).status().message()),
              HasSubstr("retrieve_key is longer than 256"));
  r = RetrieveRequest({"P1", "bad id"}, "key-d1");
  EXPECT_THAT(std::string(DocumentToRetrieve(*store_, r).status().message()),
              HasSubstr("local_patient_ids[1]"));
  r = RetrieveRequest({"P1"}, "key-d1");
  r.set_repository_unique_id("repo a");
  EXPECT_THAT(std::string(DocumentToRetrieve(*store_, r).status().message()),
              HasSubstr("repository_unique_id"));
}

TEST_F(MemberRulesTest, HeaderStatesSizeHashAndCodes) {
  const MemberDocument* d = store_->FindDocument("key-d3");
  ASSERT_NE(d, nullptr);
  const v1::DocumentHeader h = HeaderOf(*d);
  EXPECT_EQ(h.unique_id(), "urn:oid:1.2.3.3");
  EXPECT_EQ(h.size_bytes(), static_cast<int64_t>(d->content->size()));
  EXPECT_EQ(h.hash().algorithm(), registry::v1::ContentHash::ALGORITHM_SHA256);
  EXPECT_EQ(h.hash().digest(), Sha256(*d->content));
  EXPECT_EQ(h.class_code().code(), "11506-3");
  EXPECT_EQ(h.confidentiality_codes_size(), 2);
}

TEST(ChunkCountTest, SplitsAtTheChunkSize) {
  EXPECT_EQ(ChunkCount(0, kMaxChunkBytes), 0u);
  EXPECT_EQ(ChunkCount(1, kMaxChunkBytes), 1u);
  EXPECT_EQ(ChunkCount(kMaxChunkBytes, kMaxChunkBytes), 1u);
  EXPECT_EQ(ChunkCount(kMaxChunkBytes + 1, kMaxChunkBytes), 2u);
}

TEST_F(MemberRulesTest, CapabilitiesDescribeThisMember) {
  const v1::MemberCapabilities c = CapabilitiesOf(*store_, kMaxChunkBytes);
  EXPECT_EQ(c.org(), "clinic-a");
  EXPECT_EQ(c.max_results_per_request(), 1000);
  EXPECT_EQ(c.max_local_patient_ids(), 100);
  EXPECT_TRUE(c.supports_time_filters() && c.supports_code_filters() && c.supports_obligations() &&
              c.supports_retrieve());
  EXPECT_EQ(c.max_chunk_bytes(), 1 << 20);
  EXPECT_THAT(c.repository_unique_ids(), ElementsAre("repo-a"));
}

}  // namespace
}  // namespace hie::member
