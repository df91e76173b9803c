#include "services/member/core/data_folder.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "services/common/demographics.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/registry/core/validation.h"

namespace hie::member {
namespace {

constexpr char kPatientsFile[] = "patients.jsonl";
constexpr char kDocumentsFile[] = "documents.jsonl";
constexpr size_t kMaxDemographicsText = 1024;

class DirectorySource : public FileSource {
 public:
  explicit DirectorySource(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::string> Read(const std::string& name, size_t max_bytes) override {
    const std::filesystem::path path = std::filesystem::path(dir_) / name;
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) return absl::NotFoundError("no such file");
    if (!std::filesystem::is_regular_file(status)) {
      return absl::FailedPreconditionError("is not a regular file");
    }
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) return absl::UnavailableError("cannot read its size");
    if (size > max_bytes)
      return absl::OutOfRangeError(absl::StrCat("is larger than ", max_bytes, " bytes"));
    std::ifstream in(path, std::ios::binary);
    std::string bytes(static_cast<size_t>(size), '\0');
    if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
      return absl::UnavailableError("cannot be read");
    }
    return bytes;
  }

 private:
  const std::string dir_;
};

absl::Status AtLine(const char* file, size_t line, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", status.message()));
}

absl::Status AtFile(const std::string& file, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", status.message()));
}

// Calls `each(line_number, line)` for every non-blank line (CR LF or LF ends).
template <typename Each>
absl::Status ForEachLine(const char* file, std::string_view text, size_t max_line_bytes,
                         Each each) {
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.size() > max_line_bytes) {
      return AtLine(file, number,
                    absl::InvalidArgumentError(
                        absl::StrCat("line is longer than ", max_line_bytes, " bytes")));
    }
    if (std::all_of(line.begin(), line.end(),
                    [](char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); })) {
      continue;
    }
    HIE_RETURN_IF_ERROR(each(number, line));
  }
  return absl::OkStatus();
}

absl::Status CheckDate(const std::string& date, const char* field) {
  if (date.empty() || IsValidDate(date)) return absl::OkStatus();
  return InvalidField(field, "is not YYYY-MM-DD, YYYY-MM or YYYY");
}

// The registry's checks of a publishable entry, its field paths without "entries[0].".
absl::Status CheckPublishable(const registry::v1::DocumentEntry& entry) {
  registry::v1::RegisterSubmissionSetRequest r;
  r.mutable_context()->set_request_id("member-data");
  r.set_idempotency_key("member-data");
  r.mutable_submission_set()->set_unique_id("member-data");
  *r.add_entries() = entry;
  absl::Status status = registry::ValidateRegister(r);
  if (status.ok()) return status;
  std::string message(status.message());
  if (absl::StartsWith(message, "entries[0].")) message.erase(0, sizeof("entries[0].") - 1);
  return absl::InvalidArgumentError(message);
}

absl::Status CheckDeclared(const registry::v1::DocumentEntry& given,
                           const registry::v1::DocumentEntry& completed) {
  if (given.size_bytes() != 0 && given.size_bytes() != completed.size_bytes()) {
    return InvalidField("size_bytes", "differs from the content file's size");
  }
  if (given.has_hash() &&
      (given.hash().algorithm() != registry::v1::ContentHash::ALGORITHM_SHA256 ||
       given.hash().digest() != completed.hash().digest())) {
    return InvalidField("hash", "is not the SHA-256 of the content file");
  }
  return absl::OkStatus();
}

struct DocumentLoader {
  FileSource& files;
  const std::string& org;
  const std::string& repository_id;
  const LoadLimits& limits;
  MemberData& data;
  size_t content_bytes = 0;

  absl::Status Add(std::string_view line) {
    if (data.documents.size() >= limits.max_documents) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", limits.max_documents, " documents"));
    }
    HIE_ASSIGN_OR_RETURN(registry::v1::DocumentEntry given, ParseDocumentLine(line));
    if (!given.patient().org().empty() && given.patient().org() != org) {
      return InvalidField("patient.org", "is not this member's org");
    }
    if (!given.location().member_org().empty() && given.location().member_org() != org) {
      return InvalidField("location.member_org", "is not this member's org");
    }
    if (!given.location().repository_unique_id().empty() &&
        given.location().repository_unique_id() != repository_id) {
      return InvalidField("location.repository_unique_id", "is not this member's repository");
    }
    const std::string name = absl::StrCat("content/", given.location().retrieve_key());
    const size_t room =
        std::min(limits.max_content_bytes, limits.max_total_content_bytes - content_bytes);
    absl::StatusOr<std::string> content = files.Read(name, room);
    if (!content.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("location.retrieve_key: ", name, ": ",
                       absl::IsOutOfRange(content.status()) && room < limits.max_content_bytes
                           ? "the documents' content exceeds the total limit"
                           : content.status().message()));
    }
    content_bytes += content->size();
    MemberDocument doc;
    doc.entry = given;
    doc.content = std::make_shared<const std::string>(*std::move(content));
    CompleteDocument(org, repository_id, &doc);
    HIE_RETURN_IF_ERROR(CheckDeclared(given, doc.entry));
    HIE_RETURN_IF_ERROR(CheckPublishable(doc.entry));
    data.documents.push_back(std::move(doc));
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<FileSource> DirectoryFileSource(std::string dir) {
  return std::make_unique<DirectorySource>(std::move(dir));
}

