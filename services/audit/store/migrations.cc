#include "services/audit/store/migrations.h"

#include <vector>

namespace hie::audit {

namespace {

// Version 1: every table of the audit store (PgAuditStore is the only reader and writer).
//
// events holds the chain. `encoding` (core/canonical.h) IS the record: search answers are
// decoded from it and verification hashes it; the columns beside it are derived from the event
// once, when it is appended, for search and retention only. Times are unix nanoseconds (`*_ns`,
// as in the protobuf Timestamp); enums are their protobuf numbers; keys use the "C" collation.
//
// Partitioning. events and event_patients are partitioned by RANGE (record_time_ns), one
// partition per calendar month (UTC): audit.events_YYYYMM and audit.event_patients_YYYYMM, FROM
// the month's first nanosecond TO the next month's. The migration creates none: PgAuditStore
// creates the current and the next month when it starts and, in Append, the month of an event
// that has none, always under a transaction-scoped advisory lock (kPartitionLock) with CREATE
// TABLE IF NOT EXISTS, so that concurrent creators serialise and the later ones find it done.
// Retention drops whole partitions (DROP TABLE: no vacuum debt), oldest first.
//
// A primary key of a partitioned table must contain the partition key: (sequence,
// record_time_ns). It is also the index ScanChain reads in sequence order. Sequences are unique
// because appends are serialised on the head row and check that they continue it; the key does
// not stop a tampered duplicate in another month, which ScanChain shows as it is.
//
// Search indexes: newest first by (event_time_ns, sequence), alone (time range only) or behind
// an actor org, an actor user or a custodian org; request id alone; patients through
// event_patients (one row per event and patient source id).
//
// event_ids is the idempotency index (one row per event id, the primary key catches a retried
// or duplicated id); not partitioned, its rows are deleted with their month (joined on event_id
// with the month's partition, migration 2; version 1 deleted them by sequence, through an index
// every append had to maintain).
constexpr char kV1[] = R"sql(
CREATE TABLE audit.events (
  sequence       bigint NOT NULL,
  event_id       text COLLATE "C" NOT NULL,
  record_time_ns bigint NOT NULL,
  event_time_ns  bigint NOT NULL,
  type           smallint NOT NULL,          -- hie.audit.v1.EventType
  outcome        smallint NOT NULL,          -- hie.audit.v1.Outcome
  purpose        smallint NOT NULL,          -- hie.common.v1.PurposeOfUse
  actor_org      text COLLATE "C" NOT NULL,
  actor_user_id  text COLLATE "C" NOT NULL,
  custodian_org  text COLLATE "C" NOT NULL,
  request_id     text COLLATE "C" NOT NULL,
  break_glass    boolean NOT NULL,
  encoding       bytea NOT NULL,             -- EncodeEvent: the record itself
  hash           bytea NOT NULL,
  previous_hash  bytea NOT NULL,
  fingerprint    bytea NOT NULL,             -- ContentFingerprint
  PRIMARY KEY (sequence, record_time_ns)
) PARTITION BY RANGE (record_time_ns);
CREATE INDEX events_time_idx ON audit.events (event_time_ns DESC, sequence DESC);
CREATE INDEX events_actor_org_idx ON audit.events (actor_org, event_time_ns, sequence);
CREATE INDEX events_actor_user_idx ON audit.events (actor_user_id, event_time_ns, sequence);
CREATE INDEX events_custodian_idx ON audit.events (custodian_org, event_time_ns, sequence);
CREATE INDEX events_request_idx ON audit.events (request_id);

CREATE TABLE audit.event_patients (
  org            text COLLATE "C" NOT NULL,
  local_id       text COLLATE "C" NOT NULL,
  event_time_ns  bigint NOT NULL,
  sequence       bigint NOT NULL,
  record_time_ns bigint NOT NULL             -- the partition key, and the event's key with sequence
) PARTITION BY RANGE (record_time_ns);
CREATE INDEX event_patients_idx
  ON audit.event_patients (org, local_id, event_time_ns DESC, sequence DESC);

CREATE TABLE audit.event_ids (
  event_id       text COLLATE "C" PRIMARY KEY,
  sequence       bigint NOT NULL,
  hash           bytea NOT NULL,
  record_time_ns bigint NOT NULL,
  fingerprint    bytea NOT NULL
);
CREATE INDEX event_ids_sequence_idx ON audit.event_ids (sequence);

-- One row each (the boolean key admits only true).
CREATE TABLE audit.head (
  one            boolean PRIMARY KEY DEFAULT true CHECK (one),
  sequence       bigint NOT NULL,
  hash           bytea NOT NULL,
  record_time_ns bigint NOT NULL
);
INSERT INTO audit.head (sequence, hash, record_time_ns) VALUES (0, decode(repeat('00', 32), 'hex'), 0);

CREATE TABLE audit.horizon (
  one            boolean PRIMARY KEY DEFAULT true CHECK (one),
  first_sequence bigint NOT NULL,
  previous_hash  bytea NOT NULL
);
INSERT INTO audit.horizon (first_sequence, previous_hash) VALUES (1, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit.positions (
  feed     text COLLATE "C" PRIMARY KEY,
  position bigint NOT NULL
);

CREATE TABLE audit.checkpoints (
  sequence       bigint PRIMARY KEY,
  create_time_ns bigint NOT NULL,
  key_id         text COLLATE "C" NOT NULL,
  algorithm      text NOT NULL,
  head_hash      bytea NOT NULL,
  signature      bytea NOT NULL,
  checkpoint     bytea NOT NULL              -- hie.audit.v1.Checkpoint, serialized
);
CREATE INDEX checkpoints_time_idx ON audit.checkpoints (create_time_ns);

CREATE TABLE audit.signing_keys (
  key_id         text COLLATE "C" PRIMARY KEY,
  algorithm      text NOT NULL,
  public_key_pem text NOT NULL,
  valid_from_ns  bigint NOT NULL,
  valid_until_ns bigint                      -- NULL while current
);
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "audit store tables", kV1},
      // One b-tree insert fewer per event (of nine): retention now finds a month's ids through
      // the month's own partition.
      {2, "event_ids without its sequence index",
       "DROP INDEX IF EXISTS audit.event_ids_sequence_idx"},
  };
  return kMigrations;
}

}  // namespace hie::audit
