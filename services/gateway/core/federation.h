#pragma once

// The rules of a federated query (FindOutsideRecords), between the lookups and the calls: which
// members to contact, what each member's answer becomes, and the summary. Pure: no gRPC, no
// clock; the orchestrator (api/) resolves, locates, asks consent, audits and calls.
//
// Planning (PlanFanOut). A holder is a member org with the person's local ids there. For each
// holder, in org order:
//   - the caller's own org is left out (its own records are not "outside records");
//   - with `member_orgs` given, other orgs are left out;
//   - no consent verdict for it, or DENY: not contacted, DENIED_BY_CONSENT, nothing released
//     (never permit on doubt: a missing verdict is a denial, detail "NO_DECISION");
//   - not in the directory, or not ACTIVE: not contacted (not_callable: "NOT_IN_DIRECTORY",
//     "MEMBER_SUSPENDED", "MEMBER_DECOMMISSIONED"), its registry entries still answer under
//     the verdict's obligations;
//   - otherwise contacted, with the verdict's obligations and at most
//     min(max_results_per_member, the member's max_results capability) entries.
//
// An answer (ResultOf). Entries come from the member's live answer and from the registry (the
// member's published documents, located by the hub). Only entries that belong to this member
// and to one of the person's local ids there are kept: a member answering about another org's
// or another patient's documents has those dropped (counted in `dropped`). One document (one
// unique_id) listed by both is one entry (the member's metadata, the registry's entry_uuid).
// Every entry an obligation forbids is removed HERE, whatever the member did. The caller never
// learns other members' patient ids (patient.local_id cleared). Newest creation_time first,
// then unique_id; at most max_results, `truncated` when more existed or the member said so.
// Status: answered OK with entries left OK, with none left NO_DATA; DEADLINE_EXCEEDED TIMEOUT;
// a breaker that refused the call CIRCUIT_OPEN; any other error UNAVAILABLE with the gRPC code
// name as detail. Registry entries answer whatever the member's status.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::gateway {

inline constexpr int kDefaultMaxResultsPerMember = 100;
inline constexpr int kMaxResultsPerMember = 1000;

// A member holding data for the person: the person's local ids there.
struct Holder {
  std::string org;
  std::vector<std::string> local_ids;
};

// What the gateway's member directory says of a member.
struct DirectoryEntry {
  std::string org;
  std::string display_name;
  v1::MemberState state = v1::MEMBER_STATE_UNSPECIFIED;
  int max_results = kMaxResultsPerMember;  // its capability: at most this many per request
  // Its capability: whether its endpoint applies the query's time ranges. When not, the
  // gateway sends the query without them and applies them to the answer itself.
  bool supports_time_filters = true;
};

// Consent's answer for one custodian org.
struct Verdict {
  bool permit = false;
  std::vector<consent::v1::Obligation> obligations;
  std::string decision_id;
};

struct FanOutQuery {
  std::string caller_org;
  std::vector<std::string> member_orgs;  // empty = every holder
  int max_results_per_member = 0;        // 0 = 100; at most 1000 (checked by validation)
};

// A member to call.
struct Target {
  std::string org;
  std::string display_name;
  std::vector<std::string> local_ids;
  std::vector<consent::v1::Obligation> obligations;
  std::string decision_id;
  int max_results = kDefaultMaxResultsPerMember;
  bool supports_time_filters = true;  // the directory's capability
};

struct FanOutPlan {
  // To call, in org order.
  std::vector<Target> contact;
  // Consent permits, but the member cannot be called (detail: why): registry entries answer.
  std::vector<std::pair<Target, std::string>> not_callable;
  // Final results of the members consent denies: never contacted, nothing released.
  std::vector<v1::MemberResult> denied;
};

FanOutPlan PlanFanOut(const FanOutQuery& query, const std::vector<Holder>& holders,
                      const std::map<std::string, DirectoryEntry>& directory,
                      const std::map<std::string, Verdict>& verdicts);

// How the call to a member ended.
struct MemberAnswer {
  enum class Kind { kCalled, kCircuitOpen, kNotCalled };
  Kind kind = Kind::kCalled;
  absl::Status status;                               // kCalled: the call's status
  std::vector<registry::v1::DocumentEntry> entries;  // kCalled with OK: the member's entries
  bool truncated = false;
  absl::Duration latency;
  std::string detail;  // kNotCalled: why (e.g. "MEMBER_SUSPENDED")
};

// True when an obligation of the target forbids releasing the entry.
using Forbids = std::function<bool(const registry::v1::DocumentEntry&)>;

// Whether the entry lies within the query's time ranges (creation, service start, service
// stop), with the registry's semantics: half-open [start, end), and a range on a time the entry
// lacks excludes it. True when the query has no time range.
bool WithinTimeRanges(const registry::v1::DocumentEntry& entry,
                      const registry::v1::DocumentQuery& query);
// The query without its time ranges (for a member that does not support them).
registry::v1::DocumentQuery WithoutTimeRanges(registry::v1::DocumentQuery query);

struct BuiltResult {
  v1::MemberResult result;
  int dropped = 0;  // entries of another org or patient, dropped
};

BuiltResult ResultOf(const Target& target, MemberAnswer answer,
                     std::vector<registry::v1::DocumentEntry> registry_entries,
                     const Forbids& forbids);

// A member's row of the summary: what its result said, without the entries.
v1::MemberSummary SummaryRowOf(const v1::MemberResult& result);

// The last message of the stream: counts, `partial`, the members' rows in order.
v1::QuerySummary Summarize(const std::string& request_id, std::vector<v1::MemberSummary> rows,
                           absl::Duration elapsed);

}  // namespace hie::gateway
