#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hie/mpi/record.h"

namespace hie::mpi {

// Synthetic patient populations with ground truth, for evaluating and benchmarking the matcher.
//
// Each person gets one clean record and, with some probability, further records at other
// clinics (orgs) carrying realistic data-entry errors: typos, nicknames, swapped given/family
// names, day/month swaps, moves (new address/phone), family-name changes, missing values,
// placeholder values. Hard non-matches are generated on purpose: twins (same birth date and
// family name and address, different given name, often different sex), Jr/Sr (same name and
// address, birth years decades apart), spouses (same family name, address, phone), and namesakes
// (same common name, different everything else). The output is a pure function of the options.
struct GeneratorOptions {
  int64_t persons = 1000;
  uint64_t seed = 1;
  int orgs = 5;                          // clinics the records are spread over
  double mean_extra_records = 1.0;       // mean number of further records per person
  double error_rate = 1.0;               // scales every error probability (0 = clean copies)
  double hard_non_match_fraction = 0.05; // share of persons that get a twin/Jr-Sr/spouse/namesake
};

enum class HardNonMatchKind { kTwin, kJuniorSenior, kSpouse, kNamesake };
const char* HardNonMatchKindName(HardNonMatchKind kind);  // "twin", "jr_sr", "spouse", "namesake"

struct LabelledRecord {
  Record record;      // record_id, org and local_id are always set
  int64_t person_id;  // ground truth: records of one person share it
};

// Two records of different persons that a careless matcher would merge.
struct HardNonMatchPair {
  std::string record_id_a;
  std::string record_id_b;
  HardNonMatchKind kind;
};

struct GeneratedPopulation {
  std::vector<LabelledRecord> records;  // shuffled, so file order tells nothing
  std::vector<HardNonMatchPair> hard_pairs;
};

GeneratedPopulation GeneratePopulation(const GeneratorOptions& options);

// Writes `records.csv` (the standard hie-mpi columns), `truth.csv` (record_id,person_id) and
// `hard_pairs.csv` (record_id_a,record_id_b,kind) into `out_dir`, creating it if needed.
[[nodiscard]] absl::Status WritePopulation(const GeneratedPopulation& population,
                                           const std::string& out_dir);

}  // namespace hie::mpi
