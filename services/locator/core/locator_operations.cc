#include "services/locator/core/locator_operations.h"

#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/idempotency.h"
#include "services/common/proto_time.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/locator/core/holding_rules.h"
#include "services/locator/core/validation.h"

namespace hie::locator {
namespace {

using common::v1::Coding;
namespace idv1 = hie::identity::v1;
namespace regv1 = hie::registry::v1;

// 16 hex digits of SHA-256 over the query: binds a page token to it.
std::string QueryKey(const v1::ListLocationsRequest& r) {
  v1::ListLocationsRequest q;
  q.set_org(r.org());
  *q.mutable_last_activity_time() = r.last_activity_time();
  q.set_include_removed(r.include_removed());
  const std::string bytes = Fingerprint(q);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 8));
}

// Page token: "<query key>.<activity ns>.<local id>".
absl::StatusOr<std::pair<int64_t, std::string>> ParsePageToken(const std::string& token,
                                                               const std::string& query_key) {
  std::vector<std::string> parts = absl::StrSplit(token, absl::MaxSplits('.', 2));
  int64_t ns = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &ns) || parts[2].empty()) {
    return absl::InvalidArgumentError("page_token is not valid");
  }
  if (parts[0] != query_key) {
    return absl::InvalidArgumentError("page_token belongs to another query");
  }
  return std::make_pair(ns, parts[2]);
}

bool SameCoding(const Coding& a, const Coding& b) {
  return a.system() == b.system() && a.code() == b.code();
}

bool PassesLocateFilter(const Holding& h, const v1::LocateRequest& r) {
  if (!h.listed) return false;
  if (r.has_active_since() &&
      (!h.location.has_last_activity_time() ||
       TimeOf(h.location.last_activity_time()) < TimeOf(r.active_since()))) {
    return false;
  }
  if (r.data_categories().empty() || h.location.data_categories().empty()) return true;
  for (const Coding& wanted : r.data_categories()) {
    for (const Coding& held : h.location.data_categories()) {
      if (SameCoding(wanted, held)) return true;
    }
  }
  return false;
}

// Member actors act for their own org's records only.
absl::Status CheckOwnOrg(const Actor& actor, const common::v1::SourceId& id) {
  if (IsMemberRole(actor.role) && actor.org != id.org()) {
    return absl::PermissionDeniedError("source_id.org is not the caller's organisation");
  }
  return absl::OkStatus();
}

// An idempotency key scoped by operation and org: "<op>|<org length>:<org>|<key>", so no two
// (org, key) pairs share one.
std::string ScopedKey(const char* op, const std::string& org, const std::string& key) {
  return absl::StrCat(op, "|", org.size(), ":", org, "|", key);
}

// The one holding of `id` locked in `locked`, a new one, or DATA_LOSS when its stored row is
// unreadable (it is never overwritten).
absl::StatusOr<std::pair<Holding, bool>> LockedOne(const LockedHoldings& locked,
                                                   const common::v1::SourceId& id) {
  if (locked.unreadable.contains(KeyOf(id))) {
    return absl::DataLossError("source_id: the stored location is unreadable");
  }
  auto it = locked.holdings.find(KeyOf(id));
  if (it == locked.holdings.end()) return std::make_pair(NewHolding(id), false);
  return std::make_pair(it->second, true);
}

// Registry feed positions are stored as "<version>.<entry uuid>".
std::string Encode(const regv1::ChangePosition& p) {
  return absl::StrCat(p.version(), ".", p.entry_uuid());
}

absl::StatusOr<regv1::ChangePosition> DecodePosition(const std::string& stored) {
  regv1::ChangePosition p;
  if (stored.empty()) return p;
  std::vector<std::string> parts = absl::StrSplit(stored, absl::MaxSplits('.', 1));
  int64_t version = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &version)) {
    return absl::DataLossError("the stored registry feed position is unreadable");
  }
  p.set_version(version);
  p.set_entry_uuid(parts[1]);
  return p;
}

absl::StatusOr<int64_t> DecodeSequence(const std::string& stored) {
  int64_t sequence = 0;
  if (!stored.empty() && !absl::SimpleAtoi(stored, &sequence)) {
    return absl::DataLossError("the stored identity feed position is unreadable");
  }
  return sequence;
}

