#pragma once

#include <cstdint>
#include <string>
#include <string_view>
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
//
// The fields after hard_non_match_fraction describe habits of populations generated elsewhere;
// their defaults turn them off, and with every one of them at its default the output is exactly
// what it was before they existed (no extra draws from the generator's PRNG).
struct GeneratorOptions {
  int64_t persons = 1000;
  uint64_t seed = 1;
  int orgs = 5;                           // clinics the records are spread over
  double mean_extra_records = 1.0;        // mean number of further records per person
  double error_rate = 1.0;                // scales every error probability (0 = clean copies)
  double hard_non_match_fraction = 0.05;  // share of persons that get a twin/Jr-Sr/spouse/namesake

  // Share of further records that are sparse (ErrorKind::kSparse): after their other errors they
  // keep only given and family name plus, chosen with equal odds, nothing else, the birth date,
  // the phone, or the address (address line, city, state, ZIP). Not scaled by error_rate.
  double sparse_record_rate = 0;
  // 0: namesakes as described above. N > 0: a namesake has the same given and family name and
  // sex, a birth year within N years of the other's (never the same date), a different address
  // and phone, and in about 30% of pairs the same city.
  int namesake_birth_year_window = 0;
  // Share of persons with Vietnamese names (Nguyễn, Trần, ...; given names such as Minh, Ánh
  // Dương; middle names Văn, Thị, ...), spelled with diacritics on about 85% of original records.
  // Their further records lose (or gain) the diacritics with probability 0.5 (kAccentVariation)
  // and have family and given name exchanged with probability 0.10 (kNameSwap), both times
  // error_rate. Vietnamese persons are drawn before, and instead of, Hispanic ones.
  double vietnamese_share = 0;
  // Share (times error_rate) of further records not already upper/lower-cased by kCaseVariation
  // whose names, address and city get a case style drawn from UPPER (40%), Title (25%), random
  // MiXeD (20%) or lower (15%); flagged kCaseVariation when that changed the record.
  double mixed_case_rate = 0;
  // Share of Hispanic two-part family names joined by a particle (de, del, de la, y: "Abrego de
  // Castellanos") instead of a space; kNameFormatVariation may then drop the particle.
  double surname_particle_rate = 0;
};

// Named sets of options for `hie-mpi generate --profile NAME`; persons and seed are kept.
//   "default": GeneratorOptions{} (today's population).
//   "diverse": orgs 12, mean_extra_records 0.74, sparse_record_rate 0.05,
//              namesake_birth_year_window 3, vietnamese_share 0.12, mixed_case_rate 0.15,
//              surname_particle_rate 0.2, hard_non_match_fraction 0.10 (the habits of an
//              independently generated population: 100k persons, about 174k records).
// Returns false (leaving `options` unchanged) for an unknown name.
[[nodiscard]] bool ApplyGeneratorProfile(std::string_view profile, GeneratorOptions& options);

enum class HardNonMatchKind { kTwin, kJuniorSenior, kSpouse, kNamesake };
const char* HardNonMatchKindName(HardNonMatchKind kind);  // "twin", "jr_sr", "spouse", "namesake"

