// libFuzzer target for the two CSV readers of the hub, which read clinics' files:
//   - hiectl's ParseCsv and the row mapping of `hiectl register --file` (ParseBulkFile, in UTF-8
//     and Latin-1: header check, cell text checks, BuildDemographics, birth date and SSN forms,
//     idempotency key);
//   - the mpi engine's CsvReader, ReadRecordsCsv (with and without a --map) and ReadTwoColumns
//     (`hie-mpi link`, `eval`, `train`).
// Besides "no crash and no sanitizer report", it checks that every error names a line that
// exists (whole-file errors excepted), that line numbers only grow, that the parsed fields never
// hold more bytes than the input, and that every string of a request hiectl would send is UTF-8
// without control characters (checked here independently of services/common/text.h). Hangs and
// memory are bounded by libFuzzer's -timeout and -rss_limit_mb (scripts/test.sh).
//
// Build and run (clang; scripts/test.sh does this in build-fuzz over a copy of the corpus):
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DHIE_FUZZ=ON \
//       -DHIE_SANITIZE=address,undefined
//   cmake --build build-fuzz --target csv_fuzz
//   mkdir -p var/fuzz/csv && cp services/hiectl/fuzz_corpus/* var/fuzz/csv/
//   build-fuzz/services/hiectl/csv_fuzz -dict=services/hiectl/csv_fuzz.dict \
//       -max_total_time=60 var/fuzz/csv
// A crash input is written to the current directory (crash-<sha1>); replay it with
//   build-fuzz/services/hiectl/csv_fuzz crash-<sha1>
// The corpus (services/hiectl/fuzz_corpus/) holds the hostile cases, one per file, named for
// what they hold; add a file there for every new case (and every crash once fixed).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"
#include "hie/mpi/csv.h"
#include "services/hiectl/commands.h"

namespace {

// An invariant broke: say which, then abort (libFuzzer saves the input as crash-*).
// (Debian's Abseil has its own string_view: absl::string_view for hiectl and the statuses,
// std::string_view for the mpi engine.)
[[noreturn]] void Broken(const char* what, absl::string_view detail) {
  std::fprintf(stderr, "csv_fuzz: invariant broken: %s: %.*s\n", what,
               static_cast<int>(std::min<size_t>(detail.size(), 300)), detail.data());
  std::abort();
}
#define CHECK_OR_BREAK(cond, detail)    \
  do {                                  \
    if (!(cond)) Broken(#cond, detail); \
  } while (0)

// The number N of a message starting "line N:", or -1.
int64_t LineOfMessage(absl::string_view message) {
  if (!absl::StartsWith(message, "line ")) return -1;
  message.remove_prefix(5);
  const size_t colon = message.find(':');
  int64_t n = -1;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(message.substr(0, colon), &n))
    return -1;
  return n;
}

size_t TotalSize(const std::vector<std::string>& fields) {
  size_t n = 0;
  for (const std::string& f : fields) n += f.size();
  return n;
}

// Well-formed UTF-8 (no overlong form, surrogate, code point above U+10FFFF or truncated
// sequence) without C0, DEL or C1 control characters: what the hub stores.
bool IsCleanUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (b < 0x20 || b == 0x7F) return false;
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((b & 0xE0) == 0xC0) {
      n = 2, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x80 && cp <= 0x9F) return false;
    i += n;
  }
  return true;
}

// Every string field of `m`, recursively, is clean text.
void CheckStrings(const google::protobuf::Message& m) {
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    using FD = google::protobuf::FieldDescriptor;
    if (f->cpp_type() == FD::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          CHECK_OR_BREAK(IsCleanUtf8(r->GetRepeatedString(m, f, i)), f->full_name());
        }
      } else {
        CHECK_OR_BREAK(IsCleanUtf8(r->GetString(m, f)), f->full_name());
      }
    } else if (f->cpp_type() == FD::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) CheckStrings(r->GetRepeatedMessage(m, f, i));
      } else {
        CheckStrings(r->GetMessage(m, f));
      }
    }
  }
}

void FuzzBulkFile(absl::string_view text, int64_t max_line, hie::hiectl::CsvEncoding encoding,
                  const absl::StatusOr<std::vector<hie::hiectl::CsvRecord>>& records);

void FuzzHiectl(absl::string_view text, int64_t max_line) {
  namespace h = hie::hiectl;
  absl::StatusOr<std::vector<h::CsvRecord>> records = h::ParseCsv(text);
  if (!records.ok()) {
    const int64_t n = LineOfMessage(records.status().message());
    CHECK_OR_BREAK(n >= 1 && n <= max_line, records.status().message());
  } else {
    int previous = 0;
    size_t bytes = 0;
    for (const h::CsvRecord& r : *records) {
      CHECK_OR_BREAK(r.line > previous && r.line <= max_line, std::to_string(r.line));
      CHECK_OR_BREAK(!r.fields.empty(), std::to_string(r.line));
      previous = r.line;
      bytes += TotalSize(r.fields);
    }
    CHECK_OR_BREAK(bytes <= text.size(), std::to_string(bytes));
  }
  FuzzBulkFile(text, max_line, h::CsvEncoding::kUtf8, records);
  FuzzBulkFile(text, max_line, h::CsvEncoding::kLatin1, records);
  FuzzBulkFile(text, max_line, h::CsvEncoding::kWindows1252, records);
}