absl::StatusOr<std::string> InMemoryFileSource::Read(const std::string& name, size_t max_bytes) {
  auto it = files.find(name);
  if (it == files.end()) return absl::NotFoundError("no such file");
  if (it->second.size() > max_bytes) {
    return absl::OutOfRangeError(absl::StrCat("is larger than ", max_bytes, " bytes"));
  }
  return it->second;
}

bool IsContentFileName(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdBytes || key[0] == '.') return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<MemberPatient> ParsePatientLine(std::string_view line) {
  gateway::v1::FeedPatientRequest parsed;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(line.data(), line.size()), &parsed)
           .ok()) {
    return absl::InvalidArgumentError(
        "is not a JSON object of localId and demographics (protobuf JSON mapping)");
  }
  if (parsed.has_context() || !parsed.idempotency_key().empty() || parsed.has_source_event_time()) {
    return absl::InvalidArgumentError("holds more than localId and demographics");
  }
  MemberPatient p;
  p.local_id = parsed.local_id();
  HIE_RETURN_IF_ERROR(CheckId(p.local_id, "localId"));
  p.demographics = parsed.demographics();
  if (absl::Status text = CheckMessageText(p.demographics, kMaxDemographicsText); !text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("demographics.", text.message()));
  }
  HIE_RETURN_IF_ERROR(CheckDate(p.demographics.birth_date(), "demographics.birth_date"));
  HIE_RETURN_IF_ERROR(CheckDate(p.demographics.deceased_date(), "demographics.deceased_date"));
  return p;
}

absl::StatusOr<registry::v1::DocumentEntry> ParseDocumentLine(std::string_view line) {
  registry::v1::DocumentEntry entry;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(line.data(), line.size()), &entry)
           .ok()) {
    return absl::InvalidArgumentError(
        "is not a JSON hie.registry.v1.DocumentEntry (protobuf JSON mapping)");
  }
  HIE_RETURN_IF_ERROR(CheckId(entry.patient().local_id(), "patient.local_id"));
  if (!IsContentFileName(entry.location().retrieve_key())) {
    return InvalidField("location.retrieve_key",
                        "must name the content file: 1..128 letters, digits, '.', '_' or '-', "
                        "not starting with '.'");
  }
  return entry;
}

absl::StatusOr<MemberData> LoadMemberData(FileSource& files, const std::string& org,
                                          const std::string& repository_id,
                                          const LoadLimits& limits) {
  HIE_RETURN_IF_ERROR(CheckId(org, "org"));
  HIE_RETURN_IF_ERROR(CheckId(repository_id, "repository_id"));
  MemberData data;
  data.org = org;
  data.repository_id = repository_id;
  absl::StatusOr<std::string> patients = files.Read(kPatientsFile, limits.max_file_bytes);
  if (!patients.ok()) return AtFile(kPatientsFile, patients.status());
  std::map<std::string, size_t, std::less<>> patient_lines;
  HIE_RETURN_IF_ERROR(ForEachLine(
      kPatientsFile, *patients, limits.max_line_bytes,
      [&](size_t number, std::string_view line) -> absl::Status {
        if (data.patients.size() >= limits.max_patients) {
          return AtLine(kPatientsFile, number,
                        absl::InvalidArgumentError(
                            absl::StrCat("more than ", limits.max_patients, " patients")));
        }
        absl::StatusOr<MemberPatient> p = ParsePatientLine(line);
        if (!p.ok()) return AtLine(kPatientsFile, number, p.status());
        auto [it, added] = patient_lines.emplace(p->local_id, number);
        if (!added) {
          return AtLine(kPatientsFile, number,
                        InvalidField("localId", absl::StrCat("repeats line ", it->second)));
        }
        data.patients.push_back(*std::move(p));
        return absl::OkStatus();
      }));
  absl::StatusOr<std::string> documents = files.Read(kDocumentsFile, limits.max_file_bytes);
  if (!documents.ok()) return AtFile(kDocumentsFile, documents.status());
  DocumentLoader loader{files, org, repository_id, limits, data};
  std::map<std::string, size_t, std::less<>> keys;  // unique ids and retrieve keys -> line
  HIE_RETURN_IF_ERROR(ForEachLine(
      kDocumentsFile, *documents, limits.max_line_bytes,
      [&](size_t number, std::string_view line) -> absl::Status {
        absl::Status added = loader.Add(line);
        if (!added.ok()) return AtLine(kDocumentsFile, number, added);
        const registry::v1::DocumentEntry& e = data.documents.back().entry;
        if (!patient_lines.contains(e.patient().local_id())) {
          return AtLine(kDocumentsFile, number,
                        InvalidField("patient.local_id", "names no patient of patients.jsonl"));
        }
        auto [key, key_added] = keys.emplace(e.location().retrieve_key(), number);
        if (!key_added) {
          return AtLine(kDocumentsFile, number,
                        InvalidField("location.retrieve_key",
                                     absl::StrCat("repeats line ", key->second, "'s")));
        }
        if (e.unique_id() != e.location().retrieve_key()) {
          auto [id, id_added] = keys.emplace(e.unique_id(), number);
          if (!id_added) {
            return AtLine(kDocumentsFile, number,
                          InvalidField("unique_id", absl::StrCat("repeats line ", id->second,
                                                                 "'s unique id or retrieve key")));
          }
        }
        return absl::OkStatus();
      }));
  return data;
}

}  // namespace hie::member
