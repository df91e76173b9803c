#pragma once

// The consent service's operations, one method per RPC, over the store port, the in-memory
// view, the identity port and a clock. No gRPC, SQL or TLS here.
//
// Reads and decisions:
//  - Decide / BatchDecide read only the in-memory view (ConsentView) and, for purpose
//    EMERGENCY with a break-glass grant to consider, identity (PersonResolver): facts are
//    gathered, then the pure Decide() of decision.h decides. A view not confirmed current
//    within options.max_view_age decides DENY, basis CONSENT_UNAVAILABLE.
//  - Break-glass coverage: the grant's patients are resolved now; the grant covers the request
//    only when they all belong to ONE person now and that person shares a record with the
//    request's patients. So after an unmerge (the grant's records now two persons) the grant
//    covers neither until a new one is opened: never another person's records. A record
//    identity no longer knows: not covered. Identity unreachable: the grant does not apply
//    (BREAK_GLASS_CHECK_IDENTITY_UNAVAILABLE).
//  - GetDirective, ListDirectives, ListBreakGlassGrants read the store.
// Writes (Create/Update/RevokeDirective, BreakGlass, EndBreakGlass, ReviewBreakGlass):
//  - one store transaction each holding the change, its audit event in the outbox (no free
//    text in it: ids and codes) and the idempotency record; the version counter announces it
//    to every replica's view;
//  - idempotency_key, scoped by RPC and actor org: a retry with the same request returns the
//    stored answer and writes nothing; the same key with another request is ALREADY_EXISTS;
//  - after commit, the after-write hook (the view refresher) brings this replica's view up to
//    date before the call returns, so a writer's own next decision sees its change.
// Every operation re-checks the actor's scope (authorization.h CheckActorScope).
// Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "hie/consent/v1/consent.pb.h"
#include "services/common/status_macros.h"
#include "services/consent/core/authorization.h"
#include "services/consent/core/consent_view.h"
#include "services/consent/core/decision.h"
#include "services/consent/core/ports.h"
#include "services/consent/store/consent_store.h"

namespace hie::consent {

// Who is asking and until when; the API fills actor from the certificate (authorization.h).
struct CallContext {
  hie::common::v1::Actor actor;
  std::string request_id;
  absl::Time deadline = absl::InfiniteFuture();
};

// Random ids: "<prefix>-<16 hex>" and UUIDv4 event ids. Seeded (0 = from the OS). Thread-safe.
class IdGenerator {
 public:
  explicit IdGenerator(uint64_t seed = 0);
  std::string Next(std::string_view prefix);
  std::string Uuid();

 private:
  std::mutex mu_;
  std::mt19937_64 rng_;
};

struct ConsentManagerOptions {
  v1::ConsentPolicy policy;
  // A decision needs the view confirmed current this recently (at most 1 s).
  absl::Duration max_view_age = absl::Seconds(1);
  // Longest wait for identity when checking a break-glass grant.
  absl::Duration resolve_timeout = absl::Milliseconds(500);
  uint64_t id_seed = 0;
};

class ConsentManager {
 public:
  // `resolver` may be null (identity not configured: no grant ever applies). All pointers must
  // outlive the manager.
  ConsentManager(ConsentStore* store, ConsentView* view, PersonResolver* resolver,
                 const Clock* clock, ConsentManagerOptions options);

  // Called after each committed write (not after a replayed retry).
  void SetAfterWrite(std::function<void()> hook) { after_write_ = std::move(hook); }

