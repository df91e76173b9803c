#include "services/gateway/core/member_directory.h"

#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::gateway {
namespace {

constexpr size_t kMaxLineBytes = 1024;
constexpr size_t kMaxDisplayNameBytes = 200;
constexpr size_t kMaxSubjectBytes = 256;

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

v1::MemberState StateOf(absl::string_view s) {
  if (s == "active") return v1::MEMBER_STATE_ACTIVE;
  if (s == "suspended") return v1::MEMBER_STATE_SUSPENDED;
  if (s == "decommissioned") return v1::MEMBER_STATE_DECOMMISSIONED;
  return v1::MEMBER_STATE_UNSPECIFIED;
}

struct Problem {
  const char* field;
  const char* problem;
};

// The first field of `m` that breaks the rules (in the file's column order), if any.
std::optional<Problem> FirstProblem(const DirectoryMember& m) {
  if (!CheckId(m.entry.org, "org").ok() || m.entry.org.find(',') != std::string::npos) {
    return Problem{"org", "is not an id"};
  }
  if (!IsEndpoint(m.endpoint)) return Problem{"endpoint", "is not host:port"};
  if (m.entry.state != v1::MEMBER_STATE_ACTIVE && m.entry.state != v1::MEMBER_STATE_SUSPENDED &&
      m.entry.state != v1::MEMBER_STATE_DECOMMISSIONED) {
    return Problem{"state", "is not active, suspended or decommissioned"};
  }
  if (m.entry.max_results < 1 || m.entry.max_results > kMaxResultsPerMember) {
    return Problem{"max_results", "is not a number from 1 to 1000"};
  }
  if (m.entry.display_name.empty() || m.entry.display_name.size() > kMaxDisplayNameBytes ||
      !IsValidUtf8(m.entry.display_name) || HasControlCharacter(m.entry.display_name)) {
    return Problem{"display_name", "is empty, too long or has control characters"};
  }
  if (m.certificate_subjects.size() > kMaxCertificateSubjects) {
    return Problem{"certificate_subjects", "has more than 16 subjects"};
  }
  std::set<std::string_view> seen;
  for (const std::string& subject : m.certificate_subjects) {
    if (subject.empty() || subject.size() > kMaxSubjectBytes || !IsValidUtf8(subject) ||
        HasControlCharacter(subject)) {
      return Problem{"certificate_subjects", "holds an empty, long or control-character subject"};
    }
    if (!seen.insert(subject).second) {
      return Problem{"certificate_subjects", "holds a subject twice"};
    }
  }
  return std::nullopt;
}

absl::Status Stale(const MemberRecord& current) {
  return absl::AbortedError(absl::StrCat("expected_version is stale: the member is at version ",
                                         current.version, "; read it again"));
}

absl::Status Decommissioned() {
  return absl::FailedPreconditionError("a decommissioned member cannot be changed");
}

}  // namespace

bool SameMember(const DirectoryMember& a, const DirectoryMember& b) {
  return a.entry.org == b.entry.org && a.entry.display_name == b.entry.display_name &&
         a.entry.state == b.entry.state && a.entry.max_results == b.entry.max_results &&
         a.endpoint == b.endpoint && a.supports_time_filters == b.supports_time_filters &&
         a.certificate_subjects == b.certificate_subjects;
}

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
    m.endpoint = std::string(fields[1]);
    m.entry.state = StateOf(fields[2]);
    if (!absl::SimpleAtoi(fields[3], &m.entry.max_results)) m.entry.max_results = 0;
    m.entry.display_name = std::string(fields[4]);
    if (std::optional<Problem> p = FirstProblem(m)) {
      const absl::string_view field =
          absl::string_view(p->field) == "display_name" ? "display name" : p->field;
      return AtLine(number, field, p->problem);
    }
    if (out.size() >= kMaxDirectoryMembers) {
      return AtLine(number, "line", "is past 10,000 members");
    }
    const std::string org = m.entry.org;
    if (!out.emplace(org, std::move(m)).second) return AtLine(number, "org", "is listed twice");
  }
  return out;
}

absl::Status CheckDirectoryMember(const DirectoryMember& member, absl::string_view prefix) {
  if (std::optional<Problem> p = FirstProblem(member)) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, p->field, " ", p->problem));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<DirectoryMember>> DecidePut(const std::optional<MemberRecord>& current,
                                                         DirectoryMember requested,
                                                         int64_t expected_version) {
  if (expected_version < 0) {
    return absl::InvalidArgumentError("expected_version must be 0 (create) or a version");
  }
  if (requested.entry.state == v1::MEMBER_STATE_UNSPECIFIED) {
    requested.entry.state = current ? current->member.entry.state : v1::MEMBER_STATE_ACTIVE;
  }
  HIE_RETURN_IF_ERROR(CheckDirectoryMember(requested, "member."));
  if (current && SameMember(current->member, requested)) return std::nullopt;
  if (expected_version == 0) {
    if (current) {
      return absl::AlreadyExistsError(
          "member.org is already a member: replace it with expected_version set to its version");
    }
    if (requested.entry.state == v1::MEMBER_STATE_DECOMMISSIONED) {
      return absl::InvalidArgumentError("member.state: a new member is active or suspended");
    }
    return requested;
  }
  if (!current) return absl::NotFoundError("member.org is not a member of the HIE");
  if (current->version != expected_version) return Stale(*current);
  if (current->member.entry.state == v1::MEMBER_STATE_DECOMMISSIONED) return Decommissioned();
  return requested;
}

absl::StatusOr<std::optional<DirectoryMember>> DecideState(
    const std::optional<MemberRecord>& current, v1::MemberState state, int64_t expected_version) {
  if (state != v1::MEMBER_STATE_ACTIVE && state != v1::MEMBER_STATE_SUSPENDED &&
      state != v1::MEMBER_STATE_DECOMMISSIONED) {
    return absl::InvalidArgumentError("state must be ACTIVE, SUSPENDED or DECOMMISSIONED");
  }
  if (expected_version < 0) {
    return absl::InvalidArgumentError("expected_version must be 0 (any) or a version");
  }
  if (!current) return absl::NotFoundError("org is not a member of the HIE");
  if (current->member.entry.state == state) return std::nullopt;
  if (expected_version != 0 && current->version != expected_version) return Stale(*current);
  if (current->member.entry.state == v1::MEMBER_STATE_DECOMMISSIONED) return Decommissioned();
  DirectoryMember next = current->member;
  next.entry.state = state;
  return next;
}

std::map<std::string, MemberRecord> RecordsOf(std::map<std::string, DirectoryMember> members) {
  std::map<std::string, MemberRecord> out;
  for (auto& [org, member] : members) out[org] = MemberRecord{.member = std::move(member)};
  return out;
}

}  // namespace hie::gateway
