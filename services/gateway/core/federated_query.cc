#include "services/gateway/core/federated_query.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace hie::gateway {
namespace {

using audit::v1::AuditEvent;
using common::v1::SourceId;
using registry::v1::DocumentEntry;

google::protobuf::Timestamp TimestampOf(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

// What the query needs along the way.
struct Query {
  const common::v1::RequestContext& context;
  const v1::FindOutsideRecordsRequest& request;
  HubServices& hub;
  const FederatedQueryOptions& options;
  ResolvedPatient patient;
  DeadlineBudget budget;
};

AuditEvent Event(const Query& q, audit::v1::EventType type, audit::v1::Outcome outcome) {
  return GatewayAuditEvent(q.context, q.patient, "gateway.FindOutsideRecords", type, outcome,
                           q.options.new_event_id(), q.options.now());
}

// Orgs as one details value, within the audit log's 1,024 bytes per value.
std::string OrgList(const std::vector<std::string>& orgs) {
  constexpr size_t kMax = 1000;
  std::string out;
  for (size_t i = 0; i < orgs.size(); ++i) {
    const std::string more = absl::StrCat(" (+", orgs.size() - i, " more)");
    if (out.size() + orgs[i].size() + 1 + more.size() > kMax) return out + more;
    absl::StrAppend(&out, out.empty() ? "" : ",", orgs[i]);
  }
  return out;
}

// The QUERY event: who asked, for whom, which members consent permits (and of those, which
// cannot be called) and denies; the consent decisions as objects (at most 100).
AuditEvent QueryEvent(const Query& q, const FanOutPlan& plan) {
  AuditEvent e = Event(q, audit::v1::EVENT_TYPE_QUERY, audit::v1::OUTCOME_SUCCESS);
  std::vector<std::string> permitted, not_callable, denied;
  std::set<std::string> decisions;
  for (const Target& t : plan.contact) {
    permitted.push_back(t.org);
    decisions.insert(t.decision_id);
  }
  for (const auto& [t, why] : plan.not_callable) {
    permitted.push_back(t.org);
    not_callable.push_back(absl::StrCat(t.org, ":", why));
    decisions.insert(t.decision_id);
  }
  for (const v1::MemberResult& r : plan.denied) denied.push_back(r.member_org());
  auto& details = *e.mutable_details();
  if (q.request.has_demographics()) details["patient_discovery"] = "demographics";
  details["members_permitted"] = OrgList(permitted);
  if (!not_callable.empty()) details["members_not_callable"] = OrgList(not_callable);
  if (!denied.empty()) details["members_denied"] = OrgList(denied);
  for (const std::string& id : decisions) {
    if (id.empty() || e.objects_size() >= 100) continue;
    audit::v1::ObjectRef* ref = e.add_objects();
    ref->set_kind("consent_decision");
    ref->set_id(id);
  }
  return e;
}

// The DISCLOSURE event of one member's result: exactly the entries it releases.
AuditEvent DisclosureEvent(const Query& q, const Target& target, const v1::MemberResult& r) {
  AuditEvent e = Event(q, audit::v1::EVENT_TYPE_DISCLOSURE, audit::v1::OUTCOME_SUCCESS);
  e.set_custodian_org(target.org);
  e.set_decision_id(target.decision_id);
  for (const DocumentEntry& entry : r.entries()) {
    audit::v1::ObjectRef* ref = e.add_objects();
    ref->set_kind(entry.entry_uuid().empty() ? "document" : "document_entry");
    ref->set_id(entry.entry_uuid().empty() ? entry.unique_id() : entry.entry_uuid());
  }
  (*e.mutable_details())["member_status"] = v1::MemberStatus_Name(r.status());
  return e;
}

// The person's records at `org`.
std::vector<SourceId> RecordsAt(const Target& target) {
  std::vector<SourceId> out;
  for (const std::string& local_id : target.local_ids) {
    SourceId id;
    id.set_org(target.org);
    id.set_local_id(local_id);
    out.push_back(std::move(id));
  }
  return out;
}

// Registry entries of every target, by org, one lookup per member (so that one member's many
// entries cannot crowd out another's), all at once; a failed lookup leaves that member's list
// empty (its live answer still counts).
std::map<std::string, std::vector<DocumentEntry>> RegistryEntriesByOrg(
    const Query& q, const std::vector<const Target*>& targets, absl::Time deadline) {
  std::vector<HubServices::RegistryLookup> lookups;
  for (const Target* t : targets) lookups.push_back({RecordsAt(*t), t->max_results});
  auto found = q.hub.RegistryEntriesEach(q.context, lookups, q.request.query(), deadline);
  std::map<std::string, std::vector<DocumentEntry>> out;
  for (size_t i = 0; i < targets.size() && i < found.size(); ++i) {
    if (found[i].ok()) out[targets[i]->org] = *std::move(found[i]);
  }
  return out;
}

class Streamer {
 public:
  Streamer(Query& q, ResultStream& out) : q_(q), out_(out) {}

  // Audits `results` (one event each, one durable call) and streams them; false when the
  // client has gone.
  bool Release(std::vector<std::pair<const Target*, v1::MemberResult>> results) {
    if (results.empty()) return true;
    std::vector<AuditEvent> events;
    for (auto& [target, r] : results) {
      if (target != nullptr) events.push_back(DisclosureEvent(q_, *target, r));
    }
    const absl::Status audited = events.empty()
                                     ? absl::OkStatus()
                                     : q_.hub.Record(std::move(events), q_.budget.release_end());
    for (auto& [target, r] : results) {
      if (!audited.ok() && target != nullptr) {  // no audit record, no data
        r.clear_entries();
        r.clear_entry_sources();
        r.set_truncated(false);
        r.set_status(v1::MEMBER_STATUS_UNAVAILABLE);
        r.set_detail("AUDIT_UNAVAILABLE");
      }
      rows_.push_back(SummaryRowOf(r));
      v1::FindOutsideRecordsResponse message;
      *message.mutable_member_result() = std::move(r);
      if (!out_.Write(std::move(message))) return false;
    }
    return true;
  }

  bool Finish(absl::Duration elapsed) {
    v1::FindOutsideRecordsResponse message;
    *message.mutable_summary() = Summarize(q_.context.request_id(), std::move(rows_), elapsed);
    return out_.Write(std::move(message));
  }

 private:
  Query& q_;
  ResultStream& out_;
  std::vector<v1::MemberSummary> rows_;  // of the results written
};

// What the gateway keeps from the target's answer: the obligations' redaction, and the query's
// time ranges when the member does not apply them itself.
Forbids ForbidsFor(const Query& q, const Target& t) {
  Forbids redacted = q.hub.RedactionFor(t.obligations);
  if (t.supports_time_filters) return redacted;
  const registry::v1::DocumentQuery& query = q.request.query();
  return [redacted, &query](const DocumentEntry& e) {
    return (redacted && redacted(e)) || !WithinTimeRanges(e, query);
  };
}

member::v1::FindDocumentsRequest MemberRequest(const Query& q, const Target& t) {
  member::v1::FindDocumentsRequest r;
  *r.mutable_context() = q.context;
  for (const std::string& id : t.local_ids) r.add_local_patient_ids(id);
  *r.mutable_query() =
      t.supports_time_filters ? q.request.query() : WithoutTimeRanges(q.request.query());
  for (const auto& o : t.obligations) *r.add_obligations() = o;
  r.set_max_results(t.max_results);
  return r;
}

}  // namespace

AuditEvent GatewayAuditEvent(const common::v1::RequestContext& context,
                             const ResolvedPatient& patient, const std::string& action,
                             audit::v1::EventType type, audit::v1::Outcome outcome,
                             std::string event_id, absl::Time now) {
  AuditEvent e;
  e.set_event_id(std::move(event_id));
  *e.mutable_event_time() = TimestampOf(now);
  e.set_type(type);
  e.set_action(action);
  e.set_outcome(outcome);
  *e.mutable_actor() = context.actor();
  e.set_purpose_of_use(context.purpose_of_use());
  e.set_request_id(context.request_id());
  e.set_client_request_id(context.client_request_id());
  e.set_break_glass_id(context.break_glass_id());
  e.set_recipient_org(context.actor().org());
  e.set_person_id(patient.person_id);
  for (const SourceId& r : patient.records) *e.add_patients() = r;
  e.set_source_service("gateway");
  return e;
}

absl::StatusOr<ResolvedPatient> DiscoveredPatient(const std::vector<PersonCandidate>& candidates) {
  if (candidates.size() != 1 || candidates[0].grade != identity::v1::MATCH_GRADE_CERTAIN ||
      candidates[0].records.empty()) {
    return absl::NotFoundError(
        "demographics: no single person matches with certainty; nothing is released");
  }
  return ResolvedPatient{candidates[0].person_id, candidates[0].records};
}

namespace {

constexpr int kMaxDiscoveryCandidates = 100;  // identity SearchPersons' maximum

// Step 1: the caller's own record resolved, or the person its demographics discover.
absl::StatusOr<ResolvedPatient> PatientOf(const common::v1::RequestContext& context,
                                          const v1::FindOutsideRecordsRequest& request,
                                          HubServices& hub, absl::Time deadline) {
  if (request.has_demographics()) {
    // As many as identity gives (its maximum): any second candidate means the answer is not
    // unique, and identity groups a bounded number of matching records into persons, so a
    // person with many records must not crowd a second one out.
    absl::StatusOr<std::vector<PersonCandidate>> candidates =
        hub.FindPersons(context, request.demographics(), kMaxDiscoveryCandidates, deadline);
    if (!candidates.ok()) return candidates.status();
    return DiscoveredPatient(*candidates);
  }
  SourceId own;
  own.set_org(context.actor().org());
  own.set_local_id(request.local_id());
  return hub.Resolve(context, own, deadline);
}

}  // namespace

std::vector<absl::StatusOr<std::vector<DocumentEntry>>> HubServices::RegistryEntriesEach(
    const common::v1::RequestContext& context, const std::vector<RegistryLookup>& lookups,
    const registry::v1::DocumentQuery& query, absl::Time deadline) {
  std::vector<absl::StatusOr<std::vector<DocumentEntry>>> out;
  for (const RegistryLookup& l : lookups) {
    out.push_back(RegistryEntries(context, l.records, query, l.max_results, deadline));
  }
  return out;
}

absl::Status RunFederatedQuery(const common::v1::RequestContext& context,
                               const v1::FindOutsideRecordsRequest& request,
                               absl::Time client_deadline, HubServices& hub, MemberCalls& members,
                               ResultStream& out, const FederatedQueryOptions& options) {
  const absl::Time start = options.now();
  Query q{context, request, hub,
          options, {},      DeadlineBudget(start, client_deadline, options.budget)};
  // 1-3: who the patient is, who holds data, what consent allows.
  absl::StatusOr<ResolvedPatient> patient =
      PatientOf(context, request, hub, q.budget.Step(options.now(), options.resolve_share));
  if (request.has_demographics() && absl::IsNotFound(patient.status())) {
    // A search of the index that found no one to release: on the record too (ids only), so
    // that probing by guessed demographics leaves a trace.
    AuditEvent tried = Event(q, audit::v1::EVENT_TYPE_QUERY, audit::v1::OUTCOME_FAILURE);
    tried.set_status_code("NOT_FOUND");
    (*tried.mutable_details())["patient_discovery"] = "no_single_certain_match";
    absl::Status audited =
        hub.Record({std::move(tried)}, q.budget.Step(options.now(), options.audit_share));
    if (!audited.ok()) {
      return absl::UnavailableError(
          absl::StrCat("audit unavailable: nothing released (", audited.message(), ")"));
    }
  }
  if (!patient.ok()) return patient.status();
  q.patient = *std::move(patient);
  absl::StatusOr<std::vector<Holder>> holders =
      hub.Locate(context, q.patient.records, q.budget.Step(options.now(), options.locate_share));
  if (!holders.ok()) return holders.status();
  std::set<std::string> custodians;
  for (const Holder& h : *holders) {
    if (h.org != context.actor().org()) custodians.insert(h.org);
  }
  std::map<std::string, Verdict> verdicts;
  if (!custodians.empty()) {
    absl::StatusOr<std::map<std::string, Verdict>> decided =
        hub.Decide(context, q.patient.records, {custodians.begin(), custodians.end()},
                   q.budget.Step(options.now(), options.decide_share));
    if (!decided.ok()) {
      return absl::UnavailableError(
          absl::StrCat("consent unavailable: nothing released (", decided.status().message(), ")"));
    }
    verdicts = *std::move(decided);
  }
  FanOutQuery fan_out_query{context.actor().org(),
                            {request.member_orgs().begin(), request.member_orgs().end()},
                            request.max_results_per_member()};
  FanOutPlan plan = PlanFanOut(fan_out_query, *holders, hub.Directory(), verdicts);

  // 4: the query on the record before anything is released.
  absl::Status audited =
      hub.Record({QueryEvent(q, plan)}, q.budget.Step(options.now(), options.audit_share));
  if (!audited.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit unavailable: nothing released (", audited.message(), ")"));
  }

  // 5: the members, and meanwhile the registry.
  std::vector<MemberCalls::Call> calls;
  for (const Target& t : plan.contact) {
    calls.push_back({t.org, hub.EndpointOf(t.org), MemberRequest(q, t)});
  }
  std::unique_ptr<MemberCallBatch> batch =
      calls.empty() ? nullptr : members.Start(std::move(calls), q.budget.members_end());
  std::vector<const Target*> permitted;
  for (const Target& t : plan.contact) permitted.push_back(&t);
  for (const auto& [t, why] : plan.not_callable) permitted.push_back(&t);
  std::map<std::string, std::vector<DocumentEntry>> registry =
      RegistryEntriesByOrg(q, permitted, q.budget.members_end());

  // 6: denied members first (nothing to release), then those that cannot be called, then the
  // members' answers as they come.
  Streamer streamer(q, out);
  auto stop = [&] {
    if (batch != nullptr) batch->Cancel();
    return absl::CancelledError("the client went away");
  };
  std::vector<std::pair<const Target*, v1::MemberResult>> ready;
  for (v1::MemberResult& r : plan.denied) {
    if (request.has_demographics()) {
      // A patient found by demographics has no record at the caller yet: which members hold
      // data the patient withholds is not told (a denial reads as no data; audited as denied).
      r.set_status(v1::MEMBER_STATUS_NO_DATA);
      r.clear_detail();
    }
    ready.emplace_back(nullptr, std::move(r));
  }
  if (!streamer.Release(std::move(ready))) return stop();
  ready.clear();
  for (const auto& [t, why] : plan.not_callable) {
    MemberAnswer not_called;
    not_called.kind = MemberAnswer::Kind::kNotCalled;
    not_called.detail = why;
    ready.emplace_back(
        &t,
        ResultOf(t, std::move(not_called), std::move(registry[t.org]), ForbidsFor(q, t)).result);
  }
  if (!streamer.Release(std::move(ready))) return stop();
  while (batch != nullptr && !batch->done()) {
    // Take every answer there is (waiting for the first), release them together.
    ready.clear();
    absl::Time until = q.budget.release_end();
    if (options.now() >= until) {  // calls end at members_end: only a stuck one gets here
      batch->Cancel();
      until = options.now() + absl::Milliseconds(200);
    }
    for (;;) {
      auto answer = batch->Next(until);
      if (!answer) break;
      const Target& t = plan.contact[answer->first];
      ready.emplace_back(
          &t, ResultOf(t, std::move(answer->second), std::move(registry[t.org]), ForbidsFor(q, t))
                  .result);
      until = options.now();  // only what is already there
    }
    if (ready.empty()) break;
    if (!streamer.Release(std::move(ready))) return stop();
  }
  // 7.
  if (!streamer.Finish(options.now() - start)) return stop();
  return absl::OkStatus();
}

}  // namespace hie::gateway
