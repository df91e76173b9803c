// ConsentManager: directive operations (create, read, list, update, revoke).

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/status_macros.h"
#include "services/consent/core/consent_manager.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/core/validation.h"

namespace hie::consent {
namespace {

using hie::audit::v1::AuditEvent;

void ClearOutputFields(v1::ConsentDirective& d) {
  d.clear_directive_id();
  d.clear_state();
  d.clear_recorded_by();
  d.clear_create_time();
  d.clear_update_time();
  d.clear_revoked_by();
  d.clear_revoke_time();
  d.clear_revoke_reason();
  d.clear_etag();
}

void Describe(AuditEvent& e, const v1::ConsentDirective& d) {
  *e.add_patients() = d.patient();
  e.set_directive_id(d.directive_id());
  auto* object = e.add_objects();
  object->set_kind("directive");
  object->set_id(d.directive_id());
  auto& details = *e.mutable_details();
  details["effect"] = v1::Effect_Name(d.effect());
  details["state"] = v1::DirectiveState_Name(d.state());
  details["etag"] = d.etag();
  details["scoped"] =
      d.data_categories().empty() && d.sensitivity_labels().empty() ? "false" : "true";
}

// Copies the field named `path` from `from` into `to`.
void CopyField(const std::string& path, const v1::ConsentDirective& from,
               v1::ConsentDirective& to) {
  if (path == "effect") to.set_effect(from.effect());
  if (path == "actor_orgs") *to.mutable_actor_orgs() = from.actor_orgs();
  if (path == "custodian_orgs") *to.mutable_custodian_orgs() = from.custodian_orgs();
  if (path == "purposes") *to.mutable_purposes() = from.purposes();
  if (path == "data_categories") *to.mutable_data_categories() = from.data_categories();
  if (path == "sensitivity_labels") *to.mutable_sensitivity_labels() = from.sensitivity_labels();
  if (path == "effective_period") *to.mutable_effective_period() = from.effective_period();
  if (path == "evidence_reference") to.set_evidence_reference(from.evidence_reference());
  if (path == "comment") to.set_comment(from.comment());
}

}  // namespace

std::string PageToken(int64_t ns, const std::string& id) { return absl::StrCat(ns, ".", id); }

absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> ParsePageToken(
    const std::string& token) {
  if (token.empty()) return std::nullopt;
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(token, absl::MaxSplits('.', 1));
  int64_t ns = 0;
  auto [ptr, ec] = std::from_chars(parts.first.data(), parts.first.data() + parts.first.size(), ns);
  if (ec != std::errc() || ptr != parts.first.data() + parts.first.size() || parts.second.empty()) {
    return absl::InvalidArgumentError("page_token is not valid");
  }
  return std::make_pair(ns, std::string(parts.second));
}

absl::StatusOr<v1::ConsentDirective> ConsentManager::CreateDirective(
    const CallContext& call, const v1::CreateDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateCreateDirective(r));
  HIE_RETURN_IF_ERROR(
      CheckActorScope(call.actor, Operation::kWriteDirective, r.directive().patient().org()));
  return Write<v1::ConsentDirective>(
      call, "CreateDirective", r, [&](ConsentTxn& txn) -> absl::StatusOr<v1::ConsentDirective> {
        v1::ConsentDirective d = r.directive();
        ClearOutputFields(d);
        const absl::Time now = clock_->Now();
        d.set_directive_id(ids_.Next("cd"));
        d.set_state(v1::DIRECTIVE_STATE_ACTIVE);
        *d.mutable_recorded_by() = call.actor;
        *d.mutable_create_time() = ToProto(now);
        *d.mutable_update_time() = ToProto(now);
        HIE_ASSIGN_OR_RETURN(int64_t version, txn.Version());
        d.set_etag(absl::StrCat("v", version));
        HIE_RETURN_IF_ERROR(txn.PutDirective(d));
        AuditEvent e = NewEvent(call, r.context(), hie::audit::v1::EVENT_TYPE_CONSENT_CHANGE,
                                "CreateDirective");
        Describe(e, d);
        HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
        return d;
      });
}

absl::StatusOr<v1::ConsentDirective> ConsentManager::GetDirective(
    const CallContext& call, const v1::GetDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateGetDirective(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kReadDirective));
  HIE_ASSIGN_OR_RETURN(std::optional<v1::ConsentDirective> d,
                       store_->GetDirective(call.deadline, r.directive_id()));
  if (!d.has_value()) return absl::NotFoundError("directive not found");
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kReadDirective, d->patient().org()));
  return *std::move(d);
}

