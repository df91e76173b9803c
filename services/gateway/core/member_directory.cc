#include "services/gateway/core/member_directory.h"

#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/request_checks.h"
#include "services/common/text.h"

namespace hie::gateway {
namespace {

constexpr size_t kMaxMembers = 10'000;
constexpr size_t kMaxLineBytes = 1024;
constexpr size_t kMaxDisplayNameBytes = 200;

absl::Status AtLine(size_t line, absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("members line ", line, ": ", field, " ", problem));
}

// host:port with a port in 1..65535 and a host of letters, digits, '.', '-' (or [v6]).
bool IsEndpoint(absl::string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || s.size() > 255) return false;
  int port = 0;
  if (!absl::SimpleAtoi(s.substr(colon + 1), &port) || port < 1 || port > 65535) return false;
  for (char c : s.substr(0, colon)) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '[' || c == ']' || c == ':')) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<v1::MemberState> StateOf(absl::string_view s) {
  if (s == "active") return v1::MEMBER_STATE_ACTIVE;
  if (s == "suspended") return v1::MEMBER_STATE_SUSPENDED;
  if (s == "decommissioned") return v1::MEMBER_STATE_DECOMMISSIONED;
  return absl::InvalidArgumentError("is not active, suspended or decommissioned");
}

}  // namespace

absl::StatusOr<std::map<std::string, DirectoryMember>> ParseMemberDirectory(
    absl::string_view text) {
  if (!IsValidUtf8(std::string_view(text.data(), text.size())))
    return absl::InvalidArgumentError("members: not UTF-8 text");
  std::map<std::string, DirectoryMember> out;
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (line.size() > kMaxLineBytes) return AtLine(number, "line", "is longer than 1024 bytes");
    absl::ConsumeSuffix(&line, "\r");
    const absl::string_view content = absl::StripAsciiWhitespace(line);
    if (content.empty() || content.front() == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(content, absl::MaxSplits(',', 4));
    if (fields.size() != 5) {
      return AtLine(number, "line",
                    "does not have 5 fields (org,endpoint,state,max_results,display name)");
    }
    for (auto& f : fields) f = absl::StripAsciiWhitespace(f);
    DirectoryMember m;
    m.entry.org = std::string(fields[0]);
    if (!CheckId(m.entry.org, "org").ok() || m.entry.org.find(',') != std::string::npos) {
      return AtLine(number, "org", "is not an id");
    }
    if (!IsEndpoint(fields[1])) return AtLine(number, "endpoint", "is not host:port");
    m.endpoint = std::string(fields[1]);
    absl::StatusOr<v1::MemberState> state = StateOf(fields[2]);
    if (!state.ok()) return AtLine(number, "state", state.status().message());
    m.entry.state = *state;
    if (!absl::SimpleAtoi(fields[3], &m.entry.max_results) || m.entry.max_results < 1 ||
        m.entry.max_results > kMaxResultsPerMember) {
      return AtLine(number, "max_results", "is not a number from 1 to 1000");
    }
    m.entry.display_name = std::string(fields[4]);
    if (m.entry.display_name.empty() || m.entry.display_name.size() > kMaxDisplayNameBytes ||
        HasControlCharacter(m.entry.display_name)) {
      return AtLine(number, "display name", "is empty, too long or has control characters");
    }
    if (out.size() >= kMaxMembers) return AtLine(number, "line", "is past 10,000 members");
    const std::string org = m.entry.org;
    if (!out.emplace(org, std::move(m)).second) return AtLine(number, "org", "is listed twice");
  }
  return out;
}

}  // namespace hie::gateway
