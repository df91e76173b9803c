#include "services/registry/store/migrations.h"

#include <vector>

namespace hie::registry {

namespace {

// Version 1: every table of the registry store (PgRegistryStore is the only reader and writer).
//
// entries holds one row per version of a document. `entry` (hie.registry.v1.DocumentEntry,
// serialized) IS the record; the columns beside it are derived from it when it is written, for
// lookups, FindDocuments and the change feed. Times are unix nanoseconds; enums their protobuf
// numbers; keys use the "C" collation.
//
// FindDocuments reads a patient's entries newest first through entries_patient_idx (keyset
// paging on (creation_ns, entry_uuid)) and checks the code filters on the decoded rows: a
// patient's entries are few enough (the benchmark's busiest patient holds 1,000).
//
// The change feed: a writer leaves `version` NULL on every entry it inserts or deprecates; the
// stamper (PgRegistryStore::StampChanges, one at a time) later gives committed NULL rows the
// next values of feed_version; (version, entry_uuid) orders the feed.
constexpr char kV1[] = R"sql(
CREATE SEQUENCE registry.feed_version;

CREATE TABLE registry.entries (
  entry_uuid  text COLLATE "C" PRIMARY KEY,
  unique_id   text COLLATE "C" NOT NULL UNIQUE,
  org         text COLLATE "C" NOT NULL,
  local_id    text COLLATE "C" NOT NULL,
  status      smallint NOT NULL,            -- hie.registry.v1.AvailabilityStatus
  creation_ns bigint NOT NULL,
  version     bigint,                       -- NULL until stamped into the change feed
  entry       bytea NOT NULL
);
CREATE INDEX entries_patient_idx
  ON registry.entries (org, local_id, creation_ns DESC, entry_uuid DESC);
CREATE INDEX entries_feed_idx ON registry.entries (version, entry_uuid);
CREATE INDEX entries_unstamped_idx ON registry.entries (entry_uuid) WHERE version IS NULL;

CREATE TABLE registry.submission_sets (
  id             text COLLATE "C" PRIMARY KEY,
  unique_id      text COLLATE "C" NOT NULL UNIQUE,
  source_org     text COLLATE "C" NOT NULL,
  submission_ns  bigint NOT NULL,
  submission_set bytea NOT NULL              -- hie.registry.v1.SubmissionSet, serialized
);

CREATE TABLE registry.associations (
  seq        bigserial PRIMARY KEY,          -- insertion order (GetRelated answers oldest first)
  id         text COLLATE "C" NOT NULL UNIQUE,
  type       smallint NOT NULL,              -- hie.registry.v1.AssociationType
  source     text COLLATE "C" NOT NULL,      -- entry_uuid
  target     text COLLATE "C" NOT NULL       -- entry_uuid
);
CREATE INDEX associations_source_idx ON registry.associations (source);
CREATE INDEX associations_target_idx ON registry.associations (target);

CREATE TABLE registry.idempotency (
  key         text COLLATE "C" PRIMARY KEY,
  fingerprint bytea NOT NULL,
  response    bytea NOT NULL
);
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "registry store tables", kV1},
  };
  return kMigrations;
}

}  // namespace hie::registry
