#pragma once

// The locator's use cases over its store (store/locator_store.h): what each RPC of
// hie.locator.v1.RecordLocator does once the API adapter has authenticated the caller and
// decided on whose behalf it acts, and what the two followed feeds do. The rules of one
// holding are core/holding_rules.h.
//
//   Locate     ValidateLocate, then the listed holdings among the source ids, filtered by
//              categories (a holding of unknown categories always passes) and activity, most
//              recent activity first (then org, local id).
//   Report     ValidateReport, activity_time at most a day ahead; member actors only for their
//              own org and as LOCATION_ORIGIN_ADMIN (PERMISSION_DENIED); only an ADMIN report
//              keeps a holding listed by itself (admin_asserted). In
//              one transaction: the idempotency record (key scoped by operation and org: same
//              key and request, the stored answer; another request, ALREADY_EXISTS), the
//              holding locked, the evidence applied (learnt now). A holding removed at the
//              patient's request: FAILED_PRECONDITION, nothing changed.
//   Remove     ValidateDelete; member actors only for their own org and privacy officers only
//              at a patient's request (PERMISSION_DENIED). Idempotent by key as Report; the
//              tombstone rules are ApplyRemoval's (NOT_FOUND when nothing to remove), and it
//              records where both feeds stand (their positions locked meanwhile).
//   A stored holding that does not parse is never overwritten: Report and Remove answer
//   DATA_LOSS for it, the feeds skip evidence about it (the store logged it).
//   List       ValidateList; staff and hub services list any org, member actors their own
//              (PERMISSION_DENIED); then a page of one org's holdings, most recent activity first;
//              the page token is bound to the query and keyed on (activity, local id).
//   Identity feed  ApplyIdentityEvents: events above the stored position, their evidence, and
//              the new position (the last event's sequence), in one transaction: a replay
//              applies nothing twice.
//   Registry feed  ApplyRegistryChanges: changes above the stored position, each counted once
//              through the document marks, and the new position, in one transaction.
//   In both feeds, a source id that requests could not carry (not CheckId's 1..128 printable
//   ASCII, e.g. empty or with control characters) is skipped: no holding is made of it.
// ABORTED from the store is retried twice; every other error is returned. Errors name fields
// and ids, never patient data. Thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/identity/v1/identity.pb.h"
#include "hie/locator/v1/locator.pb.h"
#include "hie/registry/v1/registry.pb.h"
#include "services/locator/store/locator_store.h"

namespace hie::locator {

struct Actor {
  std::string org;
  common::v1::Role role = common::v1::ROLE_UNSPECIFIED;
  std::string user_id;
};

bool IsMemberRole(common::v1::Role role);

inline constexpr char kIdentityFeed[] = "identity";
inline constexpr char kRegistryFeed[] = "registry";

struct LocatorOptions {
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class LocatorOperations {
 public:
  // `store` must outlive this.
  LocatorOperations(LocatorStore* store, LocatorOptions options = {});

  absl::StatusOr<v1::LocateResponse> Locate(const v1::LocateRequest& request, absl::Time deadline);
  absl::StatusOr<v1::RecordLocation> Report(const Actor& actor,
                                            const v1::ReportActivityRequest& request,
                                            absl::Time deadline);
  absl::StatusOr<v1::DeleteLocationResponse> Remove(const Actor& actor,
                                                    const v1::DeleteLocationRequest& request,
                                                    absl::Time deadline);
  absl::StatusOr<v1::ListLocationsResponse> List(const Actor& actor,
                                                 const v1::ListLocationsRequest& request,
                                                 absl::Time deadline);

  // The identity sequence applied through (0 before the first event).
  absl::StatusOr<int64_t> IdentityPosition(absl::Time deadline);
  // `events` in sequence order (as WatchEvents sends them).
  absl::Status ApplyIdentityEvents(const std::vector<hie::identity::v1::IdentityEvent>& events,
                                   absl::Time deadline);
  // The registry feed position applied through (zero before the first change).
  absl::StatusOr<hie::registry::v1::ChangePosition> RegistryPosition(absl::Time deadline);
  // One page of the registry's feed; the stored position becomes page.next_after.
  absl::Status ApplyRegistryChanges(const hie::registry::v1::ListChangesResponse& page,
                                    absl::Time deadline);

 private:
  absl::Status Transact(absl::Time deadline, const LocatorStore::TxnFn& fn);

  LocatorStore* store_;
  LocatorOptions options_;
};

}  // namespace hie::locator
