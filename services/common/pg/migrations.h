#pragma once

// Versioned schema migrations, applied when a service starts.
//
// Each service owns one PostgreSQL schema and lists its migrations in code, in version order.
// ApplyMigrations runs, in one transaction, every migration of that schema not yet recorded in
// `<schema>.schema_migrations`, under a transaction-scoped advisory lock keyed by the schema
// name: concurrent starters (several replicas, or a restart during a deploy) serialise on the
// lock, and the later ones find nothing left to do. Either all pending migrations apply or none.
//
// An applied migration is immutable: if the SQL of an applied version differs from the code's
// (by SHA-256), startup fails with FAILED_PRECONDITION. Change a schema by adding a version.
// Statements that cannot run inside a transaction (CREATE INDEX CONCURRENTLY) are not allowed.

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/pg/pool.h"

namespace hie::pg {

struct Migration {
  int version;       // 1, 2, 3, ... strictly increasing
  std::string name;  // short description, recorded with the version
  std::string sql;   // may hold several statements
};

// Returns how many migrations this call applied (0 when the schema was up to date).
// INVALID_ARGUMENT for a bad schema name or unordered versions.
[[nodiscard]] absl::StatusOr<int> ApplyMigrations(PgPool& pool, std::string_view schema,
                                                  std::span<const Migration> migrations,
                                                  absl::Time deadline);

}  // namespace hie::pg