// Who may list an org's holdings: staff and hub services any org's, member actors their own.
absl::Status CheckMayList(const Actor& actor, const std::string& org) {
  switch (actor.role) {
    case common::v1::ROLE_HIE_OPERATOR:
    case common::v1::ROLE_HIE_ADMIN:
    case common::v1::ROLE_PRIVACY_OFFICER:
    case common::v1::ROLE_HUB_SERVICE:
      return absl::OkStatus();
    default:
      if (IsMemberRole(actor.role) && actor.org == org) return absl::OkStatus();
      return absl::PermissionDeniedError("org: only its own members and hub staff list it");
  }
}

bool After(const regv1::ChangePosition& a, const regv1::ChangePosition& b) {
  if (a.version() != b.version()) return a.version() > b.version();
  return a.entry_uuid() > b.entry_uuid();
}

// A feed's source id as a request's must be (CheckId). Another could never be located, and
// would stop ListLocations at its page token or the PostgreSQL store at its text column.
bool IsSourceId(const common::v1::SourceId& id) {
  return CheckId(id.org(), "org").ok() && CheckId(id.local_id(), "local_id").ok();
}

// Applies `evidence` (per source record, in order) to the locked holdings and writes them;
// evidence about what is not a source id is skipped.
absl::Status ApplyAll(LocatorTxn& txn,
                      const std::vector<std::pair<common::v1::SourceId, Evidence>>& evidence) {
  std::vector<HoldingKey> keys;
  for (const auto& [id, e] : evidence) {
    if (IsSourceId(id)) keys.push_back(KeyOf(id));
  }
  if (keys.empty()) return absl::OkStatus();
  HIE_ASSIGN_OR_RETURN(LockedHoldings locked, txn.LockHoldings(keys));
  std::map<HoldingKey, Holding>& holdings = locked.holdings;
  std::set<HoldingKey> touched;
  for (const auto& [id, e] : evidence) {
    if (!IsSourceId(id)) continue;
    if (locked.unreadable.contains(KeyOf(id))) continue;  // logged by the store; never overwritten
    auto [it, created] = holdings.try_emplace(KeyOf(id), NewHolding(id));
    ApplyEvidence(e, &it->second);
    touched.insert(it->first);
  }
  std::vector<Holding> writes;
  for (const HoldingKey& key : touched) writes.push_back(holdings[key]);
  return txn.PutHoldings(writes);
}

}  // namespace

LocatorOperations::LocatorOperations(LocatorStore* store, LocatorOptions options)
    : store_(store), options_(std::move(options)) {}

absl::Status LocatorOperations::Transact(absl::Time deadline, const LocatorStore::TxnFn& fn) {
  absl::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = store_->Transact(deadline, fn);
    if (!absl::IsAborted(status)) break;
  }
  return status;
}

absl::StatusOr<v1::LocateResponse> LocatorOperations::Locate(const v1::LocateRequest& request,
                                                             absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateLocate(request));
  std::vector<HoldingKey> keys;
  for (const auto& id : request.source_ids()) keys.push_back(KeyOf(id));
  HIE_ASSIGN_OR_RETURN(std::vector<Holding> found, store_->Get(deadline, keys));
  std::vector<const Holding*> kept;
  for (const Holding& h : found) {
    if (PassesLocateFilter(h, request)) kept.push_back(&h);
  }
  std::sort(kept.begin(), kept.end(), [](const Holding* a, const Holding* b) {
    const int64_t x = UnixNanosOf(a->location.last_activity_time());
    const int64_t y = UnixNanosOf(b->location.last_activity_time());
    if (x != y) return x > y;
    return KeyOf(a->location.source_id()) < KeyOf(b->location.source_id());
  });
  v1::LocateResponse out;
  for (const Holding* h : kept) *out.add_locations() = Answer(*h);
  return out;
}

