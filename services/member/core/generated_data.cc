#include "services/member/core/generated_data.h"

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "hie/mpi/generator.h"
#include "services/common/proto_time.h"
#include "services/common/request_checks.h"
#include "services/identity/bench/generated_dataset.h"
#include "services/registry/core/categories.h"

namespace hie::member {
namespace {

using common::v1::Coding;
using registry::v1::DocumentEntry;

constexpr char kConfidentialitySystem[] =
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
constexpr char kFormatSystem[] = "urn:oid:1.3.6.1.4.1.19376.1.2.3";
constexpr char kPracticeSystem[] = "http://snomed.info/sct";
constexpr int64_t kFirstCreation = 1420070400;       // 2015-01-01T00:00:00Z
constexpr int64_t kCreationSpan = 10 * 365 * 86400;  // ten years
constexpr int kLargeEvery = 50;                      // patients, by local id order

struct DocumentKind {
  const char* loinc;
  const char* title;
  const char* mime;
  const char* format;
  const char* practice;  // SNOMED practice setting
  const char* label;     // ActCode sensitivity label, or null
};

// Kinds 0..4 are everyday documents; 5 and 6 carry a sensitivity label.
constexpr DocumentKind kKinds[] = {
    {"11488-4", "Consult note", "text/plain", "urn:ihe:iti:xds:2017:mimeTypeSufficient",
     "394579002", nullptr},
    {"11502-2", "Laboratory report", "text/plain", "urn:ihe:lab:xd-lab:2008", "394596001", nullptr},
    {"18842-5", "Discharge summary", "text/plain", "urn:ihe:iti:xds:2017:mimeTypeSufficient",
     "394802001", nullptr},
    {"34133-9", "Summary of episode note", "text/xml", "urn:ihe:pcc:xphr:2007", "394802001",
     nullptr},
    {"18748-4", "Diagnostic imaging study", "application/pdf", "urn:ihe:rad:PDF", "394914008",
     nullptr},
    {"11506-3", "Progress note (behavioral health)", "text/plain",
     "urn:ihe:iti:xds:2017:mimeTypeSufficient", "394587001", "PSY"},
    {"11502-2", "Laboratory report (HIV)", "text/plain", "urn:ihe:lab:xd-lab:2008", "394596001",
     "HIV"},
};
constexpr int kImagingKind = 4;

Coding Code(const char* system, const char* code, const char* display = "") {
  Coding c;
  c.set_system(system);
  c.set_code(code);
  c.set_display(display);
  return c;
}

// 64 pseudo-random bits from a digest's first bytes.
uint64_t Bits(const std::string& digest, size_t offset = 0) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(digest[offset + i]);
  return v;
}

std::string UuidOf(const std::string& digest) {
  std::string b = digest.substr(0, 16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x50);  // name-based (version 5 layout)
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = absl::BytesToHexString(b);
  return absl::StrCat("urn:uuid:", hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4),
                      "-", hex.substr(16, 4), "-", hex.substr(20));
}

// Printable text of exactly `size` bytes: a heading, then lines of words drawn from `digest`.
std::string ContentOf(const std::string& heading, const std::string& digest, size_t size) {
  static constexpr const char* kWords[] = {
      "synthetic", "record", "for",    "testing",  "only",   "no",   "real",
      "patient",   "data",   "vitals", "stable",   "follow", "up",   "in",
      "two",       "weeks",  "plan",   "reviewed", "with",   "care", "team"};
  std::string out = heading;
  uint64_t state = Bits(digest, 8);
  while (out.size() < size) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    out += kWords[(state >> 33) % (sizeof(kWords) / sizeof(kWords[0]))];
    out += ((state >> 20) % 12 == 0) ? '\n' : ' ';
  }
  out.resize(size);
  return out;
}

