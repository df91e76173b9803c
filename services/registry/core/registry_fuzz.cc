// libFuzzer target registry_fuzz: the first byte chooses the request (mod 6: 0
// RegisterSubmissionSetRequest, 1 FindDocumentsRequest, 2 GetDocumentsRequest, 3
// GetRelatedDocumentsRequest, 4 DeprecateDocumentRequest, 5 ListChangesRequest), the rest is
// parsed as its serialized form and run through RegistryOperations (validation included) over
// an in-memory registry holding one current and one deprecated document of (clinic-a, MRN-1).
// No crash, no hang, and: an accepted submission retried is answered identically and registers
// nothing more; answers hold one entry per requested entry, SHA-256 only; GetDocuments answers
// each entry once; a Find page holds at
// most page_size entries and its next token is accepted; a ListChanges page holds at most
// page_size changes, each strictly after the last, and next_after is the last one's position
// (the request's on an empty page).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>

#include "services/registry/core/categories.h"
#include "services/registry/core/registry_operations.h"
#include "services/registry/core/validation.h"
#include "services/registry/store/in_memory_registry_store.h"

namespace {

using namespace hie::registry;  // NOLINT: a fuzz target's few names

const Actor kClinicA{"clinic-a", hie::common::v1::ROLE_MEMBER_SYSTEM, ""};

void Require(bool invariant) {
  if (!invariant) std::abort();
}

v1::DocumentEntry Seed(const std::string& name, v1::AvailabilityStatus status) {
  v1::DocumentEntry e;
  e.set_entry_uuid("urn:uuid:seed-" + name);
  e.set_unique_id("1.2.seed." + name);
  e.set_logical_id(e.entry_uuid());
  e.set_version(1);
  e.set_status(status);
  e.mutable_patient()->set_org("clinic-a");
  e.mutable_patient()->set_local_id("MRN-1");
  e.mutable_creation_time()->set_seconds(1'700'000'000);
  e.mutable_hash()->set_algorithm(v1::ContentHash::ALGORITHM_SHA256);
  e.mutable_hash()->set_digest(std::string(32, 'h'));
  e.set_size_bytes(1);
  e.mutable_location()->set_member_org("clinic-a");
  e.mutable_location()->set_repository_unique_id("1.2.3");
  return e;
}

void Register(RegistryOperations& ops, InMemoryRegistryStore& store,
              const v1::RegisterSubmissionSetRequest& r, absl::Time deadline) {
  for (const auto& e : r.entries()) (void)ConsentLabelsOf(e);
  auto first = ops.Register(kClinicA, r, deadline);
  if (!first.ok()) return;
  Require(first->entries_size() == r.entries_size());
  for (const auto& e : first->entries()) {
    Require(e.hash().algorithm() == v1::ContentHash::ALGORITHM_SHA256 &&
            e.hash().digest().size() == 32);
  }
  auto before = store.ChangesSince(deadline, {}, 1'000'000);
  auto again = ops.Register(kClinicA, r, deadline);
  Require(again.ok() && again->SerializeAsString() == first->SerializeAsString());
  auto after = store.ChangesSince(deadline, {}, 1'000'000);
  Require(before.ok() && after.ok() && before->size() == after->size());
}

void Find(RegistryOperations& ops, const v1::FindDocumentsRequest& r, absl::Time deadline) {
  auto page = ops.Find(r, deadline);
  if (!page.ok()) return;
  const int size = r.page_size() == 0 ? kDefaultPageSize : r.page_size();
  Require(page->entries_size() <= size);
  if (page->next_page_token().empty()) return;
  v1::FindDocumentsRequest next = r;
  next.set_page_token(page->next_page_token());
  auto more = ops.Find(next, deadline);
  Require(more.ok() || !absl::IsInvalidArgument(more.status()));
}

void Get(RegistryOperations& ops, const v1::GetDocumentsRequest& r, absl::Time deadline) {
  auto got = ops.Get(r, deadline);
  if (!got.ok()) return;
  std::set<std::string> uuids;
  for (const auto& e : got->entries()) Require(uuids.insert(e.entry_uuid()).second);
}

void ListChanges(RegistryOperations& ops, const v1::ListChangesRequest& r, absl::Time deadline) {
  auto page = ops.Changes(r, deadline);
  if (!page.ok()) return;
  const int size = r.page_size() == 0 ? kDefaultChangesPageSize : r.page_size();
  Require(page->changes_size() <= size);
  v1::ChangePosition at = r.after();
  for (const v1::EntryChange& c : page->changes()) {
    Require(std::make_pair(c.position().version(), c.position().entry_uuid()) >
            std::make_pair(at.version(), at.entry_uuid()));
    Require(c.unreadable() || c.entry().entry_uuid() == c.position().entry_uuid());
    at = c.position();
  }
  Require(page->next_after().SerializeAsString() == at.SerializeAsString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  InMemoryRegistryStore store;
  RegistryOperations ops(
      &store, {.now = [] { return absl::FromUnixSeconds(1'750'000'000); }, .max_scanned = 1000});
  const absl::Time deadline = absl::InfiniteFuture();
  v1::SubmissionSet set;
  set.set_id("urn:uuid:seed-set");
  set.set_unique_id("9.9.seed");
  Require(store
              .Transact(deadline,
                        [&](RegistryTxn& txn) {
                          return txn.Insert(set,
                                            {Seed("a", v1::AVAILABILITY_STATUS_APPROVED),
                                             Seed("d", v1::AVAILABILITY_STATUS_DEPRECATED)},
                                            {});
                        })
              .ok());
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      v1::RegisterSubmissionSetRequest r;
      if (r.ParseFromString(body)) Register(ops, store, r, deadline);
      break;
    }
    case 1: {
      v1::FindDocumentsRequest r;
      if (r.ParseFromString(body)) Find(ops, r, deadline);
      break;
    }
    case 2: {
      v1::GetDocumentsRequest r;
      if (r.ParseFromString(body)) Get(ops, r, deadline);
      break;
    }
    case 3: {
      v1::GetRelatedDocumentsRequest r;
      if (r.ParseFromString(body)) (void)ops.Related(r, deadline);
      break;
    }
    case 4: {
      v1::DeprecateDocumentRequest r;
      if (r.ParseFromString(body)) (void)ops.Deprecate(kClinicA, r, deadline);
      break;
    }
    default: {
      v1::ListChangesRequest r;
      if (r.ParseFromString(body)) ListChanges(ops, r, deadline);
      break;
    }
  }
  return 0;
}
