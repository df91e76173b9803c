#pragma once

// The member directory, as the gateway reads it: org, display name, MemberEndpoint address,
// state and the member's max_results capability. In this version it is read from a file at start
// (--members); the administrators' API over a stored directory comes next (issue 14).
//
// File format: UTF-8 text, one member per line, '#' starts a comment line, blank lines ignored:
//   org,endpoint,state,max_results,display name
//   clinic-a,127.0.0.1:7101,active,1000,Clinic A
// org an id (printable ASCII, no spaces or commas, <= 128 bytes), endpoint host:port,
// state active|suspended|decommissioned, max_results 1..1000, display name any text without
// control characters (<= 200 bytes; commas allowed, it is the rest of the line). At most 10,000
// members and 1,024 bytes per line. An error names the line and the field, never its value.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/gateway/core/federation.h"

namespace hie::gateway {

struct DirectoryMember {
  DirectoryEntry entry;
  std::string endpoint;
};

// Parses a directory file's text. INVALID_ARGUMENT "members line 3: state: ..." on bad input; a
// repeated org is an error too.
absl::StatusOr<std::map<std::string, DirectoryMember>> ParseMemberDirectory(absl::string_view text);

}  // namespace hie::gateway
