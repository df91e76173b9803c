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
// next values of feed_version; (version, entry_uuid) orders the feed. (entries_unstamped_idx is
// dropped by version 4.)
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

// Version 2: GetDocuments by location. Three columns derived from the entry when it is written
// (member_org, repository_unique_id, and the effective retrieve key: location.retrieve_key, or
// the unique_id when the entry gives none; RetrieveKeyOf in registry_store.h), filled here for
// the rows already stored by decoding their serialized entries (field 23 `location`: 1
// member_org, 2 repository_unique_id, 3 retrieve_key) with two helper functions dropped at the
// end. A row that does not parse gets '' for the location's parts (no valid lookup names it);
// GetDocuments skips such rows anyway. One pass over the table, inside the migration's
// transaction: registrations wait for it.
constexpr char kV2[] = R"sql(
-- The last occurrence of length-delimited field `wanted` in a serialized protobuf message, or
-- NULL when absent or when the bytes do not parse.
CREATE FUNCTION registry.v2_pb_field(msg bytea, wanted int) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
  pos int := 0;
  n int := length(msg);
  tag bigint;
  size bigint;
  shift int;
  b int;
  found bytea := NULL;
BEGIN
  WHILE pos < n LOOP
    tag := 0;
    shift := 0;
    LOOP
      IF pos >= n OR shift > 28 THEN RETURN NULL; END IF;
      b := get_byte(msg, pos);
      pos := pos + 1;
      tag := tag | ((b & 127)::bigint << shift);
      shift := shift + 7;
      EXIT WHEN b < 128;
    END LOOP;
    CASE tag & 7
      WHEN 0 THEN
        LOOP
          IF pos >= n THEN RETURN NULL; END IF;
          b := get_byte(msg, pos);
          pos := pos + 1;
          EXIT WHEN b < 128;
        END LOOP;
      WHEN 1 THEN
        pos := pos + 8;
      WHEN 5 THEN
        pos := pos + 4;
      WHEN 2 THEN
        size := 0;
        shift := 0;
        LOOP
          IF pos >= n OR shift > 28 THEN RETURN NULL; END IF;
          b := get_byte(msg, pos);
          pos := pos + 1;
          size := size | ((b & 127)::bigint << shift);
          shift := shift + 7;
          EXIT WHEN b < 128;
        END LOOP;
        IF pos + size > n THEN RETURN NULL; END IF;
        IF tag >> 3 = wanted THEN
          found := substring(msg FROM pos + 1 FOR size::int);
        END IF;
        pos := pos + size::int;
      ELSE
        RETURN NULL;
    END CASE;
  END LOOP;
  IF pos > n THEN RETURN NULL; END IF;
  RETURN found;
END
$fn$;

-- UTF-8 bytes as text, or NULL when they are not valid UTF-8.
CREATE FUNCTION registry.v2_text(bytes bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
BEGIN
  RETURN convert_from(bytes, 'UTF8');
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$fn$;

ALTER TABLE registry.entries
  ADD COLUMN member_org text COLLATE "C",
  ADD COLUMN repository_unique_id text COLLATE "C",
  ADD COLUMN retrieve_key text COLLATE "C";

UPDATE registry.entries e
   SET (member_org, repository_unique_id, retrieve_key) = (
         SELECT COALESCE(registry.v2_text(registry.v2_pb_field(l.location, 1)), ''),
                COALESCE(registry.v2_text(registry.v2_pb_field(l.location, 2)), ''),
                COALESCE(NULLIF(registry.v2_text(registry.v2_pb_field(l.location, 3)), ''),
                         e.unique_id)
           FROM (SELECT registry.v2_pb_field(e.entry, 23) AS location) l);

ALTER TABLE registry.entries
  ALTER COLUMN member_org SET NOT NULL,
  ALTER COLUMN repository_unique_id SET NOT NULL,
  ALTER COLUMN retrieve_key SET NOT NULL;
CREATE INDEX entries_location_idx
  ON registry.entries (member_org, repository_unique_id, retrieve_key);

DROP FUNCTION registry.v2_text(bytea);
DROP FUNCTION registry.v2_pb_field(bytea, int);
)sql";

// Version 3: the wide values compress with lz4 instead of pglz. A stored response of a
// submission set of 10 is about 5.8 KB, past the 2 KB beyond which PostgreSQL compresses a row's
// values; pglz_compress was 2.6% of the machine's samples under publication load, and lz4 costs
// a fraction of that. Only values written from now on use it (both read back alike). A server
// built without lz4 keeps pglz: the change is skipped, not fatal.
constexpr char kV3[] = R"sql(
DO $$
BEGIN
  ALTER TABLE registry.idempotency ALTER COLUMN response SET COMPRESSION lz4;
  ALTER TABLE registry.entries ALTER COLUMN entry SET COMPRESSION lz4;
  ALTER TABLE registry.submission_sets ALTER COLUMN submission_set SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not available: registry values stay compressed with pglz';
END
$$;
)sql";

// Version 4: one index fewer to maintain per entry written. entries_feed_idx (version,
// entry_uuid) already holds the unstamped rows (version NULL sorts last) in entry_uuid order;
// the stamper asks for them as `WHERE version IS NULL ORDER BY version, entry_uuid`, which reads
// that index in order and stops at its LIMIT, as the partial index did.
constexpr char kV4[] = R"sql(
DROP INDEX registry.entries_unstamped_idx;
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "registry store tables", kV1},
      {2, "entries by location (member org, repository, retrieve key)", kV2},
      {3, "wide values compressed with lz4", kV3},
      {4, "unstamped entries found through the feed index", kV4},
  };
  return kMigrations;
}

}  // namespace hie::registry
