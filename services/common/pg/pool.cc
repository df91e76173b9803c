#include "services/common/pg/pool.h"

#include <cmath>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"

namespace hie::pg {

absl::Status StatusFromSqlState(const std::string& state) {
  if (state == "40001") return absl::AbortedError("serialization failure; retry the transaction");
  if (state == "40P01") return absl::AbortedError("deadlock detected; retry the transaction");
  if (state == "57014") return absl::DeadlineExceededError("database statement timed out");
  if (state == "23505") return absl::AlreadyExistsError("unique constraint violated (23505)");
  if (state.rfind("23", 0) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("constraint violated (", state, ")"));
  }
  if (state.rfind("22", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid data (", state, ")"));
  }
  if (state == "40003") {
    return absl::UnknownError(
        "database statement outcome unknown (40003); reconcile by idempotency key");
  }
  if (state == "55P03") return absl::AbortedError("lock not available (55P03); retry");
  // The server cannot do the work now, through no fault of the request: a connection problem,
  // a shutdown, a read-only server (a failover in progress), insufficient resources (disk
  // full, out of memory, too many connections, lock table full), an I/O error. Callers retry.
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state == "25006" ||
      state.rfind("53", 0) == 0 || state.rfind("58", 0) == 0) {
    return absl::UnavailableError(absl::StrCat("database unavailable (", state, ")"));
  }
  return absl::InternalError(absl::StrCat("database error (", state, ")"));
}

