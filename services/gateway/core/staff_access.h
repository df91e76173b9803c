#pragma once

// Who may use the gateway's staff APIs (hie.gateway.v1.OperatorGateway and AdminGateway), what
// each call becomes downstream, and what the gateway records of it. Pure: protobuf only; the
// adapter (api/staff_gateway.h) hands in the verified certificate.
//
// The caller is its certificate, never a request field (services/common/peer_identity.h):
//   OU "operator" -> actor {O, CN, ROLE_HIE_OPERATOR}
//   OU "auditor"  -> actor {O, CN, ROLE_PRIVACY_OFFICER}
//   OU "admin"    -> actor {O, CN, ROLE_HIE_ADMIN}
//   anything else (members, services): PERMISSION_DENIED.
// Each RPC admits the roles of its proto comment (StaffRpcRules(): OperatorGateway HIE_OPERATOR
// only; AdminGateway per RPC). The ClientContext:
//   user_id, user_role   optional; when set they must be the certificate's CN and role
//                        (PERMISSION_DENIED otherwise)
//   purpose_of_use       required (INVALID_ARGUMENT "context.purpose_of_use is required");
//                        SYSTEM_ADMINISTRATION only (another purpose is PERMISSION_DENIED).
//                        Identity, consent and audit accept any known purpose but UNSPECIFIED
//                        (identity requires one; audit records its own AUDIT_ACCESS events as
//                        SYSTEM_ADMINISTRATION), and HSYSADMIN is what staff work is.
//   break_glass_id       must be empty (INVALID_ARGUMENT): break-glass is for clinicians
//   request_id           optional, at most 128 bytes; becomes client_request_id
// Checks run in that order after the certificate and the RPC's roles; refusals
// (PERMISSION_DENIED) are audited by the adapter as EVENT_TYPE_SECURITY (RefusalEvent).
//
// Mutations (ResolveReviewTask, LinkRecord, UnlinkRecord, MergePersons, UnmergePersons,
// ReviewBreakGlass, PutMember, SetMemberState) need `reason` (when the request has one) and
// `idempotency_key` (when it has one; the directory's writes use expected_version instead):
// INVALID_ARGUMENT naming the field. PutMember's and SetMemberState's reason is text of at most
// 1000 bytes without control characters.
//
// Who records what (StaffRpcRule::audited_by):
//   identity mutations      identity's history (reason, actor, request id), which hie-audit
//                           follows into EVENT_TYPE_IDENTITY_CHANGE events
//   ReviewBreakGlass        consent (EVENT_TYPE_BREAK_GLASS)
//   audit reads             hie-audit itself (EVENT_TYPE_AUDIT_ACCESS, before it answers)
//   everything else         the gateway, durably before it answers (no record, no answer:
//                           UNAVAILABLE): identity reads as EVENT_TYPE_QUERY (a search for
//                           patients or records), consent reads and the member directory (its
//                           reads and its writes, PutMember / SetMemberState, HIE_ADMIN only)
//                           as EVENT_TYPE_ADMIN_ACTION; AccessEvent below.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "services/common/peer_identity.h"
#include "services/gateway/core/federation.h"

