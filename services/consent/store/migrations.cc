#include "services/consent/store/migrations.h"

#include <vector>

namespace hie::consent {
namespace {

// Version 1: every table of the consent store (PgConsentStore is the only reader and writer).
// Protobuf payloads are stored serialized (bytea); the columns beside them are what lookups,
// filters, ordering and the change feed need. Times used for ordering are unix nanoseconds
// (`*_ns`, as in the protobuf Timestamp). Enums are their protobuf numbers.
constexpr char kV1[] = R"sql(
-- The change counter: every write transaction bumps it once (holding the row lock until commit,
-- so versions commit in order) and stamps the rows it writes with the new value.
CREATE TABLE consent.state (
  id      smallint PRIMARY KEY CHECK (id = 1),
  version bigint NOT NULL
);
INSERT INTO consent.state VALUES (1, 0);

CREATE TABLE consent.directives (
  directive_id text COLLATE "C" PRIMARY KEY,
  org          text COLLATE "C" NOT NULL,   -- directive.patient
  local_id     text COLLATE "C" NOT NULL,
  state        smallint NOT NULL,           -- hie.consent.v1.DirectiveState
  create_ns    bigint NOT NULL,
  version      bigint NOT NULL,             -- consent.state.version of the last change
  etag         text NOT NULL,
  directive    bytea NOT NULL               -- hie.consent.v1.ConsentDirective
);
CREATE INDEX directives_patient_idx
  ON consent.directives (org, local_id, create_ns DESC, directive_id DESC);
CREATE INDEX directives_version_idx ON consent.directives (version);

-- Every previous version of a directive (the row as it was before each change).
CREATE TABLE consent.directive_history (
  directive_id text COLLATE "C" NOT NULL,
  version      bigint NOT NULL,             -- the replaced row's version
  replaced_at  timestamptz NOT NULL DEFAULT now(),
  directive    bytea NOT NULL,
  PRIMARY KEY (directive_id, version)
);

CREATE TABLE consent.grants (
  grant_id     text COLLATE "C" PRIMARY KEY,
  actor_org    text COLLATE "C" NOT NULL,
  review_state smallint NOT NULL,           -- hie.consent.v1.BreakGlassReviewState
  start_ns     bigint NOT NULL,
  expire_ns    bigint NOT NULL,
  ended        boolean NOT NULL,
  version      bigint NOT NULL,
  grant_row    bytea NOT NULL               -- hie.consent.v1.BreakGlassGrant
);
CREATE INDEX grants_version_idx ON consent.grants (version);
CREATE INDEX grants_start_idx ON consent.grants (start_ns DESC, grant_id DESC);
CREATE INDEX grants_review_idx ON consent.grants (review_state, start_ns DESC);

CREATE TABLE consent.grant_patients (
  org      text COLLATE "C" NOT NULL,
  local_id text COLLATE "C" NOT NULL,
  grant_id text COLLATE "C" NOT NULL REFERENCES consent.grants,
  PRIMARY KEY (org, local_id, grant_id)
);

-- Audit events to deliver, written in the transaction of the change they describe. Sequences
-- are taken after the counter's lock, so they follow commit order.
CREATE TABLE consent.outbox (
  sequence       bigserial PRIMARY KEY,
  event_id       text COLLATE "C" NOT NULL UNIQUE,
  create_time    timestamptz NOT NULL DEFAULT now(),
  delivered_time timestamptz,
  event          bytea NOT NULL             -- hie.audit.v1.AuditEvent
);
CREATE INDEX outbox_pending_idx ON consent.outbox (sequence) WHERE delivered_time IS NULL;

CREATE TABLE consent.idempotency (
  key         text COLLATE "C" PRIMARY KEY,
  fingerprint bytea NOT NULL,
  response    bytea NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_create_time_idx ON consent.idempotency (create_time);
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "consent store tables", kV1},
  };
  return kMigrations;
}

}  // namespace hie::consent