  absl::StatusOr<v1::Decision> Decide(const CallContext& call, const v1::DecideRequest& r);
  absl::StatusOr<v1::BatchDecideResponse> BatchDecide(const CallContext& call,
                                                      const v1::BatchDecideRequest& r);
  absl::StatusOr<v1::ConsentDirective> CreateDirective(const CallContext& call,
                                                       const v1::CreateDirectiveRequest& r);
  absl::StatusOr<v1::ConsentDirective> GetDirective(const CallContext& call,
                                                    const v1::GetDirectiveRequest& r);
  absl::StatusOr<v1::ListDirectivesResponse> ListDirectives(const CallContext& call,
                                                            const v1::ListDirectivesRequest& r);
  absl::StatusOr<v1::ConsentDirective> UpdateDirective(const CallContext& call,
                                                       const v1::UpdateDirectiveRequest& r);
  absl::StatusOr<v1::ConsentDirective> RevokeDirective(const CallContext& call,
                                                       const v1::RevokeDirectiveRequest& r);
  absl::StatusOr<v1::BreakGlassGrant> BreakGlass(const CallContext& call,
                                                 const v1::BreakGlassRequest& r);
  absl::StatusOr<v1::BreakGlassGrant> EndBreakGlass(const CallContext& call,
                                                    const v1::EndBreakGlassRequest& r);
  absl::StatusOr<v1::ListBreakGlassGrantsResponse> ListBreakGlassGrants(
      const CallContext& call, const v1::ListBreakGlassGrantsRequest& r);
  absl::StatusOr<v1::BreakGlassGrant> ReviewBreakGlass(const CallContext& call,
                                                       const v1::ReviewBreakGlassRequest& r);
  absl::StatusOr<v1::ConsentPolicy> GetPolicy(const CallContext& call,
                                              const v1::GetPolicyRequest& r);

  const v1::ConsentPolicy& policy() const { return options_.policy; }

 private:
  struct DecisionInputs;
  DecisionInputs Gather(const CallContext& call, const hie::common::v1::RequestContext& context,
                        const google::protobuf::RepeatedPtrField<hie::common::v1::SourceId>& ps,
                        absl::Time at);
  BreakGlassFact::Coverage Coverage(const v1::BreakGlassGrant& grant,
                                    const std::set<std::string>& request_keys,
                                    hie::common::v1::PurposeOfUse purpose, absl::Time deadline);

  // Runs `body` in a transaction under the idempotency record `rpc|org|key` (see above).
  using Body = std::function<absl::StatusOr<std::string>(ConsentTxn&)>;  // serialized response
  absl::StatusOr<std::string> WriteOnce(const CallContext& call, std::string_view rpc,
                                        const std::string& key, const std::string& fingerprint,
                                        const Body& body);
  template <typename Response, typename Request>
  absl::StatusOr<Response> Write(const CallContext& call, std::string_view rpc,
                                 const Request& request,
                                 const std::function<absl::StatusOr<Response>(ConsentTxn&)>& fn);

  hie::audit::v1::AuditEvent NewEvent(const CallContext& call,
                                      const hie::common::v1::RequestContext& context,
                                      hie::audit::v1::EventType type, std::string_view rpc);

  ConsentStore* store_;
  ConsentView* view_;
  PersonResolver* resolver_;
  const Clock* clock_;
  const ConsentManagerOptions options_;
  IdGenerator ids_;
  std::function<void()> after_write_;
};

// The idempotent write path shared by the write operations (directive_ops.cc,
// break_glass_ops.cc): the fingerprint is the request without context and key, plus the actor.
template <typename Response, typename Request>
absl::StatusOr<Response> ConsentManager::Write(
    const CallContext& call, std::string_view rpc, const Request& request,
    const std::function<absl::StatusOr<Response>(ConsentTxn&)>& fn) {
  Request copy = request;
  copy.clear_context();
  copy.clear_idempotency_key();
  std::string fingerprint = copy.SerializeAsString();
  fingerprint += call.actor.SerializeAsString();
  HIE_ASSIGN_OR_RETURN(std::string bytes,
                       WriteOnce(call, rpc, request.idempotency_key(), fingerprint,
                                 [&](ConsentTxn& txn) -> absl::StatusOr<std::string> {
                                   HIE_ASSIGN_OR_RETURN(Response r, fn(txn));
                                   return r.SerializeAsString();
                                 }));
  Response out;
  if (!out.ParseFromString(bytes)) return absl::InternalError("stored response is unreadable");
  return out;
}

// Keys of source ids for set lookups: org, 0x1f, local_id.
std::string SourceKey(const hie::common::v1::SourceId& id);

// Page tokens of the list operations: "<time ns>.<id>" of the last row returned (keyset).
std::string PageToken(int64_t ns, const std::string& id);
// INVALID_ARGUMENT "page_token is not valid" for anything else; nullopt for "".
absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> ParsePageToken(
    const std::string& token);

}  // namespace hie::consent
