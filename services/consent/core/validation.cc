#include "services/consent/core/validation.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"
#include "services/consent/core/time_proto.h"

namespace hie::consent {
namespace {

using google::protobuf::RepeatedPtrField;
using hie::common::v1::Coding;

constexpr size_t kMaxTextBytes = 1024;

absl::Status CheckPage(int32_t page_size, const std::string& token) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return InvalidField("page_size", "must be 0 to 1000");
  }
  return CheckOptionalText(token, "page_token", 256);
}

absl::Status CheckKey(const std::string& key) { return CheckText(key, "idempotency_key", 128); }

absl::Status CheckDataFilter(const RepeatedPtrField<Coding>& categories,
                             const RepeatedPtrField<Coding>& labels,
                             const google::protobuf::Timestamp* at) {
  HIE_RETURN_IF_ERROR(CheckCodings(categories, "data_categories"));
  HIE_RETURN_IF_ERROR(CheckCodings(labels, "sensitivity_labels"));
  if (at != nullptr) HIE_RETURN_IF_ERROR(CheckTimestamp(*at, "at"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateContext(const hie::common::v1::RequestContext& c, bool need_purpose) {
  HIE_RETURN_IF_ERROR(CheckText(c.request_id(), "context.request_id", kMaxIdBytes));
  HIE_RETURN_IF_ERROR(CheckPurpose(c.purpose_of_use(), "context.purpose_of_use", need_purpose));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.break_glass_id(), "context.break_glass_id", 64));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.client_request_id(), "context.client_request_id", 128));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.actor().org(), "context.actor.org", kMaxIdBytes));
  HIE_RETURN_IF_ERROR(CheckOptionalText(c.actor().user_id(), "context.actor.user_id", 128));
  if (!hie::common::v1::Role_IsValid(c.actor().role())) {
    return InvalidField("context.actor.role", "is not a known value");
  }
  if (c.has_start_time()) HIE_RETURN_IF_ERROR(CheckTimestamp(c.start_time(), "context.start_time"));
  return absl::OkStatus();
}

absl::Status ValidateDecide(const v1::DecideRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), true));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.patients(), "patients", 1, kMaxPatients));
  HIE_RETURN_IF_ERROR(CheckId(r.custodian_org(), "custodian_org"));
  return CheckDataFilter(r.data_categories(), r.sensitivity_labels(),
                         r.has_at() ? &r.at() : nullptr);
}

absl::Status ValidateBatchDecide(const v1::BatchDecideRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), true));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.patients(), "patients", 1, kMaxPatients));
  HIE_RETURN_IF_ERROR(CheckOrgs(r.custodian_orgs(), "custodian_orgs", 1, kMaxCustodians));
  return CheckDataFilter(r.data_categories(), r.sensitivity_labels(),
                         r.has_at() ? &r.at() : nullptr);
}

absl::Status ValidateDirectiveBody(const v1::ConsentDirective& d, const std::string& p) {
  if (!d.has_patient()) return InvalidField(p + "patient", "is required");
  HIE_RETURN_IF_ERROR(CheckId(d.patient().org(), p + "patient.org"));
  HIE_RETURN_IF_ERROR(CheckId(d.patient().local_id(), p + "patient.local_id"));
  if (d.effect() != v1::EFFECT_PERMIT && d.effect() != v1::EFFECT_DENY) {
    return InvalidField(p + "effect", "must be PERMIT or DENY");
  }
  HIE_RETURN_IF_ERROR(CheckOrgs(d.actor_orgs(), p + "actor_orgs", 0, kMaxCustodians));
  HIE_RETURN_IF_ERROR(CheckOrgs(d.custodian_orgs(), p + "custodian_orgs", 0, kMaxCustodians));
  if (d.purposes_size() > 16) return InvalidField(p + "purposes", "has more than 16 entries");
  for (int i = 0; i < d.purposes_size(); ++i) {
    HIE_RETURN_IF_ERROR(CheckPurpose(d.purposes(i), absl::StrCat(p, "purposes[", i, "]"), true));
  }
  HIE_RETURN_IF_ERROR(CheckCodings(d.data_categories(), p + "data_categories"));
  HIE_RETURN_IF_ERROR(CheckCodings(d.sensitivity_labels(), p + "sensitivity_labels"));
  if (!d.effective_period().has_start()) {
    return InvalidField(p + "effective_period.start", "is required");
  }
  HIE_RETURN_IF_ERROR(CheckTimestamp(d.effective_period().start(), p + "effective_period.start"));
  if (d.effective_period().has_end()) {
    HIE_RETURN_IF_ERROR(CheckTimestamp(d.effective_period().end(), p + "effective_period.end"));
    if (FromProto(d.effective_period().end()) <= FromProto(d.effective_period().start())) {
      return InvalidField(p + "effective_period", "is empty or inverted (end must be after start)");
    }
  }
  HIE_RETURN_IF_ERROR(
      CheckOptionalText(d.evidence_reference(), p + "evidence_reference", kMaxTextBytes));
  return CheckOptionalText(d.comment(), p + "comment", kMaxTextBytes);
}

