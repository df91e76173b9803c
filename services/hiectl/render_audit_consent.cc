// Rendering of the audit and consent responses (declared in render.h).

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace audit = ::hie::audit::v1;
namespace consent = ::hie::consent::v1;
namespace cm = ::hie::common::v1;

std::string PurposeLabel(int purpose) {
  return EnumLabel(cm::PurposeOfUse_Name(static_cast<cm::PurposeOfUse>(purpose)),
                   "PURPOSE_OF_USE_");
}

template <typename Ids>
std::string SourceIds(const Ids& ids) {
  std::vector<std::string> out;
  for (const cm::SourceId& id : ids) out.push_back(FormatSourceId(id));
  return Dash(absl::StrJoin(out, ", "));
}

template <typename Purposes>
std::string PurposeList(const Purposes& purposes) {
  std::vector<std::string> out;
  for (int p : purposes) out.push_back(PurposeLabel(p));
  return absl::StrJoin(out, ", ");
}

template <typename Codings>
std::string CodingList(const Codings& codings) {
  std::vector<std::string> out;
  for (const cm::Coding& c : codings) out.push_back(absl::StrCat(c.system(), "|", c.code()));
  return absl::StrJoin(out, ", ");
}

std::string ObjectList(const google::protobuf::RepeatedPtrField<audit::ObjectRef>& objects) {
  std::vector<std::string> out;
  for (const audit::ObjectRef& o : objects) out.push_back(absl::StrCat(o.kind(), ":", o.id()));
  return Dash(absl::StrJoin(out, ", "));
}

// "12 shown", and the next page's flag.
std::string Footer(int shown, absl::string_view what, const std::string& next_page_token) {
  std::string out = absl::StrCat(shown, " ", what, "\n");
  if (!next_page_token.empty()) {
    absl::StrAppend(&out, "next page: --page-token=", next_page_token, " (or --all)\n");
  }
  return out;
}

std::string TimeRangeText(const cm::TimeRange& range) {
  return absl::StrCat(FormatTime(range.start()), " .. ",
                      range.has_end() ? FormatTime(range.end()) : "open");
}

std::string EffectLabel(consent::Effect e) { return EnumLabel(consent::Effect_Name(e), "EFFECT_"); }
std::string DirectiveStateLabel(consent::DirectiveState s) {
  return EnumLabel(consent::DirectiveState_Name(s), "DIRECTIVE_STATE_");
}
std::string ReviewLabel(consent::BreakGlassReviewState s) {
  return EnumLabel(consent::BreakGlassReviewState_Name(s), "BREAK_GLASS_REVIEW_STATE_");
}
std::string ReasonCodeLabel(consent::BreakGlassReason r) {
  return EnumLabel(consent::BreakGlassReason_Name(r), "BREAK_GLASS_REASON_");
}

}  // namespace

std::string VerifyStatusLabel(audit::VerifyResult::Status status) {
  return EnumLabel(audit::VerifyResult::Status_Name(status), "STATUS_");
}

std::string Hex(absl::string_view bytes) {
  if (bytes.empty()) return "-";
  std::string out;
  for (unsigned char c : bytes) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
  return out;
}

std::string RenderAuditEvents(const audit::SearchEventsResponse& r) {
  if (r.events_size() == 0 && r.next_page_token().empty()) return "no events\n";
  Table table({"seq", "time", "type", "action", "outcome", "actor", "purpose", "patients",
               "custodian", "break-glass", "request"});
  table.RightAlign(0);
  for (const audit::AuditEvent& e : r.events()) {
    std::string outcome = EnumLabel(audit::Outcome_Name(e.outcome()), "OUTCOME_");
    if (!e.status_code().empty()) absl::StrAppend(&outcome, " (", e.status_code(), ")");
    table.AddRow({absl::StrCat(e.sequence()), FormatTime(e.event_time()),
                  EnumLabel(audit::EventType_Name(e.type()), "EVENT_TYPE_"), Dash(e.action()),
                  outcome, FormatActor(e.actor()), PurposeLabel(e.purpose_of_use()),
                  SourceIds(e.patients()), Dash(e.custodian_org()), Dash(e.break_glass_id()),
                  Dash(e.request_id())});
  }
  return table.Render() + Footer(r.events_size(), "events", r.next_page_token());
}

