#pragma once

// A member node's own data: its patients (local id + demographics) and its documents (registry
// metadata + content bytes), and the read-only index the endpoint answers from. Pure.
//
// Documents are complete once built (CompleteDocument): patient.org and location name this
// member, size and SHA-256 hash are those of the content, status is set. MemberStore checks the
// whole set once (unique local ids, unique document unique_ids and retrieve keys, every
// document's patient known) and is then immutable apart from the registry's entry uuids, which
// the hub feed records as publications succeed.
//
// Thread-safety: MemberStore's const methods and SetEntryUuid may be called from any thread.

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::member {

struct MemberPatient {
  std::string local_id;                   // the member's MRN (an id: printable ASCII, <= 128)
  common::v1::Demographics demographics;  // as the member would feed it
};

struct MemberDocument {
  registry::v1::DocumentEntry entry;           // metadata; entry_uuid empty (see MemberStore)
  std::shared_ptr<const std::string> content;  // never null once completed
};

struct MemberData {
  std::string org;            // this member's org id (its certificates' O)
  std::string repository_id;  // its one repository (DocumentLocation.repository_unique_id)
  std::vector<MemberPatient> patients;
  std::vector<MemberDocument> documents;
};

// Fills what the member derives: patient.org = org; location.member_org = org,
// repository_unique_id = repository_id, retrieve_key defaulted to unique_id; size_bytes and a
// SHA-256 hash of the content; status APPROVED unless set. Output-only registry fields
// (entry_uuid, logical_id, version, submission ids and times) are cleared.
void CompleteDocument(const std::string& org, const std::string& repository_id,
                      MemberDocument* document);

// SHA-256 of `bytes` (32 raw bytes).
std::string Sha256(std::string_view bytes);

class MemberStore {
 public:
  // INVALID_ARGUMENT (naming "patients[i]" / "documents[i]", never a value) when the data is not
  // a consistent set: repeated local ids, unique_ids or retrieve keys, a document of an unknown
  // patient or of another org, a document not completed.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemberStore>> Create(MemberData data);

  const std::string& org() const { return data_.org; }
  const std::string& repository_id() const { return data_.repository_id; }
  const std::vector<MemberPatient>& patients() const { return data_.patients; }
  const std::vector<MemberDocument>& documents() const { return data_.documents; }

  // The documents of one local patient (empty for an unknown id), in load order.
  std::vector<const MemberDocument*> DocumentsOf(std::string_view local_id) const;
  // The document with this retrieve key (location.retrieve_key), else this unique_id; null
  // when none.
  const MemberDocument* FindDocument(std::string_view key) const;

  // The registry's entry uuid of a published document ("" until recorded).
  std::string EntryUuidOf(const std::string& unique_id) const;
  void SetEntryUuid(const std::string& unique_id, const std::string& entry_uuid);

 private:
  explicit MemberStore(MemberData data) : data_(std::move(data)) {}

  MemberData data_;
  std::unordered_map<std::string_view, std::vector<size_t>> by_patient_;
  std::unordered_map<std::string_view, size_t> by_key_;
  mutable std::shared_mutex uuid_mu_;
  std::map<std::string, std::string, std::less<>> entry_uuids_;  // unique_id -> entry_uuid
};

}  // namespace hie::member