absl::StatusOr<v1::RecordLocation> LocatorOperations::Report(
    const Actor& actor, const v1::ReportActivityRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateReport(request));
  HIE_RETURN_IF_ERROR(CheckOwnOrg(actor, request.source_id()));
  if (IsMemberRole(actor.role) && request.origin() != v1::LOCATION_ORIGIN_ADMIN) {
    return absl::PermissionDeniedError("origin: members report as LOCATION_ORIGIN_ADMIN");
  }
  const absl::Time now = options_.now();
  if (request.has_activity_time() && TimeOf(request.activity_time()) > now + absl::Hours(24)) {
    return absl::InvalidArgumentError("activity_time is more than a day in the future");
  }
  v1::ReportActivityRequest content = request;
  content.clear_context();
  const std::string fingerprint = Fingerprint(content);
  const std::string key = ScopedKey("report", actor.org, request.idempotency_key());
  Evidence e{.origin = request.origin(),
             .categories = {request.data_categories().begin(), request.data_categories().end()},
             .activity_time = request.has_activity_time() ? TimeOf(request.activity_time()) : now,
             .learnt_time = now,
             .reported_documents_delta = request.documents_added(),
             .admin_asserted = request.origin() == v1::LOCATION_ORIGIN_ADMIN};
  v1::RecordLocation out;
  HIE_RETURN_IF_ERROR(Transact(deadline, [&](LocatorTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto replayed,
                         ReplayIdempotent<v1::RecordLocation>(txn, key, fingerprint));
    if (replayed) {
      out = *std::move(replayed);
      return absl::OkStatus();
    }
    HIE_ASSIGN_OR_RETURN(LockedHoldings locked, txn.LockHoldings({KeyOf(request.source_id())}));
    HIE_ASSIGN_OR_RETURN(auto one, LockedOne(locked, request.source_id()));
    Holding& h = one.first;
    if (ApplyEvidence(e, &h) == Applied::kPatientRemoved) {
      return absl::FailedPreconditionError(
          "source_id: the location was removed at the patient's request");
    }
    HIE_RETURN_IF_ERROR(txn.PutHoldings({h}));
    out = Answer(h);
    return txn.PutIdempotent(key, {fingerprint, out.SerializeAsString()});
  }));
  return out;
}

absl::StatusOr<v1::DeleteLocationResponse> LocatorOperations::Remove(
    const Actor& actor, const v1::DeleteLocationRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateDelete(request));
  HIE_RETURN_IF_ERROR(CheckOwnOrg(actor, request.source_id()));
  if (actor.role == common::v1::ROLE_PRIVACY_OFFICER &&
      request.reason_code() != v1::REMOVAL_REASON_PATIENT_REQUEST) {
    return absl::PermissionDeniedError(
        "privacy officers remove locations at a patient's request "
        "only");
  }
  v1::DeleteLocationRequest content = request;
  content.clear_context();
  const std::string fingerprint = Fingerprint(content);
  const std::string key = ScopedKey("remove", actor.org, request.idempotency_key());
  Removal removal{
      .reason_code = request.reason_code(), .reason = request.reason(), .time = options_.now()};
  removal.by.set_org(actor.org);
  removal.by.set_role(actor.role);
  removal.by.set_user_id(actor.user_id);
  v1::DeleteLocationResponse out;
  HIE_RETURN_IF_ERROR(Transact(deadline, [&](LocatorTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto replayed,
                         ReplayIdempotent<v1::DeleteLocationResponse>(txn, key, fingerprint));
    if (replayed) return absl::OkStatus();
    // Where the feeds stand (their appliers wait meanwhile: feed locks before holding locks, as
    // they take them).
    HIE_ASSIGN_OR_RETURN(std::string identity, txn.LockFeedPosition(kIdentityFeed));
    HIE_ASSIGN_OR_RETURN(removal.identity_position, DecodeSequence(identity));
    HIE_ASSIGN_OR_RETURN(std::string registry, txn.LockFeedPosition(kRegistryFeed));
    HIE_ASSIGN_OR_RETURN(regv1::ChangePosition at, DecodePosition(registry));
    removal.registry_position = {at.version(), at.entry_uuid()};
    HIE_ASSIGN_OR_RETURN(LockedHoldings locked, txn.LockHoldings({KeyOf(request.source_id())}));
    HIE_ASSIGN_OR_RETURN(auto one, LockedOne(locked, request.source_id()));
    Holding& h = one.first;
    HIE_RETURN_IF_ERROR(ApplyRemoval(removal, /*known=*/one.second, &h));
    HIE_RETURN_IF_ERROR(txn.PutHoldings({h}));
    return txn.PutIdempotent(key, {fingerprint, out.SerializeAsString()});
  }));
  return out;
}

