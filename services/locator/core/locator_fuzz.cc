// libFuzzer target locator_fuzz: the first byte chooses the input (mod 6: 0 LocateRequest, 1
// ReportActivityRequest, 2 DeleteLocationRequest, 3 ListLocationsRequest, 4 a batch of identity
// events, parsed as hie.identity.v1.GetHistoryResponse and fed to ApplyIdentityEvents, 5 a
// registry feed page, hie.registry.v1.ListChangesResponse, fed to ApplyRegistryChanges; for
// Report and Delete, (first byte / 6) odd acts as a member system of clinic-a, else as an
// operator), the rest is parsed as its serialized form and run through LocatorOperations
// (validation included) over an in-memory store seeded with a reported holding, one removed at
// the patient's request, one removed by its member, an identity event and a registry change.
// No crash, no hang, and: an accepted Report retried is answered identically and changes
// nothing more (a Delete retried is accepted and changes nothing more); the patient's removal
// is never listed by Locate or ListLocations, nor undone; an identity batch or registry page
// applied twice leaves the touched holdings (and Locate's answers for them) as the first
// application left them; document_count is never negative; a ListLocations page holds at most
// page_size locations and its next_page_token is accepted, and walking every page of an org
// answers each holding once.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "services/common/request_checks.h"
#include "services/locator/core/holding_rules.h"
#include "services/locator/core/locator_operations.h"
#include "services/locator/core/validation.h"
#include "services/locator/store/in_memory_locator_store.h"

