#include "services/registry/core/validation.h"

#include <map>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "services/common/proto_time.h"
#include "services/common/request_checks.h"
#include "services/common/status_macros.h"
#include "services/common/text.h"

namespace hie::registry {
namespace {

using common::v1::Coding;
using google::protobuf::RepeatedPtrField;
using google::protobuf::Timestamp;

constexpr size_t kMaxTitleBytes = 1024;
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxRetrieveKeyBytes = 256;

// Document times: 1800-01-01 .. 2199-12-31 (inside the int64 nanoseconds the stores keep).
constexpr int64_t kFirstDocumentSecond = -5364662400;  // 1800-01-01T00:00:00Z
constexpr int64_t kLastDocumentSecond = 7258118399;    // 2199-12-31T23:59:59Z

absl::Status CheckDocumentTime(const Timestamp& t, const std::string& field) {
  HIE_RETURN_IF_ERROR(CheckTimestamp(t, field));
  if (t.seconds() < kFirstDocumentSecond || t.seconds() > kLastDocumentSecond) {
    return InvalidField(field, "is outside 1800-01-01..2199-12-31");
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalCoding(bool present, const Coding& c, const std::string& field) {
  return present ? CheckCoding(c, field) : absl::OkStatus();
}

absl::Status CheckRequiredCoding(bool present, const Coding& c, const std::string& field) {
  if (!present) return InvalidField(field, "is required");
  return CheckCoding(c, field);
}

absl::Status CheckAuthors(const RepeatedPtrField<v1::Author>& authors, const std::string& field) {
  if (authors.size() > 100) return InvalidField(field, "has more than 100 entries");
  for (int i = 0; i < authors.size(); ++i) {
    const v1::Author& a = authors[i];
    const std::string at = absl::StrCat(field, "[", i, "]");
    HIE_RETURN_IF_ERROR(CheckOptionalText(a.person_id(), at + ".person_id", kMaxIdBytes));
    HIE_RETURN_IF_ERROR(CheckOptionalText(a.display_name(), at + ".display_name", kMaxNameBytes));
    HIE_RETURN_IF_ERROR(CheckOptionalText(a.institution(), at + ".institution", kMaxNameBytes));
    HIE_RETURN_IF_ERROR(CheckOptionalCoding(a.has_role(), a.role(), at + ".role"));
    HIE_RETURN_IF_ERROR(CheckOptionalCoding(a.has_specialty(), a.specialty(), at + ".specialty"));
  }
  return absl::OkStatus();
}

absl::Status CheckMimeType(const std::string& mime, const std::string& field) {
  if (mime.empty()) return InvalidField(field, "is required");
  if (mime.size() > 128) return InvalidField(field, "is longer than 128 bytes");
  const size_t slash = mime.find('/');
  bool printable = true;
  for (char c : mime) printable = printable && c > ' ' && c <= '~';
  if (!printable || slash == std::string::npos || slash == 0 || slash + 1 == mime.size()) {
    return InvalidField(field, "must be a MIME type \"type/subtype\"");
  }
  return absl::OkStatus();
}

absl::Status CheckHash(const v1::DocumentEntry& e, const std::string& at) {
  if (!e.has_hash()) return InvalidField(at + ".hash", "is required");
  switch (e.hash().algorithm()) {
    case v1::ContentHash::ALGORITHM_SHA256:
      break;
    case v1::ContentHash::ALGORITHM_SHA1:
      return InvalidField(at + ".hash.algorithm",
                          "SHA-1 alone is refused (it no longer proves content unaltered): give "
                          "the SHA-256 digest");
    default:
      return InvalidField(at + ".hash.algorithm", "must be ALGORITHM_SHA256");
  }
  if (e.hash().digest().size() != 32) {
    return InvalidField(at + ".hash.digest", "must be the 32 bytes of a SHA-256 digest");
  }
  return absl::OkStatus();
}

absl::Status CheckEntry(const v1::DocumentEntry& e, const std::string& at) {
  HIE_RETURN_IF_ERROR(CheckId(e.unique_id(), at + ".unique_id"));
  if (!e.has_patient()) return InvalidField(at + ".patient", "is required");
  HIE_RETURN_IF_ERROR(CheckId(e.patient().org(), at + ".patient.org"));
  HIE_RETURN_IF_ERROR(CheckId(e.patient().local_id(), at + ".patient.local_id"));
  HIE_RETURN_IF_ERROR(CheckRequiredCoding(e.has_class_code(), e.class_code(), at + ".class_code"));
  HIE_RETURN_IF_ERROR(CheckRequiredCoding(e.has_type_code(), e.type_code(), at + ".type_code"));
  HIE_RETURN_IF_ERROR(
      CheckRequiredCoding(e.has_format_code(), e.format_code(), at + ".format_code"));
  HIE_RETURN_IF_ERROR(CheckMimeType(e.mime_type(), at + ".mime_type"));
  if (e.confidentiality_codes().empty()) {
    return InvalidField(at + ".confidentiality_codes", "is required");
  }
  HIE_RETURN_IF_ERROR(CheckCodings(e.confidentiality_codes(), at + ".confidentiality_codes"));
  HIE_RETURN_IF_ERROR(CheckCodings(e.event_codes(), at + ".event_codes"));
  HIE_RETURN_IF_ERROR(CheckOptionalCoding(e.has_healthcare_facility_type_code(),
                                          e.healthcare_facility_type_code(),
                                          at + ".healthcare_facility_type_code"));
  HIE_RETURN_IF_ERROR(CheckOptionalCoding(e.has_practice_setting_code(), e.practice_setting_code(),
                                          at + ".practice_setting_code"));
  HIE_RETURN_IF_ERROR(CheckOptionalText(e.language_code(), at + ".language_code", 35));
  HIE_RETURN_IF_ERROR(CheckOptionalText(e.title(), at + ".title", kMaxTitleBytes));
  HIE_RETURN_IF_ERROR(CheckAuthors(e.authors(), at + ".authors"));
  if (!e.has_creation_time()) return InvalidField(at + ".creation_time", "is required");
  HIE_RETURN_IF_ERROR(CheckDocumentTime(e.creation_time(), at + ".creation_time"));
  if (e.has_service_start_time()) {
    HIE_RETURN_IF_ERROR(CheckDocumentTime(e.service_start_time(), at + ".service_start_time"));
  }
  if (e.has_service_stop_time()) {
    HIE_RETURN_IF_ERROR(CheckDocumentTime(e.service_stop_time(), at + ".service_stop_time"));
    if (e.has_service_start_time() &&
        TimeOf(e.service_stop_time()) < TimeOf(e.service_start_time())) {
      return InvalidField(at + ".service_stop_time", "is before service_start_time");
    }
  }
  HIE_RETURN_IF_ERROR(CheckHash(e, at));
  if (e.size_bytes() <= 0) return InvalidField(at + ".size_bytes", "must be positive");
  if (!e.has_location()) return InvalidField(at + ".location", "is required");
  HIE_RETURN_IF_ERROR(CheckId(e.location().member_org(), at + ".location.member_org"));
  HIE_RETURN_IF_ERROR(
      CheckId(e.location().repository_unique_id(), at + ".location.repository_unique_id"));
  return CheckOptionalText(e.location().retrieve_key(), at + ".location.retrieve_key",
                           kMaxRetrieveKeyBytes);
}

absl::Status CheckAssociations(const v1::RegisterSubmissionSetRequest& r,
                               const std::set<std::string>& unique_ids) {
  if (r.associations_size() > kMaxEntries) {
    return InvalidField("associations", "has more than 1000 entries");
  }
  std::set<std::string> replacing, replaced;
  for (int i = 0; i < r.associations_size(); ++i) {
    const v1::Association& a = r.associations(i);
    const std::string at = absl::StrCat("associations[", i, "]");
    if (!v1::AssociationType_IsValid(a.type()) || a.type() == v1::ASSOCIATION_TYPE_UNSPECIFIED) {
      return InvalidField(at + ".type", "must be a known association type");
    }
    HIE_RETURN_IF_ERROR(CheckId(a.source(), at + ".source"));
    if (!unique_ids.contains(a.source())) {
      return InvalidField(at + ".source", "names no entry of this submission (give its unique_id)");
    }
    HIE_RETURN_IF_ERROR(CheckId(a.target_entry_uuid(), at + ".target_entry_uuid"));
    if (a.type() == v1::ASSOCIATION_TYPE_REPLACE ||
        a.type() == v1::ASSOCIATION_TYPE_TRANSFORM_AND_REPLACE) {
      if (!replacing.insert(a.source()).second) {
        return InvalidField(at + ".source", "replaces a second document (one at most)");
      }
      if (!replaced.insert(a.target_entry_uuid()).second) {
        return InvalidField(at + ".target_entry_uuid", "is replaced twice in this submission");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTimeRange(bool present, const common::v1::TimeRange& range,
                            const std::string& field) {
  if (!present) return absl::OkStatus();
  if (range.has_start()) HIE_RETURN_IF_ERROR(CheckTimestamp(range.start(), field + ".start"));
  if (range.has_end()) HIE_RETURN_IF_ERROR(CheckTimestamp(range.end(), field + ".end"));
  if (range.has_start() && range.has_end() && TimeOf(range.end()) <= TimeOf(range.start())) {
    return InvalidField(field + ".end", "must be after start");
  }
  return absl::OkStatus();
}

absl::Status CheckStatuses(const google::protobuf::RepeatedField<int>& statuses) {
  if (statuses.size() > 2) return InvalidField("query.statuses", "has more than 2 entries");
  for (int i = 0; i < statuses.size(); ++i) {
    if (!v1::AvailabilityStatus_IsValid(statuses[i]) ||
        statuses[i] == v1::AVAILABILITY_STATUS_UNSPECIFIED) {
      return InvalidField(absl::StrCat("query.statuses[", i, "]"), "is not a known status");
    }
  }
  return absl::OkStatus();
}

// "urn:uuid:" and 8-4-4-4-12 lowercase hex digits, as RandomUuid makes them.
absl::Status CheckEntryUuid(const std::string& value, const std::string& field) {
  constexpr std::string_view kPrefix = "urn:uuid:";
  bool ok = value.size() == kPrefix.size() + 36 && value.starts_with(kPrefix);
  for (size_t i = kPrefix.size(); ok && i < value.size(); ++i) {
    const size_t at = i - kPrefix.size();
    const char c = value[i];
    ok = (at == 8 || at == 13 || at == 18 || at == 23)
             ? c == '-'
             : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (!ok) return InvalidField(field, "must be \"urn:uuid:\" and a lowercase UUID");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateContext(const common::v1::RequestContext& c, bool need_purpose) {
  return CheckContext(c, need_purpose);
}

absl::Status ValidateRegister(const v1::RegisterSubmissionSetRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckText(r.idempotency_key(), "idempotency_key", 128));
  if (!r.has_submission_set()) return InvalidField("submission_set", "is required");
  const v1::SubmissionSet& s = r.submission_set();
  HIE_RETURN_IF_ERROR(CheckId(s.unique_id(), "submission_set.unique_id"));
  HIE_RETURN_IF_ERROR(CheckAuthors(s.authors(), "submission_set.authors"));
  HIE_RETURN_IF_ERROR(CheckOptionalCoding(s.has_content_type_code(), s.content_type_code(),
                                          "submission_set.content_type_code"));
  HIE_RETURN_IF_ERROR(CheckOptionalText(s.title(), "submission_set.title", kMaxTitleBytes));
  if (r.entries().empty()) return InvalidField("entries", "is required");
  if (r.entries_size() > kMaxEntries) return InvalidField("entries", "has more than 1000 entries");
  std::map<std::string, int> unique_ids;
  for (int i = 0; i < r.entries_size(); ++i) {
    const std::string at = absl::StrCat("entries[", i, "]");
    HIE_RETURN_IF_ERROR(CheckEntry(r.entries(i), at));
    auto [it, added] = unique_ids.emplace(r.entries(i).unique_id(), i);
    if (!added) {
      return InvalidField(at + ".unique_id", absl::StrCat("repeats entries[", it->second, "]"));
    }
  }
  std::set<std::string> ids;
  for (const auto& [id, index] : unique_ids) ids.insert(id);
  return CheckAssociations(r, ids);
}

absl::Status ValidateFind(const v1::FindDocumentsRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), true));
  HIE_RETURN_IF_ERROR(CheckSourceIds(r.patients(), "patients", 1, kMaxPatients));
  if (r.page_size() < 0 || r.page_size() > kMaxPageSize) {
    return InvalidField("page_size", "must be 0 to 1000");
  }
  HIE_RETURN_IF_ERROR(CheckOptionalText(r.page_token(), "page_token", 512));
  const v1::DocumentQuery& q = r.query();
  HIE_RETURN_IF_ERROR(CheckStatuses(q.statuses()));
  HIE_RETURN_IF_ERROR(CheckCodings(q.class_codes(), "query.class_codes"));
  HIE_RETURN_IF_ERROR(CheckCodings(q.type_codes(), "query.type_codes"));
  HIE_RETURN_IF_ERROR(CheckCodings(q.format_codes(), "query.format_codes"));
  HIE_RETURN_IF_ERROR(CheckCodings(q.confidentiality_codes(), "query.confidentiality_codes"));
  HIE_RETURN_IF_ERROR(CheckCodings(q.event_codes(), "query.event_codes"));
  HIE_RETURN_IF_ERROR(CheckCodings(q.practice_setting_codes(), "query.practice_setting_codes"));
  HIE_RETURN_IF_ERROR(
      CheckCodings(q.healthcare_facility_type_codes(), "query.healthcare_facility_type_codes"));
  HIE_RETURN_IF_ERROR(
      CheckTimeRange(q.has_creation_time(), q.creation_time(), "query.creation_time"));
  HIE_RETURN_IF_ERROR(CheckTimeRange(q.has_service_start_time(), q.service_start_time(),
                                     "query.service_start_time"));
  HIE_RETURN_IF_ERROR(
      CheckTimeRange(q.has_service_stop_time(), q.service_stop_time(), "query.service_stop_time"));
  return CheckOptionalText(q.author_institution(), "query.author_institution", kMaxNameBytes);
}

absl::Status ValidateGet(const v1::GetDocumentsRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), true));
  const int n = r.entry_uuids_size() + r.unique_ids_size() + r.locations_size();
  if (n == 0) {
    return absl::InvalidArgumentError("entry_uuids, unique_ids or locations is required");
  }
  if (n > kMaxEntries) {
    return absl::InvalidArgumentError(
        "entry_uuids, unique_ids and locations hold more than 1000 ids");
  }
  HIE_RETURN_IF_ERROR(CheckOrgs(r.entry_uuids(), "entry_uuids", 0, kMaxEntries));
  HIE_RETURN_IF_ERROR(CheckOrgs(r.unique_ids(), "unique_ids", 0, kMaxEntries));
  for (int i = 0; i < r.locations_size(); ++i) {
    const v1::DocumentLocation& l = r.locations(i);
    const std::string at = absl::StrCat("locations[", i, "]");
    HIE_RETURN_IF_ERROR(CheckId(l.member_org(), at + ".member_org"));
    HIE_RETURN_IF_ERROR(CheckId(l.repository_unique_id(), at + ".repository_unique_id"));
    HIE_RETURN_IF_ERROR(CheckText(l.retrieve_key(), at + ".retrieve_key", kMaxRetrieveKeyBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateRelated(const v1::GetRelatedDocumentsRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), true));
  HIE_RETURN_IF_ERROR(CheckId(r.entry_uuid(), "entry_uuid"));
  if (r.types_size() > 5) return InvalidField("types", "has more than 5 entries");
  for (int i = 0; i < r.types_size(); ++i) {
    if (!v1::AssociationType_IsValid(r.types(i)) ||
        r.types(i) == v1::ASSOCIATION_TYPE_UNSPECIFIED) {
      return InvalidField(absl::StrCat("types[", i, "]"), "is not a known association type");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDeprecate(const v1::DeprecateDocumentRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  HIE_RETURN_IF_ERROR(CheckId(r.entry_uuid(), "entry_uuid"));
  HIE_RETURN_IF_ERROR(CheckText(r.reason(), "reason", kMaxTitleBytes));
  return CheckText(r.idempotency_key(), "idempotency_key", 128);
}

absl::Status ValidateListChanges(const v1::ListChangesRequest& r) {
  HIE_RETURN_IF_ERROR(ValidateContext(r.context(), false));
  if (r.page_size() < 0 || r.page_size() > kMaxPageSize) {
    return InvalidField("page_size", "must be 0 to 1000");
  }
  if (r.after().version() < 0) return InvalidField("after.version", "must not be negative");
  if (r.after().entry_uuid().empty()) return absl::OkStatus();
  return CheckEntryUuid(r.after().entry_uuid(), "after.entry_uuid");
}

absl::Status CheckPublisher(const v1::RegisterSubmissionSetRequest& r, const std::string& org) {
  for (int i = 0; i < r.entries_size(); ++i) {
    const std::string at = absl::StrCat("entries[", i, "]");
    if (r.entries(i).patient().org() != org) {
      return absl::PermissionDeniedError(
          absl::StrCat(at, ".patient.org: an organisation publishes only its own records"));
    }
    if (r.entries(i).location().member_org() != org) {
      return absl::PermissionDeniedError(absl::StrCat(
          at, ".location.member_org: an organisation publishes only documents it serves"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hie::registry
