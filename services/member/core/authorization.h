#pragma once

// Who may call a member endpoint: the hub only. Pure: the adapter hands in the caller's
// verified certificate (services/common/peer_identity.h).
//
// The gateway calls members with its client certificate (scripts/gen-certs.sh: O=hie,
// OU=service, CN=gateway). A caller is admitted when its certificate role (OU) is "service"
// and its name (CN) is one of HubCallerPolicy::services (--hub-callers, default "gateway").
// Members (OU=member), operators, auditors and other hub services are PERMISSION_DENIED: by
// the time a call reaches a member the gateway has checked consent and audited it, which no
// other caller has.

#include <set>
#include <string>

#include "absl/status/status.h"
#include "services/common/peer_identity.h"

namespace hie::member {

struct HubCallerPolicy {
  std::set<std::string> services = {"gateway"};
};

absl::Status CheckHubCaller(const PeerIdentity& caller, const HubCallerPolicy& policy);

}  // namespace hie::member
