#pragma once

// The consent service's storage port. Implementations: InMemoryConsentStore (tests) and
// PgConsentStore (schema `consent`, migrations.h); both pass consent_store_contract.h.
//
// Model:
//  - directives and break-glass grants, never deleted; every change to a directive keeps the
//    previous version in a history;
//  - one version counter: every write transaction takes the next value once (Version()), and
//    every row it writes carries it; versions become visible in increasing order (the counter is
//    locked until commit), so "rows with version > v" is a complete change feed. Replicas follow
//    it into their in-memory view (ChangesSince);
//  - an outbox of serialized hie.audit.v1.AuditEvent rows, written in the transaction of the
//    change they describe, delivered in order by one deliverer at a time (DeliverOutbox);
//  - idempotency records: a key's fingerprint and stored response.
// Errors: UNAVAILABLE when the database cannot be reached; ABORTED on serialization conflicts
// (retry the whole transaction); DEADLINE_EXCEEDED; UNKNOWN when the outcome of a COMMIT is
// unknown (reconcile by idempotency key). Messages carry ids only.
// Thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/consent/v1/consent.pb.h"

namespace hie::consent {

struct StoredResponse {
  std::string fingerprint;  // bytes identifying the request
  std::string response;     // serialized response message
};

// Operations inside one transaction. Reads see the transaction's own writes.
class ConsentTxn {
 public:
  virtual ~ConsentTxn() = default;
  // Locks `key` until commit (concurrent requests with one key serialise), then reads it.
  virtual absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) = 0;
  virtual absl::Status PutIdempotent(const std::string& key, const StoredResponse& value) = 0;
  // Reads and locks a row until commit.
  virtual absl::StatusOr<std::optional<v1::ConsentDirective>> GetDirectiveForUpdate(
      const std::string& directive_id) = 0;
  virtual absl::StatusOr<std::optional<v1::BreakGlassGrant>> GetGrantForUpdate(
      const std::string& grant_id) = 0;
  // Inserts, or replaces after copying the stored row into the history. The row carries the
  // transaction's Version().
  virtual absl::Status PutDirective(const v1::ConsentDirective& directive) = 0;
  virtual absl::Status PutGrant(const v1::BreakGlassGrant& grant) = 0;
  // Appends an outbox row (event_id must be unique: ALREADY_EXISTS otherwise).
  virtual absl::Status AppendOutbox(const hie::audit::v1::AuditEvent& event) = 0;
  // The version this transaction's writes carry: the counter's next value, taken on the first
  // call (which locks the counter until commit) and announced to listeners at commit.
  virtual absl::StatusOr<int64_t> Version() = 0;
};

struct DirectiveFilter {
  std::vector<hie::common::v1::SourceId> patients;  // required, any of
  std::vector<v1::DirectiveState> states;           // empty = all
  size_t limit = 100;
  // Keyset position of the last row of the previous page (newest first), when paging.
  std::optional<std::pair<int64_t, std::string>> after;  // (create time ns, directive_id)
};

struct GrantFilter {
  std::vector<v1::BreakGlassReviewState> review_states;  // empty = all
  std::string actor_org;                                 // empty = any
  std::vector<hie::common::v1::SourceId> patients;       // empty = any; else any of
  std::optional<absl::Time> start_from, start_before;    // [from, before)
  size_t limit = 100;
  std::optional<std::pair<int64_t, std::string>> after;  // (start time ns, grant_id)
};

// Rows changed after a version, as of one consistent snapshot.
struct ChangeSet {
  int64_t version = 0;  // the counter in the snapshot read; rows below are <= it
  std::vector<v1::ConsentDirective> directives;
  std::vector<v1::BreakGlassGrant> grants;
  std::vector<std::string> unreadable_ids;  // rows that failed to parse: reported, skipped
};

struct OutboxRow {
  int64_t sequence = 0;  // delivery order
  std::string event_id;
  std::string event;  // serialized hie.audit.v1.AuditEvent
};

class ConsentStore {
 public:
  virtual ~ConsentStore() = default;

  using TxnFn = std::function<absl::Status(ConsentTxn&)>;
  // Runs `fn` in one transaction; commits when it returns OK, rolls back otherwise (returning
  // its status). `fn` may run again after ABORTED from the database: keep it free of effects
  // outside the transaction.
  [[nodiscard]] virtual absl::Status Transact(absl::Time deadline, const TxnFn& fn) = 0;

  [[nodiscard]] virtual absl::StatusOr<std::optional<v1::ConsentDirective>> GetDirective(
      absl::Time deadline, const std::string& directive_id) = 0;
  // Previous versions of a directive, oldest first.
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::ConsentDirective>> DirectiveHistory(
      absl::Time deadline, const std::string& directive_id) = 0;
  // Newest first (create_time, then directive_id, both descending).
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::ConsentDirective>> ListDirectives(
      absl::Time deadline, const DirectiveFilter& filter) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::optional<v1::BreakGlassGrant>> GetGrant(
      absl::Time deadline, const std::string& grant_id) = 0;
  // Newest first (start_time, then grant_id, both descending).
  [[nodiscard]] virtual absl::StatusOr<std::vector<v1::BreakGlassGrant>> ListGrants(
      absl::Time deadline, const GrantFilter& filter) = 0;

  // Directives and grants whose version is above `after_version`. With `in_force_only` (the
  // initial load), only ACTIVE directives and grants neither ended nor expired at `now`.
  // Cheap when nothing changed (one read of the counter).
  [[nodiscard]] virtual absl::StatusOr<ChangeSet> ChangesSince(absl::Time deadline,
                                                               int64_t after_version,
                                                               bool in_force_only,
                                                               absl::Time now) = 0;

  // Outbox delivery: takes the outbox for this caller (a caller that finds another one
  // delivering gets 0 at once), reads up to `limit` undelivered rows in sequence order, calls
  // `send` with them, and marks them delivered when `send` returns OK, all in one transaction.
  // Returns how many rows were marked. If `send` fails, nothing is marked (its status is
  // returned). If the marking fails after `send` succeeded, the rows are sent again later:
  // their event ids make that harmless.
  using SendFn = std::function<absl::Status(const std::vector<OutboxRow>&)>;
  [[nodiscard]] virtual absl::StatusOr<size_t> DeliverOutbox(absl::Time deadline, size_t limit,
                                                             const SendFn& send) = 0;
  // Rows not yet delivered.
  [[nodiscard]] virtual absl::StatusOr<int64_t> OutboxBacklog(absl::Time deadline) = 0;
};

}  // namespace hie::consent