// The data-entry errors a generated record may carry (LabelledRecord::errors is a bit set of
// them). Each is applied to a further record (never to a person's original record) with its base
// probability times GeneratorOptions::error_rate (capped at 1), and only where it applies (e.g. a
// nickname needs a given name with one). Base probabilities per further record:
//   kTypo 0.05 given, 0.05 family, 0.03 address, 0.02 city, 0.01 each email, phone, SSN, sex
//         (keyboard-adjacent substitution, insertion, deletion, transposition; ASCII only)
//   kNickname 0.12 (Robert -> Bob, and Billy -> William)      kNameSwap 0.02 (given <-> family)
//   kMiddleInGiven 0.04 ("Mary Ann", middle empty)   kMiddleInitial 0.08 (middle "A")
//   kDayMonthSwap 0.04 (when day <= 12 and day != month)   kDayOffByOne 0.02
//   kYearDigit 0.02 (one digit of the year changed)
//   kMove 0.12 (new address, often new city/state/ZIP, new phone)
//   kFamilyNameChange 0.06 for women born before 2006 (marriage: new or hyphenated name)
//   kMissingValue per field: middle 0.15, sex 0.02, birth date 0.01, address 0.04, city 0.02,
//         ZIP 0.03, phone 0.08, email 0.20, SSN 0.25
//   kPlaceholder per field 0.01: given/family "UNKNOWN", birth date 1900-01-01, SSN
//         000-00-0000 / 999-99-9999 / 123-45-6789, phone 000-000-0000 / 999-999-9999
//   kCaseVariation 0.15 (names/address in upper or lower case)
//   kFormatVariation 0.30 (date as MM/DD/YYYY, YYYYMMDD, M/D/YYYY; phone as (206) 555-0100,
//         2065550100, 206.555.0100, +1 206 555 0100; sex as Male/female/m; SSN without dashes)
//   kAccentVariation 0.30 for accentable names (José <-> Jose, Müller <-> Muller)
//   kNameFormatVariation 0.30 for compound, hyphenated or suffixed family names ("Garcia Lopez"
//         -> "Garcia-Lopez" / "Garcia"; "Smith Jr" -> "Smith"; "Abrego de Castellanos" ->
//         "Abrego Castellanos")
//   kSparse GeneratorOptions::sparse_record_rate (most fields dropped; the other bits of such a
//         record may describe fields it no longer has)
// Further records of Vietnamese persons and GeneratorOptions::mixed_case_rate change some of
// these probabilities; see there.
enum class ErrorKind {
  kTypo,
  kNickname,
  kNameSwap,
  kMiddleInGiven,
  kMiddleInitial,
  kDayMonthSwap,
  kDayOffByOne,
  kYearDigit,
  kMove,
  kFamilyNameChange,
  kMissingValue,
  kPlaceholder,
  kCaseVariation,
  kFormatVariation,
  kAccentVariation,
  kNameFormatVariation,
  kSparse,  // appended last: the bit values of the kinds above never change
};
inline constexpr int kNumErrorKinds = 17;
const char* ErrorKindName(ErrorKind kind);  // "typo", "nickname", ..., "sparse"

struct LabelledRecord {
  Record record;      // record_id, org and local_id are always set
  int64_t person_id;  // ground truth: records of one person share it
  // Additions for evaluation; not written by WritePopulation.
  bool original = false;  // the person's first, error-free record (exactly one per person)
  uint32_t errors = 0;    // bit (1u << int(ErrorKind)) set for each error applied to this record

  bool HasError(ErrorKind kind) const { return (errors >> static_cast<int>(kind)) & 1u; }
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

// Generates `options.persons` persons (person ids 0..persons-1), each with one original record
// at a random org and a Poisson(mean_extra_records) number (at most 64) of further records, at
// other orgs while there are any. Exactly llround(hard_non_match_fraction * persons) hard pairs (at
// most persons/2), each made of two distinct persons and naming their original records; the kinds
// are mixed about 30% twin, 20% jr_sr, 30% spouse, 20% namesake. About 65% of persons have an SSN,
// 55% an email, 92% a phone, 75% a middle name. Deterministic: the same options give the same
// output on every platform (own PRNG, integer-weighted tables). Options out of range are clamped
// (persons < 0 and orgs < 1 act as 0 and 1; rates as [0, inf), fractions as [0, 1]). Thread-safe;
// record ids are "r" followed by 8+ digits, org ids "clinic-a", "clinic-b", ....
GeneratedPopulation GeneratePopulation(const GeneratorOptions& options);

// Writes `records.csv` (the standard hie-mpi columns, header `record_id,org,local_id,given_name,
// middle_name,family_name,sex,birth_date,address_line,city,state,postal_code,phone,email,ssn`),
// `truth.csv` (record_id,person_id) and `hard_pairs.csv` (record_id_a,record_id_b,kind) into
// `out_dir`, creating it if needed. Rows in population order. UTF-8,
// LF line ends, RFC-4180 quoting where a value holds a comma, quote or line break. Errors (with the
// path in the message) follow errno: e.g. PERMISSION_DENIED, FAILED_PRECONDITION for a path
// through a regular file; files already written are left in place.
[[nodiscard]] absl::Status WritePopulation(const GeneratedPopulation& population,
                                           const std::string& out_dir);

}  // namespace hie::mpi