namespace hie::gateway {

enum class StaffRpc {
  // OperatorGateway
  kListReviewTasks,
  kGetReviewTask,
  kResolveReviewTask,
  kSearchPersons,
  kGetPerson,
  kGetSourceRecord,
  kResolve,
  kLinkRecord,
  kUnlinkRecord,
  kMergePersons,
  kUnmergePersons,
  kGetHistory,
  kListNotAMatches,
  // AdminGateway
  kSearchAuditEvents,
  kVerifyAuditLog,
  kGetAccountingOfDisclosures,
  kListAuditCheckpoints,
  kListAuditSigningKeys,
  kListBreakGlassGrants,
  kReviewBreakGlass,
  kListConsentDirectives,
  kGetConsentPolicy,
  kListMembers,
  kGetMember,
  kPutMember,
  kSetMemberState,
};

enum class AuditedBy { kIdentityHistory, kConsent, kAuditService, kGateway };

struct StaffRpcRule {
  StaffRpc rpc;
  const char* action;  // "gateway.<Rpc>", as logged and audited
  std::vector<common::v1::Role> roles;
  bool mutation;
  AuditedBy audited_by;
  audit::v1::EventType event_type;  // of the gateway's record when audited_by == kGateway
};

// Every staff RPC, in the order of StaffRpc.
const std::vector<StaffRpcRule>& StaffRpcRules();
const StaffRpcRule& RuleOf(StaffRpc rpc);

// The actor a staff certificate stands for, or PERMISSION_DENIED.
absl::StatusOr<common::v1::Actor> StaffActorOf(const PeerIdentity& caller);

// The hub's RequestContext for `rpc` called by `caller` (see the rules above): the hub's request
// id, the client's as client_request_id, the certificate's actor, SYSTEM_ADMINISTRATION, `now`.
absl::StatusOr<common::v1::RequestContext> StaffContext(const PeerIdentity& caller,
                                                        const common::v1::ClientContext& client,
                                                        StaffRpc rpc,
                                                        const std::string& hub_request_id,
                                                        absl::Time now);

// A mutation's fields: `reason` (if the message has that field) and `idempotency_key` (if it
// has it) non-empty; INVALID_ARGUMENT "<field> is required". OK for other RPCs.
absl::Status CheckStaffRequest(StaffRpc rpc, const google::protobuf::Message& request);

// A gateway request as the downstream service's request: every field but `context` (field 1)
// copied by number (the gateway messages mirror the services' ones field for field;
// CheckMirrors tests that), `context` set to `context`. INTERNAL if `downstream` cannot take it.
absl::Status TranslateRequest(const google::protobuf::Message& gateway_request,
                              const common::v1::RequestContext& context,
                              google::protobuf::Message* downstream);

// OK when `downstream` has the fields of `gateway` (but context) with the same numbers, names,
// types and labels, and no others but context; INTERNAL naming the first difference.
absl::Status CheckMirror(const google::protobuf::Descriptor& gateway,
                         const google::protobuf::Descriptor& downstream);

// The gateway's record of a call it audits itself: the rule's type and action, the context's
// actor, purpose and ids, the outcome (OK: SUCCESS; PERMISSION_DENIED: DENIED; else FAILURE with
// the code's name), the certificate's subject, and what the request names, ids only: source ids
// (`source_id`, `patients`) as patients, `person_id` (and a "person" object), `task_id`
// ("review_task"), `grant_id` ("break_glass_grant"), GetMember's, SetMemberState's and
// PutMember's org ("member", with SetMemberState's `state` and the writes' `reason` as details
// "state" and "reason"); filters
// (`org`, `actor_org`, `states`) as details. Never demographics (SearchPersons' query is not
// recorded, only that a search ran).
audit::v1::AuditEvent AccessEvent(const StaffRpcRule& rule,
                                  const common::v1::RequestContext& context,
                                  const PeerIdentity& caller,
                                  const google::protobuf::Message& request,
                                  const absl::Status& outcome, const std::string& event_id,
                                  absl::Time now);

// A refused call (EVENT_TYPE_SECURITY, OUTCOME_DENIED), as the member API records them.
audit::v1::AuditEvent RefusalEvent(const PeerIdentity& caller, const std::string& request_id,
                                   const std::string& action, const absl::Status& refusal,
                                   const std::string& event_id, absl::Time now);

// "O=<org>,OU=<role>,CN=<cn>".
std::string SubjectOf(const PeerIdentity& caller);

// One page of the member directory for ListMembers: members in `states` (empty = all), by org,
// after the page token's org; page_size 0 = 100, at most 1000 (INVALID_ARGUMENT otherwise); a
// page token this function did not issue is INVALID_ARGUMENT.
struct MemberPage {
  std::vector<DirectoryEntry> members;
  std::string next_page_token;  // empty on the last page
};
absl::StatusOr<MemberPage> PageOfMembers(const std::map<std::string, DirectoryEntry>& directory,
                                         const v1::ListMembersRequest& request);

}  // namespace hie::gateway
