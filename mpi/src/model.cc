#include "hie/mpi/model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hie/mpi/text.h"

namespace hie::mpi {
namespace {

// Term-frequency adjustment never moves an exact-agreement weight further than this (bits).
constexpr double kMaxTfBoost = 6.0;
constexpr double kMaxTfPenalty = 8.0;
constexpr double kMinProbability = 1e-6;
// Neighbours are not housemates: when both records hold a street address and they disagree (and
// the phones do not agree), the address fields' sum counts at most this many bits (one chance in
// 1,024), however many of city, postal code and state agree. Each of those fields alone is weighed
// as if independent of the street, so together they counted as much as one home (the whole
// household cap, about 17 bits), and strangers of a common name in one postal code linked.
// Measured on the generated populations and the public sets (docs/benchmarks.md, issue 15).
constexpr double kNeighbourhoodCap = 10.0;

struct FieldInfo {
  const char* name;
  std::array<const char*, kMaxLevels> levels;
};

// Five-level name-like fields: missing, disagree, fuzzy, close, exact.
constexpr FieldInfo kFields[kNumFields] = {
    {"given_name", {"missing", "disagree", "fuzzy", "close_or_nickname", "exact", nullptr}},
    {"family_name", {"missing", "disagree", "fuzzy", "close_or_part", "exact", nullptr}},
    {"middle_name", {"missing", "disagree", "initial", "exact", nullptr, nullptr}},
    {"birth_date",
     {"missing", "disagree", "year_only", "one_part_or_digit_off", "day_month_swapped", "exact"}},
    {"sex", {"missing", "disagree", "agree", nullptr, nullptr, nullptr}},
    {"address", {"missing", "disagree", "fuzzy", "close", "exact", nullptr}},
    {"city", {"missing", "disagree", "fuzzy", "exact", nullptr, nullptr}},
    {"postal_code", {"missing", "disagree", "one_typo", "exact", nullptr, nullptr}},
    {"state", {"missing", "disagree", "agree", nullptr, nullptr, nullptr}},
    {"phone", {"missing", "disagree", "one_typo_or_local", "exact", nullptr, nullptr}},
    {"ssn", {"missing", "disagree", "one_typo", "exact", nullptr, nullptr}},
    {"email", {"missing", "disagree", "same_user_or_typo", "exact", nullptr, nullptr}},
};

int Levels(int f) {
  int n = 0;
  while (n < kMaxLevels && kFields[f].levels[n] != nullptr) ++n;
  return n;
}

bool SharesGroup(const std::array<uint32_t, 4>& a, const std::array<uint32_t, 4>& b) {
  for (uint32_t x : a) {
    if (x == 0) break;
    for (uint32_t y : b) {
      if (y == 0) break;
      if (x == y) return true;
    }
  }
  return false;
}

std::string_view FirstToken(std::string_view s) { return s.substr(0, s.find(' ')); }

bool Contains(const std::array<uint32_t, 4>& groups, uint32_t id) {
  return id != 0 && std::find(groups.begin(), groups.end(), id) != groups.end();
}

// One given name is a nickname of the other (not merely two nicknames of one formal name).
bool DirectNickname(const NormalizedRecord& a, const NormalizedRecord& b) {
  return Contains(b.given_groups, a.given_formal) || Contains(a.given_groups, b.given_formal);
}

// Given names: 1 disagree, 2 fuzzy (Jaro-Winkler >= 0.8, same NYSIIS, initial vs name, one is
// the other's middle name, or both are nicknames of one formal name), 3 close (JW >= 0.92, one
// edit, one a nickname of the other), 4 exact.
struct GivenComparison {
  int level = 0;
  bool spelled_alike = false;    // one edit, Jaro-Winkler >= 0.8, same NYSIIS, initial, or
                                 // scrambled letters (letter-multiset Dice >= 0.85)
  bool alike_for_twins = false;  // the same, but scrambled letters only at equal length
};

// Letter-based similarities of two names, sharing one pass over their letters.
struct NameSimilarity {
  double jw;    // Jaro-Winkler, or 0 when an upper bound shows it is below 0.8
  double dice;  // Dice similarity of the letter multisets (0 for names under 4 letters): high
                // for scrambled letters ("OEIVLR" / "OLIVER"), which Jaro-Winkler scores low
};

NameSimilarity Similarity(std::string_view a, std::string_view b) {
  if (a.size() > 64) a = a.substr(0, 64);
  if (b.size() > 64) b = b.substr(0, 64);
  uint8_t counts[32] = {};
  for (char c : a) ++counts[c & 31];
  int common = 0;  // characters in common (an upper bound on the Jaro matches)
  for (char c : b) {
    uint8_t& n = counts[c & 31];
    if (n > 0) {
      --n;
      ++common;
    }
  }
  const double la = static_cast<double>(a.size());
  const double lb = static_cast<double>(b.size());
  NameSimilarity out{0.0, 0.0};
  if (a.size() >= 4 && b.size() >= 4) out.dice = 2.0 * common / (la + lb);
  if (common == 0) return out;
  const double jaro_bound = (common / la + common / lb + 1.0) / 3.0;
  int prefix = 0;
  while (prefix < 4 && prefix < static_cast<int>(std::min(a.size(), b.size())) &&
         a[prefix] == b[prefix]) {
    ++prefix;
  }
  const double bound =
      jaro_bound <= 0.7 ? jaro_bound : jaro_bound + prefix * 0.1 * (1.0 - jaro_bound);
  if (bound >= 0.8) out.jw = JaroWinkler(a, b);
  return out;
}

GivenComparison CompareGiven(const NormalizedRecord& a, const NormalizedRecord& b) {
  if (a.given.empty() || b.given.empty()) return {0, false};
  if (a.given == b.given) return {4, true, true};
  const NameSimilarity sim = Similarity(a.given, b.given);
  const double jw = sim.jw;
  const bool one_edit = WithinOneEdit(a.given, b.given);
  const bool initial = (a.given.size() == 1 || b.given.size() == 1) && a.given[0] == b.given[0];
  const bool scrambled = sim.dice >= 0.85;
  const bool spelled = one_edit || jw >= 0.8 || a.given_nysiis == b.given_nysiis || initial;
  const bool alike = spelled || scrambled;
  // For twins (same birth date and family name) scrambled letters count as one name only at
  // equal length: a transposition keeps the length, while twins' names sharing most letters
  // (DANIEL / AIDEN, RONALD / LEONARD) do not.
  const bool alike_for_twins = spelled || (scrambled && a.given.size() == b.given.size());
  if (DirectNickname(a, b) || one_edit || jw >= 0.92) return {3, alike, alike_for_twins};
  if (alike || SharesGroup(a.given_groups, b.given_groups)) return {2, alike, alike_for_twins};
  if ((!b.middle.empty() && FirstToken(b.middle) == a.given) ||
      (!a.middle.empty() && FirstToken(a.middle) == b.given)) {
    return {2, false, false};
  }
  return {1, false, false};
}

// Name strings compared for swaps (given against family): 1 disagree, 2 fuzzy, 3 close, 4 exact.
int CompareNameStrings(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 4;
  const double jw = Similarity(a, b).jw;
  if (jw >= 0.92 || WithinOneEdit(a, b)) return 3;
  if (jw >= 0.8) return 2;
  return 1;
}

// True when every token of `small` occurs in `big` (compound / hyphenated names).
bool TokensContained(std::string_view small, std::string_view big) {
  size_t pos = 0;
  while (pos <= small.size()) {
    size_t end = small.find(' ', pos);
    if (end == std::string_view::npos) end = small.size();
    const std::string_view tok = small.substr(pos, end - pos);
    bool found = false;
    size_t p = 0;
    while (p <= big.size()) {
      size_t e = big.find(' ', p);
      if (e == std::string_view::npos) e = big.size();
      if (big.substr(p, e - p) == tok) {
        found = true;
        break;
      }
      p = e + 1;
    }
    if (!found) return false;
    pos = end + 1;
  }
  return true;
}

bool SharesToken(std::string_view a, std::string_view b) {
  size_t pos = 0;
  while (pos <= a.size()) {
    size_t end = a.find(' ', pos);
    if (end == std::string_view::npos) end = a.size();
    if (TokensContained(a.substr(pos, end - pos), b)) return true;
    pos = end + 1;
  }
  return false;
}

int CompareFamily(const NormalizedRecord& a, const NormalizedRecord& b) {
  if (a.family.empty() || b.family.empty()) return 0;
  if (a.family == b.family) return 4;
  if (WithinOneEdit(a.family, b.family)) return 3;
  const NameSimilarity sim = Similarity(a.family, b.family);
  const double jw = sim.jw;
  const bool compound =
      a.family.find(' ') != std::string::npos || b.family.find(' ') != std::string::npos;
  if (compound && (TokensContained(a.family, b.family) || TokensContained(b.family, a.family))) {
    return 3;
  }
  if (jw >= 0.92) return 3;
  if (jw >= 0.8 || a.family_nysiis == b.family_nysiis) return 2;
  if (compound && SharesToken(a.family, b.family)) return 2;
  if (sim.dice >= 0.85) return 2;
  return 1;
}

int CompareMiddle(const NormalizedRecord& a, const NormalizedRecord& b) {
  if (a.middle.empty() || b.middle.empty()) return 0;
  const std::string_view ma = FirstToken(a.middle);
  const std::string_view mb = FirstToken(b.middle);
  if (ma == mb || (ma.size() > 1 && mb.size() > 1 && JaroWinkler(ma, mb) >= 0.92)) return 3;
  if (ma[0] == mb[0]) return 2;
  return 1;
}

// True when two dates written as YYYYMMDD differ in exactly one digit or by one exchange of
// adjacent digits (19420704 / 19402704: the exchange crosses from year to month, so the parts
// compare as two of three wrong).
bool OneDigitApart(int32_t a, int32_t b) {
  if (a == b || a < 10000000 || b < 10000000 || a > 99999999 || b > 99999999) return false;
  int x[8];
  int y[8];
  for (int i = 7; i >= 0; --i, a /= 10, b /= 10) {
    x[i] = a % 10;
    y[i] = b % 10;
  }
  int first = 0;
  while (x[first] == y[first]) ++first;
  int last = 7;
  while (x[last] == y[last]) --last;
  if (first == last) return true;
  return last == first + 1 && x[first] == y[last] && x[last] == y[first];
}

int CompareBirthDate(const BirthDate& a, const BirthDate& b) {
  if (a.year == 0 || b.year == 0) return 0;
  int level = 1;
  if (a.month == 0 || b.month == 0) {
    level = a.year == b.year ? 2 : 1;
  } else {
    const bool y = a.year == b.year;
    const bool m = a.month == b.month;
    const bool d = a.day == b.day;
    if (y && m && d) return 5;
    if (y && a.month == b.day && a.day == b.month) return 4;
    if ((y && m) || (y && d) || (m && d)) return 3;
    if (y) level = 2;
  }
  return OneDigitApart(a.as_written, b.as_written) ? 3 : level;
}

int CompareSex(Sex a, Sex b) {
  if (a == Sex::kUnknown || b == Sex::kUnknown) return 0;
  return a == b ? 2 : 1;
}

double TokenJaccard(std::string_view a, std::string_view b) {
  int na = 0;
  int common = 0;
  size_t pos = 0;
  while (pos <= a.size()) {
    size_t end = a.find(' ', pos);
    if (end == std::string_view::npos) end = a.size();
    ++na;
    if (TokensContained(a.substr(pos, end - pos), b)) ++common;
    pos = end + 1;
  }
  const int nb = static_cast<int>(std::count(b.begin(), b.end(), ' ')) + 1;
  const int uni = na + nb - common;
  return uni == 0 ? 0.0 : static_cast<double>(common) / uni;
}

bool EqualIgnoringSpaces(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  while (true) {
    while (i < a.size() && a[i] == ' ') ++i;
    while (j < b.size() && b[j] == ' ') ++j;
    if (i == a.size() || j == b.size()) return i == a.size() && j == b.size();
    if (a[i] != b[j]) return false;
    ++i;
    ++j;
  }
}

// Address: 1 disagree, 2 fuzzy (token overlap or similar street), 3 close (same street,
// house number differs or missing on one side; or one typo in the street), 4 exact.
int CompareAddress(const NormalizedRecord& a, const NormalizedRecord& b) {
  if (a.address.empty() || b.address.empty()) {
    // A house number alone is not an address.
    return 0;
  }
  const bool numbers_known = !a.house_number.empty() && !b.house_number.empty();
  const bool numbers_equal = a.house_number == b.house_number;
  const bool street_equal = a.address == b.address || EqualIgnoringSpaces(a.address, b.address);
  if (street_equal && numbers_equal) return 4;
  if (street_equal) return numbers_known ? 2 : 3;
  const double jw = JaroWinklerAtLeast(a.address, b.address, 0.7);
  const bool close_street =
      jw >= 0.92 || (jw >= 0.7 && DamerauLevenshtein(a.address, b.address, 2) <= 2);
  if (close_street && (numbers_equal || !numbers_known)) return 3;
  if (close_street || jw >= 0.85 || TokenJaccard(a.address, b.address) >= 0.5) return 2;
  return 1;
}

int CompareCity(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 3;
  if (EqualIgnoringSpaces(a, b) || JaroWinklerAtLeast(a, b, 0.88) >= 0.88) return 2;
  return 1;
}

int CompareCode(std::string_view a, std::string_view b) {  // postal code, ssn
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 3;
  if (WithinOneEdit(a, b)) return 2;
  return 1;
}

int ComparePhone(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 3;
  if (a.size() >= 7 && b.size() >= 7 && a.substr(a.size() - 7) == b.substr(b.size() - 7)) {
    return 2;
  }
  if (WithinOneEdit(a, b)) return 2;
  return 1;
}

int CompareEmail(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  if (a == b) return 3;
  const std::string_view ua = a.substr(0, a.find('@'));
  const std::string_view ub = b.substr(0, b.find('@'));
  if (ua == ub || WithinOneEdit(a, b)) return 2;
  return 1;
}

int CompareSimple(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0;
  return a == b ? 2 : 1;
}

// Closer agreement must never be weaker evidence of a match: projects m so that the ratio
// m[l] / u[l] is non-decreasing in l (pool-adjacent-violators; each pool keeps its m mass and
// shares one ratio). Without this, EM over blocked pairs can settle on a "match" class that is
// really "shares the blocking key" (e.g. birth-date disagreement weighing for a match).
void MakeMonotone(int n, std::array<double, kMaxLevels>* m,
                  const std::array<double, kMaxLevels>& u) {
  struct Pool {
    int first;
    int last;
    double m;
    double u;
  };
  std::vector<Pool> pools;
  for (int l = 1; l < n; ++l) {
    pools.push_back({l, l, (*m)[l], std::max(u[l], kMinProbability)});
    while (pools.size() >= 2) {
      Pool& b = pools[pools.size() - 1];
      Pool& a = pools[pools.size() - 2];
      if (a.m / a.u <= b.m / b.u) break;
      a.last = b.last;
      a.m += b.m;
      a.u += b.u;
      pools.pop_back();
    }
  }
  for (const Pool& p : pools) {
    if (p.first == p.last) continue;
    for (int l = p.first; l <= p.last; ++l) (*m)[l] = std::max(u[l], kMinProbability) * p.m / p.u;
  }
}

}  // namespace

const char* FieldName(Field field) { return kFields[static_cast<int>(field)].name; }
int NumLevels(Field field) { return Levels(static_cast<int>(field)); }
const char* LevelName(Field field, int level) {
  if (level < 0 || level >= NumLevels(field)) return "?";
  return kFields[static_cast<int>(field)].levels[level];
}

std::string GuardNames(uint32_t guards) {
  std::string out;
  auto add = [&out](const char* name) {
    if (!out.empty()) out += '|';
    out += name;
  };
  if (guards & kGuardSsnConflict) add("ssn_conflict");
  if (guards & kGuardTwin) add("twin");
  if (guards & kGuardJuniorSenior) add("jr_sr");
  if (guards & kGuardHousehold) add("household");
  if (guards & kGuardNamesake) add("namesake");
  if (guards & kGuardGeneration) add("generation");
  return out;
}

Comparison Compare(const NormalizedRecord& a, const NormalizedRecord& b) {
  Comparison c;
  auto& l = c.level;
  const GivenComparison given_cmp = CompareGiven(a, b);
  int given = given_cmp.level;
  int family = CompareFamily(a, b);
  // Cheap gate first: a swap needs a first letter shared across.
  const bool cross_initial = (!a.given.empty() && !b.family.empty() && a.given[0] == b.family[0]) ||
                             (!a.family.empty() && !b.given.empty() && a.family[0] == b.given[0]);
  if (cross_initial && given <= 2 && family <= 2 && given + family >= 1) {
    // Given against family and back. When at least one name agrees closely only across, the
    // names were swapped (possibly with one of them also changed or missing). The stronger cross
    // level goes to the family field and the weaker to the given field, which keeps Compare
    // symmetric.
    const int s1 = CompareNameStrings(a.given, FirstToken(b.family));
    const int s2 = CompareNameStrings(FirstToken(a.family), b.given);
    const int hi = std::max(s1, s2);
    const int lo = std::min(s1, s2);
    if (hi >= 3 && hi + lo > given + family + 1) {
      given = lo;
      family = hi;
      c.names_swapped = true;
    }
  }
  l[static_cast<int>(Field::kGiven)] = static_cast<uint8_t>(given);
  l[static_cast<int>(Field::kFamily)] = static_cast<uint8_t>(family);
  l[static_cast<int>(Field::kMiddle)] = static_cast<uint8_t>(CompareMiddle(a, b));
  const int dob = CompareBirthDate(a.birth_date, b.birth_date);
  l[static_cast<int>(Field::kBirthDate)] = static_cast<uint8_t>(dob);
  l[static_cast<int>(Field::kSex)] = static_cast<uint8_t>(CompareSex(a.sex, b.sex));
  l[static_cast<int>(Field::kAddress)] = static_cast<uint8_t>(CompareAddress(a, b));
  l[static_cast<int>(Field::kCity)] = static_cast<uint8_t>(CompareCity(a.city, b.city));
  l[static_cast<int>(Field::kPostalCode)] =
      static_cast<uint8_t>(CompareCode(a.postal_code, b.postal_code));
  l[static_cast<int>(Field::kState)] = static_cast<uint8_t>(CompareSimple(a.state, b.state));
  l[static_cast<int>(Field::kPhone)] = static_cast<uint8_t>(ComparePhone(a.phone, b.phone));
  const int ssn = CompareCode(a.ssn, b.ssn);
  l[static_cast<int>(Field::kSsn)] = static_cast<uint8_t>(ssn);
  l[static_cast<int>(Field::kEmail)] = static_cast<uint8_t>(CompareEmail(a.email, b.email));

  // Guards.
  if (ssn == 1 && a.ssn_is_us && b.ssn_is_us) c.guards |= kGuardSsnConflict;
  // Twins and Jr/Sr share demographics but not identifiers: an agreeing identifier of at least
  // 7 digits (SSN / national id; one typo allowed, except between two valid US SSNs because
  // twins often get consecutive ones) lifts the demographic guards below (not the sex one).
  const bool same_identifier =
      a.ssn.size() >= 7 && (ssn == 3 || (ssn == 2 && !(a.ssn_is_us && b.ssn_is_us)));
  const bool sex_conflict = a.sex != Sex::kUnknown && b.sex != Sex::kUnknown && a.sex != b.sex;
  // Different given names: for a pair of different sexes, anything but exact or one a nickname
  // of the other (a one-letter variation between a brother and a sister is still two people);
  // when the family name agrees and sexes do not conflict, names not spelled alike (including
  // two nicknames of one formal name, or one's given name being the other's middle name), with
  // no identifier or e-mail (personal) agreeing. Twins may share a middle name.
  const bool email_agrees = l[static_cast<int>(Field::kEmail)] == 3;
  const bool personal_id_agrees = same_identifier || email_agrees;
  const bool names_unlike = given >= 1 && given <= 2 && !given_cmp.spelled_alike;
  // Given names that are similar but not equal (a nickname pair such as Elizabeth / Lisa, or
  // JOHN / JUAN) with disagreeing middle names are also two names.
  const bool similar_but_middle_differs =
      given >= 2 && given <= 3 && l[static_cast<int>(Field::kMiddle)] == 1;
  const bool twin_names_unlike = given >= 1 && given <= 2 && !given_cmp.alike_for_twins;
  const bool twin_names_differ = sex_conflict
                                     ? (given >= 1 && given <= 3 && !DirectNickname(a, b))
                                     : ((twin_names_unlike || similar_but_middle_differs) &&
                                        family >= 3 && !personal_id_agrees);
  if (dob >= 4 && twin_names_differ) c.guards |= kGuardTwin;
  // Household members (spouses, siblings, parent and child) share family name, address and
  // phone. Two people: given names not alike with a different sex or a birth date agreeing at
  // most on the year; or, at one address or phone, given names not alike with birth years that
  // differ (spouses born on the same day of the year), or merely similar or missing (a member
  // registered without a given name, "UNKNOWN") with birth dates that do not agree at all.
  const bool same_household =
      l[static_cast<int>(Field::kAddress)] >= 3 || l[static_cast<int>(Field::kPhone)] == 3;
  const bool years_differ = a.birth_date.year != b.birth_date.year;
  if (family >= 3 && !personal_id_agrees &&
      ((names_unlike && (sex_conflict || dob == 1 || dob == 2)) ||
       (names_unlike && dob == 3 && years_differ && same_household) ||
       (given <= 2 && dob == 1 && same_household))) {
    c.guards |= kGuardHousehold;
  }
  // Namesakes: the same name, birth dates that agree at most on the year, and living apart (every
  // address and phone present on both sides disagrees). An agreeing e-mail does not lift this:
  // addresses built from a common name are shared by strangers, and a family's by its members.
  const int address = l[static_cast<int>(Field::kAddress)];
  const int phone = l[static_cast<int>(Field::kPhone)];
  const bool live_apart = (address != 0 || phone != 0) && address <= 1 && phone <= 1;
  if (!same_identifier && given >= 3 && family >= 3 && (dob == 1 || dob == 2) && live_apart) {
    c.guards |= kGuardNamesake;
  }
  const bool suffix_conflict =
      a.suffix != NameSuffix::kNone && b.suffix != NameSuffix::kNone && a.suffix != b.suffix;
  if (suffix_conflict) c.guards |= kGuardJuniorSenior;
  // Same name, birth years >= 15 apart: a generation apart, unless the dates differ only by a
  // typo in the year (same month and day, one digit of the year changed).
  const BirthDate& da = a.birth_date;
  const BirthDate& db = b.birth_date;
  if (!same_identifier && given >= 3 && family >= 3 && da.year != 0 && db.year != 0 &&
      std::abs(da.year - db.year) >= 15) {
    const bool year_typo = da.month != 0 && da.month == db.month && da.day == db.day &&
                           WithinOneEdit(std::to_string(da.year), std::to_string(db.year));
    if (!year_typo) c.guards |= kGuardGeneration;
  }
  return c;
}

uint32_t OnlineGuards(const NormalizedRecord& a, const NormalizedRecord& b, const Comparison& c) {
  const auto& l = c.level;
  const int given = l[static_cast<int>(Field::kGiven)];
  const int family = l[static_cast<int>(Field::kFamily)];
  const int dob = l[static_cast<int>(Field::kBirthDate)];
  const bool same_household =
      l[static_cast<int>(Field::kAddress)] >= 3 || l[static_cast<int>(Field::kPhone)] == 3;
  const bool sex_conflict = a.sex != Sex::kUnknown && b.sex != Sex::kUnknown && a.sex != b.sex;
  // A missing given name counts only with different sexes (nothing else says who it is).
  if (family < 3 || !same_household || given > 3 || (given < 1 && !sex_conflict) ||
      (dob != 0 && !sex_conflict)) {
    return 0;
  }
  const int ssn = l[static_cast<int>(Field::kSsn)];
  const bool same_identifier =
      a.ssn.size() >= 7 && (ssn == 3 || (ssn == 2 && !(a.ssn_is_us && b.ssn_is_us)));
  if (same_identifier || l[static_cast<int>(Field::kEmail)] == 3) return 0;
  // Given names not alike and no birth date to tell the two apart.
  if (dob == 0 && given <= 2 && !c.names_swapped && !CompareGiven(a, b).spelled_alike) {
    return kGuardHousehold;
  }
  // Different sexes, given names merely similar (PATRICK / PATRICIA) or missing on one side,
  // not one a nickname of the other.
  if (sex_conflict && !DirectNickname(a, b)) return kGuardHousehold;
  return 0;
}

ModelParams Model::DefaultParams() {
  ModelParams p;
  for (int f = 0; f < kNumFields; ++f) {
    const int n = Levels(f);  // levels 1..n-1 are used
    const int k = n - 1;
    // m: most mass on exact, some on the level below; u: most mass on disagreement.
    for (int l = 1; l < n; ++l) {
      p.m[f][l] = l == n - 1 ? 0.8 : (0.2 / (k - 1));
      p.u[f][l] = l == 1 ? 0.9 : (0.1 / (k - 1));
    }
    if (k == 2) {  // agree/disagree fields
      p.m[f][1] = 0.1;
      p.m[f][2] = 0.9;
      p.u[f][1] = 0.7;
      p.u[f][2] = 0.3;
    }
  }
  p.lambda = 0.05;
  return p;
}

Model::Model(const ModelParams& params) : params_(params) {
  const double lambda = std::clamp(params.lambda, 1e-9, 1 - 1e-9);
  prior_ = std::log2(lambda / (1 - lambda));
  for (int f = 0; f < kNumFields; ++f) {
    weight_[f][0] = 0;
    for (int l = 1; l < Levels(f); ++l) {
      const double m = std::max(params.m[f][l], kMinProbability);
      const double u = std::max(params.u[f][l], kMinProbability);
      weight_[f][l] = std::log2(m / u);
    }
  }
  location_cap_ = 0;
  location_floor_ = 0;
  for (int f = 0; f < kNumFields; ++f) {
    if (!IsLocationField(f)) continue;
    location_cap_ = std::max(location_cap_, weight_[f][Levels(f) - 1]);
    location_floor_ = std::min(location_floor_, weight_[f][1]);
  }
}

double Model::FieldWeightOf(const NormalizedRecord& a, const NormalizedRecord& b, int f, int level,
                            bool* tf) const {
  const double base = weight_[f][level];
  *tf = false;
  if (level != Levels(f) - 1) return base;
  float freq = 0;
  switch (static_cast<Field>(f)) {
    case Field::kGiven:
      freq = std::max(a.given_freq, b.given_freq);
      break;
    case Field::kFamily:
      freq = std::max(a.family_freq, b.family_freq);
      break;
    case Field::kCity:
      freq = std::max(a.city_freq, b.city_freq);
      break;
    case Field::kPostalCode:
      freq = std::max(a.postal_freq, b.postal_freq);
      break;
    default:
      return base;
  }
  if (freq <= 0) return base;
  *tf = true;
  const double m = std::max(params_.m[f][level], kMinProbability);
  const double w = std::log2(m / std::max(static_cast<double>(freq), kMinProbability));
  return std::clamp(w, base - kMaxTfPenalty, base + kMaxTfBoost);
}

double Model::Score(const NormalizedRecord& a, const NormalizedRecord& b,
                    const Comparison& c) const {
  double person = prior_;
  double location = 0;
  bool tf = false;
  for (int f = 0; f < kNumFields; ++f) {
    const int level = c.level[f];
    if (level == 0) continue;
    const double w = FieldWeightOf(a, b, f, level, &tf);
    (IsLocationField(f) ? location : person) += w;
  }
  return person + std::clamp(location, location_floor_, LocationCap(c));
}

double Model::LocationCap(const Comparison& c) const {
  const bool other_home = c.level[static_cast<int>(Field::kAddress)] == 1 &&
                          c.level[static_cast<int>(Field::kPhone)] != NumLevels(Field::kPhone) - 1;
  return other_home ? std::min(location_cap_, kNeighbourhoodCap) : location_cap_;
}

Explanation Model::Explain(const NormalizedRecord& a, const NormalizedRecord& b,
                           const Comparison& c) const {
  Explanation e;
  e.prior = prior_;
  e.total = prior_;
  e.guards = c.guards;
  e.names_swapped = c.names_swapped;
  double location = 0;
  for (int f = 0; f < kNumFields; ++f) {
    const int level = c.level[f];
    if (level == 0) continue;
    FieldWeight fw{static_cast<Field>(f), level, 0, false};
    fw.weight = FieldWeightOf(a, b, f, level, &fw.tf_adjusted);
    e.total += fw.weight;
    if (IsLocationField(f)) location += fw.weight;
    e.fields.push_back(fw);
  }
  e.location_cap_adjustment = std::clamp(location, location_floor_, LocationCap(c)) - location;
  e.total += e.location_cap_adjustment;
  return e;
}

bool Model::IsLocationField(int f) {
  switch (static_cast<Field>(f)) {
    case Field::kAddress:
    case Field::kCity:
    case Field::kPostalCode:
    case Field::kState:
    case Field::kPhone:
      return true;
    default:
      return false;
  }
}

uint64_t PatternKey(const Comparison& c) {
  uint64_t key = 0;
  for (int f = 0; f < kNumFields; ++f) key |= static_cast<uint64_t>(c.level[f] & 7) << (3 * f);
  return key;
}

std::array<uint8_t, kNumFields> PatternLevels(uint64_t key) {
  std::array<uint8_t, kNumFields> l{};
  for (int f = 0; f < kNumFields; ++f) l[f] = static_cast<uint8_t>((key >> (3 * f)) & 7);
  return l;
}

EmResult RunEm(const std::vector<PatternCount>& patterns, const EmOptions& options,
               ModelParams* params) {
  EmResult result;
  std::vector<std::array<uint8_t, kNumFields>> levels;
  levels.reserve(patterns.size());
  double total = 0;
  for (const auto& p : patterns) {
    levels.push_back(PatternLevels(p.key));
    total += p.count;
  }
  if (total <= 0) return result;
  ModelParams& P = *params;
  const ModelParams defaults = Model::DefaultParams();
  constexpr double kPriorPairs = 10.0;
  for (int it = 0; it < options.max_iterations; ++it) {
    std::array<std::array<double, kMaxLevels>, kNumFields> m_acc{};
    std::array<std::array<double, kMaxLevels>, kNumFields> u_acc{};
    double match_mass = 0;
    for (size_t k = 0; k < patterns.size(); ++k) {
      double pm = P.lambda;
      double pu = 1 - P.lambda;
      for (int f = 0; f < kNumFields; ++f) {
        const int l = levels[k][f];
        if (l == 0) continue;
        pm *= std::max(P.m[f][l], kMinProbability);
        pu *= std::max(P.u[f][l], kMinProbability);
      }
      const double w = pm / (pm + pu);
      const double nm = patterns[k].count * w;
      const double nu = patterns[k].count - nm;
      match_mass += nm;
      for (int f = 0; f < kNumFields; ++f) {
        const int l = levels[k][f];
        if (l == 0) continue;
        m_acc[f][l] += nm;
        u_acc[f][l] += nu;
      }
    }
    double delta = 0;
    const double lambda = std::clamp(match_mass / total, 1e-9, 1 - 1e-9);
    delta = std::max(delta, std::abs(lambda - P.lambda));
    P.lambda = lambda;
    for (int f = 0; f < kNumFields; ++f) {
      const int n = Levels(f);
      double sm = 0;
      double su = 0;
      for (int l = 1; l < n; ++l) {
        sm += m_acc[f][l];
        su += u_acc[f][l];
      }
      if (sm <= 0) continue;  // field never observed: keep the starting values
      // A weak Dirichlet prior (kPriorPairs pseudo-pairs spread like the default m) keeps levels
      // that matches rarely show from getting m ~ 0, i.e. absurd negative weights.
      for (int l = 1; l < n; ++l) {
        const double m = (m_acc[f][l] + kPriorPairs * defaults.m[f][l]) / (sm + kPriorPairs);
        delta = std::max(delta, std::abs(m - P.m[f][l]));
        P.m[f][l] = m;
        if (options.estimate_u && su > 0) {
          const double u = u_acc[f][l] / su;
          delta = std::max(delta, std::abs(u - P.u[f][l]));
          P.u[f][l] = u;
        }
      }
    }
    for (int f = 0; f < kNumFields; ++f) MakeMonotone(Levels(f), &P.m[f], P.u[f]);
    result.iterations = it + 1;
    if (delta < options.tolerance) {
      result.converged = true;
      break;
    }
  }
  return result;
}

void EstimateU(const std::vector<Comparison>& random_pairs, ModelParams* params) {
  for (int f = 0; f < kNumFields; ++f) {
    const int n = Levels(f);
    std::array<double, kMaxLevels> counts{};
    double total = 0;
    for (const auto& c : random_pairs) {
      const int l = c.level[f];
      if (l == 0) continue;
      counts[l] += 1;
      total += 1;
    }
    if (total == 0) continue;
    // Laplace smoothing with a small pseudo-count keeps rare levels finite.
    const double alpha = 0.5;
    for (int l = 1; l < n; ++l) {
      params->u[f][l] = (counts[l] + alpha) / (total + alpha * (n - 1));
    }
  }
}

void FrequencyTable::Add(const NormalizedRecord& r) {
  ++total_;
  const std::string* values[4] = {&r.given, &r.family, &r.city, &r.postal_code};
  for (int i = 0; i < 4; ++i) {
    if (!values[i]->empty()) ++counts_[i][*values[i]];
  }
}

void FrequencyTable::Remove(const NormalizedRecord& r) {
  --total_;
  const std::string* values[4] = {&r.given, &r.family, &r.city, &r.postal_code};
  for (int i = 0; i < 4; ++i) {
    if (values[i]->empty()) continue;
    auto it = counts_[i].find(*values[i]);
    if (it != counts_[i].end() && --it->second <= 0) counts_[i].erase(it);
  }
}

void FrequencyTable::Annotate(NormalizedRecord* r) const {
  if (total_ <= 0) return;
  const std::string* values[4] = {&r->given, &r->family, &r->city, &r->postal_code};
  float* out[4] = {&r->given_freq, &r->family_freq, &r->city_freq, &r->postal_freq};
  for (int i = 0; i < 4; ++i) {
    if (values[i]->empty()) {
      *out[i] = 0;
      continue;
    }
    auto it = counts_[i].find(*values[i]);
    const int64_t n = it == counts_[i].end() ? 1 : std::max<int64_t>(it->second, 1);
    *out[i] = static_cast<float>(static_cast<double>(n) / static_cast<double>(total_));
  }
}

}  // namespace hie::mpi

namespace hie::mpi {

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kAutoLink:
      return "auto_link";
    case Decision::kReview:
      return "review";
    case Decision::kNew:
      return "new";
  }
  return "?";
}

Decision Decide(double score, uint32_t guards, const Thresholds& t) {
  if (guards != 0) {
    const bool two_reasons = (guards & (guards - 1)) != 0;
    return score >= t.review && !two_reasons ? Decision::kReview : Decision::kNew;
  }
  if (score >= t.auto_link) return Decision::kAutoLink;
  return score >= t.review ? Decision::kReview : Decision::kNew;
}

}  // namespace hie::mpi