absl::StatusOr<v1::ListLocationsResponse> LocatorOperations::List(
    const Actor& actor, const v1::ListLocationsRequest& request, absl::Time deadline) {
  HIE_RETURN_IF_ERROR(ValidateList(request));
  HIE_RETURN_IF_ERROR(CheckMayList(actor, request.org()));
  const std::string query_key = QueryKey(request);
  ListQuery q{.org = request.org(),
              .include_removed = request.include_removed(),
              .limit = static_cast<size_t>(request.page_size() == 0 ? kDefaultPageSize
                                                                    : request.page_size())};
  const common::v1::TimeRange& range = request.last_activity_time();
  if (range.has_start()) q.active_from = TimeOf(range.start());
  if (range.has_end()) q.active_before = TimeOf(range.end());
  if (!request.page_token().empty()) {
    HIE_ASSIGN_OR_RETURN(q.after, ParsePageToken(request.page_token(), query_key));
  }
  const size_t page = q.limit;
  q.limit = page + 1;  // one more says whether another page follows
  HIE_ASSIGN_OR_RETURN(std::vector<Holding> found, store_->List(deadline, q));
  v1::ListLocationsResponse out;
  for (size_t i = 0; i < found.size() && i < page; ++i) *out.add_locations() = Answer(found[i]);
  if (found.size() > page) {
    const Holding& last = found[page - 1];
    out.set_next_page_token(absl::StrCat(query_key, ".",
                                         UnixNanosOf(last.location.last_activity_time()), ".",
                                         last.location.source_id().local_id()));
  }
  return out;
}

absl::StatusOr<int64_t> LocatorOperations::IdentityPosition(absl::Time deadline) {
  HIE_ASSIGN_OR_RETURN(std::string stored, store_->FeedPosition(deadline, kIdentityFeed));
  return DecodeSequence(stored);
}

absl::Status LocatorOperations::ApplyIdentityEvents(const std::vector<idv1::IdentityEvent>& events,
                                                    absl::Time deadline) {
  if (events.empty()) return absl::OkStatus();
  return Transact(deadline, [&](LocatorTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(std::string stored, txn.LockFeedPosition(kIdentityFeed));
    HIE_ASSIGN_OR_RETURN(int64_t position, DecodeSequence(stored));
    std::vector<std::pair<common::v1::SourceId, Evidence>> evidence;
    for (const idv1::IdentityEvent& event : events) {
      if (event.sequence() <= position) continue;  // applied before (a replay)
      position = event.sequence();
      for (auto& one : EvidenceOf(event)) evidence.push_back(std::move(one));
    }
    HIE_RETURN_IF_ERROR(ApplyAll(txn, evidence));
    return txn.PutFeedPosition(kIdentityFeed, absl::StrCat(position));
  });
}

absl::StatusOr<regv1::ChangePosition> LocatorOperations::RegistryPosition(absl::Time deadline) {
  HIE_ASSIGN_OR_RETURN(std::string stored, store_->FeedPosition(deadline, kRegistryFeed));
  return DecodePosition(stored);
}

absl::Status LocatorOperations::ApplyRegistryChanges(const regv1::ListChangesResponse& page,
                                                     absl::Time deadline) {
  return Transact(deadline, [&](LocatorTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(std::string stored, txn.LockFeedPosition(kRegistryFeed));
    HIE_ASSIGN_OR_RETURN(regv1::ChangePosition position, DecodePosition(stored));
    std::vector<const regv1::EntryChange*> fresh;
    std::vector<std::string> uuids;
    for (const regv1::EntryChange& change : page.changes()) {
      if (!After(change.position(), position)) continue;  // applied before (a replay)
      position = change.position();
      if (change.unreadable() || !change.has_entry()) continue;  // the registry logged it
      fresh.push_back(&change);
      uuids.push_back(change.entry().entry_uuid());
    }
    if (After(page.next_after(), position)) position = page.next_after();
    HIE_ASSIGN_OR_RETURN(auto marks, txn.DocumentMarks(uuids));
    std::map<std::string, bool> new_marks;
    std::vector<std::pair<common::v1::SourceId, Evidence>> evidence;
    for (const regv1::EntryChange* change : fresh) {
      const regv1::DocumentEntry* entry = &change->entry();
      std::optional<bool> counted;
      if (auto it = new_marks.find(entry->entry_uuid()); it != new_marks.end()) {
        counted = it->second;
      } else if (auto old = marks.find(entry->entry_uuid()); old != marks.end()) {
        counted = old->second;
      }
      bool counts_now = false;
      Evidence e = EvidenceOf(*entry, counted, &counts_now);
      e.registry_position.emplace(change->position().version(), change->position().entry_uuid());
      evidence.emplace_back(entry->patient(), std::move(e));
      new_marks[entry->entry_uuid()] = counts_now;
    }
    HIE_RETURN_IF_ERROR(ApplyAll(txn, evidence));
    HIE_RETURN_IF_ERROR(txn.PutDocumentMarks(new_marks));
    return txn.PutFeedPosition(kRegistryFeed, Encode(position));
  });
}

}  // namespace hie::locator
