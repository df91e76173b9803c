#include "services/hiectl/flag_values.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "services/hiectl/commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {

absl::Status Require(const Config& flags, absl::string_view key) {
  if (flags.Get(std::string(key)).empty()) return Invalid("--", key, " is required");
  return absl::OkStatus();
}

absl::StatusOr<int32_t> IntInRange(const Config& flags, const char* key, int64_t lo, int64_t hi) {
  absl::StatusOr<int64_t> value = flags.GetInt(key);
  if (!value.ok()) return value.status();
  if (*value < lo || *value > hi) return Invalid("--", key, " must be between ", lo, " and ", hi);
  return static_cast<int32_t>(*value);
}

absl::StatusOr<int32_t> PageSize(const Config& flags, int64_t max) {
  if (flags.Get("page-size") == "0") return 0;
  return IntInRange(flags, "page-size", 1, max);
}

std::vector<std::string> ListValues(const Config& flags, absl::string_view key) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(
           flags.Get(std::string(key)), absl::ByAnyChar(std::string(",") + kRepeatSeparator))) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

std::vector<std::string> RepeatedValues(const Config& flags, absl::string_view key) {
  if (flags.Get(std::string(key)).empty()) return {};
  return absl::StrSplit(flags.Get(std::string(key)), kRepeatSeparator);
}

absl::StatusOr<std::vector<hie::common::v1::SourceId>> PatientsFrom(const Config& flags) {
  std::vector<std::string> orgs = RepeatedValues(flags, "org");
  std::vector<std::string> ids = RepeatedValues(flags, "local-id");
  if (orgs.size() != ids.size()) {
    return Invalid(orgs.empty()  ? "--local-id needs --org"
                   : ids.empty() ? "--org needs --local-id"
                                 : "give --org and --local-id the same number of times (in pairs)");
  }
  std::vector<hie::common::v1::SourceId> out;
  for (size_t i = 0; i < orgs.size(); ++i) {
    if (orgs[i].empty() || ids[i].empty()) return Invalid("--org and --local-id must not be empty");
    out.emplace_back().set_org(orgs[i]);
    out.back().set_local_id(ids[i]);
  }
  absl::StatusOr<std::vector<hie::common::v1::SourceId>> listed = SourceIdsFrom(flags, "patient");
  if (!listed.ok()) return listed.status();
  for (hie::common::v1::SourceId& id : *listed) out.push_back(std::move(id));
  return out;
}

absl::StatusOr<std::vector<hie::common::v1::SourceId>> SourceIdsFrom(const Config& flags,
                                                                     absl::string_view key) {
  std::vector<hie::common::v1::SourceId> out;
  int n = 0;
  for (const std::string& entry : ListValues(flags, key)) {
    ++n;
    size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) {
      // The entry is not echoed: it holds a patient identifier.
      return Invalid("--", key, " entries must be ORG:LOCAL_ID (entry ", n, " is not)");
    }
    out.emplace_back().set_org(entry.substr(0, colon));
    out.back().set_local_id(entry.substr(colon + 1));
  }
  return out;
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp ts;
  int64_t seconds = absl::ToUnixSeconds(time);
  ts.set_seconds(seconds);
  ts.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return ts;
}

absl::StatusOr<std::optional<google::protobuf::Timestamp>> OptionalTime(const Config& flags,
                                                                        absl::string_view key) {
  if (flags.Get(std::string(key)).empty()) return std::nullopt;
  absl::StatusOr<google::protobuf::Timestamp> ts =
      ParseTimestamp(flags.Get(std::string(key)), absl::StrCat("--", key));
  if (!ts.ok()) return ts.status();
  return *ts;
}

absl::StatusOr<hie::common::v1::TimeRange> TimeRangeFrom(const Config& flags,
                                                         absl::string_view start_key,
                                                         absl::string_view end_key,
                                                         std::optional<absl::Time> default_start) {
  absl::StatusOr<std::optional<google::protobuf::Timestamp>> start = OptionalTime(flags, start_key);
  if (!start.ok()) return start.status();
  absl::StatusOr<std::optional<google::protobuf::Timestamp>> end = OptionalTime(flags, end_key);
  if (!end.ok()) return end.status();
  hie::common::v1::TimeRange range;
  if (start->has_value()) {
    *range.mutable_start() = **start;
  } else if (default_start.has_value()) {
    *range.mutable_start() = ToTimestamp(*default_start);
  }
  if (end->has_value()) *range.mutable_end() = **end;
  if (range.has_start() && range.has_end() &&
      std::make_pair(range.end().seconds(), range.end().nanos()) <=
          std::make_pair(range.start().seconds(), range.start().nanos())) {
    return Invalid("--", end_key, " must be after --", start_key);
  }
  return range;
}

absl::StatusOr<std::vector<hie::common::v1::Coding>> CodingsFrom(const Config& flags,
                                                                 absl::string_view key) {
  std::vector<hie::common::v1::Coding> out;
  int n = 0;
  for (const std::string& entry : ListValues(flags, key)) {
    ++n;
    size_t bar = entry.find('|');
    if (bar == std::string::npos || bar == 0 || bar + 1 == entry.size()) {
      return Invalid("--", key,
                     " entries must be SYSTEM|CODE, e.g. http://loinc.org|11488-4 (entry ", n,
                     " is not)");
    }
    hie::common::v1::Coding& coding = out.emplace_back();
    coding.set_system(entry.substr(0, bar));
    coding.set_code(entry.substr(bar + 1));
  }
  return out;
}

absl::StatusOr<int> EnumFromLabel(const google::protobuf::EnumDescriptor* type,
                                  absl::string_view prefix, absl::string_view label,
                                  absl::string_view key) {
  std::string name = absl::StrCat(prefix, absl::AsciiStrToUpper(absl::StrReplaceAll(
                                              absl::StripAsciiWhitespace(label), {{"-", "_"}})));
  const google::protobuf::EnumValueDescriptor* value = type->FindValueByName(name);
  if (value != nullptr && value->number() != 0) return value->number();
  std::vector<std::string> labels;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) labels.push_back(EnumLabel(type->value(i)->name(), prefix));
  }
  return Invalid("--", key, " must be one of ", absl::StrJoin(labels, ", "), " (got '", label,
                 "')");
}

absl::StatusOr<bool> OneOf(const Config& flags, absl::string_view first, absl::string_view second) {
  absl::StatusOr<bool> a = flags.GetBool(std::string(first));
  if (!a.ok()) return a.status();
  absl::StatusOr<bool> b = flags.GetBool(std::string(second));
  if (!b.ok()) return b.status();
  if (*a == *b) return Invalid("give exactly one of --", first, " or --", second);
  return *a;
}

}  // namespace hie::hiectl
