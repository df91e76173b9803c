#pragma once

// The consent commands of hiectl's command table (hie-consent, hie.consent.v1.ConsentService,
// default localhost:7004): `consent directive create|list|revoke` and
// `consent break-glass list|review`. Like the audit commands they connect with the privacy
// officer's certificate (var/certs/auditor.pem/.key) unless --tls-cert/--tls-key say otherwise.
// Writes carry an idempotency key (random unless --idempotency-key). Pure: flags -> requests;
// errors are INVALID_ARGUMENT naming the flag and never echo a patient identifier.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/consent/v1/consent.pb.h"
#include "services/common/config.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {

inline constexpr char kConsentTarget[] = "localhost:7004";

// Appends the consent commands to `specs`; `now` is the default start (--from) of a directive.
void AddConsentCommands(absl::Time now, std::vector<CommandSpec>& specs);

[[nodiscard]] absl::StatusOr<consent::CreateDirectiveRequest> BuildCreateDirectiveRequest(
    const Config& flags, absl::Time now);
// A directive's flags but the patient (--effect, its scope, --from/--until, --evidence,
// --comment, --idempotency-key), shared with the member's `patient-consent create`, and what
// they set in `directive` (not the patient, not the idempotency key).
std::vector<ConfigKey> DirectiveKeys();
[[nodiscard]] absl::Status FillDirective(const Config& flags, absl::Time now,
                                         consent::ConsentDirective* directive);
[[nodiscard]] absl::StatusOr<consent::ListDirectivesRequest> BuildListDirectivesRequest(
    const Config& flags);
[[nodiscard]] absl::StatusOr<consent::RevokeDirectiveRequest> BuildRevokeDirectiveRequest(
    const Config& flags, const std::vector<std::string>& positionals);
[[nodiscard]] absl::StatusOr<consent::ListBreakGlassGrantsRequest> BuildListGrantsRequest(
    const Config& flags);
// `consent decide`: the patients, custodian and data asked about (the purpose and recipient go
// in the call's context).
[[nodiscard]] absl::StatusOr<consent::DecideRequest> BuildDecideRequest(const Config& flags);
[[nodiscard]] absl::StatusOr<consent::ReviewBreakGlassRequest> BuildReviewGrantRequest(
    const Config& flags, const std::vector<std::string>& positionals);

}  // namespace hie::hiectl