std::string RenderDisclosures(const audit::GetAccountingOfDisclosuresResponse& r) {
  if (r.disclosures_size() == 0 && r.next_page_token().empty()) return "no disclosures\n";
  Table table({"time", "recipient", "purpose", "custodian", "what", "break-glass", "event"});
  for (const audit::Disclosure& d : r.disclosures()) {
    table.AddRow({FormatTime(d.disclosure_time()), FormatActor(d.recipient()),
                  PurposeLabel(d.purpose_of_use()), Dash(d.custodian_org()),
                  ObjectList(d.objects()), d.break_glass() ? "yes" : "no", Dash(d.event_id())});
  }
  return table.Render() + Footer(r.disclosures_size(), "disclosures", r.next_page_token());
}

std::string RenderVerifyResult(const audit::VerifyResult& r) {
  const bool valid = r.status() == audit::VerifyResult::STATUS_VALID;
  std::string out =
      valid ? "VALID\n" : absl::StrCat("NOT VALID: ", VerifyStatusLabel(r.status()), "\n");
  absl::StrAppend(
      &out, KeyValues({{"first bad sequence", valid ? "" : absl::StrCat(r.first_bad_sequence())},
                       {"detail", r.detail()},
                       {"range", absl::StrCat(r.from_sequence(), " .. ", r.to_sequence())},
                       {"events checked", absl::StrCat(r.events_checked())},
                       {"checkpoints checked", absl::StrCat(r.checkpoints_checked())},
                       {"verified at", TimeOrEmpty(r.verify_time())}}));
  return out;
}

std::string RenderCheckpoints(const audit::ListCheckpointsResponse& r) {
  if (r.checkpoints_size() == 0 && r.next_page_token().empty()) return "no checkpoints\n";
  Table table({"seq", "created", "key", "algorithm", "head hash"});
  table.RightAlign(0);
  for (const audit::Checkpoint& c : r.checkpoints()) {
    table.AddRow({absl::StrCat(c.sequence()), FormatTime(c.create_time()), Dash(c.key_id()),
                  Dash(c.signature_algorithm()), Hex(c.head_hash())});
  }
  return table.Render() + Footer(r.checkpoints_size(), "checkpoints", r.next_page_token());
}

std::string RenderCheckpoint(const audit::Checkpoint& c) {
  return KeyValues({{"sequence", absl::StrCat(c.sequence())},
                    {"head hash", Hex(c.head_hash())},
                    {"created", TimeOrEmpty(c.create_time())},
                    {"key", c.key_id()},
                    {"algorithm", c.signature_algorithm()},
                    {"signature", Hex(c.signature())}});
}

std::string RenderSigningKeys(const audit::ListSigningKeysResponse& r) {
  if (r.keys_size() == 0) return "no signing keys\n";
  Table table({"key", "algorithm", "valid from", "valid until"});
  for (const audit::SigningKey& k : r.keys()) {
    table.AddRow({k.key_id(), Dash(k.signature_algorithm()), FormatTime(k.valid_from()),
                  k.has_valid_until() ? FormatTime(k.valid_until()) : "current"});
  }
  return table.Render() + "public keys (PEM): --json\n";
}

std::string RenderDirective(const consent::ConsentDirective& d) {
  return KeyValues(
      {{"directive", d.directive_id()},
       {"state", DirectiveStateLabel(d.state())},
       {"patient", d.has_patient() ? FormatSourceId(d.patient()) : ""},
       {"effect", EffectLabel(d.effect())},
       {"recipients", d.actor_orgs_size() ? absl::StrJoin(d.actor_orgs(), ", ") : "any"},
       {"custodians", d.custodian_orgs_size() ? absl::StrJoin(d.custodian_orgs(), ", ") : "any"},
       {"purposes", d.purposes_size() ? PurposeList(d.purposes()) : "any"},
       {"categories", d.data_categories_size() ? CodingList(d.data_categories()) : "all data"},
       {"labels", CodingList(d.sensitivity_labels())},
       {"in force", d.has_effective_period() ? TimeRangeText(d.effective_period()) : ""},
       {"evidence", d.evidence_reference()},
       {"comment", d.comment()},
       {"recorded by", d.has_recorded_by() ? FormatActor(d.recorded_by()) : ""},
       {"created", TimeOrEmpty(d.create_time())},
       {"revoked by", d.has_revoked_by() ? FormatActor(d.revoked_by()) : ""},
       {"revoked", TimeOrEmpty(d.revoke_time())},
       {"revoke reason", d.revoke_reason()},
       {"etag", d.etag()}});
}

