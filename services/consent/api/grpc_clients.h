#pragma once

// gRPC adapters of the core's ports (core/ports.h), mutual TLS as the consent service's client
// certificate (var/certs/consent-client.pem|key by default):
//  - GrpcPersonResolver: hie.identity.v1.IdentityService/Resolve. The record's cross-references
//    (ACTIVE ones, the record itself included) are its person's records now. Identity lets hub
//    services read as themselves: context.actor stays empty. NOT_FOUND passes through (an
//    unknown record); every other failure (UNAVAILABLE, DEADLINE_EXCEEDED...) is an error the
//    core treats as "could not ask".
//  - GrpcAuditSink: hie.audit.v1.AuditLog/RecordBatch (idempotent on event_id), at most 1000
//    events per call; consent acts as itself (its certificate), context.actor empty.
// Thread-safe (gRPC stubs are).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "hie/audit/v1/audit.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/tls.h"
#include "services/consent/core/ports.h"

namespace hie::consent {

// The mapping of a Resolve answer to the records of the person now (pure; tested alone):
// every cross-reference's source id, plus `asked` itself if identity left it out.
std::vector<hie::common::v1::SourceId> LinkedRecordsFromResolve(
    const hie::identity::v1::ResolveResponse& response, const hie::common::v1::SourceId& asked);

class GrpcPersonResolver : public PersonResolver {
 public:
  // `address` HOST:PORT of identity; `tls` the client certificate and CA.
  static absl::StatusOr<std::unique_ptr<GrpcPersonResolver>> Create(const std::string& address,
                                                                    const TlsFiles& tls);
  absl::StatusOr<std::vector<hie::common::v1::SourceId>> LinkedRecords(
      const hie::common::v1::SourceId& source_id, hie::common::v1::PurposeOfUse purpose,
      absl::Time deadline) override;

 private:
  explicit GrpcPersonResolver(std::unique_ptr<hie::identity::v1::IdentityService::Stub> stub)
      : stub_(std::move(stub)) {}
  std::unique_ptr<hie::identity::v1::IdentityService::Stub> stub_;
};

class GrpcAuditSink : public AuditSink {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcAuditSink>> Create(const std::string& address,
                                                               const TlsFiles& tls);
  absl::Status RecordBatch(const std::vector<hie::audit::v1::AuditEvent>& events,
                           absl::Time deadline) override;

 private:
  explicit GrpcAuditSink(std::unique_ptr<hie::audit::v1::AuditLog::Stub> stub)
      : stub_(std::move(stub)) {}
  std::unique_ptr<hie::audit::v1::AuditLog::Stub> stub_;
};

}  // namespace hie::consent
