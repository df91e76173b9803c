// Golden-text rendering of the locator and registry responses, and their JSON.

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

namespace locator = ::hie::locator::v1;
namespace registry = ::hie::registry::v1;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// What --json prints (cli.cc's options: proto field names).
std::string Json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
  return json;
}

TEST(TruncateTest, CutsAtCodePointsAndMarksTheCut) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Truncate("eleven chars", 10), "eleven ch\u2026");
  EXPECT_EQ(Truncate("Díaz Díaz Díaz", 6), "Díaz \u2026");  // never inside a code point
  EXPECT_EQ(Truncate("abc", 1), "\u2026");
  EXPECT_EQ(Truncate("", 3), "");
  // Control characters are escaped, invalid bytes replaced, before cutting.
  EXPECT_EQ(Truncate("a\x1b[2Jb", 40), "a\\x1b[2Jb");
  EXPECT_EQ(DisplayWidth(Truncate(std::string(5000, '\x80'), 40)), 40u);
  EXPECT_EQ(Truncate(std::string("\xe2\x82", 2), 40), "\ufffd\ufffd");
}

constexpr char kLocations[] = R"pb(
  locations {
    source_id { org: "clinic-a" local_id: "MRN-1" }
    data_categories { system: "urn:hie:category" code: "labs" }
    data_categories { system: "urn:hie:category" code: "imaging" }
    last_activity_time { seconds: 1795000000 }
    first_seen_time { seconds: 1700000000 }
    origins: LOCATION_ORIGIN_IDENTITY_FEED
    origins: LOCATION_ORIGIN_DOCUMENT_PUBLICATION
    document_count: 12
    identity_record: true
  }
  locations {
    source_id { org: "clinic-b" local_id: "77" }
    last_activity_time { seconds: 1790000000 }
    first_seen_time { seconds: 1790000000 }
    origins: LOCATION_ORIGIN_ADMIN
  }
)pb";

TEST(RenderLocatorTest, LocateTable) {
  auto r = Parse<locator::LocateResponse>(kLocations);
  EXPECT_THAT(
      std::vector<std::string>(absl::StrSplit(RenderLocate(r), '\n')),
      ElementsAre(
          "ORG       LOCAL ID  DOCUMENTS  CATEGORIES     LAST ACTIVITY         FIRST SEEN        "
          "    ORIGINS                              IDENTITY RECORD",
          "clinic-a  MRN-1            12  labs, imaging  2026-11-18T11:06:40Z  "
          "2023-11-14T22:13:20Z  identity-feed, document-publication  yes",
          "clinic-b  77                0  unknown        2026-09-21T14:13:20Z  "
          "2026-09-21T14:13:20Z  admin                                no",
          "2 locations", ""));
  EXPECT_EQ(RenderLocate({}), "no locations\n");
  EXPECT_THAT(Json(r), HasSubstr("\"origins\":[\"LOCATION_ORIGIN_IDENTITY_FEED\","));
  EXPECT_THAT(Json(r), HasSubstr("\"identity_record\":true"));
  EXPECT_THAT(Json(r), HasSubstr("\"document_count\":\"12\""));
}

