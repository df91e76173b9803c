#include "services/registry/store/document_filter.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "services/common/proto_time.h"

namespace hie::registry {
namespace {

using common::v1::Coding;

bool AnyCode(const std::vector<Coding>& wanted, const Coding& c) {
  return std::any_of(wanted.begin(), wanted.end(), [&](const Coding& w) {
    return w.system() == c.system() && w.code() == c.code();
  });
}

template <typename Codes>
bool AnyOf(const std::vector<Coding>& wanted, const Codes& codes) {
  return std::any_of(codes.begin(), codes.end(),
                     [&](const Coding& c) { return AnyCode(wanted, c); });
}

// An optional coding: a filter on it matches only entries that have it.
bool OptionalCode(const std::vector<Coding>& wanted, bool present, const Coding& c) {
  return wanted.empty() || (present && AnyCode(wanted, c));
}

bool InRange(bool present, const google::protobuf::Timestamp& t,
             const std::optional<absl::Time>& from, const std::optional<absl::Time>& before) {
  if (!from && !before) return true;
  if (!present) return false;
  const absl::Time at = TimeOf(t);
  return (!from || at >= *from) && (!before || at < *before);
}

bool AuthorInstitution(const v1::DocumentEntry& e, const std::string& wanted) {
  if (wanted.empty()) return true;
  const std::string needle = absl::AsciiStrToLower(wanted);
  return std::any_of(e.authors().begin(), e.authors().end(), [&](const v1::Author& a) {
    return absl::AsciiStrToLower(a.institution()).find(needle) != std::string::npos;
  });
}

}  // namespace

bool MatchesCandidate(const v1::DocumentEntry& e, const DocumentFilter& f) {
  if (std::none_of(f.patients.begin(), f.patients.end(), [&](const auto& p) {
        return p.org() == e.patient().org() && p.local_id() == e.patient().local_id();
      })) {
    return false;
  }
  const auto status = e.status();
  if (f.statuses.empty()
          ? status != v1::AVAILABILITY_STATUS_APPROVED
          : std::find(f.statuses.begin(), f.statuses.end(), status) == f.statuses.end()) {
    return false;
  }
  if (!InRange(true, e.creation_time(), f.creation_from, f.creation_before)) return false;
  if (f.after) {
    const int64_t ns = UnixNanosOf(e.creation_time());
    if (ns > f.after->first || (ns == f.after->first && e.entry_uuid() >= f.after->second)) {
      return false;
    }
  }
  return true;
}

bool MatchesFilter(const v1::DocumentEntry& e, const DocumentFilter& f) {
  return MatchesCandidate(e, f) &&
         (f.class_codes.empty() || AnyCode(f.class_codes, e.class_code())) &&
         (f.type_codes.empty() || AnyCode(f.type_codes, e.type_code())) &&
         (f.format_codes.empty() || AnyCode(f.format_codes, e.format_code())) &&
         (f.confidentiality_codes.empty() ||
          AnyOf(f.confidentiality_codes, e.confidentiality_codes())) &&
         (f.event_codes.empty() || AnyOf(f.event_codes, e.event_codes())) &&
         OptionalCode(f.practice_setting_codes, e.has_practice_setting_code(),
                      e.practice_setting_code()) &&
         OptionalCode(f.facility_type_codes, e.has_healthcare_facility_type_code(),
                      e.healthcare_facility_type_code()) &&
         InRange(e.has_service_start_time(), e.service_start_time(), f.service_start_from,
                 f.service_start_before) &&
         InRange(e.has_service_stop_time(), e.service_stop_time(), f.service_stop_from,
                 f.service_stop_before) &&
         AuthorInstitution(e, f.author_institution);
}

}  // namespace hie::registry