void FuzzBulkFile(absl::string_view text, int64_t max_line, hie::hiectl::CsvEncoding encoding,
                  const absl::StatusOr<std::vector<hie::hiectl::CsvRecord>>& records) {
  namespace h = hie::hiectl;
  absl::StatusOr<h::BulkFile> file = h::ParseBulkFile(text, encoding);
  if (!file.ok()) {
    const absl::string_view message = file.status().message();
    if (message != "the file is empty (it needs a header row)") {
      const int64_t n = LineOfMessage(message);
      CHECK_OR_BREAK(n >= 1 && n <= max_line, message);
    }
    return;
  }
  // ParseCsv accepted what ParseBulkFile accepted (the BOM aside; Latin-1 transcoding never
  // makes or removes a quote, comma or line end): every record after the header is either a
  // row or an error.
  const bool bom = absl::StartsWith(text, "\xEF\xBB\xBF");
  CHECK_OR_BREAK(records.ok() || bom, "");
  if (records.ok() && !bom) {
    CHECK_OR_BREAK(file->rows.size() + file->errors.size() + 1 == records->size(), "");
  }
  for (const h::BulkRow& row : file->rows) {
    CHECK_OR_BREAK(row.line >= 1 && row.line <= max_line, std::to_string(row.line));
    CHECK_OR_BREAK(!row.request.source_id().org().empty(), "empty org accepted");
    CHECK_OR_BREAK(!row.request.source_id().local_id().empty(), "empty local_id accepted");
    const std::string& key = row.request.idempotency_key();
    CHECK_OR_BREAK(absl::StartsWith(key, "hiectl-csv-") && key.size() == 11 + 32, key);
    CheckStrings(row.request);
  }
  for (const h::BulkRowError& error : file->errors) {
    CHECK_OR_BREAK(error.line >= 1 && error.line <= max_line, std::to_string(error.line));
    CHECK_OR_BREAK(LineOfMessage(error.message) == error.line, error.message);
  }
}

// Whole-file errors of the mpi reader (no single line to name).
bool IsWholeFileError(absl::string_view message) {
  return absl::StartsWith(message, "empty CSV file") ||
         absl::StartsWith(message, "CSV header has none of the standard columns") ||
         absl::StartsWith(message, "--map source column") ||
         absl::StartsWith(message, "CSV header lacks column");
}

void CheckMpiStatus(const absl::Status& status, int64_t max_line) {
  if (status.ok() || IsWholeFileError(status.message())) return;
  const int64_t n = LineOfMessage(status.message());
  CHECK_OR_BREAK(n >= 1 && n <= max_line, status.message());
}

void FuzzMpi(std::string_view text, int64_t max_line) {
  namespace m = hie::mpi;
  {
    m::CsvReader reader(text);
    std::vector<std::string> fields;
    absl::Status status;
    int64_t previous = 0;
    size_t bytes = 0;
    while (reader.Next(&fields, &status)) {
      CHECK_OR_BREAK(reader.line() > previous && reader.line() <= max_line,
                     std::to_string(reader.line()));
      CHECK_OR_BREAK(!fields.empty(), std::to_string(reader.line()));
      previous = reader.line();
      bytes += TotalSize(fields);
    }
    CHECK_OR_BREAK(bytes <= text.size(), std::to_string(bytes));
    CheckMpiStatus(status, max_line);
  }

  static const m::ColumnMap* const kNoMap = new m::ColumnMap();
  static const m::ColumnMap* const kMap = [] {
    auto map = m::ParseColumnMap("given_name=first+second,family_name=surname,ssn=SSN");
    if (!map.ok()) Broken("ParseColumnMap", map.status().message());
    return new m::ColumnMap(*std::move(map));
  }();
  for (const m::ColumnMap* map : {kNoMap, kMap}) {
    std::vector<m::RowError> row_errors;
    int64_t previous = 0;
    const absl::Status status = m::ReadRecordsCsv(
        text, *map, "f1:",
        [&](hie::mpi::Record&& r, int64_t line) {
          CHECK_OR_BREAK(line > previous && line <= max_line, std::to_string(line));
          CHECK_OR_BREAK(!r.record_id.empty(), std::to_string(line));
          previous = line;
        },
        &row_errors);
    CheckMpiStatus(status, max_line);
    for (const m::RowError& e : row_errors) {
      CHECK_OR_BREAK(e.line >= 1 && e.line <= max_line, std::to_string(e.line));
    }
  }

  for (auto [key, value] :
       {std::pair<std::string_view, std::string_view>{"", ""}, {"record_id", "cluster_id"}}) {
    auto pairs = m::ReadTwoColumns(text, key, value);
    CheckMpiStatus(pairs.status(), max_line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* chars = reinterpret_cast<const char*>(data);
  // The last line any reader may name: both count LF; hiectl also counts a lone CR.
  int64_t max_line = 1;
  for (size_t i = 0; i < size; ++i) max_line += (chars[i] == '\n' || chars[i] == '\r');
  FuzzHiectl(absl::string_view(chars, size), max_line);
  FuzzMpi(std::string_view(chars, size), max_line);
  return 0;
}
