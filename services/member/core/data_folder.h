#pragma once

// A member's data from a folder (--data-dir). Layout:
//
//   DIR/patients.jsonl   one patient per line, the protobuf JSON of its local id and
//                        demographics (hie.common.v1.Demographics), e.g.
//                        {"localId":"MRN001","demographics":{"name":{"given":"Ann",
//                         "family":"Lee"},"sex":"SEX_FEMALE","birthDate":"1980-02-29"}}
//   DIR/documents.jsonl  one document per line, the protobuf JSON of its
//                        hie.registry.v1.DocumentEntry, with patient.localId naming a patient
//                        of patients.jsonl and location.retrieveKey naming its content file
//   DIR/content/<retrieveKey>   the document's bytes
//
// Blank lines are skipped; anything else must parse (unknown JSON fields are errors, so a typo
// is not silently dropped). What the member derives is filled in (member_data.h,
// CompleteDocument): patient.org, location.memberOrg and repositoryUniqueId, sizeBytes and the
// SHA-256 hash; a file may give them, and they must then agree (its hash as SHA-256, base64 in
// JSON). Each entry must then be what the registry would accept for publication (services/
// registry/core/validation.h: class, type and format codes, mime type, confidentiality codes,
// creation time, ...). status may be AVAILABILITY_STATUS_DEPRECATED (default APPROVED).
//
// Hostile input: every error is INVALID_ARGUMENT "<file>:<line>: <field> <problem>" (or
// "<file>: ..." for the file as a whole), never a value of the line; limits (LoadLimits) on
// file, line and content sizes and on counts; retrieve keys are plain file names (letters,
// digits, '.', '_', '-'; not starting with '.'), so a line cannot reach outside content/.
// Pure apart from the FileSource handed in (DirectoryFileSource reads the real folder).

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/member/core/member_data.h"

namespace hie::member {

struct LoadLimits {
  size_t max_file_bytes = size_t{256} << 20;  // patients.jsonl, documents.jsonl
  size_t max_line_bytes = size_t{64} << 10;
  size_t max_patients = 200'000;
  size_t max_documents = 500'000;
  size_t max_content_bytes = size_t{64} << 20;       // one document
  size_t max_total_content_bytes = size_t{1} << 30;  // all of them
};

class FileSource {
 public:
  virtual ~FileSource() = default;
  // The bytes of `name` (relative: "patients.jsonl", "content/k1"): NOT_FOUND when it does not
  // exist, OUT_OF_RANGE when it is larger than `max_bytes`, else the system's error.
  [[nodiscard]] virtual absl::StatusOr<std::string> Read(const std::string& name,
                                                         size_t max_bytes) = 0;
};

// Files under `dir` (regular files only; symbolic links are followed).
std::unique_ptr<FileSource> DirectoryFileSource(std::string dir);

// Files held in memory (tests, the fuzz target).
class InMemoryFileSource : public FileSource {
 public:
  std::map<std::string, std::string> files;
  absl::StatusOr<std::string> Read(const std::string& name, size_t max_bytes) override;
};

// The folder's patients and documents as this member's (`org`, `repository_id`).
[[nodiscard]] absl::StatusOr<MemberData> LoadMemberData(FileSource& files, const std::string& org,
                                                        const std::string& repository_id,
                                                        const LoadLimits& limits = {});

// One line of each file (errors name the field only; LoadMemberData adds file and line).
[[nodiscard]] absl::StatusOr<MemberPatient> ParsePatientLine(std::string_view line);
[[nodiscard]] absl::StatusOr<registry::v1::DocumentEntry> ParseDocumentLine(std::string_view line);

// True for a retrieve key that is a safe content file name.
bool IsContentFileName(std::string_view key);

}  // namespace hie::member
