#pragma once

// Reading `COPY (...) TO STDOUT (FORMAT binary)` with libpq directly. libpqxx 6.4 (Debian 12)
// streams COPY only as text, where a bytea travels as hex: twice the bytes, encoded by the
// server and decoded by the client. Binary COPY sends the bytes as they are; for long scans of
// wide rows (the audit chain) it is several times cheaper for both sides.
//
// BinaryCopyParser follows the format of the PostgreSQL documentation (COPY, "Binary Format"):
// the 11-byte signature "PGCOPY\n\377\r\n\0", a 32-bit flags field (bit 16, OIDs, refused), a
// 32-bit header-extension length and that many bytes; then per tuple a 16-bit field count and
// per field a 32-bit length (-1 = NULL) and the bytes; then a field count of -1 (the trailer).
// Integers are big-endian. It is fed pieces of any size (libpq's message boundaries do not
// matter) and reads each byte once (a tuple arriving in many pieces resumes where it stopped);
// every length is checked against the bytes that are there, so a malformed stream is an error,
// never a read out of bounds; memory is bounded by the largest tuple.
//
// CopyOutConnection is one libpq connection of its own, outside PgPool: for a few long reads
// (the audit service's Verify) where the pool's libpqxx connections cannot use binary COPY.
// Errors are mapped like the pool's (StatusFromSqlState), without the server's text.
// Not thread-safe (one caller at a time, like any libpq connection).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

typedef struct pg_conn PGconn;

namespace hie::pg {

// One tuple's fields; nullopt = NULL. The views are valid only during the callback.
using CopyFields = std::vector<std::optional<absl::string_view>>;
using CopyRowFn = std::function<absl::Status(const CopyFields&)>;

namespace internal {
// A tuple not yet whole: its field count, the (offset, length) of the fields read so far
// (offset -1 = NULL; offsets from the tuple's start, which is where the parser's buffer begins),
// and the offset just past them.
struct PartialCopyTuple {
  int16_t count = 0;
  std::vector<std::pair<int64_t, size_t>> spans;
  size_t end = 0;
};
}  // namespace internal

// A bigint field of binary COPY (8 bytes, big-endian); false when NULL or of another size.
bool CopyBigint(const std::optional<absl::string_view>& field, int64_t* out);

class BinaryCopyParser {
 public:
  // Parses what `bytes` completes and calls `row` for each whole tuple; the rest is kept for
  // the next call. Returns the first error (a malformed stream: INTERNAL; `row`'s own error as
  // it is); after an error the parser accepts nothing more.
  absl::Status Feed(absl::string_view bytes, const CopyRowFn& row);
  // OK when the trailer was read and nothing followed it; an error otherwise (a cut stream).
  absl::Status Finish() const;

 private:
  absl::Status Fail(absl::string_view what);

  std::string buffer_;  // bytes not yet parsed (from the start of an unfinished tuple)
  std::optional<internal::PartialCopyTuple> tuple_;
  bool header_done_ = false;
  bool trailer_seen_ = false;
  bool failed_ = false;
  CopyFields fields_;
};

class CopyOutConnection {
 public:
  // Opens a connection (libpq connect_timeout = `connect_timeout`, at least 2 s, unless the DSN
  // sets one). UNAVAILABLE when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<CopyOutConnection>> Open(const std::string& dsn,
                                                                 absl::Duration connect_timeout);
  ~CopyOutConnection();
  CopyOutConnection(const CopyOutConnection&) = delete;
  CopyOutConnection& operator=(const CopyOutConnection&) = delete;

  // Whether the server still answers (an empty query: one round trip).
  bool Alive();
  // Runs statements that return no rows (several may be separated by ';').
  absl::Status Exec(const std::string& sql);
  // Runs one `COPY (...) TO STDOUT (FORMAT binary)` and calls `row` per tuple, in the order the
  // server sends them. When `row` fails, the rest of the COPY is drained (the connection stays
  // usable) and that error is returned.
  absl::Status CopyOut(const std::string& copy_sql, const CopyRowFn& row);

 private:
  explicit CopyOutConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

}  // namespace hie::pg
