#pragma once

// The registry's use cases over its store (store/registry_store.h): what each RPC of
// hie.registry.v1.DocumentRegistry does once the API adapter has authenticated the caller and
// decided on whose behalf it acts (`Actor`: the org comes from a certificate, never from a
// request field).
//
//   Register   ValidateRegister, CheckPublisher(actor.org), then in one transaction: the
//              idempotency record (key scoped by operation and org; same key and request:
//              the stored answer, nothing written; same key, another request: ALREADY_EXISTS),
//              the state PlanSubmission needs (association targets locked), the plan written
//              whole. A submission set unique id registered before: ALREADY_EXISTS.
//   Find       ValidateFind, then one page of FindDocuments (page_size 0 = 100), newest first;
//              next_page_token when more may follow. A token is bound to the query it came
//              from ("page_token belongs to another query" otherwise) and keyed on (creation
//              time, entry uuid), so pages stay stable while publications continue. A query
//              whose page would need more than max_scanned entries read: RESOURCE_EXHAUSTED.
//   Get        GetDocuments by entry uuid, unique id or location (member org, repository and
//              retrieve key all equal; an entry registered without a retrieve key is found by
//              its unique id, the key's default); unknown ones absent, each entry once.
//   Related    GetRelated, limited to the asked association types.
//   Deprecate  by the publishing org only (PERMISSION_DENIED), once (FAILED_PRECONDITION when
//              already deprecated, unless retried with the same idempotency key).
//   Changes    ValidateListChanges, then one page of the store's ChangesSince (page_size 0 =
//              500) strictly after `after`: each change with its position, the entry as it is
//              now, or unreadable=true without an entry when the stored row did not parse (the
//              follower moves past it). next_after: the last change's position, or the
//              request's `after` (the zero position when unset) on an empty page. Who may read
//              the feed is the adapter's decision (core/authorization.h, Access::kFeed).
// ABORTED from the store (serialization) is retried twice; every other error is returned.
// Errors name fields and ids, never patient data. Thread-safe.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/registry/v1/registry.pb.h"
#include "services/registry/store/registry_store.h"

namespace hie::registry {

struct Actor {
  std::string org;
  common::v1::Role role = common::v1::ROLE_UNSPECIFIED;
  std::string user_id;
};

// "urn:uuid:" and a random (version 4) UUID.
std::string RandomUuid();

struct RegistryOptions {
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::function<std::string()> new_id = RandomUuid;
  size_t max_scanned = 20000;  // DocumentFilter::max_scanned
};

class RegistryOperations {
 public:
  // `store` must outlive this.
  RegistryOperations(RegistryStore* store, RegistryOptions options);

  absl::StatusOr<v1::RegisterSubmissionSetResponse> Register(
      const Actor& actor, const v1::RegisterSubmissionSetRequest& request, absl::Time deadline);
  absl::StatusOr<v1::FindDocumentsResponse> Find(const v1::FindDocumentsRequest& request,
                                                 absl::Time deadline);
  absl::StatusOr<v1::GetDocumentsResponse> Get(const v1::GetDocumentsRequest& request,
                                               absl::Time deadline);
  absl::StatusOr<v1::GetRelatedDocumentsResponse> Related(
      const v1::GetRelatedDocumentsRequest& request, absl::Time deadline);
  absl::StatusOr<v1::DocumentEntry> Deprecate(const Actor& actor,
                                              const v1::DeprecateDocumentRequest& request,
                                              absl::Time deadline);
  absl::StatusOr<v1::ListChangesResponse> Changes(const v1::ListChangesRequest& request,
                                                  absl::Time deadline);

 private:
  absl::Status Transact(absl::Time deadline, const RegistryStore::TxnFn& fn);

  RegistryStore* store_;
  RegistryOptions options_;
};

}  // namespace hie::registry
