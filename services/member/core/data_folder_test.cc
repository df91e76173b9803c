#include "services/member/core/data_folder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace hie::member {
namespace {

using ::testing::HasSubstr;

constexpr char kPatient1[] =
    R"({"localId":"MRN001","demographics":{"name":{"given":"Ann","family":"Lee"},)"
    R"("sex":"SEX_FEMALE","birthDate":"1980-02-29"}})";
constexpr char kPatient2[] = R"({"localId":"MRN002"})";

std::string Document(const std::string& patient, const std::string& key,
                     const std::string& extra = "") {
  return absl::StrCat(
      R"({"uniqueId":"urn:test:)", key, R"(","patient":{"localId":")", patient,
      R"("},"classCode":{"system":"http://loinc.org","code":"11488-4"},)"
      R"("typeCode":{"system":"http://loinc.org","code":"11488-4"},)"
      R"("formatCode":{"system":"urn:oid:1.3.6.1.4.1.19376.1.2.3","code":"urn:ihe:pcc:xphr:2007"},)"
      R"("mimeType":"text/plain","confidentialityCodes":[{"system":)"
      R"("http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}],)"
      R"("creationTime":"2021-03-04T05:06:07Z","location":{"retrieveKey":")",
      key, "\"}", extra, "}");
}

InMemoryFileSource GoodFolder() {
  InMemoryFileSource files;
  files.files["patients.jsonl"] = absl::StrCat(kPatient1, "\n\n", kPatient2, "\r\n");
  files.files["documents.jsonl"] =
      absl::StrCat(Document("MRN001", "note-1"), "\n", Document("MRN002", "note-2"), "\n");
  files.files["content/note-1"] = "first note";
  files.files["content/note-2"] = "second note";
  return files;
}

TEST(DataFolderTest, LoadsAGoodFolder) {
  InMemoryFileSource files = GoodFolder();
  absl::StatusOr<MemberData> data = LoadMemberData(files, "clinic-a", "repo-a");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->patients.size(), 2u);
  EXPECT_EQ(data->patients[0].local_id, "MRN001");
  EXPECT_EQ(data->patients[0].demographics.name().family(), "Lee");
  EXPECT_EQ(data->patients[0].demographics.sex(), common::v1::SEX_FEMALE);
  ASSERT_EQ(data->documents.size(), 2u);
  const registry::v1::DocumentEntry& e = data->documents[1].entry;
  EXPECT_EQ(e.patient().org(), "clinic-a");
  EXPECT_EQ(e.patient().local_id(), "MRN002");
  EXPECT_EQ(e.location().member_org(), "clinic-a");
  EXPECT_EQ(e.location().repository_unique_id(), "repo-a");
  EXPECT_EQ(e.size_bytes(), 11);
  EXPECT_EQ(e.hash().digest(), Sha256("second note"));
  EXPECT_EQ(e.status(), registry::v1::AVAILABILITY_STATUS_APPROVED);
  EXPECT_EQ(*data->documents[1].content, "second note");
  EXPECT_TRUE(MemberStore::Create(*std::move(data)).ok());
}

TEST(DataFolderTest, DeclaredHashAndSizeMustAgree) {
  InMemoryFileSource files = GoodFolder();
  const std::string digest = absl::Base64Escape(Sha256("first note"));
  files.files["documents.jsonl"] = Document(
      "MRN001", "note-1",
      absl::StrCat(R"(,"sizeBytes":"10","hash":{"algorithm":"ALGORITHM_SHA256","digest":")", digest,
                   "\"}"));
  EXPECT_TRUE(LoadMemberData(files, "clinic-a", "repo-a").ok());
  files.files["documents.jsonl"] = Document("MRN001", "note-1", R"(,"sizeBytes":"11")");
  EXPECT_EQ(LoadMemberData(files, "clinic-a", "repo-a").status().message(),
            "documents.jsonl:1: size_bytes differs from the content file's size");
}

struct BadCase {
  const char* name;
  const char* file;
  std::string contents;
  std::string expected;  // the whole message
};

