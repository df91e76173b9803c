#pragma once

// RetrieveDocument, the use case: one document's content, from the member that holds it,
// through the gateway. Transport-free like core/federated_query.h: the hub's services, the
// member's content stream and the client's stream are ports.
//
//   1. resolve the caller's patient (caller org, local id) to the person's records at
//      member_org;                                   NOT_FOUND when the person has none there
//   2. consent for that member (never permit on doubt);           PERMISSION_DENIED if denied
//   3. the registry's entry for the document's location (when published): its class and
//      confidentiality codes against the decision's redactions, its size and hash kept;
//   4. the member's stream: its header first; the header's codes are checked against the
//      redactions too (a document never published, or a member that ignores obligations), and
//      its size and hash must agree with the registry's entry (DATA_LOSS otherwise);
//   5. a durable DISCLOSURE audit event naming the document;    no audit record: no content
//   6. the header, then each chunk as it comes, with the size counted and the hash computed;
//      more bytes than the header said, or a final size or hash that differs, ends the call
//      with DATA_LOSS (the client must discard what it received).
// Nothing reaches the client before step 5. A client that goes away (RetrievalSink::Write
// false) stops the member's stream. Errors name no document or patient values.
//
// "NOT_FOUND" is the answer for an unknown document and for another patient's alike.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hie/gateway/v1/gateway.pb.h"
#include "hie/member/v1/member.pb.h"
#include "services/gateway/core/federated_query.h"

namespace hie::gateway {

// One retrieval from a member endpoint (api/ over gRPC): calls `on_message` with each message
// of the member's stream in order until it returns false (then the call is cancelled); answers
// the stream's status (OK also when stopped by on_message).
class MemberRetrieval {
 public:
  virtual ~MemberRetrieval() = default;
  virtual absl::Status Retrieve(
      const std::string& endpoint, const member::v1::RetrieveDocumentRequest& request,
      absl::Time deadline,
      const std::function<bool(member::v1::RetrieveDocumentResponse)>& on_message) = 0;
};

class RetrievalSink {
 public:
  virtual ~RetrievalSink() = default;
  // False when the client has gone: stop.
  virtual bool Write(member::v1::RetrieveDocumentResponse message) = 0;
};

struct RetrievalOptions {
  absl::Duration default_timeout = absl::Seconds(60);  // no client deadline
  absl::Duration max_timeout = absl::Minutes(5);
  // Each call to a hub service (identity, consent, registry, audit) waits at most this long.
  absl::Duration hub_step_timeout = absl::Seconds(5);
  std::function<absl::Time()> now = absl::Now;
  std::function<std::string()> new_event_id;  // required: unique audit event ids
};

// INVALID_ARGUMENT naming the field: local_id, member_org, retrieve_key (ids);
// repository_unique_id (optional, an id).
absl::Status ValidateRetrieveDocument(const v1::RetrieveDocumentRequest& r);

// One retrieval; `context` is the authenticated caller, `request` validated.
absl::Status RunRetrieval(const common::v1::RequestContext& context,
                          const v1::RetrieveDocumentRequest& request, absl::Time client_deadline,
                          HubServices& hub, MemberRetrieval& member, RetrievalSink& out,
                          const RetrievalOptions& options);

}  // namespace hie::gateway
