#include "services/identity/store/migrations.h"

#include <vector>

namespace hie::identity {

namespace {

// Version 1: every table of the identity store (PgIdentityStore is the only reader and writer).
// Protobuf payloads are stored serialized (bytea); the columns beside them are the ones lookups,
// filters and ordering need, plus a few for operators' SQL. Key columns use the "C" collation
// (byte order: cheap comparisons, the same order as RecordKey). Times that are filtered or
// ordered on are exact unix nanoseconds (`*_ns`, as in the protobuf Timestamp); the others are
// timestamptz for readability. Enums are their protobuf numbers.
constexpr char kV1[] = R"sql(
CREATE SEQUENCE identity.person_seq;
CREATE SEQUENCE identity.task_seq;
CREATE SEQUENCE identity.event_seq;

-- One row per source record (org, local_id): its current version and state.
CREATE TABLE identity.records (
  org                 text COLLATE "C" NOT NULL,
  local_id            text COLLATE "C" NOT NULL,
  current_version     bigint NOT NULL,
  latest_version      bigint NOT NULL,      -- highest stored version; the next one is +1
  state               smallint NOT NULL,    -- hie.identity.v1.RecordState
  superseded_org      text COLLATE "C" NOT NULL DEFAULT '',
  superseded_local_id text COLLATE "C" NOT NULL DEFAULT '',
  PRIMARY KEY (org, local_id)
);

-- Every version of every source record, never deleted.
CREATE TABLE identity.record_versions (
  org               text COLLATE "C" NOT NULL,
  local_id          text COLLATE "C" NOT NULL,
  version           bigint NOT NULL,
  source_event_time timestamptz,
  record_time       timestamptz,
  record            bytea NOT NULL,         -- hie.identity.v1.SourceRecord, person_id cleared
  PRIMARY KEY (org, local_id, version),
  FOREIGN KEY (org, local_id) REFERENCES identity.records DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE identity.persons (
  person_id   text COLLATE "C" PRIMARY KEY,
  state       smallint NOT NULL,            -- hie.identity.v1.PersonState
  merged_into text COLLATE "C" NOT NULL DEFAULT '',
  etag        text NOT NULL DEFAULT '',
  create_time timestamptz,
  update_time timestamptz,
  person      bytea NOT NULL                -- hie.identity.v1.Person, links/golden record cleared
);

-- The current link of each registered record (exactly one per record).
CREATE TABLE identity.links (
  org         text COLLATE "C" NOT NULL,
  local_id    text COLLATE "C" NOT NULL,
  person_id   text COLLATE "C" NOT NULL,
  method      smallint NOT NULL,            -- hie.identity.v1.LinkMethod
  score       double precision NOT NULL,
  grade       smallint NOT NULL,            -- hie.identity.v1.MatchGrade
  create_time timestamptz,
  event_id    text NOT NULL DEFAULT '',
  link        bytea NOT NULL,               -- hie.identity.v1.Link (actor, reason...)
  PRIMARY KEY (org, local_id),
  FOREIGN KEY (org, local_id) REFERENCES identity.records DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (person_id) REFERENCES identity.persons DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX links_person_idx ON identity.links (person_id);

-- Append-only history. event_id is derived: 'E' || the sequence on 10 digits.
CREATE TABLE identity.events (
  sequence      bigint PRIMARY KEY,
  type          smallint NOT NULL,          -- hie.identity.v1.IdentityEventType
  event_time_ns bigint NOT NULL,
  event         bytea NOT NULL              -- hie.identity.v1.IdentityEvent, id/sequence cleared
);

-- What each event is about: 'p:' || person_id (from, to, affected) or 'r:' || org || x'1f' ||
-- local_id (source_ids).
CREATE TABLE identity.event_subjects (
  subject  text COLLATE "C" NOT NULL,
  sequence bigint NOT NULL,
  PRIMARY KEY (subject, sequence)
);

CREATE TABLE identity.review_tasks (
  task_id         text COLLATE "C" PRIMARY KEY,
  state           smallint NOT NULL,        -- hie.identity.v1.ReviewTaskState
  left_org        text COLLATE "C" NOT NULL,
  left_local_id   text COLLATE "C" NOT NULL,
  right_org       text COLLATE "C" NOT NULL,
  right_local_id  text COLLATE "C" NOT NULL,
  left_person_id  text COLLATE "C" NOT NULL,
  right_person_id text COLLATE "C" NOT NULL,
  score           double precision NOT NULL, -- explanation.total_score
  create_time_ns  bigint NOT NULL,
  task            bytea NOT NULL            -- hie.identity.v1.ReviewTask
);
CREATE INDEX review_tasks_by_time_idx ON identity.review_tasks (state, create_time_ns, task_id);
CREATE INDEX review_tasks_by_score_idx
  ON identity.review_tasks (state, score DESC, create_time_ns, task_id);
CREATE INDEX review_tasks_left_org_idx ON identity.review_tasks (left_org, state);
CREATE INDEX review_tasks_right_org_idx ON identity.review_tasks (right_org, state);
CREATE INDEX review_tasks_left_person_idx ON identity.review_tasks (left_person_id, state);
CREATE INDEX review_tasks_right_person_idx ON identity.review_tasks (right_person_id, state);
CREATE INDEX review_tasks_open_left_idx ON identity.review_tasks (left_org, left_local_id)
  WHERE state = 1;
CREATE INDEX review_tasks_open_right_idx ON identity.review_tasks (right_org, right_local_id)
  WHERE state = 1;

-- Unordered pairs, stored normalised: (a_org, a_local_id) is the smaller RecordKey.
CREATE TABLE identity.not_a_matches (
  a_org       text COLLATE "C" NOT NULL,
  a_local_id  text COLLATE "C" NOT NULL,
  b_org       text COLLATE "C" NOT NULL,
  b_local_id  text COLLATE "C" NOT NULL,
  create_time timestamptz,
  decision    bytea NOT NULL,               -- hie.identity.v1.NotAMatch, a/b as recorded
  PRIMARY KEY (a_org, a_local_id, b_org, b_local_id)
);
CREATE INDEX not_a_matches_b_idx ON identity.not_a_matches (b_org, b_local_id);

CREATE TABLE identity.idempotency (
  key         text COLLATE "C" PRIMARY KEY,
  fingerprint text NOT NULL,
  response    bytea NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_create_time_idx ON identity.idempotency (create_time);
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "identity store tables", kV1},
  };
  return kMigrations;
}

}  // namespace hie::identity
