#include "services/locator/store/migrations.h"

#include <vector>

namespace hie::locator {

namespace {

// Version 1: every table of the locator store (PgLocatorStore is the only reader and writer).
//
// holdings: one row per source record. `location` (hie.locator.v1.RecordLocation, serialized,
// document_count left 0) IS the record with the columns after it; org, local_id, activity_ns
// (its last activity, unix nanoseconds) and removed are derived from it when it is written, for
// Locate (primary key) and ListLocations (holdings_org_activity_idx, keyset paging on
// (activity_ns, local_id) descending). removed_at: where the feeds stood at the removal (see
// Holding::removed_at_*; empty when never removed). Keys use the "C" collation.
//
// document_marks: every registry entry seen in the registry's feed, and whether it counts now.
// feed_positions: how far each followed feed has been applied (same transaction as the effects).
constexpr char kV1[] = R"sql(
CREATE TABLE locator.holdings (
  org                text COLLATE "C" NOT NULL,
  local_id           text COLLATE "C" NOT NULL,
  activity_ns        bigint NOT NULL,
  listed             boolean NOT NULL,
  removed            boolean NOT NULL,
  admin_asserted     boolean NOT NULL,
  registry_documents bigint NOT NULL,
  reported_documents bigint NOT NULL,
  removed_at         text COLLATE "C" NOT NULL,  -- "<identity seq> <registry version> <uuid>"
  location           bytea NOT NULL,
  PRIMARY KEY (org, local_id)
);
CREATE INDEX holdings_org_activity_idx
  ON locator.holdings (org, activity_ns DESC, local_id DESC);

CREATE TABLE locator.document_marks (
  entry_uuid text COLLATE "C" PRIMARY KEY,
  counted    boolean NOT NULL
);

CREATE TABLE locator.feed_positions (
  feed     text COLLATE "C" PRIMARY KEY,
  position text NOT NULL
);

CREATE TABLE locator.idempotency (
  key         text COLLATE "C" PRIMARY KEY,
  fingerprint bytea NOT NULL,
  response    bytea NOT NULL
);
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "locator store tables", kV1},
  };
  return kMigrations;
}

}  // namespace hie::locator
