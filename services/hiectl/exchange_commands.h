#pragma once

// The exchange commands of hiectl's command table: the record locator (hie-locator,
// hie.locator.v1.RecordLocator: `locate`, `locations list`, `locations delete`) and the document
// registry (hie-registry, hie.registry.v1.DocumentRegistry: `documents find | get | related |
// deprecate`). They connect with the operator's certificate (var/certs/operator.pem/.key) unless
// --tls-cert/--tls-key say otherwise, and carry the session's --purpose (default operations) and
// --user like the identity commands. Writes carry an idempotency key (random unless
// --idempotency-key), which hiectl prints before sending. Pure, like commands.h: flags ->
// requests; errors are INVALID_ARGUMENT naming the flag and never echo a patient identifier.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hie/locator/v1/locator.pb.h"
#include "hie/registry/v1/registry.pb.h"
#include "services/common/config.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {

inline constexpr char kLocatorTarget[] = "localhost:7002";   // services/locator/main.cc
inline constexpr char kRegistryTarget[] = "localhost:7003";  // services/registry/main.cc

// At most this many source ids (locate, documents find) or document ids (documents get) per
// call, as the services accept.
inline constexpr int kMaxIdsPerCall = 1000;

// Appends the locator and registry commands to `specs`; `default_user` is the default of --user.
void AddExchangeCommands(const std::string& default_user, std::vector<CommandSpec>& specs);

// locate: --source ORG:LOCAL_ID (required, 1-1000), --category SYSTEM|CODE, --active-since.
[[nodiscard]] absl::StatusOr<locator::LocateRequest> BuildLocateRequest(const Config& flags);
// locations list: --org (required), --active-since/--active-until, --include-removed, paging.
[[nodiscard]] absl::StatusOr<locator::ListLocationsRequest> BuildListLocationsRequest(
    const Config& flags);
// locations delete: exactly one --source, --reason-code, --reason.
[[nodiscard]] absl::StatusOr<locator::DeleteLocationRequest> BuildDeleteLocationRequest(
    const Config& flags);

// documents find: --patient (required, 1-1000) and the DocumentQuery filters, paging.
[[nodiscard]] absl::StatusOr<registry::FindDocumentsRequest> BuildFindDocumentsRequest(
    const Config& flags);
// documents get: --entry-uuid and/or --unique-id (1-1000 ids in all).
[[nodiscard]] absl::StatusOr<registry::GetDocumentsRequest> BuildGetDocumentsRequest(
    const Config& flags);
// documents related: --entry-uuid (one), --type association types.
[[nodiscard]] absl::StatusOr<registry::GetRelatedDocumentsRequest> BuildRelatedDocumentsRequest(
    const Config& flags);
// documents deprecate: --entry-uuid (one), --reason.
[[nodiscard]] absl::StatusOr<registry::DeprecateDocumentRequest> BuildDeprecateDocumentRequest(
    const Config& flags);

}  // namespace hie::hiectl