absl::Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const pqxx::in_doubt_error&) {
    return absl::UnknownError("database commit outcome unknown; reconcile by idempotency key");
  } catch (const pqxx::broken_connection&) {
    return absl::UnavailableError("database connection lost");
  } catch (const pqxx::serialization_failure&) {
    return absl::AbortedError("serialization failure; retry the transaction");
  } catch (const pqxx::deadlock_detected&) {
    return absl::AbortedError("deadlock detected; retry the transaction");
  } catch (const pqxx::sql_error& e) {
    return StatusFromSqlState(e.sqlstate());
  } catch (const pqxx::argument_error&) {
    // A value libpq (or pg::Sql) refused to quote: not valid in the client encoding, or a NUL
    // byte. Its message can quote the bytes, so it is not passed on.
    return absl::InvalidArgumentError("invalid data (a text value is not valid UTF-8 text)");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("database client error: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(PgPoolOptions options) {
  if (options.size == 0) return absl::InvalidArgumentError("pool size must be at least 1");
  std::unique_ptr<PgPool> pool(new PgPool(std::move(options)));
  absl::StatusOr<std::unique_ptr<pqxx::connection>> first = pool->Open();
  if (!first.ok()) return first.status();
  pool->open_ = 1;
  pool->idle_.push_back(*std::move(first));
  return pool;
}

std::string WithConnectTimeout(const std::string& dsn, absl::Duration timeout) {
  if (dsn.find("connect_timeout") != std::string::npos || timeout <= absl::ZeroDuration()) {
    return dsn;
  }
  const int64_t seconds = std::max<int64_t>(2, absl::ToInt64Seconds(timeout));  // libpq's minimum
  const bool uri = dsn.rfind("postgres://", 0) == 0 || dsn.rfind("postgresql://", 0) == 0;
  if (!uri) return absl::StrCat(dsn, dsn.empty() ? "" : " ", "connect_timeout=", seconds);
  return absl::StrCat(dsn, dsn.find('?') == std::string::npos ? "?" : "&",
                      "connect_timeout=", seconds);
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Open() {
  try {
    auto conn = std::make_unique<pqxx::connection>(
        WithConnectTimeout(options_.dsn, options_.connect_timeout));
    if (options_.on_connect) options_.on_connect(*conn);
    {
      std::lock_guard lock(mu_);
      session_timeout_ms_.erase(conn.get());  // a new connection, perhaps at an old address
    }
    return conn;
  } catch (const pqxx::broken_connection&) {
    // libpq's message can contain the host and user, not PHI, but keep it terse and uniform.
    return absl::UnavailableError("cannot connect to PostgreSQL");
  } catch (...) {
    return StatusFromCurrentException();
  }
}

absl::StatusOr<PgPool::Slot> PgPool::Acquire(absl::Time deadline, bool fresh) {
  std::unique_ptr<pqxx::connection> closed;  // an idle one given up for a fresh one: closed last
  std::unique_lock lock(mu_);
  auto available = [this] { return !idle_.empty() || open_ < options_.size; };
  if (!available()) {
    if (waiters_ >= options_.max_waiters) {
      return absl::ResourceExhaustedError("database pool wait queue is full");
    }
    ++waiters_;
    bool got = released_.wait_until(lock, absl::ToChronoTime(deadline), available);
    --waiters_;
    if (!got) return absl::ResourceExhaustedError("no database connection free before deadline");
  }
  ++in_use_;
  if (!idle_.empty()) {
    Slot slot{std::move(idle_.back())};
    idle_.pop_back();
    if (!fresh) return slot;
    closed = std::move(slot.conn);  // its place is the one to open
    return Slot{nullptr};
  }
  ++open_;  // reserve the right to open one; Release(nullptr) gives it back on failure
  return Slot{nullptr};
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (conn != nullptr && conn->is_open()) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  released_.notify_one();
}

bool PgPool::SessionTimeoutFits(const pqxx::connection& conn, int64_t timeout_ms) const {
  std::lock_guard lock(mu_);
  auto it = session_timeout_ms_.find(&conn);
  if (it == session_timeout_ms_.end()) return false;
  const int64_t set = it->second;
  if (timeout_ms == 0) return set == 0;
  return set != 0 && set <= timeout_ms && 2 * set >= timeout_ms;
}

absl::Status PgPool::Run(absl::Time deadline, const Work& work) {
  return RunTimed(deadline, [&](pqxx::connection& conn, int64_t timeout_ms) {
    if (!SessionTimeoutFits(conn, timeout_ms)) {
      pqxx::nontransaction(conn).exec(absl::StrCat("SET statement_timeout = ", timeout_ms));
      std::lock_guard lock(mu_);
      session_timeout_ms_[&conn] = timeout_ms;
    }
    return work(conn);
  });
}

absl::Status PgPool::RunTimed(absl::Time deadline, const TimedWork& work) {
  for (int attempt = 0;; ++attempt) {
    // The retry after a broken connection opens a new one: the idle ones were opened to the same
    // server and are as likely broken (all of them after a restart or a failover).
    absl::StatusOr<Slot> slot = Acquire(deadline, /*fresh=*/attempt > 0);
    if (!slot.ok()) return slot.status();
    std::unique_ptr<pqxx::connection> conn = std::move(slot->conn);
    if (conn == nullptr) {
      absl::StatusOr<std::unique_ptr<pqxx::connection>> opened = Open();
      if (!opened.ok()) {
        Release(nullptr);
        return opened.status();
      }
      conn = *std::move(opened);
    }
    absl::Duration remaining = deadline - absl::Now();
    if (remaining <= absl::ZeroDuration()) {
      Release(std::move(conn));
      return absl::DeadlineExceededError("deadline passed before the database call");
    }
    bool broken = false;
    absl::Status status;
    try {
      // No deadline (InfiniteFuture) means no statement timeout: 0 disables it.
      int64_t timeout_ms =
          remaining == absl::InfiniteDuration()
              ? 0
              : std::max<int64_t>(1, std::ceil(absl::ToDoubleMilliseconds(remaining)));
      status = work(*conn, timeout_ms);
    } catch (const pqxx::broken_connection&) {
      broken = true;
      status = absl::UnavailableError("database connection lost");
    } catch (...) {
      status = StatusFromCurrentException();
    }
    if (broken || !conn->is_open()) {
      {
        std::lock_guard lock(mu_);
        ++replaced_;
      }
      Log(LogLevel::kWarning, "pg_connection_dropped", {{"attempt", attempt}});
      Release(nullptr);
      if (broken && attempt == 0) continue;  // nothing can have committed: safe to retry once
      return status;
    }
    Release(std::move(conn));
    return status;
  }
}

PgPoolStats PgPool::Stats() const {
  std::lock_guard lock(mu_);
  return PgPoolStats{open_, in_use_, waiters_, replaced_};
}

}  // namespace hie::pg