absl::Status ValidateCreateDirective(const v1::CreateDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckKey(r.idempotency_key()));
  if (!r.has_directive()) return InvalidField("directive", "is required");
  return ValidateDirectiveBody(r.directive(), "directive.");
}

absl::Status ValidateGetDirective(const v1::GetDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  return CheckId(r.directive_id(), "directive_id");
}

absl::Status ValidateListDirectives(const v1::ListDirectivesRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.patients(), "patients", 1, kMaxPatients));
  for (int i = 0; i < r.states_size(); ++i) {
    if (!v1::DirectiveState_IsValid(r.states(i)) ||
        r.states(i) == v1::DIRECTIVE_STATE_UNSPECIFIED) {
      return InvalidField(absl::StrCat("states[", i, "]"), "is not a known state");
    }
  }
  return CheckPage(r.page_size(), r.page_token());
}

absl::Status ValidateUpdateDirective(const v1::UpdateDirectiveRequest& r) {
  static const std::set<std::string> kUpdatable = {
      "effect",           "actor_orgs",         "custodian_orgs",
      "purposes",         "data_categories",    "sensitivity_labels",
      "effective_period", "evidence_reference", "comment"};
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckKey(r.idempotency_key()));
  HIE_RETURN_IF_ERROR(CheckId(r.directive().directive_id(), "directive.directive_id"));
  HIE_RETURN_IF_ERROR(CheckOptionalText(r.directive().etag(), "directive.etag", 64));
  if (r.update_mask().paths_size() == 0) return InvalidField("update_mask", "is required");
  if (r.update_mask().paths_size() > 16) return InvalidField("update_mask", "has too many paths");
  for (int i = 0; i < r.update_mask().paths_size(); ++i) {
    if (!kUpdatable.contains(r.update_mask().paths(i))) {
      return InvalidField(absl::StrCat("update_mask.paths[", i, "]"),
                          "names a field that cannot change");
    }
  }
  // The body is checked again after the mask is applied to the stored directive.
  return absl::OkStatus();
}

absl::Status ValidateRevokeDirective(const v1::RevokeDirectiveRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckKey(r.idempotency_key()));
  HIE_RETURN_IF_ERROR(CheckId(r.directive_id(), "directive_id"));
  HIE_RETURN_IF_ERROR(CheckText(r.reason(), "reason", kMaxTextBytes));
  return CheckOptionalText(r.etag(), "etag", 64);
}

absl::Status ValidateBreakGlass(const v1::BreakGlassRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), true));
  if (r.context().purpose_of_use() != hie::common::v1::PURPOSE_OF_USE_EMERGENCY) {
    return InvalidField("context.purpose_of_use", "must be EMERGENCY");
  }
  HIE_RETURN_IF_ERROR(CheckKey(r.idempotency_key()));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.patients(), "patients", 1, kMaxPatients));
  HIE_RETURN_IF_ERROR(CheckText(r.reason(), "reason", kMaxTextBytes));
  if (!v1::BreakGlassReason_IsValid(r.reason_code()) ||
      r.reason_code() == v1::BREAK_GLASS_REASON_UNSPECIFIED) {
    return InvalidField("reason_code", "is required");
  }
  if (r.has_requested_duration()) {
    const auto& d = r.requested_duration();
    if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 ||
        (d.seconds() == 0 && d.nanos() == 0) || d.seconds() > 315576000000) {
      return InvalidField("requested_duration", "must be positive");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEndBreakGlass(const v1::EndBreakGlassRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckKey(r.idempotency_key()));
  return CheckId(r.grant_id(), "grant_id");
}

absl::Status ValidateListBreakGlassGrants(const v1::ListBreakGlassGrantsRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  for (int i = 0; i < r.review_states_size(); ++i) {
    if (!v1::BreakGlassReviewState_IsValid(r.review_states(i)) ||
        r.review_states(i) == v1::BREAK_GLASS_REVIEW_STATE_UNSPECIFIED) {
      return InvalidField(absl::StrCat("review_states[", i, "]"), "is not a known state");
    }
  }
  if (!r.actor_org().empty()) HIE_RETURN_IF_ERROR(CheckId(r.actor_org(), "actor_org"));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.patients(), "patients", 0, kMaxPatients));
  if (r.start_time().has_start()) {
    HIE_RETURN_IF_ERROR(CheckTimestamp(r.start_time().start(), "start_time.start"));
  }
  if (r.start_time().has_end()) {
    HIE_RETURN_IF_ERROR(CheckTimestamp(r.start_time().end(), "start_time.end"));
  }
  return CheckPage(r.page_size(), r.page_token());
}

absl::Status ValidateReviewBreakGlass(const v1::ReviewBreakGlassRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckKey(r.idempotency_key()));
  HIE_RETURN_IF_ERROR(CheckId(r.grant_id(), "grant_id"));
  if (r.review_state() != v1::BREAK_GLASS_REVIEW_STATE_APPROPRIATE &&
      r.review_state() != v1::BREAK_GLASS_REVIEW_STATE_INAPPROPRIATE) {
    return InvalidField("review_state", "must be APPROPRIATE or INAPPROPRIATE");
  }
  return CheckOptionalText(r.notes(), "notes", kMaxTextBytes);
}

}  // namespace hie::consent
