// libFuzzer target member_data_fuzz: the data folder's parser (core/data_folder.h) over hostile
// files. The input is split at the first line "%%" into patients.jsonl and documents.jsonl;
// every content file that a document names exists and holds its key's bytes, except keys
// starting with "missing". Small limits (lines of 4 KiB, 50 patients, 50 documents, 64 bytes
// of content each, 1 KiB in all) so that the limits are reached too. No crash, no hang, and:
// an accepted folder makes a consistent MemberStore, its documents' sizes and hashes are their
// content's, and loading it again gives the same answer; an error names a file (and, for a
// line, its number).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "services/member/core/data_folder.h"

namespace {

using namespace hie::member;  // NOLINT: a fuzz target's few names

void Require(bool invariant) {
  if (!invariant) std::abort();
}

// Serves the content file of any plain key.
class FuzzFiles : public InMemoryFileSource {
 public:
  absl::StatusOr<std::string> Read(const std::string& name, size_t max_bytes) override {
    constexpr std::string_view kContent = "content/";
    if (name.starts_with(kContent) && !files.contains(name)) {
      const std::string key = name.substr(kContent.size());
      if (!key.starts_with("missing")) files[name] = key;
    }
    return InMemoryFileSource::Read(name, max_bytes);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzFiles files;
  const size_t split = input.find("\n%%\n");
  files.files["patients.jsonl"] = std::string(input.substr(0, split));
  if (split != std::string_view::npos) {
    files.files["documents.jsonl"] = std::string(input.substr(split + 4));
  }
  LoadLimits limits;
  limits.max_line_bytes = 4096;
  limits.max_patients = 50;
  limits.max_documents = 50;
  limits.max_content_bytes = 64;
  limits.max_total_content_bytes = 1024;
  absl::StatusOr<MemberData> loaded = LoadMemberData(files, "clinic-a", "repo-a", limits);
  if (!loaded.ok()) {
    Require(loaded.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string m(loaded.status().message());
    Require(m.starts_with("patients.jsonl") || m.starts_with("documents.jsonl"));
    return 0;
  }
  Require(loaded->patients.size() <= limits.max_patients);
  Require(loaded->documents.size() <= limits.max_documents);
  for (const MemberDocument& d : loaded->documents) {
    Require(d.entry.size_bytes() == static_cast<int64_t>(d.content->size()));
    Require(d.entry.hash().digest() == Sha256(*d.content));
    Require(d.entry.patient().org() == "clinic-a");
  }
  absl::StatusOr<MemberData> again = LoadMemberData(files, "clinic-a", "repo-a", limits);
  Require(again.ok() && again->documents.size() == loaded->documents.size() &&
          again->patients.size() == loaded->patients.size());
  Require(MemberStore::Create(*std::move(loaded)).ok());
  return 0;
}