MemberDocument MakeDocument(const GenerateOptions& o, const std::string& local_id, int number,
                            bool large) {
  const std::string digest =
      Sha256(absl::StrCat(o.seed, "\n", o.org, "\n", local_id, "\n", number));
  const uint64_t r = Bits(digest, 16);
  int kind_index = static_cast<int>(r % 50 < 5 ? 5 + (r >> 8) % 2 : (r >> 8) % 4);
  if (large) kind_index = kImagingKind;
  const DocumentKind& kind = kKinds[kind_index];
  MemberDocument d;
  DocumentEntry& e = d.entry;
  e.set_unique_id(UuidOf(digest));
  e.mutable_patient()->set_local_id(local_id);
  *e.mutable_class_code() = Code(registry::kLoincSystem, kind.loinc, kind.title);
  *e.mutable_type_code() = Code(registry::kLoincSystem, kind.loinc, kind.title);
  *e.mutable_format_code() = Code(kFormatSystem, kind.format);
  e.set_mime_type(kind.mime);
  *e.add_confidentiality_codes() = Code(kConfidentialitySystem, kind.label ? "R" : "N");
  if (kind.label) *e.add_confidentiality_codes() = Code(registry::kActCodeSystem, kind.label);
  *e.mutable_practice_setting_code() = Code(kPracticeSystem, kind.practice);
  e.set_language_code("en-US");
  e.set_title(kind.title);
  registry::v1::Author* author = e.add_authors();
  author->set_person_id(absl::StrCat("dr-", r % 40));
  author->set_institution(absl::StrCat(o.org, " medical group"));
  const int64_t created = kFirstCreation + static_cast<int64_t>((r >> 16) % kCreationSpan);
  const int64_t start = created - static_cast<int64_t>((r >> 40) % (3 * 86400));
  SetTimestamp(absl::FromUnixSeconds(created), e.mutable_creation_time());
  SetTimestamp(absl::FromUnixSeconds(start), e.mutable_service_start_time());
  SetTimestamp(absl::FromUnixSeconds(std::min(created, start + 86400)),
               e.mutable_service_stop_time());
  e.mutable_location()->set_retrieve_key(
      absl::StrCat("doc-", absl::BytesToHexString(digest.substr(20, 12))));
  const size_t size = large ? (3u << 19) + (r >> 48) % 4096 : 512 + (r >> 32) % 3584;
  d.content = std::make_shared<const std::string>(ContentOf(
      absl::StrCat(kind.title, "\nSynthetic document ", e.unique_id(), "\n\n"), digest, size));
  return d;
}

absl::Status CheckOptions(const GenerateOptions& o) {
  if (o.persons < 1 || o.persons > 2'000'000) {
    return InvalidField("generate-patients", "must be 1 to 2000000");
  }
  if (o.population_orgs.empty() || o.population_orgs.size() > 26) {
    return InvalidField("population-orgs", "must name 1 to 26 orgs");
  }
  std::set<std::string> seen;
  for (const std::string& org : o.population_orgs) {
    if (!seen.insert(org).second) return InvalidField("population-orgs", "repeats an org");
  }
  if (!seen.contains(o.org)) return InvalidField("org", "is not one of population-orgs");
  if (o.max_documents_per_patient < 1 || o.max_documents_per_patient > 20) {
    return InvalidField("generate-documents", "must be 1 to 20");
  }
  return CheckId(o.repository_id, "repository-id");
}

}  // namespace

absl::StatusOr<MemberData> GenerateMemberData(const GenerateOptions& o) {
  if (absl::Status s = CheckOptions(o); !s.ok()) return s;
  mpi::GeneratorOptions g;
  g.persons = o.persons;
  g.seed = o.seed;
  g.orgs = static_cast<int>(o.population_orgs.size());
  const size_t index = std::find(o.population_orgs.begin(), o.population_orgs.end(), o.org) -
                       o.population_orgs.begin();
  mpi::GeneratedPopulation population = mpi::GeneratePopulation(g);
  // The generator names its clinics clinic-a, clinic-b, ... in order.
  const std::string mine = absl::StrCat("clinic-", std::string(1, static_cast<char>('a' + index)));
  MemberData data;
  data.org = o.org;
  data.repository_id = o.repository_id;
  for (const mpi::LabelledRecord& r : population.records) {
    if (r.record.org != mine) continue;
    MemberPatient& p = data.patients.emplace_back();
    p.local_id = r.record.local_id;
    p.demographics = identity::bench::ToDemographics(r.record);
  }
  std::sort(data.patients.begin(), data.patients.end(),
            [](const MemberPatient& a, const MemberPatient& b) { return a.local_id < b.local_id; });
  int large = 0;
  for (size_t i = 0; i < data.patients.size(); ++i) {
    const std::string& id = data.patients[i].local_id;
    const uint64_t r = Bits(Sha256(absl::StrCat(o.seed, "\n", o.org, "\n", id)));
    const int count = 1 + static_cast<int>(r % static_cast<uint64_t>(o.max_documents_per_patient));
    for (int n = 0; n < count; ++n) {
      const bool big = n == 0 && i % kLargeEvery == 0 && large < kMaxLargeDocuments;
      if (big) ++large;
      MemberDocument d = MakeDocument(o, id, n, big);
      CompleteDocument(o.org, o.repository_id, &d);
      data.documents.push_back(std::move(d));
    }
  }
  return data;
}

}  // namespace hie::member
