#pragma once

// Who may do what in the identity service: one set of rules for every entry point (gRPC and the
// HL7 feed). Pure: no gRPC, no TLS; the adapters hand in what the verified certificate says.
//
// Callers, by certificate role (subject OU), and the actor each call runs as:
//   service   a hub service. Those named in AuthorizationPolicy::delegating_services (by
//             certificate CN; the gateway by default) act on behalf of the user the request's
//             context.actor names (org and role required) and may call every operation that
//             actor may. Every other service acts as itself {cert O, cert CN, ROLE_HUB_SERVICE},
//             may only read, and may not name another actor.
//   operator  {cert O, cert CN, ROLE_HIE_OPERATOR}: everything. context.actor may repeat the
//             certificate's org and CN, never name someone else (PERMISSION_DENIED).
//   auditor   {cert O, cert CN, ROLE_PRIVACY_OFFICER}: reads only, same rule for context.actor.
//   member    over HL7 only: {cert O, "", ROLE_MEMBER_SYSTEM}. Over gRPC members go through the
//             gateway (PERMISSION_DENIED).
// Anything else: PERMISSION_DENIED.
//
// Member actors (clinicians, staff, member systems; directly over HL7 or through the gateway)
// may only register, merge, unlink, read and resolve source records of their own organisation
// and search persons; operator work (links, merges of persons, review tasks, history, events)
// is refused. IdentityManager checks this for every operation (CheckActorScope), so it holds
// whatever the entry point. An empty actor (in-process tools and tests) is not constrained there.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"

namespace hie::identity {

enum class Operation {
  kRegister,            // RegisterSourceRecord(s)
  kMergeSourceRecords,  // a member's own duplicate (ADT A40)
  kReadRecord,          // GetSourceRecord, Resolve
  kSearch,              // SearchPersons
  kReadPerson,          // GetPerson
  kReadReview,          // ListReviewTasks, GetReviewTask
  kResolveReview,       // ResolveReviewTask
  kLink,                // LinkRecord
  kUnlink,              // UnlinkRecord (a member's ADT A37 included)
  kMergePersons,        // MergePersons
  kUnmergePersons,      // UnmergePersons
  kReadHistory,         // GetHistory, ListNotAMatches
  kWatchEvents,         // WatchEvents
};

// True for operations that change identities.
bool IsWrite(Operation op);

// The verified certificate of a caller.
struct Caller {
  std::string org;          // subject O
  std::string role;         // subject OU: service, operator, auditor, member
  std::string common_name;  // subject CN
};

enum class Channel { kGrpc, kHl7 };

struct AuthorizationPolicy {
  // Certificate CNs of the hub services (OU=service) that may act on behalf of a user.
  std::set<std::string> delegating_services = {"gateway"};
};

// Parses "gateway,other" into a policy; INVALID_ARGUMENT for an empty or malformed name.
absl::StatusOr<AuthorizationPolicy> ParseDelegatingServices(std::string_view csv);

// The actor a call by `caller` runs as, given the actor its request claims (may be empty), or
// PERMISSION_DENIED / INVALID_ARGUMENT naming the reason (never a value).
absl::StatusOr<hie::common::v1::Actor> ActorForCall(const Caller& caller,
                                                    const hie::common::v1::Actor& claimed,
                                                    Channel channel, Operation op,
                                                    const AuthorizationPolicy& policy);

// True for the roles of people and systems at member organisations.
bool IsMemberRole(hie::common::v1::Role role);

// Core check, run by every IdentityManager operation: a member actor may only perform member
// operations, on source records of its own organisation (`sources`, with the request field
// each came from for the error message). PERMISSION_DENIED otherwise.
struct NamedSource {
  const hie::common::v1::SourceId* id;
  std::string_view field;
};
absl::Status CheckActorScope(const hie::common::v1::Actor& actor, Operation op,
                             const std::vector<NamedSource>& sources = {});

}  // namespace hie::identity
