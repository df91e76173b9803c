#pragma once

// How an identity change becomes an audit event (pure). The audit service follows identity's
// WatchEvents (api/identity_follower.h) and records every event of the identity history:
// registrations, links, unlinks, merges, unmerges, review decisions, not-a-match decisions.
//
//   event_id        "identity-<identity sequence>": fixed by the history itself, so a repeat
//                   after either service restarts is recognised and recorded once
//   type            EVENT_TYPE_IDENTITY_CHANGE; action "identity.<IdentityEventType name>"
//   event_time, actor, request_id          as identity recorded them
//   patients        the source records affected; person_id the person they went to
//   objects         persons (from, to, affected), review task
//   details         identity_sequence, identity_event_id, reason, score, grade, record_version,
//                   undoes_event_id (ids, codes and operators' reasons: no demographics)
//   source_service  "identity"

#include "hie/audit/v1/audit.pb.h"
#include "hie/identity/v1/identity.pb.h"

namespace hie::audit {

inline constexpr char kIdentityFeed[] = "identity";

hie::audit::v1::AuditEvent AuditEventOf(const hie::identity::v1::IdentityEvent& event);

}  // namespace hie::audit
