#pragma once

// A bounded pool of PostgreSQL connections (libpqxx connections are single-threaded: each is
// used by one caller at a time).
//
// Contract:
//  - At most `size` connections exist; they are opened lazily and re-created after breaking.
//  - Run() waits for a free connection until the caller's deadline. When none frees up in time,
//    or more than `max_waiters` callers are already waiting, it answers RESOURCE_EXHAUSTED.
//  - The remaining time until the deadline bounds the connection's statement_timeout, so a
//    query never outlives its request (a cancelled query answers DEADLINE_EXCEEDED). Run() sets
//    it itself, one round trip, skipped when the session's timeout (as Run last set it on that
//    connection) is already between half the remaining time and all of it: short reads on a
//    hot path (Locate) then cost one round trip. RunTimed() hands it to the work, which must
//    apply it, e.g. as `SET LOCAL statement_timeout` sent together with its first statement
//    (never as a session setting: Run relies on knowing it).
//  - A connection found broken (backend killed, network reset) is dropped. If it broke before
//    the work could have committed, the work is retried once on a newly opened connection (not
//    another idle one: after a server restart every idle connection is broken, and each is
//    found so only when used); `work` must therefore be safe to run twice (true for anything
//    that only talks to the database).
//  - libpqxx exceptions are mapped to codes: serialization failure / deadlock / lock not
//    available -> ABORTED, unknown commit outcome -> UNKNOWN, unique violation ->
//    ALREADY_EXISTS, other constraint violations -> FAILED_PRECONDITION, data exceptions ->
//    INVALID_ARGUMENT, statement timeout -> DEADLINE_EXCEEDED; a server that cannot do the work
//    now (unreachable, shutting down, read-only during a failover, out of disk, memory,
//    connections or lock slots, I/O error: SQLSTATE 08, 57P, 25006, 53, 58) -> UNAVAILABLE;
//    anything else -> INTERNAL. Messages carry the SQLSTATE, never the server's text (which can
//    quote row values, i.e. PHI).
// Thread-safe.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hie::pg {

struct PgPoolOptions {
  std::string dsn;
  size_t size = 4;
  size_t max_waiters = 64;
  // How long opening a connection may take (libpq connect_timeout, at least 2 s), unless the
  // DSN sets connect_timeout itself. Without it a black-holed server stalls a caller for the
  // kernel's TCP timeout (minutes), beyond every request's deadline.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Runs on every newly opened connection, e.g. to prepare statements (prepared statements
  // belong to one connection, so they are re-created with it).
  std::function<void(pqxx::connection&)> on_connect;
};

struct PgPoolStats {
  size_t open = 0;        // connections that exist
  size_t in_use = 0;      // connections lent out
  size_t waiters = 0;     // callers waiting for one
  uint64_t replaced = 0;  // broken connections dropped since start
};

class PgPool {
 public:
  // Opens one connection to check the DSN; UNAVAILABLE when the server cannot be reached.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PgPool>> Create(PgPoolOptions options);

  using Work = std::function<absl::Status(pqxx::connection&)>;
  // Runs `work` on a pooled connection (see the contract above). Returns work's status, or the
  // pool's own error.
  [[nodiscard]] absl::Status Run(absl::Time deadline, const Work& work);

  // As Run, but the session's statement_timeout is left alone: `work` gets the timeout in
  // milliseconds (0 = none) and must apply it to every statement it sends.
  using TimedWork = std::function<absl::Status(pqxx::connection&, int64_t statement_timeout_ms)>;
  [[nodiscard]] absl::Status RunTimed(absl::Time deadline, const TimedWork& work);

  PgPoolStats Stats() const;
  // The DSN connections are opened with (for a connection of its own, e.g. CopyOutConnection).
  const std::string& dsn() const { return options_.dsn; }

 private:
  explicit PgPool(PgPoolOptions options) : options_(std::move(options)) {}

  // A lent connection, or a permit to open one (conn == nullptr).
  struct Slot {
    std::unique_ptr<pqxx::connection> conn;
  };
  // `fresh`: a permit to open a new connection (an idle one, if any, is closed to make room).
  absl::StatusOr<Slot> Acquire(absl::Time deadline, bool fresh);
  void Release(std::unique_ptr<pqxx::connection> conn);  // nullptr = the connection was dropped
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open();
  // Whether the statement_timeout Run last set on `conn` serves `timeout_ms` (see above).
  bool SessionTimeoutFits(const pqxx::connection& conn, int64_t timeout_ms) const;

  const PgPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::map<const pqxx::connection*, int64_t> session_timeout_ms_;  // what Run set, per connection
  size_t open_ = 0;
  size_t in_use_ = 0;
  size_t waiters_ = 0;
  uint64_t replaced_ = 0;
};

// Maps a libpqxx/std exception (the one being handled) to a status, as described above.
absl::Status StatusFromCurrentException();
// The status of a server error with this SQLSTATE (the codes above).
absl::Status StatusFromSqlState(const std::string& state);

// `dsn` with libpq's connect_timeout set to `timeout` (whole seconds, at least 2), unless it
// already sets one. Handles key=value and URI DSNs.
std::string WithConnectTimeout(const std::string& dsn, absl::Duration timeout);

}  // namespace hie::pg
