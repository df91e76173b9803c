#pragma once

// FindOutsideRecords, the use case: "find this patient's records outside my clinic, now".
// Transport-free: the hub's services, the member calls and the client's stream are ports, so
// the whole flow is tested with fakes here and over the wire in the e2e tests.
//
//   1. resolve the caller's patient (caller org, local id) to the person's records now,
//      including records members merged away (identity);                  NOT_FOUND if unknown
//      or, for a patient the caller never fed, discover the person by demographics (XCPD):
//      only exactly one person matching with certainty is used (DiscoveredPatient); anything
//      else is NOT_FOUND and nothing is released
//   2. locate the members holding data for those records (locator);
//   3. one consent decision per holding member (consent; never permit on doubt);
//   4. a durable QUERY audit event naming every decision;  no audit record: nothing released
//   5. call the permitted members in parallel (MemberCalls) and meanwhile read their published
//      entries from the registry;
//   6. stream each member's result (core/federation.h: merged, checked, redacted) as it comes,
//      each preceded by a durable DISCLOSURE audit event listing exactly what it releases; a
//      member whose disclosure cannot be audited is released empty (UNAVAILABLE,
//      "AUDIT_UNAVAILABLE");
//   7. the summary, last.
// Members consent denies are never called and released nothing (their rows come first). Steps
// 1-3 and the registry read each take a share of the deadline (core/deadline_budget.h); the
// members get the rest up to members_end. Failures of steps 1-4 end the query with their
// status before anything is released (consent or audit unavailable: UNAVAILABLE). A client
// that goes away (ResultStream::Write false) stops the query: the member calls are cancelled,
// and what was written had been audited.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "hie/member/v1/member.pb.h"
#include "services/gateway/core/deadline_budget.h"
#include "services/gateway/core/federation.h"

namespace hie::gateway {

// The person behind the caller's record: every record linked to it now, and records that
// members merged into one of those (their documents stay reachable).
struct ResolvedPatient {
  std::string person_id;
  std::vector<common::v1::SourceId> records;
};

// A person some demographics may be (identity SearchPersons), with the records linked to it.
struct PersonCandidate {
  std::string person_id;
  identity::v1::MatchGrade grade = identity::v1::MATCH_GRADE_UNSPECIFIED;
  std::vector<common::v1::SourceId> records;
};

// Discovery by demographics, the XCPD convention: `candidates` are every person matching at
// PROBABLE or better (at least two asked for). Exactly one candidate, and CERTAIN: that person
// and its records. None, several (twins, a likely duplicate), or one short of certain:
// NOT_FOUND, the same answer in each case, and nothing is released.
absl::StatusOr<ResolvedPatient> DiscoveredPatient(const std::vector<PersonCandidate>& candidates);

// What the query asks of the hub's own services. Implementations call them with `deadline`.
class HubServices {
 public:
  virtual ~HubServices() = default;
  virtual absl::StatusOr<ResolvedPatient> Resolve(const common::v1::RequestContext& context,
                                                  const common::v1::SourceId& record,
                                                  absl::Time deadline) = 0;
  // Persons matching `demographics` at PROBABLE or better, best first, at most `max` (the
  // records linked to each now). Fakes that do not discover keep the default: UNIMPLEMENTED.
  virtual absl::StatusOr<std::vector<PersonCandidate>> FindPersons(
      const common::v1::RequestContext& context, const common::v1::Demographics& demographics,
      int max, absl::Time deadline) {
    return absl::UnimplementedError("discovery by demographics");
  }
  // The members holding data for any of `records`, with the local ids they hold.
  virtual absl::StatusOr<std::vector<Holder>> Locate(
      const common::v1::RequestContext& context, const std::vector<common::v1::SourceId>& records,
      absl::Time deadline) = 0;
  // One verdict per custodian org asked (a missing one is a denial).
  virtual absl::StatusOr<std::map<std::string, Verdict>> Decide(
      const common::v1::RequestContext& context, const std::vector<common::v1::SourceId>& patients,
      const std::vector<std::string>& custodian_orgs, absl::Time deadline) = 0;
  // Durable before it returns OK.
  virtual absl::Status Record(std::vector<audit::v1::AuditEvent> events, absl::Time deadline) = 0;
  // Published entries of these records, newest first, at most `max_results`.
  virtual absl::StatusOr<std::vector<registry::v1::DocumentEntry>> RegistryEntries(
      const common::v1::RequestContext& context, const std::vector<common::v1::SourceId>& records,
      const registry::v1::DocumentQuery& query, int max_results, absl::Time deadline) = 0;
  // RegistryEntries for each lookup, one result per lookup in their order, all by `deadline`.
  // This default asks one after the other; the gRPC adapter asks all at once, so that the
  // lookups of many members take the time of the slowest, not the sum.
  struct RegistryLookup {
    std::vector<common::v1::SourceId> records;
    int max_results = 0;
  };
  virtual std::vector<absl::StatusOr<std::vector<registry::v1::DocumentEntry>>> RegistryEntriesEach(
      const common::v1::RequestContext& context, const std::vector<RegistryLookup>& lookups,
      const registry::v1::DocumentQuery& query, absl::Time deadline);
  // The member directory now (org -> entry), and each member's endpoint.
  virtual std::map<std::string, DirectoryEntry> Directory() = 0;
  virtual std::string EndpointOf(const std::string& org) = 0;
  // The redaction an obligation list asks for (registry categories; see core/federation.h).
  virtual Forbids RedactionFor(const std::vector<consent::v1::Obligation>& obligations) = 0;
};

// Calls in flight to members (api/member_fanout.h behind it).
class MemberCallBatch {
 public:
  virtual ~MemberCallBatch() = default;
  virtual std::optional<std::pair<size_t, MemberAnswer>> Next(absl::Time until) = 0;
  virtual bool done() const = 0;
  virtual void Cancel() = 0;
};

class MemberCalls {
 public:
  virtual ~MemberCalls() = default;
  struct Call {
    std::string org;
    std::string endpoint;
    member::v1::FindDocumentsRequest request;
  };
  virtual std::unique_ptr<MemberCallBatch> Start(std::vector<Call> calls, absl::Time deadline) = 0;
};

class ResultStream {
 public:
  virtual ~ResultStream() = default;
  // False when the client has gone: stop.
  virtual bool Write(v1::FindOutsideRecordsResponse message) = 0;
};

struct FederatedQueryOptions {
  DeadlineBudgetOptions budget;
  // Shares of the time left before the members' end each step may take.
  double resolve_share = 0.15;
  double locate_share = 0.15;
  double decide_share = 0.2;
  double audit_share = 0.2;
  std::function<absl::Time()> now = absl::Now;
  std::function<std::string()> new_event_id;  // required: unique audit event ids
};

// An audit event of the gateway: who asked (actor, purpose, request ids, break-glass), for whom
// (the person and its records), recipient = the caller's org.
audit::v1::AuditEvent GatewayAuditEvent(const common::v1::RequestContext& context,
                                        const ResolvedPatient& patient, const std::string& action,
                                        audit::v1::EventType type, audit::v1::Outcome outcome,
                                        std::string event_id, absl::Time now);

// One query. `context` is the authenticated caller (request id, purpose, actor: org, user,
// role); `request` validated.
absl::Status RunFederatedQuery(const common::v1::RequestContext& context,
                               const v1::FindOutsideRecordsRequest& request,
                               absl::Time client_deadline, HubServices& hub, MemberCalls& members,
                               ResultStream& out, const FederatedQueryOptions& options);

}  // namespace hie::gateway
