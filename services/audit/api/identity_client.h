#pragma once

// The audit service's two uses of identity, over gRPC with mutual TLS (as service "audit",
// which identity lets read):
//   GrpcPatientResolver  Resolve / GetPerson: a patient's records as linked now (search and
//                        accounting cover the person of today, core/patient_resolver.h)
//   AuditIdentitySink    where services/common/identity_feed.h's follower records WatchEvents:
//                        every identity change becomes an audit event (core/identity_events.h),
//                        each batch with the new position in the same transaction, so a restart
//                        of either service resumes exactly and records nothing twice.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/audit/core/audit_log.h"
#include "services/audit/core/patient_resolver.h"
#include "services/common/identity_feed.h"

namespace hie::audit {

class GrpcPatientResolver : public PatientResolver {
 public:
  explicit GrpcPatientResolver(std::shared_ptr<grpc::Channel> channel);
  absl::StatusOr<std::vector<SourceId>> LinkedRecords(const SourceId& id,
                                                      absl::Time deadline) override;
  absl::StatusOr<std::vector<SourceId>> RecordsOfPerson(const std::string& person_id,
                                                        absl::Time deadline) override;

 private:
  std::unique_ptr<hie::identity::v1::IdentityService::Stub> stub_;
};

// Records identity's events in the audit log (services/common/identity_feed.h follows the feed):
// each event becomes an audit event (core/identity_events.h), a batch and its position in one
// append.
class AuditIdentitySink : public IdentityFeedSink {
 public:
  explicit AuditIdentitySink(AuditLog* log) : log_(log) {}
  absl::StatusOr<int64_t> Position(absl::Time deadline) override;
  absl::Status Record(const std::vector<hie::identity::v1::IdentityEvent>& batch,
                      absl::Time deadline) override;

 private:
  AuditLog* const log_;
};

}  // namespace hie::audit
