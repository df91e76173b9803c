#pragma once

// HubServices (core/federated_query.h) over the hub's gRPC services, each call with the step's
// deadline and the gateway's service certificate (the hub's services trust the RequestContext
// only from hub services):
//   Resolve          identity Resolve with include_inactive, keeping ACTIVE and SUPERSEDED
//                    records (a member's merged-away record keeps its documents reachable; an
//                    INACTIVE one, registered in error, may be someone else's: left out)
//   FindPersons      identity SearchPersons at PROBABLE or better (discovery by demographics)
//   Locate           locator Locate; one holder per org with the local ids it holds
//   Decide           consent BatchDecide; an unknown effect is a denial
//   Record           audit RecordBatch (durable when it answers OK)
//   RegistryEntries  registry FindDocuments, one page of max_results; RegistryEntriesEach
//                    makes those calls at once (the callback API) and waits for them all
// and HubWrites (core/member_writes.h), a member's writes:
//   Register         identity RegisterSourceRecord
//   MergeRecords     identity MergeSourceRecords
//   Publish          identity GetSourceRecord of each distinct patient (NOT_FOUND names the
//                    first entry whose patient was never fed), then registry RegisterSubmissionSet
//   Deprecate        registry DeprecateDocument
// and HubConsent (core/member_consent.h), a member's consent work: consent CreateDirective,
// GetDirective, ListDirectives, RevokeDirective, BreakGlass.
// Errors are the services' statuses; a failed call never becomes an empty answer.
// Thread-safe.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "hie/audit/v1/audit.grpc.pb.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "hie/locator/v1/locator.grpc.pb.h"
#include "hie/registry/v1/registry.grpc.pb.h"
#include "services/gateway/core/federated_query.h"
#include "services/gateway/core/member_consent.h"
#include "services/gateway/core/member_directory.h"
#include "services/gateway/core/member_writes.h"

namespace hie::gateway {

struct HubChannels {
  std::shared_ptr<grpc::Channel> identity, locator, consent, audit, registry;
};

class GrpcHubServices final : public HubServices, public HubWrites, public HubConsent {
 public:
  // `directory` (not owned, outlives this) is the member directory Directory() and EndpointOf()
  // read: its snapshot at each call, so a replaced directory takes effect at the next call.
  GrpcHubServices(const HubChannels& channels, const MemberDirectoryView* directory);

  absl::StatusOr<ResolvedPatient> Resolve(const common::v1::RequestContext& context,
                                          const common::v1::SourceId& record,
                                          absl::Time deadline) override;
  absl::StatusOr<std::vector<PersonCandidate>> FindPersons(
      const common::v1::RequestContext& context, const common::v1::Demographics& demographics,
      int max, absl::Time deadline) override;
  absl::StatusOr<std::vector<Holder>> Locate(const common::v1::RequestContext& context,
                                             const std::vector<common::v1::SourceId>& records,
                                             absl::Time deadline) override;
  absl::StatusOr<std::map<std::string, Verdict>> Decide(
      const common::v1::RequestContext& context, const std::vector<common::v1::SourceId>& patients,
      const std::vector<std::string>& custodian_orgs, absl::Time deadline) override;
  absl::Status Record(std::vector<audit::v1::AuditEvent> events, absl::Time deadline) override;
  absl::StatusOr<std::vector<registry::v1::DocumentEntry>> RegistryEntries(
      const common::v1::RequestContext& context, const std::vector<common::v1::SourceId>& records,
      const registry::v1::DocumentQuery& query, int max_results, absl::Time deadline) override;
  std::vector<absl::StatusOr<std::vector<registry::v1::DocumentEntry>>> RegistryEntriesEach(
      const common::v1::RequestContext& context, const std::vector<RegistryLookup>& lookups,
      const registry::v1::DocumentQuery& query, absl::Time deadline) override;
  std::map<std::string, DirectoryEntry> Directory() override;
  std::string EndpointOf(const std::string& org) override;
  Forbids RedactionFor(const std::vector<consent::v1::Obligation>& obligations) override;

  absl::StatusOr<identity::v1::RegisterSourceRecordResponse> Register(
      const identity::v1::RegisterSourceRecordRequest& r, absl::Time deadline) override;
  absl::Status MergeRecords(const identity::v1::MergeSourceRecordsRequest& r,
                            absl::Time deadline) override;
  absl::StatusOr<registry::v1::RegisterSubmissionSetResponse> Publish(
      const registry::v1::RegisterSubmissionSetRequest& r, absl::Time deadline) override;
  absl::StatusOr<registry::v1::DocumentEntry> Deprecate(
      const registry::v1::DeprecateDocumentRequest& r, absl::Time deadline) override;

  absl::StatusOr<consent::v1::ConsentDirective> CreateDirective(
      const consent::v1::CreateDirectiveRequest& r, absl::Time deadline) override;
  absl::StatusOr<consent::v1::ConsentDirective> GetDirective(
      const consent::v1::GetDirectiveRequest& r, absl::Time deadline) override;
  absl::StatusOr<consent::v1::ListDirectivesResponse> ListDirectives(
      const consent::v1::ListDirectivesRequest& r, absl::Time deadline) override;
  absl::StatusOr<consent::v1::ConsentDirective> RevokeDirective(
      const consent::v1::RevokeDirectiveRequest& r, absl::Time deadline) override;
  absl::StatusOr<consent::v1::BreakGlassGrant> BreakGlass(const consent::v1::BreakGlassRequest& r,
                                                          absl::Time deadline) override;

 private:
  std::unique_ptr<identity::v1::IdentityService::Stub> identity_;
  std::unique_ptr<locator::v1::RecordLocator::Stub> locator_;
  std::unique_ptr<consent::v1::ConsentService::Stub> consent_;
  std::unique_ptr<audit::v1::AuditLog::Stub> audit_;
  std::unique_ptr<registry::v1::DocumentRegistry::Stub> registry_;
  const MemberDirectoryView* const directory_;
};

}  // namespace hie::gateway
