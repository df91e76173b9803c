#include "services/identity/store/identity_store.h"

#include "absl/strings/str_cat.h"
#include "services/common/status_macros.h"

namespace hie::identity {

std::string RecordKey(const SourceId& id) { return absl::StrCat(id.org(), "\x1f", id.local_id()); }

namespace {

// Answers of `get` for each of `inputs`, in order; the first failure fails them all.
template <typename Answer, typename Input, typename Get>
absl::StatusOr<std::vector<Answer>> EachOf(const std::vector<Input>& inputs, Get get) {
  std::vector<Answer> out;
  out.reserve(inputs.size());
  for (const Input& input : inputs) {
    absl::StatusOr<Answer> answer = get(input);
    if (!answer.ok()) return answer.status();
    out.push_back(*std::move(answer));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::optional<v1::SourceRecord>>> IdentityTxn::GetRecords(
    const std::vector<SourceId>& ids) {
  return EachOf<std::optional<v1::SourceRecord>>(ids,
                                                 [&](const SourceId& id) { return GetRecord(id); });
}

absl::StatusOr<std::vector<std::vector<v1::Link>>> IdentityTxn::LinksOfPersons(
    const std::vector<std::string>& person_ids) {
  return EachOf<std::vector<v1::Link>>(person_ids,
                                       [&](const std::string& id) { return LinksOf(id); });
}

absl::StatusOr<std::vector<std::vector<v1::NotAMatch>>> IdentityTxn::NotAMatchesOfRecords(
    const std::vector<SourceId>& ids) {
  return EachOf<std::vector<v1::NotAMatch>>(ids,
                                            [&](const SourceId& id) { return NotAMatchesOf(id); });
}

absl::StatusOr<std::vector<std::optional<StoredIdempotentResult>>> IdentityTxn::GetIdempotents(
    const std::vector<std::string>& keys) {
  return EachOf<std::optional<StoredIdempotentResult>>(
      keys, [&](const std::string& key) { return GetIdempotent(key); });
}

absl::Status IdentityTxn::PutFirstVersions(const std::vector<v1::SourceRecord>& records) {
  for (v1::SourceRecord record : records) {
    absl::StatusOr<std::optional<v1::SourceRecord>> existing = GetRecord(record.source_id());
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return absl::AlreadyExistsError("source record already stored");
    record.set_version(1);
    HIE_RETURN_IF_ERROR(PutRecordVersion(record, true).status());
  }
  return absl::OkStatus();
}

absl::Status IdentityTxn::PutPersons(const std::vector<v1::Person>& persons) {
  for (const v1::Person& person : persons) {
    HIE_RETURN_IF_ERROR(PutPerson(person));
  }
  return absl::OkStatus();
}

absl::Status IdentityTxn::PutLinks(const std::vector<v1::Link>& links) {
  for (const v1::Link& link : links) {
    HIE_RETURN_IF_ERROR(PutLink(link));
  }
  return absl::OkStatus();
}

absl::Status IdentityTxn::AppendEvents(const std::vector<v1::IdentityEvent*>& events) {
  for (v1::IdentityEvent* event : events) {
    HIE_RETURN_IF_ERROR(AppendEvent(event).status());
  }
  return absl::OkStatus();
}

absl::Status IdentityTxn::PutIdempotents(
    const std::vector<std::pair<std::string, StoredIdempotentResult>>& results) {
  for (const auto& [key, result] : results) {
    HIE_RETURN_IF_ERROR(PutIdempotent(key, result));
  }
  return absl::OkStatus();
}

}  // namespace hie::identity
