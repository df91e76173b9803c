// ConsentManager: decisions, the idempotent write path and audit events. Directive operations
// are in directive_ops.cc, break-glass in break_glass_ops.cc.

#include "services/consent/core/consent_manager.h"

#include <set>

#include "absl/strings/str_format.h"
#include "services/common/status_macros.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/core/validation.h"

namespace hie::consent {

using hie::common::v1::SourceId;

std::string SourceKey(const SourceId& id) {
  std::string key = id.org();
  key.push_back('\x1f');
  key += id.local_id();
  return key;
}

IdGenerator::IdGenerator(uint64_t seed) : rng_(seed != 0 ? seed : std::random_device{}()) {}

std::string IdGenerator::Next(std::string_view prefix) {
  std::lock_guard lock(mu_);
  return absl::StrFormat("%s-%016x", std::string(prefix), rng_());
}

std::string IdGenerator::Uuid() {
  uint64_t hi, lo;
  {
    std::lock_guard lock(mu_);
    hi = rng_();
    lo = rng_();
  }
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                         lo >> 48, lo & 0xffffffffffffULL);
}

ConsentManager::ConsentManager(ConsentStore* store, ConsentView* view, PersonResolver* resolver,
                               const Clock* clock, ConsentManagerOptions options)
    : store_(store),
      view_(view),
      resolver_(resolver),
      clock_(clock),
      options_(std::move(options)),
      ids_(options_.id_seed) {}

// ---------------------------------------------------------------------------------------------
// Decisions

struct ConsentManager::DecisionInputs {
  bool fresh = false;
  int64_t view_version = 0;
  std::vector<DirectivePtr> directives;
  std::optional<BreakGlassFact> break_glass;
};

BreakGlassFact::Coverage ConsentManager::Coverage(const v1::BreakGlassGrant& grant,
                                                  const std::set<std::string>& request_keys,
                                                  hie::common::v1::PurposeOfUse purpose,
                                                  absl::Time deadline) {
  if (resolver_ == nullptr) return BreakGlassFact::Coverage::kUnavailable;
  std::set<std::string> person;  // the records of the one person the grant's patients form now
  bool shares = false;
  int persons = 0;
  for (const SourceId& p : grant.patients()) {
    if (person.contains(SourceKey(p))) continue;
    absl::StatusOr<std::vector<SourceId>> linked = resolver_->LinkedRecords(p, purpose, deadline);
    if (absl::IsNotFound(linked.status())) return BreakGlassFact::Coverage::kNotCovered;
    if (!linked.ok()) return BreakGlassFact::Coverage::kUnavailable;
    if (++persons > 1) return BreakGlassFact::Coverage::kNotCovered;  // split since the grant
    person.insert(SourceKey(p));
    for (const SourceId& l : *linked) {
      person.insert(SourceKey(l));
      shares = shares || request_keys.contains(SourceKey(l));
    }
  }
  return shares ? BreakGlassFact::Coverage::kCovered : BreakGlassFact::Coverage::kNotCovered;
}

ConsentManager::DecisionInputs ConsentManager::Gather(
    const CallContext& call, const hie::common::v1::RequestContext& context,
    const google::protobuf::RepeatedPtrField<SourceId>& patients, absl::Time at) {
  DecisionInputs in;
  const absl::Time now = clock_->Now();
  in.fresh = view_->FreshAt(now, options_.max_view_age);
  in.view_version = view_->version();
  if (!in.fresh) return in;
  in.directives = view_->DirectivesOf(patients);
  if (context.purpose_of_use() != hie::common::v1::PURPOSE_OF_USE_EMERGENCY) return in;

  std::vector<GrantPtr> candidates;
  if (!context.break_glass_id().empty()) {
    GrantPtr named = view_->Grant(context.break_glass_id());
    if (named == nullptr) {
      auto unknown = std::make_shared<v1::BreakGlassGrant>();
      unknown->set_grant_id(context.break_glass_id());  // never in force
      named = unknown;
    }
    candidates.push_back(named);
  } else {
    for (const GrantPtr& g : view_->GrantsOf(call.actor.org(), call.actor.user_id())) {
      if (GrantInForce(*g, at) && candidates.size() < 5) candidates.push_back(g);
    }
  }
  if (candidates.empty()) return in;
  std::set<std::string> request_keys;
  for (const SourceId& p : patients) request_keys.insert(SourceKey(p));
  const absl::Time deadline = std::min(call.deadline, now + options_.resolve_timeout);
  for (const GrantPtr& g : candidates) {
    BreakGlassFact fact{.grant = *g, .coverage = BreakGlassFact::Coverage::kNotCovered};
    const bool usable = GrantInForce(*g, at) && g->actor().org() == call.actor.org() &&
                        g->actor().user_id() == call.actor.user_id();
    if (usable) fact.coverage = Coverage(*g, request_keys, context.purpose_of_use(), deadline);
    // The first grant that applies wins; otherwise the first one considered is reported.
    if (!in.break_glass || fact.coverage == BreakGlassFact::Coverage::kCovered) {
      in.break_glass = std::move(fact);
    }
    if (in.break_glass->coverage == BreakGlassFact::Coverage::kCovered) break;
  }
  return in;
}

