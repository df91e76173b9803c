#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "hie/mpi/nicknames.h"
#include "hie/mpi/record.h"

namespace hie::mpi {

enum class Sex : uint8_t { kUnknown = 0, kMale, kFemale };
enum class NameSuffix : uint8_t { kNone = 0, kJunior, kSenior, kSecond, kThird, kFourth };

// A birth date split into integers. year == 0 means missing; month == 0 (and day == 0) means
// only the year is known (the full date was impossible, e.g. 1980-13-45).
struct BirthDate {
  int16_t year = 0;
  int8_t month = 0;
  int8_t day = 0;
  bool day_month_swapped = false;  // the input was only valid with day and month exchanged
  // The date as written, as the number YYYYMMDD (month and day in the input's order, before
  // any repair: 1910-54-12 stays 19105412), for noticing one-digit typos; 0 when missing.
  // Not part of the date's value (operator== ignores it).
  int32_t as_written = 0;
  bool operator==(const BirthDate& o) const {
    return year == o.year && month == o.month && day == o.day &&
           day_month_swapped == o.day_month_swapped;
  }
};

// How to read an ambiguous all-numeric date such as 03/04/1990 (both parts <= 12).
enum class DateOrder : uint8_t { kMonthFirst, kDayFirst };

// The compact form of a Record that the comparators work on: folded, parsed, with phonetic
// codes precomputed. An empty string / zero means missing (placeholders are mapped to missing).
struct NormalizedRecord {
  std::string given;           // first given name ("Mary Ann" -> "MARY")
  std::string middle;          // further given names and the middle name, space separated
  std::string family;          // family name tokens joined by single spaces ("GARCIA LOPEZ")
  uint64_t given_nysiis = 0;   // PackCode(Nysiis(given))
  uint64_t family_nysiis = 0;  // PackCode(Nysiis(first family token))
  uint32_t given_soundex = 0;
  uint32_t family_soundex = 0;
  std::array<uint32_t, 4> given_groups{};  // nickname group ids of `given`, 0 = unused
  uint32_t given_formal = 0;               // NicknameTable::FormalId(given)
  NameSuffix suffix = NameSuffix::kNone;
  Sex sex = Sex::kUnknown;
  BirthDate birth_date;
  std::string house_number;  // leading number of the address line
  std::string address;       // rest of the address line, standard abbreviations ("MAIN ST")
  std::string city;
  std::string state;
  std::string postal_code;  // upper case, no spaces; US ZIP+4 cut to 5 digits
  std::string phone;        // digits only, US country code removed
  std::string ssn;          // digits only
  bool ssn_is_us = false;   // ssn has the form of a valid US SSN (9 digits, valid area/group)
  std::string email;        // lower case
  uint64_t org = 0;         // HashString(org) or 0
  uint64_t local_id = 0;    // HashString(local_id) or 0
  // Term frequencies: the share of indexed records with the same value, filled by a
  // FrequencyTable (model.h); 0 = not annotated.
  float given_freq = 0;
  float family_freq = 0;
  float city_freq = 0;
  float postal_freq = 0;
};

struct NormalizerOptions {
  DateOrder date_order = DateOrder::kMonthFirst;
};

// Turns raw Records into NormalizedRecords. Holds a pointer to the nickname table (may be null:
// no nickname equivalence), which must outlive it. Thread-safe (const).
class Normalizer {
 public:
  explicit Normalizer(const NicknameTable* nicknames, NormalizerOptions options = {})
      : nicknames_(nicknames), options_(options) {}

  NormalizedRecord Normalize(const Record& record) const;
  const NicknameTable* nicknames() const { return nicknames_; }

 private:
  const NicknameTable* nicknames_;
  NormalizerOptions options_;
};

// The individual normalisers, exposed for tests and reuse. Each returns the missing value
// ("" / {} / kUnknown) for empty input, placeholders and unparseable values.
struct ParsedName {
  std::string given;
  std::string middle;
  std::string family;
  NameSuffix suffix = NameSuffix::kNone;
};
ParsedName ParseName(std::string_view given, std::string_view middle, std::string_view family);
BirthDate ParseBirthDate(std::string_view text, DateOrder order = DateOrder::kMonthFirst);
Sex ParseSex(std::string_view text);
std::string NormalizePhone(std::string_view text);
std::string NormalizeSsn(std::string_view text, bool* is_us_ssn = nullptr);
std::string NormalizePostalCode(std::string_view text);
std::string NormalizeEmail(std::string_view text);
// Splits off a leading house number ("12A Main Street" -> {"12A", "MAIN ST"}).
void NormalizeAddress(std::string_view text, std::string* house_number, std::string* street);
// Folded city/state-style free text, "" for placeholders such as UNKNOWN.
std::string NormalizePlace(std::string_view text);

}  // namespace hie::mpi
