#pragma once

// The golden record: a survivorship view of a person computed from its linked ACTIVE source
// records whenever it is asked for, never stored (so it cannot drift from them). Each field is
// taken whole from one record, chosen by that field's rule, and its provenance names the record
// version and the rule.
//
// Rules:
//   most_recent    the record the hub received last (record_time) that has the field;
//   most_frequent  the value most records agree on (birth date, sex: compared as written;
//                  other fields as a whole); a tie goes to the more trusted, then the more
//                  recent record;
//   most_trusted   the record of the most trusted source organisation that has the field; a
//                  tie goes to the more recent record.
// Identifiers are always the union over the records (one per system and value).
// Pure; thread-safe.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/identity/v1/identity.pb.h"

namespace hie::identity {

enum class SurvivorshipRule { kMostRecent, kMostFrequent, kMostTrusted };

struct SurvivorshipPolicy {
  // One rule per field; the defaults are the hub's.
  std::map<std::string, SurvivorshipRule> rules = {
      {"name", SurvivorshipRule::kMostRecent},   {"birth_date", SurvivorshipRule::kMostFrequent},
      {"sex", SurvivorshipRule::kMostFrequent},  {"addresses", SurvivorshipRule::kMostRecent},
      {"phones", SurvivorshipRule::kMostRecent}, {"emails", SurvivorshipRule::kMostRecent},
  };
  // Trust of a source organisation (higher wins); organisations not listed have 0.
  std::map<std::string, int> trust;
};

// The policy from configuration: `rules` is "field=rule,..." over the defaults (fields: name,
// birth_date, sex, addresses, phones, emails; rules: most_recent, most_frequent, most_trusted),
// `trust` is "org=integer,...". Either may be empty. INVALID_ARGUMENT naming the entry that is
// wrong (an unknown field or rule, a trust that is not an integer, an org given twice).
absl::StatusOr<SurvivorshipPolicy> ParseSurvivorshipPolicy(const std::string& rules,
                                                           const std::string& trust);

// The golden record of the ACTIVE records among `records` (the others are ignored).
v1::GoldenRecord ComputeGoldenRecord(const std::vector<v1::SourceRecord>& records, absl::Time now,
                                     const SurvivorshipPolicy& policy);

}  // namespace hie::identity