TEST(RenderLocatorTest, ListShowsRemovalsAndTheNextPage) {
  auto r = Parse<locator::ListLocationsResponse>(std::string(kLocations) + R"pb(
    locations {
      source_id { org: "clinic-a" local_id: "MRN-9" }
      last_activity_time { seconds: 1780000000 }
      origins: LOCATION_ORIGIN_IDENTITY_FEED
      removal {
        reason_code: REMOVAL_REASON_PATIENT_REQUEST
        reason: "ticket 4471: the patient asked in writing not to be located here"
        remove_time { seconds: 1795100000 }
        removed_by { org: "hie-operations" user_id: "ops1" role: ROLE_HIE_OPERATOR }
      }
    }
    next_page_token: "p2"
  )pb");
  std::vector<std::string> lines = absl::StrSplit(RenderLocations(r), '\n');
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_THAT(lines[0], MatchesRegex(".*IDENTITY RECORD  REMOVED +REMOVAL +BY +REASON"));
  EXPECT_THAT(lines[1], MatchesRegex(".*  yes +- +- +- +-"));
  EXPECT_THAT(lines[3], MatchesRegex("clinic-a  MRN-9 +0  unknown .*  no +2026-11-19T14:53:20Z  "
                                     "patient-request  ops1@hie-operations \\(hie-operator\\)  "
                                     "ticket 4471: the patient asked in writi\u2026"));
  EXPECT_EQ(lines[0].find("REASON"), lines[3].find("ticket"));
  EXPECT_EQ(lines[4], "3 locations");
  EXPECT_EQ(lines[5], "next page: --page-token=p2 (or --all)");
  // Without removals, no removal columns.
  EXPECT_THAT(RenderLocations(Parse<locator::ListLocationsResponse>(kLocations)),
              Not(HasSubstr("REMOVED")));
  EXPECT_EQ(RenderLocations({}), "no locations\n");
  EXPECT_THAT(Json(r), HasSubstr("\"reason_code\":\"REMOVAL_REASON_PATIENT_REQUEST\""));
}

constexpr char kEntry[] = R"pb(
  entry_uuid: "urn:uuid:6f1c0a2e-0000-4000-8000-000000000001"
  unique_id: "1.2.840.113619.2.62.994044785528.114289542805"
  logical_id: "urn:uuid:6f1c0a2e-0000-4000-8000-000000000001"
  version: 2
  patient { org: "clinic-a" local_id: "MRN-1" }
  status: AVAILABILITY_STATUS_APPROVED
  class_code { system: "http://loinc.org" code: "11488-4" display: "Consult note" }
  type_code {
    system: "http://loinc.org"
    code: "34117-2"
    display: "History and physical note, a long display name"
  }
  format_code { system: "urn:ihe" code: "urn:ihe:pcc:xphr:2007" }
  mime_type: "application/pdf"
  confidentiality_codes { system: "urn:hl7:conf" code: "R" }
  title: "Cardiology consult after the emergency visit of November, with echo results"
  creation_time { seconds: 1795000000 }
  hash { algorithm: ALGORITHM_SHA256 digest: "\x01\xab" }
  size_bytes: 48213
  location { member_org: "clinic-a" repository_unique_id: "1.3.6.1.4.1.21367.2010.1.2.1125" }
)pb";

