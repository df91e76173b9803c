#include "services/locator/core/holding_rules.h"

#include <algorithm>
#include <tuple>

#include "services/common/proto_time.h"
#include "services/registry/core/categories.h"

namespace hie::locator {
namespace {

using common::v1::Coding;
namespace idv1 = hie::identity::v1;
namespace regv1 = hie::registry::v1;

bool CodingLess(const Coding& a, const Coding& b) {
  return std::tie(a.system(), a.code()) < std::tie(b.system(), b.code());
}

void AddCategories(const std::vector<Coding>& add, v1::RecordLocation* l) {
  std::vector<Coding> all(l->data_categories().begin(), l->data_categories().end());
  for (const Coding& c : add) {
    Coding plain;  // system and code identify a category; the display is not kept
    plain.set_system(c.system());
    plain.set_code(c.code());
    all.push_back(std::move(plain));
  }
  std::sort(all.begin(), all.end(), CodingLess);
  all.erase(std::unique(all.begin(), all.end(),
                        [](const Coding& a, const Coding& b) {
                          return !CodingLess(a, b) && !CodingLess(b, a);
                        }),
            all.end());
  if (all.size() > kMaxHoldingCategories) all.resize(kMaxHoldingCategories);
  l->clear_data_categories();
  for (Coding& c : all) *l->add_data_categories() = std::move(c);
}

void AddOrigin(v1::LocationOrigin origin, v1::RecordLocation* l) {
  std::vector<int> all(l->origins().begin(), l->origins().end());
  if (std::find(all.begin(), all.end(), origin) != all.end()) return;
  all.push_back(origin);
  std::sort(all.begin(), all.end());
  l->clear_origins();
  for (int o : all) l->add_origins(static_cast<v1::LocationOrigin>(o));
}

// Records the evidence's facts about the data held (not the counts).
void Merge(const Evidence& e, Holding* h) {
  v1::RecordLocation& l = h->location;
  if (e.origin != v1::LOCATION_ORIGIN_UNSPECIFIED) AddOrigin(e.origin, &l);
  AddCategories(e.categories, &l);
  if (e.activity_time &&
      (!l.has_last_activity_time() || *e.activity_time > TimeOf(l.last_activity_time()))) {
    SetTimestamp(*e.activity_time, l.mutable_last_activity_time());
  }
  if (!l.has_first_seen_time() || e.learnt_time < TimeOf(l.first_seen_time())) {
    SetTimestamp(e.learnt_time, l.mutable_first_seen_time());
  }
  if (e.admin_asserted) h->admin_asserted = true;
}

// Whether `e` comes from after `h`'s removal (see the header).
bool AfterRemoval(const Evidence& e, const Holding& h) {
  if (e.identity_sequence && *e.identity_sequence <= h.removed_at_identity) return false;
  if (e.registry_position && *e.registry_position <= h.removed_at_registry) return false;
  return e.learnt_time > TimeOf(h.location.removal().remove_time());
}

}  // namespace

Holding NewHolding(const common::v1::SourceId& id) {
  Holding h;
  h.location.mutable_source_id()->set_org(id.org());
  h.location.mutable_source_id()->set_local_id(id.local_id());
  return h;
}

bool ListedNow(const Holding& h) {
  if (h.location.has_removal()) return false;
  return h.location.identity_record() || h.registry_documents > 0 || h.reported_documents > 0 ||
         h.admin_asserted;
}

Applied ApplyEvidence(const Evidence& e, Holding* h) {
  h->registry_documents = std::max<int64_t>(0, h->registry_documents + e.registry_documents_delta);
  h->reported_documents = std::max<int64_t>(0, h->reported_documents + e.reported_documents_delta);
  if (e.identity_record) h->location.set_identity_record(*e.identity_record);
  Applied applied = Applied::kApplied;
  if (h->location.has_removal()) {
    const v1::LocationRemoval& r = h->location.removal();
    if (r.reason_code() == v1::REMOVAL_REASON_PATIENT_REQUEST) {
      applied = Applied::kPatientRemoved;
    } else if (e.asserts_holding && AfterRemoval(e, *h)) {
      h->location.clear_removal();
      h->removed_at_identity = 0;
      h->removed_at_registry = {};
    } else {
      applied = Applied::kRemoved;
    }
  }
  if (applied == Applied::kApplied) Merge(e, h);
  h->listed = ListedNow(*h);
  return applied;
}

absl::Status ApplyRemoval(const Removal& r, bool known, Holding* h) {
  const bool patient = r.reason_code == v1::REMOVAL_REASON_PATIENT_REQUEST;
  if (h->location.has_removal()) {
    const bool was_patient =
        h->location.removal().reason_code() == v1::REMOVAL_REASON_PATIENT_REQUEST;
    if (was_patient || !patient) {
      return absl::NotFoundError("source_id has no location (already removed)");
    }
  } else if (!patient && (!known || !h->listed)) {
    return absl::NotFoundError("source_id has no location");
  }
  v1::LocationRemoval* removal = h->location.mutable_removal();
  removal->set_reason_code(r.reason_code);
  removal->set_reason(r.reason);
  SetTimestamp(r.time, removal->mutable_remove_time());
  *removal->mutable_removed_by() = r.by;
  h->removed_at_identity = r.identity_position;
  h->removed_at_registry = r.registry_position;
  h->admin_asserted = false;  // an administrator's report is withdrawn with the holding
  h->listed = false;
  return absl::OkStatus();
}

v1::RecordLocation Answer(const Holding& h) {
  v1::RecordLocation out = h.location;
  out.set_document_count(h.registry_documents + h.reported_documents);
  return out;
}

std::vector<std::pair<common::v1::SourceId, Evidence>> EvidenceOf(const idv1::IdentityEvent& ev) {
  std::vector<std::pair<common::v1::SourceId, Evidence>> out;
  const absl::Time at = TimeOf(ev.event_time());
  Evidence current{.origin = v1::LOCATION_ORIGIN_IDENTITY_FEED,
                   .activity_time = at,
                   .learnt_time = at,
                   .identity_sequence = ev.sequence(),
                   .identity_record = true};
  switch (ev.type()) {
    case idv1::IDENTITY_EVENT_TYPE_RECORD_CREATED:
    case idv1::IDENTITY_EVENT_TYPE_RECORD_UPDATED:
      for (const auto& id : ev.source_ids()) out.emplace_back(id, current);
      break;
    case idv1::IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED:
      if (!ev.source_ids().empty()) {
        out.emplace_back(
            ev.source_ids(0),
            Evidence{.learnt_time = at, .asserts_holding = false, .identity_record = false});
      }
      break;
    default:
      break;
  }
  return out;
}

Evidence EvidenceOf(const regv1::DocumentEntry& entry, std::optional<bool> counted,
                    bool* counts_now) {
  *counts_now = entry.status() == regv1::AVAILABILITY_STATUS_APPROVED;
  Evidence e;
  e.registry_documents_delta = (*counts_now ? 1 : 0) - (counted.value_or(false) ? 1 : 0);
  e.learnt_time = TimeOf(entry.submission_time());
  if (counted.has_value() || !*counts_now) {
    e.asserts_holding = false;  // seen before, or withdrawn before it was seen: counts only
    return e;
  }
  e.origin = v1::LOCATION_ORIGIN_DOCUMENT_PUBLICATION;
  e.categories = registry::ConsentLabelsOf(entry).data_categories;
  e.activity_time =
      TimeOf(entry.has_service_stop_time() ? entry.service_stop_time() : entry.creation_time());
  return e;
}

}  // namespace hie::locator
