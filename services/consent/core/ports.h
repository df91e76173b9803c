#pragma once

// The consent core's ports to other services, and the clock. Adapters: api/grpc_person_resolver.h
// (hie.identity.v1.IdentityService/Resolve) and api/grpc_audit_sink.h
// (hie.audit.v1.AuditLog/RecordBatch); fakes for tests in core/fakes.h.

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/common/v1/common.pb.h"

namespace hie::consent {

// Identity, as consent needs it: the source records currently linked to the same person as
// `source_id` (itself included). NOT_FOUND when identity does not know the record; UNAVAILABLE
// (or any other error) when it could not be asked, which callers must treat as "unknown" and
// never as a match. Thread-safe.
class PersonResolver {
 public:
  virtual ~PersonResolver() = default;
  [[nodiscard]] virtual absl::StatusOr<std::vector<hie::common::v1::SourceId>> LinkedRecords(
      const hie::common::v1::SourceId& source_id, hie::common::v1::PurposeOfUse purpose,
      absl::Time deadline) = 0;
};

// The audit log, as the outbox deliverer needs it: records `events` in order, all or nothing,
// idempotently on event_id (a retry of recorded events is OK and records nothing twice).
// Thread-safe.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  [[nodiscard]] virtual absl::Status RecordBatch(
      const std::vector<hie::audit::v1::AuditEvent>& events, absl::Time deadline) = 0;
};

// Time source, injected so tests control it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};
class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace hie::consent