std::string RenderDirectives(const consent::ListDirectivesResponse& r) {
  if (r.directives_size() == 0 && r.next_page_token().empty()) return "no directives\n";
  Table table({"directive", "state", "effect", "patient", "recipients", "custodians", "purposes",
               "scope", "from", "until", "etag"});
  for (const consent::ConsentDirective& d : r.directives()) {
    std::vector<std::string> scope;
    if (d.data_categories_size()) scope.push_back(CodingList(d.data_categories()));
    if (d.sensitivity_labels_size()) scope.push_back(CodingList(d.sensitivity_labels()));
    const cm::TimeRange& period = d.effective_period();
    table.AddRow({d.directive_id(), DirectiveStateLabel(d.state()), EffectLabel(d.effect()),
                  FormatSourceId(d.patient()),
                  d.actor_orgs_size() ? absl::StrJoin(d.actor_orgs(), ",") : "any",
                  d.custodian_orgs_size() ? absl::StrJoin(d.custodian_orgs(), ",") : "any",
                  d.purposes_size() ? PurposeList(d.purposes()) : "any",
                  scope.empty() ? "all data" : absl::StrJoin(scope, "; "),
                  FormatTime(period.start()), period.has_end() ? FormatTime(period.end()) : "-",
                  Dash(d.etag())});
  }
  return table.Render() + Footer(r.directives_size(), "directives", r.next_page_token());
}

std::string RenderGrants(const consent::ListBreakGlassGrantsResponse& r) {
  if (r.grants_size() == 0 && r.next_page_token().empty()) return "no break-glass grants\n";
  Table table({"grant", "review", "actor", "patients", "reason code", "started", "ends", "reason"});
  for (const consent::BreakGlassGrant& g : r.grants()) {
    std::string ends = g.has_end_time() ? absl::StrCat(FormatTime(g.end_time()), " (ended)")
                                        : FormatTime(g.expire_time());
    table.AddRow({g.grant_id(), ReviewLabel(g.review_state()), FormatActor(g.actor()),
                  SourceIds(g.patients()), ReasonCodeLabel(g.reason_code()),
                  FormatTime(g.start_time()), ends, Dash(g.reason())});
  }
  return table.Render() + Footer(r.grants_size(), "grants", r.next_page_token());
}

std::string RenderDecision(const consent::Decision& d) {
  std::vector<std::string> obligations;
  for (const consent::Obligation& o : d.obligations()) {
    std::string type(absl::StripPrefix(consent::Obligation::Type_Name(o.type()), "TYPE_"));
    obligations.push_back(o.codes_size() ? absl::StrCat(type, " ", CodingList(o.codes())) : type);
  }
  return KeyValues(
      {{"decision", std::string(absl::StripPrefix(consent::Effect_Name(d.effect()), "EFFECT_"))},
       {"basis",
        std::string(absl::StripPrefix(consent::DecisionBasis_Name(d.basis()), "DECISION_BASIS_"))},
       {"directive", d.directive_id()},
       {"break-glass grant", d.break_glass_id()},
       {"break-glass check",
        d.break_glass_check() == 0
            ? ""
            : std::string(absl::StripPrefix(consent::BreakGlassCheck_Name(d.break_glass_check()),
                                            "BREAK_GLASS_CHECK_"))},
       {"obligations", absl::StrJoin(obligations, "; ")},
       {"policy version", d.policy_version()},
       {"decision id", d.decision_id()}});
}

std::string RenderGrant(const consent::BreakGlassGrant& g) {
  return KeyValues({{"grant", g.grant_id()},
                    {"review", ReviewLabel(g.review_state())},
                    {"actor", g.has_actor() ? FormatActor(g.actor()) : ""},
                    {"patients", g.patients_size() ? SourceIds(g.patients()) : ""},
                    {"reason code", g.reason_code() ? ReasonCodeLabel(g.reason_code()) : ""},
                    {"reason", g.reason()},
                    {"started", TimeOrEmpty(g.start_time())},
                    {"expires", TimeOrEmpty(g.expire_time())},
                    {"ended", TimeOrEmpty(g.end_time())},
                    {"reviewed by", g.has_reviewed_by() ? FormatActor(g.reviewed_by()) : ""},
                    {"reviewed", TimeOrEmpty(g.review_time())},
                    {"notes", g.review_notes()},
                    {"request", g.request_id()}});
}

}  // namespace hie::hiectl