TEST(RenderRegistryTest, EntriesTableTruncatesTextNotIds) {
  auto r = Parse<registry::FindDocumentsResponse>(absl::StrCat("entries {", kEntry, "}", R"pb(
    entries {
      entry_uuid: "urn:uuid:2"
      unique_id: "2.16.1"
      version: 1
      status: AVAILABILITY_STATUS_DEPRECATED
      class_code { system: "http://loinc.org" code: "18842-5" }
      creation_time { seconds: 1790000000 }
    }
    next_page_token: "n1"
  )pb"));
  std::vector<std::string> lines = absl::StrSplit(RenderDocuments(r), '\n');
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(lines[0], MatchesRegex("ENTRY UUID +UNIQUE ID +VERSION  STATUS +CLASS +TYPE +CREATED "
                                     " +MEMBER/REPOSITORY +SIZE  TITLE"));
  EXPECT_THAT(lines[1],
              MatchesRegex("urn:uuid:6f1c0a2e-0000-4000-8000-000000000001  "
                           "1.2.840.113619.2.62.994044785528.114289542805 +2  approved    "
                           "11488-4 Consult note  34117-2 History and physical no\u2026  "
                           "2026-11-18T11:06:40Z  clinic-a/1.3.6.1.4.1.21367.2010.1.2.1125  "
                           "48213  Cardiology consult after the emergency \u2026"));
  EXPECT_THAT(lines[2], MatchesRegex("urn:uuid:2 +2.16.1 +1  deprecated  18842-5 +- +"
                                     "2026-09-21T14:13:20Z  - +0  -"));
  // Right-aligned (columns counted in code points: the cut cells hold a 3-byte ellipsis).
  EXPECT_EQ(lines[0].find("SIZE") + 4,
            DisplayWidth(lines[1].substr(0, lines[1].find("48213"))) + 5);
  EXPECT_EQ(lines[3], "2 entries");
  EXPECT_EQ(lines[4], "next page: --page-token=n1 (or --all)");
  EXPECT_EQ(RenderDocuments({}), "no entries\n");
  // --json: the whole entry as the server sent it, nothing cut.
  std::string json = Json(r);
  EXPECT_THAT(json, HasSubstr("\"title\":\"Cardiology consult after the emergency visit of "
                              "November, with echo results\""));
  EXPECT_THAT(json, HasSubstr("\"status\":\"AVAILABILITY_STATUS_APPROVED\""));
  EXPECT_THAT(json, HasSubstr("\"next_page_token\":\"n1\""));
}

TEST(RenderRegistryTest, HostileTextStaysInItsCell) {
  auto r = Parse<registry::GetDocumentsResponse>(R"pb(
    entries { entry_uuid: "u1" title: "\x1b]0;owned\x07 and a very long tail of text that goes on" }
  )pb");
  std::string out = RenderGetDocuments(r);
  EXPECT_THAT(out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(out, HasSubstr("\\x1b]0;owned\\x07 and a very long tail o\u2026\n"));
  EXPECT_THAT(out, HasSubstr("1 entries\n"));
  EXPECT_EQ(RenderGetDocuments({}), "no entries\n");
}

TEST(RenderRegistryTest, RelatedAssociationsThenEntries) {
  auto r = Parse<registry::GetRelatedDocumentsResponse>(R"pb(
    associations {
      id: "urn:uuid:a1"
      type: ASSOCIATION_TYPE_REPLACE
      source: "urn:uuid:2"
      target_entry_uuid: "urn:uuid:1"
    }
    entries { entry_uuid: "urn:uuid:2" unique_id: "2.16.2" version: 2 }
  )pb");
  std::string out = RenderRelatedDocuments(r);
  EXPECT_THAT(out, ::testing::StartsWith("TYPE     SOURCE      TARGET      ASSOCIATION\n"
                                         "replace  urn:uuid:2  urn:uuid:1  urn:uuid:a1\n"
                                         "1 associations\n\n"
                                         "ENTRY UUID"));
  EXPECT_THAT(out, HasSubstr("\n1 entries\n"));
  EXPECT_EQ(RenderRelatedDocuments({}), "no associations\n");
}

TEST(RenderRegistryTest, OneEntryEveryFieldSet) {
  auto e = Parse<registry::DocumentEntry>(kEntry);
  e.set_status(registry::AVAILABILITY_STATUS_DEPRECATED);
  e.mutable_deprecate_time()->set_seconds(1795100000);
  std::string out = RenderDocumentEntry(e);
  EXPECT_THAT(out, ::testing::StartsWith(
                       "entry uuid       urn:uuid:6f1c0a2e-0000-4000-8000-000000000001\n"));
  EXPECT_THAT(out, HasSubstr("\nstatus           deprecated\n"));
  EXPECT_THAT(out, HasSubstr("\npatient          clinic-a/MRN-1\n"));
  EXPECT_THAT(out, HasSubstr("\nconfidentiality  urn:hl7:conf|R\n"));
  // The whole title here: a detail view cuts nothing.
  EXPECT_THAT(out, HasSubstr("\ntitle            Cardiology consult after the emergency visit of "
                             "November, with echo results\n"));
  EXPECT_THAT(out, HasSubstr("\nsize             48213 bytes\n"));
  EXPECT_THAT(out, HasSubstr("\nhash             sha256 01ab\n"));
  EXPECT_THAT(out, HasSubstr("\ndeprecated       2026-11-19T14:53:20Z\n"));
  EXPECT_THAT(out, Not(HasSubstr("replaced by")));  // unset fields are left out
  EXPECT_THAT(out, Not(HasSubstr("service ")));
}

}  // namespace
}  // namespace hie::hiectl
