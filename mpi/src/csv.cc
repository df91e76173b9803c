#include "hie/mpi/csv.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "mpi/src/string_view_compat.h"

namespace hie::mpi {
namespace {

constexpr std::string_view kStandardColumns[] = {
    "record_id", "org",     "local_id", "given_name",  "middle_name", "family_name", "sex",
    "birth_date", "address_line", "city", "state", "postal_code", "phone", "email", "ssn"};

std::string* FieldOf(Record& r, std::string_view name) {
  if (name == "record_id") return &r.record_id;
  if (name == "org") return &r.org;
  if (name == "local_id") return &r.local_id;
  if (name == "given_name") return &r.given_name;
  if (name == "middle_name") return &r.middle_name;
  if (name == "family_name") return &r.family_name;
  if (name == "sex") return &r.sex;
  if (name == "birth_date") return &r.birth_date;
  if (name == "address_line") return &r.address_line;
  if (name == "city") return &r.city;
  if (name == "state") return &r.state;
  if (name == "postal_code") return &r.postal_code;
  if (name == "phone") return &r.phone;
  if (name == "email") return &r.email;
  if (name == "ssn") return &r.ssn;
  return nullptr;
}

std::string Trimmed(std::string_view s) {
  return std::string(absl::StripAsciiWhitespace(Av(s)));
}

}  // namespace

CsvReader::CsvReader(std::string_view text) : text_(text) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

bool CsvReader::Next(std::vector<std::string>* fields, absl::Status* error) {
  fields->clear();
  *error = absl::OkStatus();
  // Skip empty lines.
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }
  if (pos_ >= text_.size()) return false;
  row_line_ = line_;
  std::string field;
  while (true) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      while (true) {
        if (pos_ >= text_.size()) {
          *error = absl::InvalidArgumentError(
              absl::StrCat("line ", row_line_, ": unterminated quoted field"));
          return false;
        }
        const char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            field.push_back('"');
            ++pos_;
          } else {
            break;
          }
        } else {
          if (c == '\n') ++line_;
          field.push_back(c);
        }
      }
      // Characters after the closing quote up to the separator are kept (lenient).
    }
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n') {
      if (text_[pos_] != '\r' || (pos_ + 1 < text_.size() && text_[pos_ + 1] != '\n')) {
        field.push_back(text_[pos_]);
      }
      ++pos_;
    }
    fields->push_back(std::move(field));
    field.clear();
    if (pos_ >= text_.size()) return true;
    if (text_[pos_] == '\n') {
      ++pos_;
      ++line_;
      return true;
    }
    ++pos_;  // comma
  }
}

absl::StatusOr<ColumnMap> ParseColumnMap(std::string_view spec) {
  ColumnMap map;
  for (absl::string_view entry : absl::StrSplit(Av(spec), ',', absl::SkipWhitespace())) {
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == entry.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--map entry '", entry, "' is not of the form dst=src or dst=src1+src2"));
    }
    const std::string dst = Trimmed(Sv(entry.substr(0, eq)));
    Record probe;
    if (FieldOf(probe, dst) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--map destination '", dst, "' is not a standard column"));
    }
    std::vector<std::string> sources;
    for (absl::string_view src : absl::StrSplit(entry.substr(eq + 1), '+', absl::SkipEmpty())) {
      sources.push_back(Trimmed(Sv(src)));
    }
    map.entries.emplace_back(dst, std::move(sources));
  }
  return map;
}

absl::Status ReadRecordsCsv(std::string_view text, const ColumnMap& map,
                            std::string_view id_prefix,
                            const std::function<void(Record&&, int64_t)>& sink,
                            std::vector<RowError>* row_errors) {
  CsvReader reader(text);
  std::vector<std::string> header;
  absl::Status status;
  if (!reader.Next(&header, &status)) {
    if (!status.ok()) return status;
    return absl::InvalidArgumentError("empty CSV file: no header row");
  }
  for (auto& h : header) h = Trimmed(h);
  auto column_index = [&header](std::string_view name) -> int {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  // (destination field name, source column indexes)
  std::vector<std::pair<std::string, std::vector<int>>> plan;
  absl::flat_hash_set<std::string> mapped;
  for (const auto& [dst, sources] : map.entries) {
    std::vector<int> idx;
    for (const auto& src : sources) {
      const int i = column_index(src);
      if (i < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--map source column '", src, "' is not in the header"));
      }
      idx.push_back(i);
    }
    plan.emplace_back(dst, std::move(idx));
    mapped.insert(dst);
  }
  for (std::string_view name : kStandardColumns) {
    if (mapped.contains(Av(name))) continue;
    const int i = column_index(name);
    if (i >= 0) plan.emplace_back(std::string(name), std::vector<int>{i});
  }
  if (plan.empty()) {
    return absl::InvalidArgumentError(
        "CSV header has none of the standard columns (record_id, given_name, family_name, ...); "
        "use --map to name them");
  }
  const bool has_id = std::any_of(plan.begin(), plan.end(),
                                  [](const auto& p) { return p.first == "record_id"; });
  absl::flat_hash_set<std::string> seen_ids;
  std::vector<std::string> row;
  while (true) {
    if (!reader.Next(&row, &status)) {
      if (!status.ok()) return status;
      break;
    }
    const int64_t line = reader.line();
    if (row.size() != header.size()) {
      row_errors->push_back({line, absl::StrCat("expected ", header.size(), " fields, got ",
                                                row.size(), "; row skipped")});
      continue;
    }
    Record r;
    for (const auto& [dst, idx] : plan) {
      std::string* out = FieldOf(r, dst);
      for (int i : idx) {
        absl::string_view v = absl::StripAsciiWhitespace(row[static_cast<size_t>(i)]);
        if (v.empty()) continue;
        if (!out->empty()) out->push_back(' ');
        out->append(v.data(), v.size());
      }
    }
    if (!has_id) {
      r.record_id = absl::StrCat(Av(id_prefix), line);
    } else if (r.record_id.empty()) {
      row_errors->push_back({line, "empty record_id; row skipped"});
      continue;
    }
    if (!seen_ids.insert(r.record_id).second) {
      row_errors->push_back({line, "duplicate record_id; row skipped"});
      continue;
    }
    sink(std::move(r), line);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadTwoColumns(
    std::string_view text, std::string_view key_column, std::string_view value_column) {
  CsvReader reader(text);
  std::vector<std::string> header;
  absl::Status status;
  if (!reader.Next(&header, &status)) {
    if (!status.ok()) return status;
    return absl::InvalidArgumentError("empty CSV file: no header row");
  }
  for (auto& h : header) h = Trimmed(h);
  auto find = [&header](std::string_view name, int fallback) -> int {
    if (name.empty()) return fallback < static_cast<int>(header.size()) ? fallback : -1;
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  const int k = find(key_column, 0);
  const int v = find(value_column, 1);
  if (k < 0 || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CSV header lacks column '", Av(k < 0 ? key_column : value_column), "' (or has < 2 columns)"));
  }
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> row;
  while (true) {
    if (!reader.Next(&row, &status)) {
      if (!status.ok()) return status;
      break;
    }
    if (static_cast<int>(row.size()) <= std::max(k, v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", reader.line(), ": too few fields"));
    }
    out.emplace_back(Trimmed(row[static_cast<size_t>(k)]), Trimmed(row[static_cast<size_t>(v)]));
  }
  return out;
}

std::string CsvEscape(std::string_view value) {
  if (value.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace hie::mpi
