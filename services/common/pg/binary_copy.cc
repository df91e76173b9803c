#include "services/common/pg/binary_copy.h"

#include <libpq-fe.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "services/common/pg/pool.h"

namespace hie::pg {
namespace {

constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // and a NUL: 11 bytes
constexpr size_t kSignatureSize = 11;
constexpr size_t kHeaderSize = kSignatureSize + 8;  // flags, extension length

uint32_t Be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
int16_t Be16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<int16_t>((u[0] << 8) | u[1]);
}

// The status of the result `r` (which it frees).
absl::Status StatusOfResult(PGresult* r, ExecStatusType wanted) {
  ExecStatusType got = PQresultStatus(r);
  absl::Status status = absl::OkStatus();
  if (got != wanted) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    status = state != nullptr ? StatusFromSqlState(state)
                              : absl::UnavailableError("database connection lost");
  }
  PQclear(r);
  return status;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BinaryCopyParser
// ---------------------------------------------------------------------------------------------

bool CopyBigint(const std::optional<absl::string_view>& field, int64_t* out) {
  if (!field || field->size() != 8) return false;
  uint64_t v = 0;
  for (unsigned char c : *field) v = (v << 8) | c;
  *out = static_cast<int64_t>(v);
  return true;
}

absl::Status BinaryCopyParser::Fail(absl::string_view what) {
  failed_ = true;
  return absl::InternalError(absl::StrCat("binary COPY stream: ", what));
}

absl::Status BinaryCopyParser::Feed(absl::string_view bytes, const CopyRowFn& row) {
  if (failed_) return absl::InternalError("binary COPY stream: fed after an error");
  // Parsed in place when nothing is left over (libpq hands one tuple per message, so usually);
  // only an incomplete rest is copied.
  const bool in_place = buffer_.empty();
  if (!in_place) buffer_.append(bytes.data(), bytes.size());
  const char* data = in_place ? bytes.data() : buffer_.data();
  const size_t size = in_place ? bytes.size() : buffer_.size();
  size_t at = 0;
  absl::Status status;
  while (status.ok()) {
    const size_t left = size - at;
    if (trailer_seen_) {
      if (left > 0) status = Fail("bytes after the trailer");
      break;
    }
    if (!header_done_) {
      if (left < kHeaderSize) break;
      if (std::memcmp(data, kSignature, kSignatureSize) != 0) {
        status = Fail("not the binary COPY signature");
        break;
      }
      if (Be32(data + kSignatureSize) & (1u << 16)) {
        status = Fail("rows with OIDs");
        break;
      }
      const uint64_t extension = Be32(data + kSignatureSize + 4);
      if (left < kHeaderSize + extension) break;
      at += kHeaderSize + extension;
      header_done_ = true;
      continue;
    }
    if (!tuple_) {
      if (left < 2) break;
      const int16_t count = Be16(data + at);
      if (count == -1) {
        trailer_seen_ = true;
        at += 2;
        continue;
      }
      if (count < 0) {
        status = Fail("negative field count");
        break;
      }
      tuple_.emplace();
      tuple_->count = count;
      tuple_->end = 2;
    }
    // The fields read so far are kept (offsets from the tuple's start), so a tuple arriving in
    // many pieces is still read once: linear in the stream. Lengths are checked before reading.
    internal::PartialCopyTuple& t = *tuple_;
    bool whole = true;
    while (static_cast<int16_t>(t.spans.size()) < t.count) {
      if (left - t.end < 4) {
        whole = false;
        break;
      }
      const auto length = static_cast<int32_t>(Be32(data + at + t.end));
      if (length < -1) {
        status = Fail("negative field length");
        break;
      }
      const size_t bytes_after = length == -1 ? 0 : static_cast<size_t>(length);
      if (left - t.end - 4 < bytes_after) {
        whole = false;
        break;
      }
      t.spans.emplace_back(length == -1 ? -1 : static_cast<int64_t>(t.end + 4), bytes_after);
      t.end += 4 + bytes_after;
    }
    if (!status.ok() || !whole) break;
    fields_.clear();
    for (const auto& [offset, length] : t.spans) {
      fields_.push_back(offset < 0 ? std::nullopt
                                   : std::optional<absl::string_view>(
                                         absl::string_view(data + at + offset, length)));
    }
    at += t.end;
    tuple_.reset();
    status = row(fields_);
    if (!status.ok()) failed_ = true;
  }
  if (in_place) {
    buffer_.assign(data + at, size - at);
  } else {
    buffer_.erase(0, at);
  }
  return status;
}

absl::Status BinaryCopyParser::Finish() const {
  if (failed_) return absl::InternalError("binary COPY stream: failed earlier");
  if (!trailer_seen_ || !buffer_.empty() || tuple_) {
    return absl::InternalError("binary COPY stream: cut before its trailer");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// CopyOutConnection
// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<CopyOutConnection>> CopyOutConnection::Open(
    const std::string& dsn, absl::Duration connect_timeout) {
  PGconn* conn = PQconnectdb(WithConnectTimeout(dsn, connect_timeout).c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    if (conn != nullptr) PQfinish(conn);
    return absl::UnavailableError("database unreachable (binary COPY connection)");
  }
  return std::unique_ptr<CopyOutConnection>(new CopyOutConnection(conn));
}

CopyOutConnection::~CopyOutConnection() { PQfinish(conn_); }

bool CopyOutConnection::Alive() {
  PGresult* r = PQexec(conn_, "");
  const bool alive = r != nullptr && PQresultStatus(r) == PGRES_EMPTY_QUERY;
  PQclear(r);
  return alive;
}

absl::Status CopyOutConnection::Exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (r == nullptr) return absl::UnavailableError("database connection lost");
  return StatusOfResult(r, PGRES_COMMAND_OK);
}

absl::Status CopyOutConnection::CopyOut(const std::string& copy_sql, const CopyRowFn& row) {
  PGresult* r = PQexec(conn_, copy_sql.c_str());
  if (r == nullptr) return absl::UnavailableError("database connection lost");
  if (absl::Status started = StatusOfResult(r, PGRES_COPY_OUT); !started.ok()) return started;
  BinaryCopyParser parser;
  absl::Status rows;  // the parser's or the callback's first error; the COPY is drained anyway
  for (;;) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(conn_, &buffer, /*async=*/0);
    if (n == -1) break;  // done: the final result follows
    if (n < 0) return absl::UnavailableError("database connection lost during COPY");
    if (rows.ok()) rows = parser.Feed(absl::string_view(buffer, static_cast<size_t>(n)), row);
    PQfreemem(buffer);
  }
  absl::Status end = absl::OkStatus();
  while ((r = PQgetResult(conn_)) != nullptr) {
    absl::Status s = StatusOfResult(r, PGRES_COMMAND_OK);
    if (end.ok()) end = s;
  }
  if (!rows.ok()) return rows;
  if (!end.ok()) return end;
  return parser.Finish();
}

}  // namespace hie::pg
