#include "services/registry/store/in_memory_registry_store.h"

#include <algorithm>
#include <tuple>

#include "services/common/proto_time.h"
#include "services/common/status_macros.h"
#include "services/registry/store/document_filter.h"

namespace hie::registry {
namespace {

using common::v1::Coding;

class InMemoryTxn : public RegistryTxn {
 public:
  explicit InMemoryTxn(InMemoryRegistryStore::State* state) : s_(state) {}

  absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) override {
    auto it = s_->idempotency.find(key);
    if (it == s_->idempotency.end()) return std::nullopt;
    return it->second;
  }
  absl::Status PutIdempotent(const std::string& key, const StoredResponse& value) override {
    if (!s_->idempotency.emplace(key, value).second) {
      return absl::AlreadyExistsError("idempotency key already recorded");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, v1::DocumentEntry>> EntriesByUniqueId(
      const std::vector<std::string>& unique_ids) override {
    std::map<std::string, v1::DocumentEntry> out;
    for (const std::string& id : unique_ids) {
      if (auto it = s_->by_unique_id.find(id); it != s_->by_unique_id.end()) {
        out[id] = s_->entries.at(it->second).second;
      }
    }
    return out;
  }
  absl::StatusOr<std::map<std::string, v1::DocumentEntry>> LockEntries(
      const std::vector<std::string>& uuids) override {
    std::map<std::string, v1::DocumentEntry> out;
    for (const std::string& id : uuids) {
      if (auto it = s_->entries.find(id); it != s_->entries.end()) out[id] = it->second.second;
    }
    return out;
  }
  absl::StatusOr<std::set<std::tuple<int, std::string, std::string>>> AssociationsFrom(
      const std::vector<std::string>& uuids) override {
    const std::set<std::string> sources(uuids.begin(), uuids.end());
    std::set<std::tuple<int, std::string, std::string>> out;
    for (const v1::Association& a : s_->associations) {
      if (sources.contains(a.source())) out.insert({a.type(), a.source(), a.target_entry_uuid()});
    }
    return out;
  }
  absl::Status Insert(const v1::SubmissionSet& set, const std::vector<v1::DocumentEntry>& entries,
                      const std::vector<v1::Association>& associations) override {
    if (s_->sets.contains(set.id()) || !s_->set_unique_ids.insert(set.unique_id()).second) {
      return absl::AlreadyExistsError("submission set id or unique id already registered");
    }
    s_->sets[set.id()] = set;
    const int64_t v = Version();
    for (const v1::DocumentEntry& e : entries) {
      if (s_->entries.contains(e.entry_uuid()) ||
          !s_->by_unique_id.emplace(e.unique_id(), e.entry_uuid()).second) {
        return absl::AlreadyExistsError("entry uuid or unique id already registered");
      }
      s_->entries[e.entry_uuid()] = {v, e};
    }
    s_->associations.insert(s_->associations.end(), associations.begin(), associations.end());
    return absl::OkStatus();
  }
  absl::Status Deprecate(const std::string& uuid, absl::Time at,
                         const std::string& replaced_by) override {
    auto it = s_->entries.find(uuid);
    if (it == s_->entries.end()) return absl::NotFoundError("entry not registered");
    v1::DocumentEntry& e = it->second.second;
    e.set_status(v1::AVAILABILITY_STATUS_DEPRECATED);
    SetTimestamp(at, e.mutable_deprecate_time());
    e.set_replaced_by_entry_uuid(replaced_by);
    it->second.first = Version();
    return absl::OkStatus();
  }

 private:
  int64_t Version() {
    if (version_ == 0) version_ = ++s_->version;
    return version_;
  }

  InMemoryRegistryStore::State* s_;
  int64_t version_ = 0;
};

}  // namespace

void InMemoryRegistryStore::SetFailure(absl::Status failure) {
  std::lock_guard lock(mu_);
  failure_ = std::move(failure);
}

absl::Status InMemoryRegistryStore::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

absl::Status InMemoryRegistryStore::Transact(absl::Time, const TxnFn& fn) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard txn_lock(txn_mu_);
  State copy;
  {
    std::lock_guard lock(mu_);
    copy = state_;
  }
  InMemoryTxn txn(&copy);
  HIE_RETURN_IF_ERROR(fn(txn));
  std::lock_guard lock(mu_);
  state_ = std::move(copy);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::DocumentEntry>> InMemoryRegistryStore::FindDocuments(
    absl::Time, const DocumentFilter& filter) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  std::vector<v1::DocumentEntry> candidates;
  for (const auto& [uuid, row] : state_.entries) {
    if (MatchesCandidate(row.second, filter)) candidates.push_back(row.second);
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    const int64_t x = UnixNanosOf(a.creation_time()), y = UnixNanosOf(b.creation_time());
    return x != y ? x > y : a.entry_uuid() > b.entry_uuid();
  });
  std::vector<v1::DocumentEntry> out;
  size_t scanned = 0;
  for (const v1::DocumentEntry& e : candidates) {
    if (out.size() == filter.limit) break;
    if (++scanned > filter.max_scanned) return absl::ResourceExhaustedError(kTooManyResults);
    if (MatchesFilter(e, filter)) out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<v1::DocumentEntry>> InMemoryRegistryStore::GetDocuments(
    absl::Time, const DocumentKeys& keys) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  std::set<std::string> found;
  for (const std::string& id : keys.entry_uuids) {
    if (state_.entries.contains(id)) found.insert(id);
  }
  for (const std::string& id : keys.unique_ids) {
    if (auto it = state_.by_unique_id.find(id); it != state_.by_unique_id.end()) {
      found.insert(it->second);
    }
  }
  std::set<std::tuple<std::string, std::string, std::string>> locations;
  for (const v1::DocumentLocation& l : keys.locations) {
    locations.insert({l.member_org(), l.repository_unique_id(), l.retrieve_key()});
  }
  for (const auto& [uuid, row] : state_.entries) {
    if (locations.empty()) break;
    const v1::DocumentLocation& l = row.second.location();
    if (locations.contains({l.member_org(), l.repository_unique_id(), RetrieveKeyOf(row.second)})) {
      found.insert(uuid);
    }
  }
  std::vector<v1::DocumentEntry> out;
  for (const std::string& id : found) out.push_back(state_.entries.at(id).second);
  return out;
}

absl::StatusOr<Related> InMemoryRegistryStore::GetRelated(absl::Time, const std::string& uuid) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  if (!state_.entries.contains(uuid)) return absl::NotFoundError("entry not registered");
  Related out;
  std::set<std::string> others;
  for (const v1::Association& a : state_.associations) {
    if (a.source() != uuid && a.target_entry_uuid() != uuid) continue;
    out.associations.push_back(a);
    others.insert(a.source() == uuid ? a.target_entry_uuid() : a.source());
  }
  for (const std::string& id : others) {
    if (auto it = state_.entries.find(id); it != state_.entries.end()) {
      out.entries.push_back(it->second.second);
    }
  }
  return out;
}

absl::StatusOr<std::vector<EntryChange>> InMemoryRegistryStore::ChangesSince(
    absl::Time, const FeedPosition& after, size_t limit) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  std::vector<EntryChange> out;
  for (const auto& [uuid, row] : state_.entries) {
    if (std::tie(row.first, uuid) > std::tie(after.version, after.entry_uuid)) {
      out.push_back({{row.first, uuid}, row.second});
    }
  }
  std::sort(out.begin(), out.end(), [](const EntryChange& a, const EntryChange& b) {
    return std::tie(a.position.version, a.position.entry_uuid) <
           std::tie(b.position.version, b.position.entry_uuid);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace hie::registry
