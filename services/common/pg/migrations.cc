#include "services/common/pg/migrations.h"

#include <openssl/evp.h>
#include <pqxx/result>
#include <pqxx/transaction>

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "services/common/logging.h"

namespace hie::pg {
namespace {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

bool IsValidSchemaName(std::string_view schema) {
  if (schema.empty() || schema.size() > 48) return false;
  if (!(schema[0] >= 'a' && schema[0] <= 'z') && schema[0] != '_') return false;
  for (char c : schema) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<int> ApplyMigrations(PgPool& pool, std::string_view schema_view,
                                    std::span<const Migration> migrations, absl::Time deadline) {
  const std::string schema(schema_view);
  if (!IsValidSchemaName(schema)) {
    return absl::InvalidArgumentError("schema name must match [a-z_][a-z0-9_]{0,47}");
  }
  for (size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      return absl::InvalidArgumentError("migration versions must be strictly increasing");
    }
  }
  const std::string table = absl::StrCat(schema, ".schema_migrations");
  int applied = 0;
  absl::Status status = pool.Run(deadline, [&](pqxx::connection& conn) -> absl::Status {
    applied = 0;
    pqxx::work tx(conn);
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                   absl::StrCat("hie.migrations.", schema));
    tx.exec(absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", schema));
    tx.exec(absl::StrCat("CREATE TABLE IF NOT EXISTS ", table,
                         " (version integer PRIMARY KEY, name text NOT NULL,"
                         " sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"));
    std::map<int, std::string> done;
    for (const auto& row : tx.exec(absl::StrCat("SELECT version, sha256 FROM ", table))) {
      done[row[0].as<int>()] = row[1].as<std::string>();
    }
    for (const Migration& m : migrations) {
      std::string digest = Sha256Hex(m.sql);
      if (auto it = done.find(m.version); it != done.end()) {
        if (it->second != digest) {
          return absl::FailedPreconditionError(absl::StrCat(
              "migration ", schema, " v", m.version, " was changed after it was applied"));
        }
        continue;
      }
      tx.exec(m.sql);
      tx.exec_params(absl::StrCat("INSERT INTO ", table, " (version, name, sha256) VALUES ($1, $2, $3)"),
                     m.version, m.name, digest);
      ++applied;
    }
    tx.commit();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  Log(LogLevel::kInfo, "migrations_applied", {{"schema", schema}, {"applied", applied}});
  return applied;
}

}  // namespace hie::pg
