#pragma once

// The audit commands of hiectl's command table (hie-audit, hie.audit.v1.AuditLog, default
// localhost:7005): `audit search`, `audit disclosures`, `audit verify`, `audit checkpoints`.
// They connect with the privacy officer's certificate (var/certs/auditor.pem/.key) unless
// --tls-cert/--tls-key say otherwise. Pure, like commands.h: flags -> requests; errors are
// INVALID_ARGUMENT naming the flag and never echo a patient identifier.

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/audit/v1/audit.pb.h"
#include "services/common/config.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {

inline constexpr char kAuditTarget[] = "localhost:7005";

// Appends the audit commands to `specs`; `now` is the reference of audit search's default
// --since (24 hours back).
void AddAuditCommands(absl::Time now, std::vector<CommandSpec>& specs);

// audit search: every filter flag; the event time range is --since (default: 24 hours before
// --until, or before `now`) to --until (default: open), at most 366 days.
[[nodiscard]] absl::StatusOr<audit::SearchEventsRequest> BuildAuditSearchRequest(
    const Config& flags, absl::Time now);
// audit disclosures: the patient (required), --since/--until, --exclude-tpo, paging.
[[nodiscard]] absl::StatusOr<audit::GetAccountingOfDisclosuresRequest> BuildDisclosuresRequest(
    const Config& flags);
// audit verify: --from/--to sequences (0: first / head), --skip-checkpoints.
[[nodiscard]] absl::StatusOr<audit::VerifyRequest> BuildVerifyRequest(const Config& flags);
// audit checkpoints (the list): --since/--until on create_time, paging.
[[nodiscard]] absl::StatusOr<audit::ListCheckpointsRequest> BuildListCheckpointsRequest(
    const Config& flags);

// The alarm of audit verify: empty when VALID, else "audit chain is not valid: STATUS at
// sequence N: detail".
std::string VerifyAlarm(const audit::VerifyResult& result);

}  // namespace hie::hiectl