TEST(DataFolderTest, EachBadLineIsNamedByFileAndLine) {
  const std::string good_docs = Document("MRN001", "note-1") + "\n";
  const std::vector<BadCase> cases = {
      {"not JSON", "patients.jsonl", absl::StrCat(kPatient1, "\n{oops\n"),
       "patients.jsonl:2: is not a JSON object of localId and demographics (protobuf JSON "
       "mapping)"},
      {"unknown field", "patients.jsonl", R"({"localId":"A","favouriteColour":"red"})",
       "patients.jsonl:1: is not a JSON object of localId and demographics (protobuf JSON "
       "mapping)"},
      {"more than a patient", "patients.jsonl", R"({"localId":"A","idempotencyKey":"k"})",
       "patients.jsonl:1: holds more than localId and demographics"},
      {"no local id", "patients.jsonl", R"({"demographics":{}})",
       "patients.jsonl:1: localId is required"},
      {"local id with a space", "patients.jsonl", R"({"localId":"A B"})",
       "patients.jsonl:1: localId must be printable ASCII without spaces"},
      {"repeated local id", "patients.jsonl",
       absl::StrCat(kPatient1, "\n", kPatient2, "\n", kPatient1),
       "patients.jsonl:3: localId repeats line 1"},
      {"bad birth date", "patients.jsonl",
       R"({"localId":"A","demographics":{"birthDate":"29/02/1980"}})",
       "patients.jsonl:1: demographics.birth_date is not YYYY-MM-DD, YYYY-MM or YYYY"},
      {"control character in a name", "patients.jsonl",
       R"({"localId":"A","demographics":{"name":{"family":"L\u001bee"}}})",
       "patients.jsonl:1: demographics.name.family contains control characters"},
      {"line too long", "patients.jsonl", std::string(70000, ' ') + "x",
       "patients.jsonl:1: line is longer than 65536 bytes"},
      {"unknown patient", "documents.jsonl", good_docs + Document("MRN404", "note-2"),
       "documents.jsonl:2: patient.local_id names no patient of patients.jsonl"},
      {"missing content", "documents.jsonl", Document("MRN001", "note-9"),
       "documents.jsonl:1: location.retrieve_key: content/note-9: no such file"},
      {"path in the key", "documents.jsonl", Document("MRN001", "../patients.jsonl"),
       "documents.jsonl:1: location.retrieve_key must name the content file: 1..128 letters, "
       "digits, '.', '_' or '-', not starting with '.'"},
      {"repeated key", "documents.jsonl", good_docs + Document("MRN002", "note-1"),
       "documents.jsonl:2: location.retrieve_key repeats line 1's"},
      {"another org", "documents.jsonl",
       absl::StrReplaceAll(
           Document("MRN001", "note-1"),
           {{R"("retrieveKey":"note-1")", R"("retrieveKey":"note-1","memberOrg":"clinic-b")"}}),
       "documents.jsonl:1: location.member_org is not this member's org"},
      {"another org's patient", "documents.jsonl",
       absl::StrReplaceAll(Document("MRN001", "note-1"),
                           {{R"("localId":"MRN001")", R"("localId":"MRN001","org":"clinic-b")"}}),
       "documents.jsonl:1: patient.org is not this member's org"},
      {"not publishable", "documents.jsonl",
       absl::StrReplaceAll(Document("MRN001", "note-1"), {{R"("mimeType":"text/plain",)", ""}}),
       "documents.jsonl:1: mime_type is required"},
      {"SHA-1", "documents.jsonl",
       Document("MRN001", "note-1", R"(,"hash":{"algorithm":"ALGORITHM_SHA1","digest":"AAAA"})"),
       "documents.jsonl:1: hash is not the SHA-256 of the content file"},
  };
  for (const BadCase& c : cases) {
    InMemoryFileSource files = GoodFolder();
    files.files[c.file] = c.contents;
    absl::StatusOr<MemberData> data = LoadMemberData(files, "clinic-a", "repo-a");
    EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(data.status().message(), c.expected) << c.name;
  }
}

TEST(DataFolderTest, LimitsAreErrorsNotCrashes) {
  InMemoryFileSource files = GoodFolder();
  LoadLimits limits;
  limits.max_patients = 1;
  EXPECT_EQ(LoadMemberData(files, "clinic-a", "repo-a", limits).status().message(),
            "patients.jsonl:3: more than 1 patients");
  limits = {};
  limits.max_content_bytes = 10;
  EXPECT_EQ(LoadMemberData(files, "clinic-a", "repo-a", limits).status().message(),
            "documents.jsonl:2: location.retrieve_key: content/note-2: is larger than 10 bytes");
  limits = {};
  limits.max_total_content_bytes = 15;
  EXPECT_EQ(LoadMemberData(files, "clinic-a", "repo-a", limits).status().message(),
            "documents.jsonl:2: location.retrieve_key: content/note-2: the documents' content "
            "exceeds the total limit");
  limits = {};
  limits.max_file_bytes = 100;
  EXPECT_THAT(std::string(LoadMemberData(files, "clinic-a", "repo-a", limits).status().message()),
              HasSubstr("patients.jsonl: is larger than 100 bytes"));
  files.files.erase("documents.jsonl");
  EXPECT_EQ(LoadMemberData(files, "clinic-a", "repo-a").status().message(),
            "documents.jsonl: no such file");
}

TEST(DataFolderTest, ReadsARealDirectory) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("member-data-", getpid());
  std::filesystem::create_directories(dir / "content");
  for (const auto& [name, bytes] : GoodFolder().files) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
  }
  std::filesystem::create_directories(dir / "content" / "a-dir");
  std::unique_ptr<FileSource> files = DirectoryFileSource(dir.string());
  absl::StatusOr<MemberData> data = LoadMemberData(*files, "clinic-a", "repo-a");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data->documents[0].content, "first note");
  EXPECT_EQ(files->Read("content/a-dir", 100).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(files->Read("content/none", 100).status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(IsContentFileNameTest, PlainNamesOnly) {
  EXPECT_TRUE(IsContentFileName("doc-1.pdf"));
  EXPECT_TRUE(IsContentFileName("A_b-9"));
  for (const char* bad : {"", ".hidden", "..", "a/b", "a b", "a\\b", "é"}) {
    EXPECT_FALSE(IsContentFileName(bad)) << bad;
  }
  EXPECT_FALSE(IsContentFileName(std::string(129, 'a')));
}

}  // namespace
}  // namespace hie::member
