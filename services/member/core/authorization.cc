#include "services/member/core/authorization.h"

namespace hie::member {

absl::Status CheckHubCaller(const PeerIdentity& caller, const HubCallerPolicy& policy) {
  if (caller.role != "service") {
    return absl::PermissionDeniedError("only the hub's gateway may call a member endpoint");
  }
  if (!policy.services.contains(caller.common_name)) {
    return absl::PermissionDeniedError(
        "this hub service is not one the member answers (--hub-callers)");
  }
  return absl::OkStatus();
}

}  // namespace hie::member