absl::StatusOr<v1::ListDirectivesResponse> ConsentManager::ListDirectives(
    const CallContext& call, const v1::ListDirectivesRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateListDirectives(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kReadDirective));
  DirectiveFilter filter;
  for (const auto& p : r.patients()) {
    // A member sees its own organisation's records only.
    if (IsPrivacyOfficer(call.actor) || p.org() == call.actor.org()) filter.patients.push_back(p);
  }
  for (int s : r.states()) filter.states.push_back(static_cast<v1::DirectiveState>(s));
  const size_t page = r.page_size() == 0 ? kDefaultPageSize : r.page_size();
  filter.limit = page + 1;
  HIE_ASSIGN_OR_RETURN(filter.after, ParsePageToken(r.page_token()));
  v1::ListDirectivesResponse out;
  if (filter.patients.empty()) return out;
  HIE_ASSIGN_OR_RETURN(std::vector<v1::ConsentDirective> rows,
                       store_->ListDirectives(call.deadline, filter));
  for (size_t i = 0; i < rows.size() && i < page; ++i) *out.add_directives() = rows[i];
  if (rows.size() > page) {
    const auto& last = rows[page - 1];
    out.set_next_page_token(PageToken(UnixNanos(last.create_time()), last.directive_id()));
  }
  return out;
}

absl::StatusOr<v1::ConsentDirective> ConsentManager::UpdateDirective(
    const CallContext& call, const v1::UpdateDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateUpdateDirective(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kWriteDirective));
  return Write<v1::ConsentDirective>(
      call, "UpdateDirective", r, [&](ConsentTxn& txn) -> absl::StatusOr<v1::ConsentDirective> {
        HIE_ASSIGN_OR_RETURN(std::optional<v1::ConsentDirective> stored,
                             txn.GetDirectiveForUpdate(r.directive().directive_id()));
        if (!stored.has_value()) return absl::NotFoundError("directive not found");
        HIE_RETURN_IF_ERROR(
            CheckActorScope(call.actor, Operation::kWriteDirective, stored->patient().org()));
        if (stored->state() == v1::DIRECTIVE_STATE_REVOKED) {
          return absl::FailedPreconditionError("directive is revoked");
        }
        if (!r.directive().etag().empty() && r.directive().etag() != stored->etag()) {
          return absl::AbortedError("directive.etag is stale; read the directive again");
        }
        v1::ConsentDirective d = *stored;
        for (const std::string& path : r.update_mask().paths()) CopyField(path, r.directive(), d);
        HIE_RETURN_IF_ERROR(ValidateDirectiveBody(d, "directive."));
        *d.mutable_update_time() = ToProto(clock_->Now());
        HIE_ASSIGN_OR_RETURN(int64_t version, txn.Version());
        d.set_etag(absl::StrCat("v", version));
        HIE_RETURN_IF_ERROR(txn.PutDirective(d));
        AuditEvent e = NewEvent(call, r.context(), hie::audit::v1::EVENT_TYPE_CONSENT_CHANGE,
                                "UpdateDirective");
        Describe(e, d);
        (*e.mutable_details())["previous_etag"] = stored->etag();
        HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
        return d;
      });
}

absl::StatusOr<v1::ConsentDirective> ConsentManager::RevokeDirective(
    const CallContext& call, const v1::RevokeDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateRevokeDirective(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kWriteDirective));
  return Write<v1::ConsentDirective>(
      call, "RevokeDirective", r, [&](ConsentTxn& txn) -> absl::StatusOr<v1::ConsentDirective> {
        HIE_ASSIGN_OR_RETURN(std::optional<v1::ConsentDirective> stored,
                             txn.GetDirectiveForUpdate(r.directive_id()));
        if (!stored.has_value()) return absl::NotFoundError("directive not found");
        HIE_RETURN_IF_ERROR(
            CheckActorScope(call.actor, Operation::kWriteDirective, stored->patient().org()));
        if (stored->state() == v1::DIRECTIVE_STATE_REVOKED) {
          return absl::FailedPreconditionError("directive is already revoked");
        }
        if (!r.etag().empty() && r.etag() != stored->etag()) {
          return absl::AbortedError("etag is stale; read the directive again");
        }
        v1::ConsentDirective d = *stored;
        const absl::Time now = clock_->Now();
        d.set_state(v1::DIRECTIVE_STATE_REVOKED);
        *d.mutable_revoked_by() = call.actor;
        *d.mutable_revoke_time() = ToProto(now);
        d.set_revoke_reason(r.reason());
        *d.mutable_update_time() = ToProto(now);
        HIE_ASSIGN_OR_RETURN(int64_t version, txn.Version());
        d.set_etag(absl::StrCat("v", version));
        HIE_RETURN_IF_ERROR(txn.PutDirective(d));
        AuditEvent e = NewEvent(call, r.context(), hie::audit::v1::EVENT_TYPE_CONSENT_CHANGE,
                                "RevokeDirective");
        Describe(e, d);  // the reason is free text: not in the event
        HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
        return d;
      });
}

}  // namespace hie::consent
