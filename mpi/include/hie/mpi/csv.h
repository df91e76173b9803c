#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hie/mpi/record.h"

namespace hie::mpi {

// RFC 4180 CSV over an in-memory buffer: comma separated, optional double quotes with "" as an
// escaped quote, quoted fields may contain commas and line breaks, CRLF or LF line ends, a
// UTF-8 byte-order mark at the start is skipped. Not thread-safe; the buffer must outlive it.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text);

  // Reads the next row. Returns false at the end of input or on a malformed row; in the
  // latter case `*error` is INVALID_ARGUMENT naming the line (the rest of the input is then
  // unreadable, e.g. an unterminated quote). Empty lines are skipped.
  bool Next(std::vector<std::string>* fields, absl::Status* error);

  // 1-based line number on which the last row returned by Next started.
  int64_t line() const { return row_line_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  int64_t row_line_ = 0;
};

// Column renaming for the `--map` option: "dst=src1+src2,dst2=src3". A destination taken from
// several sources joins their non-empty values with a space.
struct ColumnMap {
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;
};
[[nodiscard]] absl::StatusOr<ColumnMap> ParseColumnMap(std::string_view spec);

struct RowError {
  int64_t line;
  std::string message;  // never contains field values (PHI)
};

// Reads Records from CSV text with a header row. Standard columns are the Record field names;
// `map` renames others; unknown columns are ignored. Each good row is passed to `sink` with its
// line number. Rows with the wrong number of fields or an empty/duplicate record_id are
// reported in `row_errors` and skipped. When the file has no record_id column, record ids are
// "<id_prefix><line number>". Returns INVALID_ARGUMENT for an empty file, a header without any
// known column, a map naming a missing source column, or a malformed (unterminated) quote.
[[nodiscard]] absl::Status ReadRecordsCsv(std::string_view text, const ColumnMap& map,
                                          std::string_view id_prefix,
                                          const std::function<void(Record&&, int64_t)>& sink,
                                          std::vector<RowError>* row_errors);

// Reads a two-column table (e.g. record_id,cluster_id) by column names or, when a name is
// empty, by position (0 and 1). Returns (key, value) pairs in file order.
[[nodiscard]] absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadTwoColumns(
    std::string_view text, std::string_view key_column, std::string_view value_column);

// Quotes a value for CSV output if it needs quoting.
std::string CsvEscape(std::string_view value);

}  // namespace hie::mpi
