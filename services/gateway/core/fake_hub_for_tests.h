#pragma once

// A scripted HubServices for the gateway's core tests (federated query, retrieval): a person
// "person-1" behind clinic-a's a-1 with records at clinic-b, -c and -d; verdicts, directory and
// registry entries as the test sets them; audit events checked as hie-audit checks them and
// kept (or refused audit_failures times);
// any obligation redacts class code "mental-health". Not thread-safe.

#include <map>
#include <string>
#include <vector>

#include "services/audit/core/operations.h"
#include "services/gateway/core/federated_query.h"
#include "services/gateway/core/member_consent.h"
#include "tests/support/source_id.h"

namespace hie::gateway::testing {

using common::v1::SourceId;
using registry::v1::DocumentEntry;

using ::hie::test_support::Id;

inline DocumentEntry Entry(const std::string& org, const std::string& local, const std::string& uid,
                           int64_t created, const std::string& uuid = "") {
  DocumentEntry e;
  e.set_unique_id(uid);
  e.set_entry_uuid(uuid);
  *e.mutable_patient() = Id(org, local);
  e.mutable_location()->set_member_org(org);
  e.mutable_creation_time()->set_seconds(created);
  e.mutable_class_code()->set_code(uid == "secret" ? "mental-health" : "note");
  return e;
}

class FakeHub : public HubServices {
 public:
  absl::StatusOr<ResolvedPatient> Resolve(const common::v1::RequestContext&, const SourceId& record,
                                          absl::Time) override {
    if (record.local_id() != "a-1") return absl::NotFoundError("local_id: unknown patient");
    return ResolvedPatient{"person-1",
                           {Id("clinic-a", "a-1"), Id("clinic-b", "b-1"), Id("clinic-c", "c-1"),
                            Id("clinic-d", "d-1")}};
  }
  absl::StatusOr<std::vector<PersonCandidate>> FindPersons(const common::v1::RequestContext&,
                                                           const common::v1::Demographics&, int max,
                                                           absl::Time) override {
    std::vector<PersonCandidate> out = persons;
    if (out.size() > static_cast<size_t>(max)) out.resize(max);
    return out;
  }
  absl::StatusOr<std::vector<Holder>> Locate(const common::v1::RequestContext&,
                                             const std::vector<SourceId>& records,
                                             absl::Time) override {
    std::vector<Holder> out;
    for (const SourceId& r : records) out.push_back({r.org(), {r.local_id()}});
    return out;
  }
  absl::StatusOr<std::map<std::string, Verdict>> Decide(const common::v1::RequestContext&,
                                                        const std::vector<SourceId>&,
                                                        const std::vector<std::string>& orgs,
                                                        absl::Time) override {
    decided_for = orgs;
    if (!consent_up) return absl::UnavailableError("consent down");
    return verdicts;
  }
  absl::Status Record(std::vector<audit::v1::AuditEvent> events, absl::Time) override {
    if (audit_failures > 0) {
      --audit_failures;
      return absl::UnavailableError("audit down");
    }
    for (const auto& e : events) {  // what hie-audit accepts, as it would answer
      if (absl::Status s = audit::ValidateEvent(e, "events[]", absl::Now()); !s.ok()) return s;
    }
    for (auto& e : events) audited.push_back(std::move(e));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<DocumentEntry>> RegistryEntries(const common::v1::RequestContext&,
                                                             const std::vector<SourceId>& records,
                                                             const registry::v1::DocumentQuery&,
                                                             int, absl::Time) override {
    std::vector<DocumentEntry> out;
    for (const DocumentEntry& e : registry) {
      for (const SourceId& r : records) {
        if (e.patient().org() == r.org() && e.patient().local_id() == r.local_id()) {
          out.push_back(e);
        }
      }
    }
    return out;
  }
  std::map<std::string, DirectoryEntry> Directory() override { return directory; }
  std::string EndpointOf(const std::string& org) override { return org + ":443"; }
  Forbids RedactionFor(const std::vector<consent::v1::Obligation>& obligations) override {
    if (obligations.empty()) return nullptr;
    return [](const DocumentEntry& e) { return e.class_code().code() == "mental-health"; };
  }

  std::map<std::string, Verdict> verdicts;
  std::map<std::string, DirectoryEntry> directory;
  std::vector<DocumentEntry> registry;
  bool consent_up = true;
  int audit_failures = 0;
  std::vector<std::string> decided_for;
  std::vector<PersonCandidate> persons;  // what a search by demographics finds
  std::vector<audit::v1::AuditEvent> audited;
};

// A scripted consent service (HubConsent). Directives by id ("dir-a" against clinic-a's a-1,
// "dir-b" against clinic-b's b-1); records what it is asked to do.
class FakeConsent : public HubConsent {
 public:
  FakeConsent() {
    *directives["dir-a"].mutable_patient() = Id("clinic-a", "a-1");
    directives["dir-a"].mutable_recorded_by()->set_org("clinic-a");
    *directives["dir-b"].mutable_patient() = Id("clinic-b", "b-1");
    directives["dir-b"].mutable_recorded_by()->set_org("clinic-b");
    // Recorded by the HIE's privacy office for clinic-a's patient.
    *directives["dir-po"].mutable_patient() = Id("clinic-a", "a-1");
    directives["dir-po"].mutable_recorded_by()->set_org("hie-privacy");
  }
  absl::StatusOr<consent::v1::ConsentDirective> CreateDirective(
      const consent::v1::CreateDirectiveRequest& r, absl::Time) override {
    created.push_back(r);
    return r.directive();
  }
  absl::StatusOr<consent::v1::ConsentDirective> GetDirective(
      const consent::v1::GetDirectiveRequest& r, absl::Time) override {
    auto it = directives.find(r.directive_id());
    if (it == directives.end()) return absl::NotFoundError("directive_id: unknown");
    if (deny_reads_of_other_orgs && it->second.patient().org() != r.context().actor().org()) {
      return absl::PermissionDeniedError("not the patient's org");
    }
    return it->second;
  }
  absl::StatusOr<consent::v1::ListDirectivesResponse> ListDirectives(
      const consent::v1::ListDirectivesRequest& r, absl::Time) override {
    listed.push_back(r);
    return consent::v1::ListDirectivesResponse();
  }
  absl::StatusOr<consent::v1::ConsentDirective> RevokeDirective(
      const consent::v1::RevokeDirectiveRequest& r, absl::Time) override {
    revoked.push_back(r.directive_id());
    consent::v1::ConsentDirective d = directives[r.directive_id()];
    d.set_state(consent::v1::DIRECTIVE_STATE_REVOKED);
    return d;
  }
  absl::StatusOr<consent::v1::BreakGlassGrant> BreakGlass(const consent::v1::BreakGlassRequest& r,
                                                          absl::Time) override {
    opened.push_back(r);
    consent::v1::BreakGlassGrant g;
    g.set_grant_id("bg-1");
    g.mutable_expire_time()->set_seconds(1'900'000'000);
    return g;
  }

  std::map<std::string, consent::v1::ConsentDirective> directives;
  bool deny_reads_of_other_orgs = false;
  std::vector<consent::v1::CreateDirectiveRequest> created;
  std::vector<consent::v1::ListDirectivesRequest> listed;
  std::vector<std::string> revoked;
  std::vector<consent::v1::BreakGlassRequest> opened;
};

}  // namespace hie::gateway::testing
