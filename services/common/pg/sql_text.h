#pragma once

// Statements as text: `EXECUTE name(literal, ...)` of server-side prepared statements, the
// array literals bound as one parameter each, and the preparing of a store's statements on the
// connections of its pool.
//
// Several such statements travel in one simple-protocol query (one round trip) while each keeps
// its prepared plan: no parse analysis or planning per call, which for small writes and keyed
// reads costs more than running them. Literals are quoted by libpq (text, bytea) or formatted
// from numbers, never spliced from unquoted input. Used by the identity, registry and locator
// stores.

#include <exception>
#include <functional>
#include <mutex>
#include <pqxx/connection>
#include <pqxx/connection_base>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

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

  // The first exception of quoting, if any (pqxx::argument_error: text with a NUL byte, or with
  // a multibyte sequence libpq finds cut short; other invalid UTF-8 the server refuses, SQLSTATE
  // 22021): the statement text is then not usable. Taken by the caller before sending.
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

// Named statements, (name, SQL), as a store prepares them.
using StatementList = std::vector<std::pair<std::string, std::string>>;

// Makes `statements` the prepared statements of `conn` (any others are deallocated), after
// `settings` (session settings such as "SET plan_cache_mode = force_generic_plan", or empty), in
// one round trip.
void PrepareStatements(pqxx::connection& conn, absl::string_view settings,
                       const StatementList& statements);

// The connections a store has prepared, by (address, backend pid): a store prepares each
// connection of its pool at its first use (a connection opened again is a new backend).
// Thread-safe.
class PreparedConnections {
 public:
  // Runs `prepare` on `conn` unless it ran on this connection before.
  void Ensure(pqxx::connection& conn, const std::function<void(pqxx::connection&)>& prepare);

 private:
  std::mutex mu_;
  std::set<std::pair<const void*, int>> prepared_;
};

}  // namespace hie::pg
