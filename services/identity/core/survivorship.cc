#include "services/identity/core/survivorship.h"

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/time_util.h"

namespace hie::identity {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::hie::common::v1::Demographics;

struct FieldAccess {
  const char* name;
  std::function<std::string(const Demographics&)> value;  // "" = the record lacks the field
  std::function<void(const Demographics&, Demographics*)> copy;
};

// A repeated field as one comparable value ("" when empty).
template <typename Repeated>
std::string Whole(const Repeated& items) {
  std::string whole;
  for (const auto& item : items) absl::StrAppend(&whole, item.SerializeAsString(), "\n");
  return whole;
}

const std::vector<FieldAccess>& Fields() {
  static const auto* fields = new std::vector<FieldAccess>{
      {"name",
       [](const Demographics& d) {
         return d.name().family().empty() && d.name().given().empty()
                    ? std::string()
                    : d.name().SerializeAsString();
       },
       [](const Demographics& from, Demographics* to) { *to->mutable_name() = from.name(); }},
      {"birth_date", [](const Demographics& d) { return d.birth_date(); },
       [](const Demographics& from, Demographics* to) { to->set_birth_date(from.birth_date()); }},
      {"sex",
       [](const Demographics& d) {
         return d.sex() == hie::common::v1::SEX_UNSPECIFIED ? std::string() : absl::StrCat(d.sex());
       },
       [](const Demographics& from, Demographics* to) { to->set_sex(from.sex()); }},
      {"addresses", [](const Demographics& d) { return Whole(d.addresses()); },
       [](const Demographics& from, Demographics* to) {
         *to->mutable_addresses() = from.addresses();
       }},
      {"phones", [](const Demographics& d) { return Whole(d.phones()); },
       [](const Demographics& from, Demographics* to) { *to->mutable_phones() = from.phones(); }},
      {"emails", [](const Demographics& d) { return Whole(d.emails()); },
       [](const Demographics& from, Demographics* to) { *to->mutable_emails() = from.emails(); }},
  };
  return *fields;
}

const char* RuleName(SurvivorshipRule rule) {
  switch (rule) {
    case SurvivorshipRule::kMostRecent:
      return "most_recent";
    case SurvivorshipRule::kMostFrequent:
      return "most_frequent";
    case SurvivorshipRule::kMostTrusted:
      return "most_trusted";
  }
  return "most_recent";
}

}  // namespace

absl::StatusOr<SurvivorshipPolicy> ParseSurvivorshipPolicy(const std::string& rules,
                                                           const std::string& trust) {
  SurvivorshipPolicy policy;
  for (absl::string_view entry : absl::StrSplit(rules, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(entry, '=');
    const std::string field(absl::StripAsciiWhitespace(kv.first));
    const absl::string_view rule = absl::StripAsciiWhitespace(kv.second);
    if (policy.rules.count(field) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("survivorship: unknown field '", field,
                       "' (fields: name, birth_date, sex, addresses, phones, emails)"));
    }
    if (rule == "most_recent") {
      policy.rules[field] = SurvivorshipRule::kMostRecent;
    } else if (rule == "most_frequent") {
      policy.rules[field] = SurvivorshipRule::kMostFrequent;
    } else if (rule == "most_trusted") {
      policy.rules[field] = SurvivorshipRule::kMostTrusted;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("survivorship: unknown rule for ", field,
                       " (rules: most_recent, most_frequent, most_trusted)"));
    }
  }
  for (absl::string_view entry : absl::StrSplit(trust, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(entry, '=');
    const std::string org(absl::StripAsciiWhitespace(kv.first));
    int value = 0;
    if (org.empty() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.second), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("source trust: entry '", org, "' must be org=integer"));
    }
    if (!policy.trust.emplace(org, value).second) {
      return absl::InvalidArgumentError(absl::StrCat("source trust: ", org, " given twice"));
    }
  }
  return policy;
}

v1::GoldenRecord ComputeGoldenRecord(const std::vector<v1::SourceRecord>& records, absl::Time now,
                                     const SurvivorshipPolicy& policy) {
  v1::GoldenRecord golden;
  *golden.mutable_compute_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  std::vector<const v1::SourceRecord*> newest_first;
  for (const v1::SourceRecord& r : records) {
    if (r.state() == v1::RECORD_STATE_ACTIVE) newest_first.push_back(&r);
  }
  std::stable_sort(newest_first.begin(), newest_first.end(), [](const auto* a, const auto* b) {
    return TimeUtil::TimestampToNanoseconds(a->record_time()) >
           TimeUtil::TimestampToNanoseconds(b->record_time());
  });
  auto trust_of = [&](const v1::SourceRecord* r) {
    auto it = policy.trust.find(r->source_id().org());
    return it == policy.trust.end() ? 0 : it->second;
  };
  Demographics* d = golden.mutable_demographics();
  for (const FieldAccess& field : Fields()) {
    auto rule_it = policy.rules.find(field.name);
    const SurvivorshipRule rule =
        rule_it == policy.rules.end() ? SurvivorshipRule::kMostRecent : rule_it->second;
    std::map<std::string, int> counts;
    if (rule == SurvivorshipRule::kMostFrequent) {
      for (const v1::SourceRecord* r : newest_first) {
        if (std::string v = field.value(r->demographics()); !v.empty()) ++counts[v];
      }
    }
    // The chosen record: the first, newest first, that no later one beats.
    const v1::SourceRecord* chosen = nullptr;
    int chosen_count = 0;
    for (const v1::SourceRecord* r : newest_first) {
      const std::string v = field.value(r->demographics());
      if (v.empty()) continue;
      if (chosen == nullptr) {
        chosen = r;
        chosen_count = counts[v];
        if (rule == SurvivorshipRule::kMostRecent) break;
        continue;
      }
      const int count = counts[v];
      const bool better =
          rule == SurvivorshipRule::kMostFrequent
              ? count > chosen_count || (count == chosen_count && trust_of(r) > trust_of(chosen))
              : trust_of(r) > trust_of(chosen);
      if (better) {
        chosen = r;
        chosen_count = count;
      }
    }
    if (chosen == nullptr) continue;
    field.copy(chosen->demographics(), d);
    v1::FieldProvenance* p = golden.add_provenance();
    p->set_field(field.name);
    *p->mutable_source_id() = chosen->source_id();
    p->set_record_version(chosen->version());
    p->set_rule(RuleName(rule));
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const v1::SourceRecord* r : newest_first) {
    for (const auto& identifier : r->demographics().identifiers()) {
      if (seen.insert({identifier.system(), identifier.value()}).second) {
        *d->add_identifiers() = identifier;
      }
    }
  }
  return golden;
}

}  // namespace hie::identity