namespace {

DecisionRequest ToDecisionRequest(
    const CallContext& call, const hie::common::v1::RequestContext& context,
    const std::string& custodian,
    const google::protobuf::RepeatedPtrField<hie::common::v1::Coding>& cats,
    const google::protobuf::RepeatedPtrField<hie::common::v1::Coding>& labels, absl::Time at) {
  DecisionRequest r;
  r.actor = call.actor;
  r.purpose = context.purpose_of_use();
  r.custodian_org = custodian;
  r.data_categories.assign(cats.begin(), cats.end());
  r.sensitivity_labels.assign(labels.begin(), labels.end());
  r.at = at;
  return r;
}

// The decision time: `at` when given, which may differ from now only by clock skew. The view
// holds the directives in force now, so a decision "as of" another time would judge today's
// directives by another day's periods (a caller could step outside a DENY's period).
absl::StatusOr<absl::Time> DecisionTime(bool has_at, const google::protobuf::Timestamp& at,
                                        absl::Time now) {
  if (!has_at) return now;
  const absl::Time t = FromProto(at);
  if (absl::AbsDuration(t - now) > absl::Minutes(5)) {
    return absl::InvalidArgumentError(
        "at must be within 5 minutes of now (decisions are made on the directives in force now)");
  }
  return t;
}

}  // namespace

absl::StatusOr<v1::Decision> ConsentManager::Decide(const CallContext& call,
                                                    const v1::DecideRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateDecide(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kDecide));
  HIE_ASSIGN_OR_RETURN(const absl::Time at, DecisionTime(r.has_at(), r.at(), clock_->Now()));
  DecisionInputs in = Gather(call, r.context(), r.patients(), at);
  DecisionFacts facts{.policy = &options_.policy,
                      .break_glass = in.break_glass ? &*in.break_glass : nullptr,
                      .view_fresh = in.fresh,
                      .view_version = in.view_version};
  for (const DirectivePtr& d : in.directives) facts.directives.push_back(d.get());
  return consent::Decide(ToDecisionRequest(call, r.context(), r.custodian_org(),
                                           r.data_categories(), r.sensitivity_labels(), at),
                         facts, ids_.Next("dc"));
}

absl::StatusOr<v1::BatchDecideResponse> ConsentManager::BatchDecide(
    const CallContext& call, const v1::BatchDecideRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateBatchDecide(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kDecide));
  HIE_ASSIGN_OR_RETURN(const absl::Time at, DecisionTime(r.has_at(), r.at(), clock_->Now()));
  DecisionInputs in = Gather(call, r.context(), r.patients(), at);
  DecisionFacts facts{.policy = &options_.policy,
                      .break_glass = in.break_glass ? &*in.break_glass : nullptr,
                      .view_fresh = in.fresh,
                      .view_version = in.view_version};
  for (const DirectivePtr& d : in.directives) facts.directives.push_back(d.get());
  v1::BatchDecideResponse out;
  for (const std::string& custodian : r.custodian_orgs()) {
    v1::CustodianDecision* cd = out.add_decisions();
    cd->set_custodian_org(custodian);
    *cd->mutable_decision() =
        consent::Decide(ToDecisionRequest(call, r.context(), custodian, r.data_categories(),
                                          r.sensitivity_labels(), at),
                        facts, ids_.Next("dc"));
  }
  return out;
}

absl::StatusOr<v1::ConsentPolicy> ConsentManager::GetPolicy(const CallContext& call,
                                                            const v1::GetPolicyRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kGetPolicy));
  return options_.policy;
}

// ---------------------------------------------------------------------------------------------
// The write path

absl::StatusOr<std::string> ConsentManager::WriteOnce(const CallContext& call, std::string_view rpc,
                                                      const std::string& key,
                                                      const std::string& fingerprint,
                                                      const Body& body) {
  const std::string record_key = absl::StrCat(std::string(rpc), "|", call.actor.org(), "|", key);
  std::string response;
  bool replayed = false;
  HIE_RETURN_IF_ERROR(store_->Transact(call.deadline, [&](ConsentTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(std::optional<StoredResponse> stored, txn.GetIdempotent(record_key));
    if (stored.has_value()) {
      if (stored->fingerprint != fingerprint) {
        return absl::AlreadyExistsError("idempotency_key was already used for a different request");
      }
      response = stored->response;
      replayed = true;
      return absl::OkStatus();
    }
    HIE_ASSIGN_OR_RETURN(response, body(txn));
    return txn.PutIdempotent(record_key, {fingerprint, response});
  }));
  if (!replayed && after_write_) after_write_();
  return response;
}

hie::audit::v1::AuditEvent ConsentManager::NewEvent(const CallContext& call,
                                                    const hie::common::v1::RequestContext& context,
                                                    hie::audit::v1::EventType type,
                                                    std::string_view rpc) {
  hie::audit::v1::AuditEvent e;
  e.set_event_id(ids_.Uuid());
  *e.mutable_event_time() = ToProto(clock_->Now());
  e.set_type(type);
  e.set_action(absl::StrCat("consent.", std::string(rpc)));
  e.set_outcome(hie::audit::v1::OUTCOME_SUCCESS);
  *e.mutable_actor() = call.actor;
  e.set_purpose_of_use(context.purpose_of_use());
  e.set_request_id(call.request_id);
  e.set_client_request_id(context.client_request_id());
  e.set_source_service("consent");
  return e;
}

}  // namespace hie::consent
