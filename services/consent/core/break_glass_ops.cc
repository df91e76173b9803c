// ConsentManager: break-glass grants (open, end, list, review).

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"
#include "services/consent/core/consent_manager.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/core/validation.h"

namespace hie::consent {

namespace {

using hie::audit::v1::AuditEvent;

void Describe(AuditEvent& e, const v1::BreakGlassGrant& g) {
  for (const auto& p : g.patients()) *e.add_patients() = p;
  e.set_break_glass_id(g.grant_id());
  auto* object = e.add_objects();
  object->set_kind("break_glass_grant");
  object->set_id(g.grant_id());
  auto& details = *e.mutable_details();
  details["reason_code"] = v1::BreakGlassReason_Name(g.reason_code());
  details["review_state"] = v1::BreakGlassReviewState_Name(g.review_state());
  details["duration_seconds"] = absl::StrCat(g.expire_time().seconds() - g.start_time().seconds());
}

}  // namespace

absl::StatusOr<v1::BreakGlassGrant> ConsentManager::BreakGlass(const CallContext& call,
                                                               const v1::BreakGlassRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateBreakGlass(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kBreakGlass));
  return Write<v1::BreakGlassGrant>(
      call, "BreakGlass", r, [&](ConsentTxn& txn) -> absl::StatusOr<v1::BreakGlassGrant> {
        absl::Duration max = FromProto(options_.policy.max_break_glass_duration());
        if (max <= absl::ZeroDuration()) max = absl::Hours(1);
        absl::Duration duration =
            r.has_requested_duration() ? FromProto(r.requested_duration()) : max;
        duration = std::min(duration, max);
        const absl::Time now = clock_->Now();
        v1::BreakGlassGrant g;
        g.set_grant_id(ids_.Next("bg"));
        *g.mutable_patients() = r.patients();
        *g.mutable_actor() = call.actor;
        g.set_reason(r.reason());
        g.set_reason_code(r.reason_code());
        *g.mutable_start_time() = ToProto(now);
        *g.mutable_expire_time() = ToProto(now + duration);
        g.set_review_state(v1::BREAK_GLASS_REVIEW_STATE_PENDING);
        g.set_request_id(call.request_id);
        HIE_RETURN_IF_ERROR(txn.PutGrant(g));
        AuditEvent e =
            NewEvent(call, r.context(), hie::audit::v1::EVENT_TYPE_BREAK_GLASS, "BreakGlass");
        Describe(e, g);
        HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
        return g;
      });
}

absl::StatusOr<v1::BreakGlassGrant> ConsentManager::EndBreakGlass(
    const CallContext& call, const v1::EndBreakGlassRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateEndBreakGlass(r));
  return Write<v1::BreakGlassGrant>(
      call, "EndBreakGlass", r, [&](ConsentTxn& txn) -> absl::StatusOr<v1::BreakGlassGrant> {
        HIE_ASSIGN_OR_RETURN(std::optional<v1::BreakGlassGrant> g,
                             txn.GetGrantForUpdate(r.grant_id()));
        if (!g.has_value()) return absl::NotFoundError("grant not found");
        HIE_RETURN_IF_ERROR(
            CheckActorScope(call.actor, Operation::kEndBreakGlass, {}, &g->actor()));
        const absl::Time now = clock_->Now();
        if (g->has_end_time()) return absl::FailedPreconditionError("grant already ended");
        if (FromProto(g->expire_time()) <= now) {
          return absl::FailedPreconditionError("grant already expired");
        }
        *g->mutable_end_time() = ToProto(now);
        HIE_RETURN_IF_ERROR(txn.PutGrant(*g));
        AuditEvent e =
            NewEvent(call, r.context(), hie::audit::v1::EVENT_TYPE_BREAK_GLASS, "EndBreakGlass");
        Describe(e, *g);
        HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
        return *std::move(g);
      });
}

absl::StatusOr<v1::ListBreakGlassGrantsResponse> ConsentManager::ListBreakGlassGrants(
    const CallContext& call, const v1::ListBreakGlassGrantsRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateListBreakGlassGrants(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kListGrants));
  GrantFilter filter;
  for (int s : r.review_states()) {
    filter.review_states.push_back(static_cast<v1::BreakGlassReviewState>(s));
  }
  filter.actor_org = r.actor_org();
  filter.patients.assign(r.patients().begin(), r.patients().end());
  if (r.start_time().has_start()) filter.start_from = FromProto(r.start_time().start());
  if (r.start_time().has_end()) filter.start_before = FromProto(r.start_time().end());
  const size_t page = r.page_size() == 0 ? kDefaultPageSize : r.page_size();
  filter.limit = page + 1;
  HIE_ASSIGN_OR_RETURN(filter.after, ParsePageToken(r.page_token()));
  HIE_ASSIGN_OR_RETURN(std::vector<v1::BreakGlassGrant> rows,
                       store_->ListGrants(call.deadline, filter));
  v1::ListBreakGlassGrantsResponse out;
  for (size_t i = 0; i < rows.size() && i < page; ++i) *out.add_grants() = rows[i];
  if (rows.size() > page) {
    const auto& last = rows[page - 1];
    out.set_next_page_token(PageToken(UnixNanos(last.start_time()), last.grant_id()));
  }
  return out;
}

absl::StatusOr<v1::BreakGlassGrant> ConsentManager::ReviewBreakGlass(
    const CallContext& call, const v1::ReviewBreakGlassRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateReviewBreakGlass(r));
  HIE_RETURN_IF_ERROR(CheckActorScope(call.actor, Operation::kReviewGrant));
  return Write<v1::BreakGlassGrant>(
      call, "ReviewBreakGlass", r, [&](ConsentTxn& txn) -> absl::StatusOr<v1::BreakGlassGrant> {
        HIE_ASSIGN_OR_RETURN(std::optional<v1::BreakGlassGrant> g,
                             txn.GetGrantForUpdate(r.grant_id()));
        if (!g.has_value()) return absl::NotFoundError("grant not found");
        if (g->review_state() != v1::BREAK_GLASS_REVIEW_STATE_PENDING) {
          return absl::FailedPreconditionError("grant already reviewed");
        }
        g->set_review_state(r.review_state());
        *g->mutable_reviewed_by() = call.actor;
        g->set_review_notes(r.notes());
        *g->mutable_review_time() = ToProto(clock_->Now());
        HIE_RETURN_IF_ERROR(txn.PutGrant(*g));
        AuditEvent e =
            NewEvent(call, r.context(), hie::audit::v1::EVENT_TYPE_BREAK_GLASS, "ReviewBreakGlass");
        Describe(e, *g);  // notes are free text: not in the event
        HIE_RETURN_IF_ERROR(txn.AppendOutbox(e));
        return *std::move(g);
      });
}

}  // namespace hie::consent
