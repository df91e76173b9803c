// hiectl's CSV input for `register --file` (declared in commands.h): an RFC 4180 reader that
// keeps each record's line number, the file's text encoding, and the mapping of rows to
// registrations. Pure; csv_fuzz.cc drives it with hostile files.

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/hiectl/commands.h"
#include "services/hiectl/flag_values.h"

namespace hie::hiectl {
namespace {

using hie::common::v1::Demographics;

}  // namespace

// --- CSV --------------------------------------------------------------------------------------

absl::StatusOr<std::vector<CsvRecord>> ParseCsv(absl::string_view text) {
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  int line = 1;
  int record_line = 1;
  bool in_quotes = false;
  bool after_quote = false;  // just closed a quoted field
  bool record_empty = true;  // nothing seen on this record yet
  auto end_field = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  auto end_record = [&] {
    if (!record_empty) {
      end_field();
      record.line = record_line;
      records.push_back(std::move(record));
    }
    record = CsvRecord();
    field.clear();
    after_quote = false;
    record_empty = true;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if (c == '\n' || c == '\r') {
      end_record();
      ++line;
      record_line = line;
      continue;
    }
    if (record_empty) {
      record_empty = false;
      record_line = line;
    }
    if (c == ',') {
      end_field();
    } else if (c == '"' && field.empty() && !after_quote) {
      in_quotes = true;
    } else if (after_quote) {
      return Invalid(absl::StrCat("line ", line, ": text after a closing quote"));
    } else {
      field.push_back(c);
    }
  }
  if (in_quotes) return Invalid(absl::StrCat("line ", record_line, ": unterminated quoted field"));
  end_record();
  return records;
}

absl::StatusOr<CsvEncoding> ParseCsvEncoding(absl::string_view text, absl::string_view what) {
  std::string name = absl::AsciiStrToLower(text);
  if (name == "utf-8" || name == "utf8") return CsvEncoding::kUtf8;
  if (name == "latin1" || name == "latin-1" || name == "iso-8859-1") return CsvEncoding::kLatin1;
  if (name == "windows-1252" || name == "cp1252") return CsvEncoding::kWindows1252;
  return Invalid(what, " must be utf-8, windows-1252 or latin1");
}

namespace {

// Windows-1252's characters at 0x80-0x9F (where Latin-1 has C1 controls); the five bytes it
// leaves undefined keep their C1 code point, so they are refused as control characters.
constexpr char16_t kWindows1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 0x80
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,  // 0x88
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 0x90
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,  // 0x98
};

// Latin-1 (or Windows-1252) bytes as UTF-8: every byte is one code point below U+0800 or,
// for Windows-1252's punctuation, below U+10000.
std::string SingleByteToUtf8(absl::string_view text, CsvEncoding encoding) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    unsigned char b = static_cast<unsigned char>(c);
    char16_t code = b;
    if (encoding == CsvEncoding::kWindows1252 && b >= 0x80 && b < 0xA0) {
      code = kWindows1252High[b - 0x80];
    }
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }
  return out;
}

// Why a cell cannot be sent (the hub stores only UTF-8 without control characters), or "".
std::string CellProblem(absl::string_view absl_cell, CsvEncoding encoding) {
  const std::string_view cell(absl_cell.data(), absl_cell.size());
  if (!hie::IsValidUtf8(cell)) {
    return encoding == CsvEncoding::kUtf8
               ? "is not valid UTF-8 (save the file as UTF-8, or pass --encoding=windows-1252 "
                 "or --encoding=latin1)"
               : "is not valid text";
  }
  if (hie::HasControlCharacter(cell)) {
    return encoding == CsvEncoding::kLatin1
               ? "contains control characters (if the file is a Windows export, pass "
                 "--encoding=windows-1252)"
               : "contains control characters";
  }
  return "";
}

// The column names of the header record: each known (or record_id), none twice, org and local_id
// present.
absl::StatusOr<std::vector<std::string>> HeaderColumns(const CsvRecord& header,
                                                       CsvEncoding encoding) {
  std::vector<std::string> columns;
  std::set<std::string, std::less<>> seen;
  const std::vector<std::string>& known = CsvColumns();
  for (const std::string& cell : header.fields) {
    if (std::string problem = CellProblem(cell, encoding); !problem.empty()) {
      return Invalid(absl::StrCat("line ", header.line, ": a column name ", problem));
    }
    std::string column = absl::AsciiStrToLower(absl::StripAsciiWhitespace(cell));
    // record_id (hie-mpi's CSV format) is accepted and ignored: the hub keys records by
    // (org, local_id).
    if (column != "record_id" && std::find(known.begin(), known.end(), column) == known.end()) {
      return Invalid(absl::StrCat("line ", header.line, ": unknown column '", column,
                                  "' (known: ", absl::StrJoin(known, ","), ")"));
    }
    if (!seen.insert(column).second) {
      return Invalid(absl::StrCat("line ", header.line, ": duplicate column '", column, "'"));
    }
    columns.push_back(column);
  }
  for (const char* required : {"org", "local_id"}) {
    if (!seen.contains(required)) {
      return Invalid(
          absl::StrCat("line ", header.line, ": the header needs a column '", required, "'"));
    }
  }
  return columns;
}

// One data record as a registration; the error message names the problem without the line.
absl::StatusOr<BulkRow> ParseBulkRow(const CsvRecord& record,
                                     const std::vector<std::string>& columns,
                                     CsvEncoding encoding) {
  if (record.fields.size() != columns.size()) {
    return Invalid("expected ", columns.size(), " fields, found ", record.fields.size());
  }
  DemographicFields row;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (std::string p = CellProblem(record.fields[c], encoding); !p.empty()) {
      return Invalid("column ", columns[c], " ", p);
    }
    row[columns[c]] = record.fields[c];
  }
  std::string org(absl::StripAsciiWhitespace(row["org"]));
  std::string local_id(absl::StripAsciiWhitespace(row["local_id"]));
  if (org.empty()) return Invalid("org is empty");
  if (local_id.empty()) return Invalid("local_id is empty");
  row["org"] = org;
  row["local_id"] = local_id;
  HIE_ASSIGN_OR_RETURN(Demographics demographics, BuildDemographics(row, false));
  BulkRow bulk;
  bulk.line = record.line;
  bulk.request.mutable_source_id()->set_org(org);
  bulk.request.mutable_source_id()->set_local_id(local_id);
  *bulk.request.mutable_demographics() = std::move(demographics);
  bulk.request.set_idempotency_key(BulkIdempotencyKey(row));
  return bulk;
}

}  // namespace

absl::StatusOr<BulkFile> ParseBulkFile(absl::string_view raw, CsvEncoding encoding) {
  std::string transcoded;
  absl::string_view text = raw;
  if (encoding != CsvEncoding::kUtf8) {
    transcoded = SingleByteToUtf8(raw, encoding);
    text = transcoded;
  }
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM (Excel)
  HIE_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, ParseCsv(text));
  if (records.empty()) return Invalid("the file is empty (it needs a header row)");
  HIE_ASSIGN_OR_RETURN(std::vector<std::string> columns, HeaderColumns(records.front(), encoding));
  BulkFile file;
  for (size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    absl::StatusOr<BulkRow> row = ParseBulkRow(record, columns, encoding);
    if (row.ok()) {
      file.rows.push_back(*std::move(row));
    } else {
      file.errors.push_back(
          {record.line, absl::StrCat("line ", record.line, ": ", row.status().message())});
    }
  }
  return file;
}

}  // namespace hie::hiectl
