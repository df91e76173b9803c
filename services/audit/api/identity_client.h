#pragma once

// The audit service's two uses of identity, over gRPC with mutual TLS (as service "audit",
// which identity lets read):
//   GrpcPatientResolver  Resolve / GetPerson: a patient's records as linked now (search and
//                        accounting cover the person of today, core/patient_resolver.h)
//   IdentityFollower     WatchEvents from the position stored with the audit log: every
//                        identity change becomes an audit event (core/identity_events.h). Events
//                        are recorded in batches (up to max_batch, or whatever arrived within
//                        flush_after), each batch with the new position in the same transaction,
//                        so a restart of either service resumes exactly and records nothing twice.
//                        A broken stream or a failed append is retried after `retry` from the
//                        stored position.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/audit/core/audit_log.h"
#include "services/audit/core/patient_resolver.h"

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

struct IdentityFollowerOptions {
  size_t max_batch = 500;
  absl::Duration flush_after = absl::Milliseconds(100);
  absl::Duration retry = absl::Seconds(1);
};

class IdentityFollower {
 public:
  IdentityFollower(AuditLog* log, std::shared_ptr<grpc::Channel> channel,
                   IdentityFollowerOptions options = {});
  ~IdentityFollower();
  void Start();
  // Cancels the stream and waits for the thread; what was recorded stays recorded.
  void Stop();
  // The identity sequence recorded through (0 before the first batch).
  int64_t position() const { return position_.load(); }

 private:
  void Run();
  absl::Status FollowOnce();
  absl::Status Flush(std::vector<hie::identity::v1::IdentityEvent>* batch);

  AuditLog* const log_;
  std::unique_ptr<hie::identity::v1::IdentityService::Stub> stub_;
  const IdentityFollowerOptions options_;
  std::thread thread_;
  std::atomic<bool> stopping_ = false;
  std::atomic<int64_t> position_ = 0;
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;  // the open stream's, for Stop
};

}  // namespace hie::audit
