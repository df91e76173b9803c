#pragma once

// The audit service's operations as the API offers them, transport-free: who may call what,
// request validation, paging, and the AUDIT_ACCESS event every read of the log leaves behind.
// The gRPC adapter (api/audit_service.h) only authenticates and maps statuses.
//
// Who may do what (by the verified certificate's subject OU, see scripts/gen-certs.sh):
//   service    Record, RecordBatch. The events are recorded as sent (the producer's actor is
//              the user it acted for); source_service must be empty or the certificate's CN
//              and is set to the CN, so no service can write in another's name.
//   auditor    (ROLE_PRIVACY_OFFICER) every read: SearchEvents, GetAccountingOfDisclosures,
//              Verify, ListCheckpoints, ListSigningKeys, and CreateCheckpoint.
//   operator   (ROLE_HIE_OPERATOR) Verify, ListCheckpoints, ListSigningKeys, CreateCheckpoint:
//              the log's integrity, not who accessed which patient.
//   admin      (ROLE_HIE_ADMIN) the same as operator.
//   the gateway (service certificate CN "gateway") for the reads: acts for the staff member its
//              request's context.actor names (org and user_id required), with that role's rights
//              above (PRIVACY_OFFICER every read; HIE_OPERATOR, HIE_ADMIN integrity only); the
//              gateway has checked that member's own certificate. Its writes are a service's.
//   anyone else, members included: PERMISSION_DENIED (members reach accounting through the
//   gateway).
// Every read is itself recorded (EVENT_TYPE_AUDIT_ACCESS, the caller as actor, the patients
// searched for) durably BEFORE the answer is returned: no record, no answer (UNAVAILABLE).
//
// Validation (INVALID_ARGUMENT naming the field, nothing recorded): events need event_id
// (1..128 characters of [A-Za-z0-9._:-]; not starting with identity- or audit-, the audit
// service's own), event_time (2000-01-01 .. now + 1 day), type,
// action, outcome, actor.org; every string is UTF-8 without control characters (at most 256
// bytes, details values 1024, at most 64 details, 100 patients, 100 objects); at most 1000
// events per batch. Searches need an event_time range of at most 366 days and one filter.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hie/audit/v1/audit.pb.h"
#include "services/audit/core/audit_log.h"

namespace hie::audit {

// The verified certificate of a caller.
struct Caller {
  std::string org;          // subject O
  std::string role;         // subject OU
  std::string common_name;  // subject CN
};

struct Call {
  Caller caller;
  std::string request_id;  // the context's, or one the adapter assigned
  absl::Time deadline;
  std::string peer_address;  // the connection's peer ("ipv4:127.0.0.1:53211"), for AUDIT_ACCESS
  hie::common::v1::Actor claimed_actor;  // the request's context.actor (used for the gateway)
};

// Validation of one event; `field` prefixes the names in errors ("events[3]").
absl::Status ValidateEvent(const v1::AuditEvent& event, const std::string& field, absl::Time now);

class AuditOperations {
 public:
  AuditOperations(AuditLog* log, std::function<absl::Time()> now = absl::Now)
      : log_(log), now_(std::move(now)) {}

  // Record and RecordBatch, without blocking (for the gRPC handlers): the checks run on the
  // calling thread, then `done` is called once, when the events are durable or refused (on the
  // calling thread if refused before being queued, else on a committer thread of the log).
  template <typename Response>
  using Done = std::function<void(absl::StatusOr<Response>)>;
  void RecordAsync(const Call& call, const v1::RecordRequest& request,
                   Done<v1::RecordResponse> done);
  void RecordBatchAsync(const Call& call, const v1::RecordBatchRequest& request,
                        Done<v1::RecordBatchResponse> done);
  // RecordBatchAsync, waited for (callers that may block).
  absl::StatusOr<v1::RecordBatchResponse> RecordBatch(const Call& call,
                                                      const v1::RecordBatchRequest& request);
  absl::StatusOr<v1::SearchEventsResponse> SearchEvents(const Call& call,
                                                        const v1::SearchEventsRequest& request);
  absl::StatusOr<v1::VerifyResult> Verify(const Call& call, const v1::VerifyRequest& request);
  absl::StatusOr<v1::GetAccountingOfDisclosuresResponse> GetAccountingOfDisclosures(
      const Call& call, const v1::GetAccountingOfDisclosuresRequest& request);
  absl::StatusOr<v1::Checkpoint> CreateCheckpoint(const Call& call,
                                                  const v1::CreateCheckpointRequest& request);
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints(
      const Call& call, const v1::ListCheckpointsRequest& request);
  absl::StatusOr<v1::ListSigningKeysResponse> ListSigningKeys(
      const Call& call, const v1::ListSigningKeysRequest& request);

 private:
  // Records that `call` read the log (action "audit.<rpc>"); the read fails if it cannot.
  absl::Status RecordAccess(const Call& call, const std::string& rpc,
                            const google::protobuf::RepeatedPtrField<SourceId>& patients,
                            std::map<std::string, std::string> details);
  // Authorises and validates a batch; the events as they will be appended.
  absl::StatusOr<std::vector<v1::AuditEvent>> CheckBatch(const Call& call,
                                                         const v1::RecordBatchRequest& request);
  AuditLog* const log_;
  const std::function<absl::Time()> now_;
};

}  // namespace hie::audit
