#pragma once

// The member clinic's commands of hiectl's command table, through the hub's gateway
// (hie-gateway, hie.gateway.v1.MemberGateway, default localhost:7000):
//   outside-records   "what records exist for my patient outside my clinic?" (FindOutsideRecords:
//                     one block per member as its answer arrives, then the per-member summary)
//   retrieve          one of those documents into a file (RetrieveDocument)
//   break-glass       emergency access for one clinician to one patient (BreakGlass): a
//                     time-boxed grant, audited and reviewed by the privacy officer
//   patient-consent create|list|revoke
//                     your patient's consent directives (CreateConsentDirective, ...): the
//                     patient is --local-id at your clinic, the hub's consent service keeps them
// They connect with a member's certificate (default var/certs/clinic-a.pem/.key: the clinic is
// the certificate's organisation, never a flag) and name the clinician the records are
// disclosed to (--user, --role) and the purpose (treatment, or emergency with
// --break-glass-id). Pure: flags -> requests, messages -> text; errors are INVALID_ARGUMENT
// naming the flag.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "services/common/config.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {

inline constexpr char kGatewayTarget[] = "localhost:7000";  // services/gateway/main.cc

// `now` is the default start (--from) of a directive.
void AddGatewayCommands(absl::Time now, std::vector<CommandSpec>& specs);

// outside-records: --local-id, --user (required), --role, --purpose, --break-glass-id,
// --member (repeatable), --max-per-member.
[[nodiscard]] absl::StatusOr<hie::gateway::v1::FindOutsideRecordsRequest>
BuildFindOutsideRecordsRequest(const Config& flags);
// retrieve: --local-id, --member-org, --key (required), --repository, and the clinician flags.
[[nodiscard]] absl::StatusOr<hie::gateway::v1::RetrieveDocumentRequest>
BuildRetrieveDocumentRequest(const Config& flags);

// break-glass: --local-id, --user, --reason, --reason-code (life-threatening,
// patient-unable-to-consent, urgent-medication-review, other-emergency) required; --duration
// (a Go-style duration, e.g. 30m; default the policy's maximum); --idempotency-key.
[[nodiscard]] absl::StatusOr<hie::gateway::v1::BreakGlassRequest> BuildBreakGlassRequest(
    const Config& flags);
// patient-consent: who records it at the clinic (--user required, --role default
// administrative-staff; purpose operations), and for create --local-id and consent_commands.h's
// DirectiveKeys (--effect required); list: --local-id, --page-size, --page-token; revoke:
// DIRECTIVE_ID, --reason.
[[nodiscard]] absl::StatusOr<hie::gateway::v1::CreateConsentDirectiveRequest>
BuildMemberDirectiveRequest(const Config& flags, absl::Time now);
[[nodiscard]] absl::StatusOr<hie::gateway::v1::ListConsentDirectivesRequest>
BuildMemberDirectiveListRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<hie::gateway::v1::RevokeConsentDirectiveRequest>
BuildMemberDirectiveRevokeRequest(const Config& flags, const std::vector<std::string>& positionals);

// The grant: its id, expiry, and how to use it with outside-records.
std::string RenderBreakGlass(const hie::gateway::v1::BreakGlassResponse& grant,
                             const std::string& local_id, const std::string& user);

// One member's answer: a heading (member, status, entries, latency, detail) and its entries
// (created, class, title, where from, the retrieve command's --member-org and --key).
std::string RenderMemberResult(const hie::gateway::v1::MemberResult& result);
// The last message: one row per member, then the totals and the request id.
std::string RenderQuerySummary(const hie::gateway::v1::QuerySummary& summary);

}  // namespace hie::hiectl