namespace {

using namespace hie::locator;  // NOLINT: a fuzz target's few names
namespace common = hie::common;
namespace idv1 = hie::identity::v1;
namespace regv1 = hie::registry::v1;

const Actor kOperator{"hie-operations", common::v1::ROLE_HIE_OPERATOR, "operator"};
const Actor kClinicA{"clinic-a", common::v1::ROLE_MEMBER_SYSTEM, ""};
const HoldingKey kPatientRemoved{"clinic-a", "MRN-GONE"};
constexpr int kMaxTouched = 1000;  // source ids whose holdings a feed input's checks compare

void Require(bool invariant) {
  if (!invariant) std::abort();
}

common::v1::SourceId Id(const HoldingKey& key) {
  common::v1::SourceId id;
  id.set_org(key.first);
  id.set_local_id(key.second);
  return id;
}

common::v1::RequestContext Context() {
  common::v1::RequestContext c;
  c.set_request_id("req-fuzz");
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  return c;
}

void Seed(LocatorOperations& ops, absl::Time deadline) {
  auto report = [&](const std::string& local, const std::string& key) {
    v1::ReportActivityRequest r;
    *r.mutable_context() = Context();
    *r.mutable_source_id() = Id({"clinic-a", local});
    r.set_origin(v1::LOCATION_ORIGIN_ADMIN);
    r.set_documents_added(2);
    r.set_idempotency_key(key);
    Require(ops.Report(kOperator, r, deadline).ok());
  };
  auto remove = [&](const std::string& local, v1::RemovalReason reason, const std::string& key) {
    v1::DeleteLocationRequest r;
    *r.mutable_context() = Context();
    *r.mutable_source_id() = Id({"clinic-a", local});
    r.set_reason_code(reason);
    r.set_reason("ticket 42");
    r.set_idempotency_key(key);
    Require(ops.Remove(kOperator, r, deadline).ok());
  };
  report("MRN-1", "seed-1");
  report("MRN-GONE", "seed-2");
  remove("MRN-GONE", v1::REMOVAL_REASON_PATIENT_REQUEST, "seed-3");
  report("MRN-OLD", "seed-4");
  remove("MRN-OLD", v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, "seed-5");
  idv1::IdentityEvent event;
  event.set_sequence(5);
  event.set_type(idv1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  event.mutable_event_time()->set_seconds(1'700'000'000);
  *event.add_source_ids() = Id({"clinic-a", "MRN-2"});
  Require(ops.ApplyIdentityEvents({event}, deadline).ok());
  regv1::ListChangesResponse page;
  regv1::EntryChange* change = page.add_changes();
  change->mutable_position()->set_version(3);
  change->mutable_position()->set_entry_uuid("urn:uuid:seed-a");
  regv1::DocumentEntry* entry = change->mutable_entry();
  entry->set_entry_uuid("urn:uuid:seed-a");
  *entry->mutable_patient() = Id({"clinic-a", "MRN-1"});
  entry->set_status(regv1::AVAILABILITY_STATUS_APPROVED);
  entry->mutable_creation_time()->set_seconds(1'700'000'000 - 100);
  entry->mutable_submission_time()->set_seconds(1'700'000'000);
  *page.mutable_next_after() = change->position();
  Require(ops.ApplyRegistryChanges(page, deadline).ok());
}

// Everything stored of these holdings, in key order.
std::string Snapshot(InMemoryLocatorStore& store, const std::vector<HoldingKey>& keys,
                     absl::Time deadline) {
  auto found = store.Get(deadline, keys);
  Require(found.ok());
  std::string out;
  for (const Holding& h : *found) {
    const v1::RecordLocation answer = Answer(h);
    Require(answer.document_count() >= 0);
    out += answer.SerializeAsString();
    out += h.listed ? 'L' : '-';
    out += h.admin_asserted ? 'A' : '-';
    out += std::to_string(h.registry_documents) + "/" + std::to_string(h.reported_documents);
    out += '|';
  }
  return out;
}

// Locate's answer, checked ("refused" when the request is).
std::string LocateAnswer(LocatorOperations& ops, const v1::LocateRequest& r, absl::Time deadline) {
  auto got = ops.Locate(r, deadline);
  if (!got.ok()) return "refused";
  std::set<HoldingKey> asked;
  for (const auto& id : r.source_ids()) asked.insert(KeyOf(id));
  std::set<HoldingKey> answered;
  for (const v1::RecordLocation& l : got->locations()) {
    Require(asked.count(KeyOf(l.source_id())) == 1);
    Require(answered.insert(KeyOf(l.source_id())).second);
    Require(!l.has_removal() && l.document_count() >= 0);
    Require(KeyOf(l.source_id()) != kPatientRemoved);
  }
  return "answered:" + got->SerializeAsString();
}

v1::LocateRequest LocateOf(const std::vector<HoldingKey>& keys) {
  v1::LocateRequest r;
  *r.mutable_context() = Context();
  for (const HoldingKey& key : keys) *r.add_source_ids() = Id(key);
  return r;
}

// Checks one ListLocations answer to `r`.
void CheckListPage(const v1::ListLocationsRequest& r, const v1::ListLocationsResponse& page) {
  const int size = r.page_size() == 0 ? kDefaultPageSize : r.page_size();
  Require(page.locations_size() <= size);
  for (const v1::RecordLocation& l : page.locations()) {
    Require(l.source_id().org() == r.org() && l.document_count() >= 0);
    Require(r.include_removed() || !l.has_removal());
    Require(l.has_removal() || KeyOf(l.source_id()) != kPatientRemoved);
  }
}

void List(LocatorOperations& ops, const v1::ListLocationsRequest& r, absl::Time deadline) {
  auto page = ops.List(kOperator, r, deadline);
  if (!page.ok()) return;
  CheckListPage(r, *page);
  if (page->next_page_token().empty()) return;
  v1::ListLocationsRequest next = r;
  next.set_page_token(page->next_page_token());
  auto more = ops.List(kOperator, next, deadline);
  Require(more.ok());
  CheckListPage(next, *more);
}

// Every page of `org`'s holdings (listed, then with the removed ones): each token accepted,
// each holding answered once.
void WalkListing(LocatorOperations& ops, const std::string& org, absl::Time deadline) {
  for (bool removed : {false, true}) {
    v1::ListLocationsRequest r;
    *r.mutable_context() = Context();
    r.set_org(org);
    r.set_page_size(7);
    r.set_include_removed(removed);
    std::set<HoldingKey> seen;
    for (int pages = 0;; ++pages) {
      auto page = ops.List(kOperator, r, deadline);
      if (!page.ok()) {
        Require(pages == 0);  // only the first request may be refused (an invalid org)
        break;
      }
      CheckListPage(r, *page);
      for (const auto& l : page->locations()) Require(seen.insert(KeyOf(l.source_id())).second);
      if (page->next_page_token().empty()) break;
      Require(page->locations_size() == r.page_size());
      r.set_page_token(page->next_page_token());
    }
  }
}

void Report(LocatorOperations& ops, InMemoryLocatorStore& store, const Actor& actor,
            const v1::ReportActivityRequest& r, absl::Time deadline) {
  auto first = ops.Report(actor, r, deadline);
  if (!first.ok()) return;
  Require(KeyOf(first->source_id()) == KeyOf(r.source_id()) && first->document_count() >= 0);
  const std::string before = Snapshot(store, {KeyOf(r.source_id())}, deadline);
  auto again = ops.Report(actor, r, deadline);
  Require(again.ok() && again->SerializeAsString() == first->SerializeAsString());
  Require(Snapshot(store, {KeyOf(r.source_id())}, deadline) == before);
}

void Delete(LocatorOperations& ops, InMemoryLocatorStore& store, const Actor& actor,
            const v1::DeleteLocationRequest& r, absl::Time deadline) {
  auto first = ops.Remove(actor, r, deadline);
  if (!first.ok()) return;
  const std::string before = Snapshot(store, {KeyOf(r.source_id())}, deadline);
  Require(ops.Remove(actor, r, deadline).ok());
  Require(Snapshot(store, {KeyOf(r.source_id())}, deadline) == before);
}

// Applies a feed input twice: the second application changes nothing it touched.
template <typename Apply>
void ApplyTwice(LocatorOperations& ops, InMemoryLocatorStore& store,
                const std::vector<HoldingKey>& touched, Apply apply, absl::Time deadline) {
  if (!apply().ok()) return;
  const std::string held = Snapshot(store, touched, deadline);
  const v1::LocateRequest locate = LocateOf(touched);
  const std::string located = LocateAnswer(ops, locate, deadline);
  Require(apply().ok());
  Require(Snapshot(store, touched, deadline) == held);
  Require(LocateAnswer(ops, locate, deadline) == located);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  InMemoryLocatorStore store;
  LocatorOperations ops(&store, {.now = [] { return absl::FromUnixSeconds(1'750'000'000); }});
  const absl::Time deadline = absl::InfiniteFuture();
  Seed(ops, deadline);
  const Actor& actor = (data[0] / 6) % 2 == 1 ? kClinicA : kOperator;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::set<std::string> orgs = {"clinic-a"};  // whose listings are walked afterwards
  switch (data[0] % 6) {
    case 0: {
      v1::LocateRequest r;
      if (r.ParseFromString(body)) (void)LocateAnswer(ops, r, deadline);
      break;
    }
    case 1: {
      v1::ReportActivityRequest r;
      if (r.ParseFromString(body)) Report(ops, store, actor, r, deadline);
      orgs.insert(r.source_id().org());
      break;
    }
    case 2: {
      v1::DeleteLocationRequest r;
      if (r.ParseFromString(body)) Delete(ops, store, actor, r, deadline);
      orgs.insert(r.source_id().org());
      break;
    }
    case 3: {
      v1::ListLocationsRequest r;
      if (r.ParseFromString(body)) List(ops, r, deadline);
      break;
    }
    case 4: {
      idv1::GetHistoryResponse batch;
      if (!batch.ParseFromString(body)) break;
      const std::vector<idv1::IdentityEvent> events(batch.events().begin(), batch.events().end());
      std::vector<HoldingKey> touched;
      for (const auto& e : events) {
        for (const auto& id : e.source_ids()) {
          if (touched.size() < kMaxTouched) touched.push_back(KeyOf(id));
          if (orgs.size() < 4) orgs.insert(id.org());
        }
      }
      auto apply = [&] { return ops.ApplyIdentityEvents(events, deadline); };
      ApplyTwice(ops, store, touched, apply, deadline);
      break;
    }
    default: {
      regv1::ListChangesResponse page;
      if (!page.ParseFromString(body)) break;
      std::vector<HoldingKey> touched;
      for (const auto& c : page.changes()) {
        if (touched.size() < kMaxTouched) touched.push_back(KeyOf(c.entry().patient()));
        if (orgs.size() < 4) orgs.insert(c.entry().patient().org());
      }
      auto apply = [&] { return ops.ApplyRegistryChanges(page, deadline); };
      ApplyTwice(ops, store, touched, apply, deadline);
      break;
    }
  }
  // Whatever the input: the patient's removal stands and is never located or listed.
  auto gone = store.Get(deadline, {kPatientRemoved});
  Require(gone.ok() && gone->size() == 1 && !(*gone)[0].listed &&
          (*gone)[0].location.removal().reason_code() == v1::REMOVAL_REASON_PATIENT_REQUEST);
  v1::LocateRequest locate = LocateOf({kPatientRemoved, {"clinic-a", "MRN-1"}});
  Require(LocateAnswer(ops, locate, deadline) != "refused");
  for (const std::string& org : orgs) WalkListing(ops, org, deadline);
  return 0;
}
