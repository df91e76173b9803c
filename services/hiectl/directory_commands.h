#pragma once

// hiectl's member-directory commands, through the hub's gateway (hie-gateway,
// hie.gateway.v1.AdminGateway, default localhost:7000):
//   members list        every member with its state, endpoint, capabilities, circuit and version
//   members show ORG_ID one member
//   members put         create (--expected-version 0) or replace version N of one member
//   members set-state ORG_ID --state suspended|active|decommissioned --reason R
// They connect with an administrator's certificate (default var/certs/admin.pem/.key; a privacy
// officer or operator certificate may list and show); the gateway takes who you are from it.
// Changes need --reason and are versioned: a stale --expected-version is ABORTED (read the member
// again). Pure: flags -> requests, messages -> text; errors are INVALID_ARGUMENT naming the flag.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "services/common/config.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {

void AddDirectoryCommands(std::vector<CommandSpec>& specs);

// members list: --state (list), --page-size, --page-token.
[[nodiscard]] absl::StatusOr<hie::gateway::v1::ListMembersRequest> BuildListMembersRequest(
    const Config& flags);
// members put: --org, --endpoint, --display-name (required), --state (active), --max-results
// (1..1000, default 1000), --time-filters (true), --certificate-subject (repeatable),
// --expected-version (0 = create), --reason (required).
[[nodiscard]] absl::StatusOr<hie::gateway::v1::PutMemberRequest> BuildPutMemberRequest(
    const Config& flags);
// members set-state ORG: --state (required), --reason (required), --expected-version (0 = any).
[[nodiscard]] absl::StatusOr<hie::gateway::v1::SetMemberStateRequest> BuildSetMemberStateRequest(
    const Config& flags, const std::string& org);

// A table of members (org, state, endpoint, max results, time filters, circuit, version,
// name), then the next page's token when there is one.
std::string RenderMembers(const hie::gateway::v1::ListMembersResponse& response);
// One member, field by field.
std::string RenderMember(const hie::gateway::v1::Member& member);

}  // namespace hie::hiectl
