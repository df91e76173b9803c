#include "services/member/core/member_data.h"

#include <openssl/sha.h>

#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"

namespace hie::member {

std::string Sha256(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

void CompleteDocument(const std::string& org, const std::string& repository_id,
                      MemberDocument* document) {
  if (document->content == nullptr) document->content = std::make_shared<const std::string>();
  registry::v1::DocumentEntry& e = document->entry;
  e.clear_entry_uuid();
  e.clear_logical_id();
  e.clear_version();
  e.clear_submission_set_id();
  e.clear_submission_time();
  e.clear_deprecate_time();
  e.clear_replaced_by_entry_uuid();
  e.mutable_patient()->set_org(org);
  registry::v1::DocumentLocation* location = e.mutable_location();
  location->set_member_org(org);
  location->set_repository_unique_id(repository_id);
  if (location->retrieve_key().empty()) location->set_retrieve_key(e.unique_id());
  e.set_size_bytes(static_cast<int64_t>(document->content->size()));
  e.mutable_hash()->set_algorithm(registry::v1::ContentHash::ALGORITHM_SHA256);
  e.mutable_hash()->set_digest(Sha256(*document->content));
  if (e.status() == registry::v1::AVAILABILITY_STATUS_UNSPECIFIED) {
    e.set_status(registry::v1::AVAILABILITY_STATUS_APPROVED);
  }
}

absl::StatusOr<std::unique_ptr<MemberStore>> MemberStore::Create(MemberData data) {
  std::unique_ptr<MemberStore> store(new MemberStore(std::move(data)));
  const MemberData& d = store->data_;
  std::set<std::string_view> patients;
  for (size_t i = 0; i < d.patients.size(); ++i) {
    if (!patients.insert(d.patients[i].local_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("patients[", i, "].local_id repeats an earlier patient's"));
    }
    store->by_patient_[d.patients[i].local_id];
  }
  for (size_t i = 0; i < d.documents.size(); ++i) {
    const MemberDocument& doc = d.documents[i];
    const registry::v1::DocumentEntry& e = doc.entry;
    const std::string at = absl::StrCat("documents[", i, "]");
    if (doc.content == nullptr || !e.has_hash() ||
        e.size_bytes() != static_cast<int64_t>(doc.content->size())) {
      return absl::InvalidArgumentError(at + " is not completed (content, size, hash)");
    }
    if (e.patient().org() != d.org || e.location().member_org() != d.org) {
      return absl::InvalidArgumentError(at + ".patient.org is not this member's org");
    }
    auto patient = store->by_patient_.find(e.patient().local_id());
    if (patient == store->by_patient_.end()) {
      return absl::InvalidArgumentError(at + ".patient.local_id names no patient of this member");
    }
    patient->second.push_back(i);
    // Retrieval looks a key up as a retrieve key, then as a unique_id: both namespaces share
    // one index, so neither may repeat nor collide with another document's.
    const std::string& key = e.location().retrieve_key();
    if (!store->by_key_.emplace(key, i).second) {
      return absl::InvalidArgumentError(at + ".location.retrieve_key repeats another document's");
    }
    if (e.unique_id() != key && !store->by_key_.emplace(e.unique_id(), i).second) {
      return absl::InvalidArgumentError(at + ".unique_id repeats another document's");
    }
  }
  return store;
}

std::vector<const MemberDocument*> MemberStore::DocumentsOf(std::string_view local_id) const {
  std::vector<const MemberDocument*> out;
  auto it = by_patient_.find(local_id);
  if (it == by_patient_.end()) return out;
  out.reserve(it->second.size());
  for (size_t i : it->second) out.push_back(&data_.documents[i]);
  return out;
}

const MemberDocument* MemberStore::FindDocument(std::string_view key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &data_.documents[it->second];
}

std::string MemberStore::EntryUuidOf(const std::string& unique_id) const {
  std::shared_lock lock(uuid_mu_);
  auto it = entry_uuids_.find(unique_id);
  return it == entry_uuids_.end() ? std::string() : it->second;
}

void MemberStore::SetEntryUuid(const std::string& unique_id, const std::string& entry_uuid) {
  std::unique_lock lock(uuid_mu_);
  entry_uuids_[unique_id] = entry_uuid;
}

}  // namespace hie::member
