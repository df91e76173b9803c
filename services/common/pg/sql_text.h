#pragma once

// Statements as text: `EXECUTE name(literal, ...)` of server-side prepared statements, and the
// array literals bound as one parameter each.
//
// Several such statements travel in one simple-protocol query (one round trip) while each keeps
// its prepared plan: no parse analysis or planning per call, which for small writes and keyed
// reads costs more than running them. Literals are quoted by libpq (text, bytea) or formatted
// from numbers, never spliced from unquoted input. Used by the identity and registry stores.

#include <exception>
#include <pqxx/connection_base>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hie::pg {

// A bytea argument of Sql::Execute (the bytes as they are, quoted as hex by libpq).
struct Bytea {
  const std::string& bytes;
};

// Builds `EXECUTE statement(arguments)` texts on one connection (libpq's quoting depends on
// the connection's encoding settings). Not thread-safe (one per caller, like the connection).
class Sql {
 public:
  explicit Sql(pqxx::connection_base& conn) : conn_(conn) {}

  // The first exception of quoting (libpq refuses text that is not valid UTF-8), if any: the
  // statement text is then not usable. Taken by the caller before sending.
  std::exception_ptr TakeError() { return std::exchange(error_, nullptr); }

  template <typename... Args>
  std::string Execute(const char* statement, const Args&... args) {
    std::string sql = absl::StrCat("EXECUTE ", statement);
    if constexpr (sizeof...(args) > 0) {
      const char* separator = "(";
      ((absl::StrAppend(&sql, separator, Literal(args)), separator = ", "), ...);
      sql += ')';
    }
    return sql;
  }

 private:
  std::string Literal(const std::string& v);
  std::string Literal(const Bytea& v);
  std::string Literal(bool v) { return v ? "true" : "false"; }
  std::string Literal(double v) { return absl::StrFormat("'%.17g'", v); }
  template <typename T>
  requires std::is_integral_v<T> std::string Literal(T v) { return absl::StrCat(v); }

  pqxx::connection_base& conn_;
  std::exception_ptr error_;
};

// A text[] literal ({"a","b"}: every element quoted, '"' and '\' escaped), to be bound as one
// text parameter (quoted again by Sql::Execute). An empty list is {}.
std::string TextArray(const std::vector<std::string>& items);

// A bytea[] literal: each element as PostgreSQL's hex form (\x0a1b...), quoted as in TextArray.
std::string ByteaArray(const std::vector<std::string>& items);

// A numeric array literal ({1,2,3}), bound as one parameter.
template <typename T>
std::string NumberArray(const std::vector<T>& items) {
  return absl::StrCat("{", absl::StrJoin(items, ","), "}");
}

}  // namespace hie::pg
