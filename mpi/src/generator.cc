#include "hie/mpi/generator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "generator_tables.h"

namespace hie::mpi {
namespace {

namespace t = gen_tables;

__extension__ typedef unsigned __int128 Uint128;

// xoshiro256** seeded through splitmix64: fixed, portable output for a given seed. Every
// statement below makes at most one call into it that could be reordered: the evaluation order of
// function arguments is unspecified, and GCC and Clang differ.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n); n > 0. (Lemire's multiply-shift; the tiny bias is irrelevant here.)
  uint64_t Below(uint64_t n) { return static_cast<uint64_t>((Uint128{Next()} * n) >> 64); }
  // Uniform in [lo, hi].
  int Between(int lo, int hi) { return lo + static_cast<int>(Below(hi - lo + 1)); }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Unit() < p; }
  template <typename T>
  const T& Of(std::span<const T> items) {
    return items[Below(items.size())];
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// A list in rank order with integer Zipf-like weights 1e6 / (rank + offset).
class Weighted {
 public:
  Weighted(std::span<const char* const> names, uint64_t offset) : names_(names) {
    uint64_t total = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      total += 1'000'000 / (i + 1 + offset);
      cum_.push_back(total);
    }
  }
  // Drawn from the `top` most common entries only (all when top == 0).
  const char* Pick(Rng& rng, size_t top = 0) const {
    const size_t n = top == 0 ? cum_.size() : std::min(top, cum_.size());
    const uint64_t x = rng.Below(cum_[n - 1]);
    return names_[std::upper_bound(cum_.begin(), cum_.begin() + n, x) - cum_.begin()];
  }
  std::span<const char* const> names() const { return names_; }

 private:
  std::span<const char* const> names_;
  std::vector<uint64_t> cum_;
};

struct Tables {
  // Offsets tuned so that Smith is about 0.9% of all persons, Garcia about 3% of Hispanic
  // persons and James about 3% of men, as in US census and SSA counts.
  Weighted family{t::FamilyNames(), 20};
  Weighted hispanic_family{t::HispanicFamilyNames(), 12};
  Weighted male{t::MaleGivenNames(), 10};
  Weighted female{t::FemaleGivenNames(), 10};
  Weighted hispanic_male{t::HispanicMaleGivenNames(), 8};
  Weighted hispanic_female{t::HispanicFemaleGivenNames(), 8};
  // Nguyễn about 25% of Vietnamese persons, Trần 13%, Lê 9%.
  Weighted vietnamese_family{t::VietnameseFamilyNames(), 0};
  Weighted vietnamese_male{t::VietnameseMaleGivenNames(), 4};
  Weighted vietnamese_female{t::VietnameseFemaleGivenNames(), 4};
  // formal -> nicknames and nickname -> formal names ("Robert" <-> "Bob")
  std::unordered_map<std::string_view, std::vector<const char*>> nicknames;
  // plain -> accented, for given/middle names and for family names
  std::unordered_map<std::string_view, const char*> accented_given, accented_family;
  std::vector<uint64_t> year_cum;  // birth years 1930..2024

  Tables() {
    for (const t::NicknamePair& p : t::Nicknames()) {
      nicknames[p.formal].push_back(p.nickname);
      nicknames[p.nickname].push_back(p.formal);
    }
    for (const t::AccentPair& p : t::GivenNameAccents()) accented_given[p.plain] = p.accented;
    for (const t::AccentPair& p : t::FamilyNameAccents()) accented_family[p.plain] = p.accented;
    uint64_t total = 0;
    for (int y = 1930; y <= 2024; ++y) {
      total += y < 1945 ? 2 : (y < 1990 ? 5 : 4);
      year_cum.push_back(total);
    }
  }

  bool NicknameRelated(std::string_view a, std::string_view b) const {
    for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
      auto it = nicknames.find(x);
      if (it == nicknames.end()) continue;
      for (const char* n : it->second) {
        if (y == n) return true;
      }
    }
    return false;
  }
};

const Tables& GetTables() {
  static const Tables* const tables = new Tables();
  return *tables;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysIn(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

std::string Pad(uint64_t v, int width) {
  std::string s = absl::StrCat(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, width - s.size(), '0');
  return s;
}

// --- Text helpers (UTF-8 aware for the Latin-1 letters the tables use) ---------------------------

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The code point at s[i] and its length in bytes. Bytes that do not start a well-formed 1- to
// 3-byte sequence come back as kNoLetter, one byte long.
constexpr uint32_t kNoLetter = 0xFFFFFFFF;

std::pair<uint32_t, size_t> DecodeAt(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto cont = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  const unsigned char c = byte(i);
  if (c < 0x80) return {c, 1};
  if (c >= 0xC2 && c <= 0xDF && cont(i + 1)) return {((c & 0x1Fu) << 6) | (byte(i + 1) & 0x3F), 2};
  if (c >= 0xE0 && c <= 0xEF && cont(i + 1) && cont(i + 2)) {
    return {((c & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3F), 3};
  }
  return {kNoLetter, 1};
}

// Overwrites the `len`-byte sequence at s[i] with `cp`, which must encode to `len` bytes too.
void EncodeAt(std::string& s, size_t i, uint32_t cp, size_t len) {
  if (len == 1) {
    s[i] = static_cast<char>(cp);
  } else if (len == 2) {
    s[i] = static_cast<char>(0xC0 | (cp >> 6));
    s[i + 1] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s[i] = static_cast<char>(0xE0 | (cp >> 12));
    s[i + 1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s[i + 2] = static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// `c` in upper or lower case: ASCII, Latin-1 (not ß, ÿ, ×, ÷) and the letters of Latin
// Extended-A/B and Latin Extended Additional that Vietnamese uses. Anything else is returned as is.
// Every mapping keeps the UTF-8 length.
uint32_t CaseOf(uint32_t c, bool upper) {
  if (c < 0x80) {
    if (upper && c >= 'a' && c <= 'z') return c - 32;
    if (!upper && c >= 'A' && c <= 'Z') return c + 32;
    return c;
  }
  if (c >= 0xC0 && c <= 0xFE) {
    if (upper && c >= 0xE0 && c != 0xF7) return c - 0x20;
    if (!upper && c <= 0xDE && c != 0xD7) return c + 0x20;
    return c;
  }
  if (c == 0x1AF || c == 0x1B0) return upper ? 0x1AF : 0x1B0;  // Ư ư
  const bool even_upper = (c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177) || c == 0x1A0 ||
                          c == 0x1A1 || (c >= 0x1EA0 && c <= 0x1EF9);
  if (!even_upper) return c;
  return upper ? (c & ~1u) : (c | 1u);
}

bool IsCased(uint32_t c) { return CaseOf(c, true) != c || CaseOf(c, false) != c; }

void SetCase(std::string& s, bool upper) {
  for (size_t i = 0; i < s.size();) {
    const auto [cp, len] = DecodeAt(s, i);
    if (const uint32_t to = CaseOf(cp, upper); to != cp) EncodeAt(s, i, to, len);
    i += len;
  }
}

void ToUpper(std::string& s) { SetCase(s, true); }
void ToLower(std::string& s) { SetCase(s, false); }

// First letter of each space-, hyphen- or apostrophe-separated token upper case, the rest lower.
void ToTitle(std::string& s) {
  bool start = true;
  for (size_t i = 0; i < s.size();) {
    const auto [cp, len] = DecodeAt(s, i);
    if (const uint32_t to = CaseOf(cp, start); to != cp) EncodeAt(s, i, to, len);
    start = cp == ' ' || cp == '-' || cp == '\'';
    i += len;
  }
}

// Each letter upper or lower case at random ("GaRcIa").
void ToMixed(std::string& s, Rng& rng) {
  for (size_t i = 0; i < s.size();) {
    const auto [cp, len] = DecodeAt(s, i);
    if (IsCased(cp)) {
      if (const uint32_t to = CaseOf(cp, rng.Chance(0.5)); to != cp) EncodeAt(s, i, to, len);
    }
    i += len;
  }
}

// The plain ASCII letter under a letter with diacritics (Latin-1 and the Vietnamese letters), or 0.
char BaseLetter(uint32_t c) {
  static constexpr std::string_view kLatin1 =  // U+00C0..U+00FF, '.' for none
      "AAAAAA.CEEEEIIIIDNOOOOO.OUUUUY..aaaaaa.ceeeeiiiidnooooo.ouuuuy.y";
  char base = 0;
  if (c >= 0xC0 && c <= 0xFF) {
    base = kLatin1[c - 0xC0];
  } else if (c == 0x102 || c == 0x103) {
    base = 'A';
  } else if (c == 0x110 || c == 0x111) {
    base = 'D';
  } else if (c == 0x128 || c == 0x129) {
    base = 'I';
  } else if (c == 0x168 || c == 0x169 || c == 0x1AF || c == 0x1B0) {
    base = 'U';
  } else if (c == 0x1A0 || c == 0x1A1) {
    base = 'O';
  } else if (c >= 0x1EA0 && c <= 0x1EF9) {
    base = c <= 0x1EB7   ? 'A'
           : c <= 0x1EC7 ? 'E'
           : c <= 0x1ECB ? 'I'
           : c <= 0x1EE3 ? 'O'
           : c <= 0x1EF1 ? 'U'
                         : 'Y';
  }
  if (base == '.' || base == 0) return 0;
  if (c >= 0x100 && base >= 'A' && base <= 'Z' && CaseOf(c, false) == c) base += 32;
  return base;
}

// `s` with the diacritics of its Latin letters dropped ("Nguyễn Thị Ánh" -> "Nguyen Thi Anh").
std::string FoldDiacritics(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto [cp, len] = DecodeAt(s, i);
    if (const char base = BaseLetter(cp); base != 0) {
      out.push_back(base);
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  return out;
}

// Bytes of the first character of `s` (1 for ASCII).
size_t FirstCharLength(const std::string& s) { return s.empty() ? 0 : DecodeAt(s, 0).second; }

// Replaces each space- or hyphen-separated token that has an accented spelling.
std::string Accent(const std::string& s, bool family) {
  const auto& accented = family ? GetTables().accented_family : GetTables().accented_given;
  std::string out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of(" -", start);
    if (end == std::string::npos) end = s.size();
    std::string_view token(s.data() + start, end - start);
    auto it = accented.find(token);
    out.append(it == accented.end() ? token : std::string_view(it->second));
    if (end < s.size()) out.push_back(s[end]);
    start = end + 1;
  }
  return out;
}

bool HasAccentable(const std::string& s, bool family) { return Accent(s, family) != s; }

std::string EmailPart(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (IsAsciiAlpha(c)) out.push_back(static_cast<char>(c | 0x20));
  }
  return out;
}

// Keys next to `c` on a QWERTY keyboard (letters lower case; digits on the number row).
std::string_view Neighbours(char c) {
  static constexpr std::string_view kLetters[26] = {
      "qwsz",   "vghn",  "xdfv", "serfcx", "wrsd", "drtgvc", "ftyhbv", "gyujnb", "uojk",
      "huikmn", "jiolm", "kop",  "njk",    "bhjm", "ipkl",   "ol",     "wa",     "etdf",
      "awedxz", "ryfg",  "yihj", "cfgb",   "qeas", "zsdc",   "tugh",   "asx"};
  static constexpr std::string_view kDigits[10] = {"9",  "2",  "13", "24", "35",
                                                   "46", "57", "68", "79", "80"};
  if (IsDigit(c)) return kDigits[c - '0'];
  if (IsAsciiAlpha(c)) return kLetters[(c | 0x20) - 'a'];
  return {};
}

char NeighbourOf(char c, Rng& rng) {
  std::string_view n = Neighbours(c);
  if (n.empty()) return c;
  char r = n[rng.Below(n.size())];
  return (c >= 'A' && c <= 'Z' && r >= 'a' && r <= 'z') ? static_cast<char>(r - 32) : r;
}

// One keyboard typo at an ASCII letter (or digit, if `digits`) position. Returns false if the
// string has no such position.
bool Typo(std::string& s, Rng& rng, bool digits) {
  auto ok = [&](size_t i) { return i < s.size() && (digits ? IsDigit(s[i]) : IsAsciiAlpha(s[i])); };
  std::vector<size_t> positions;
  for (size_t i = 0; i < s.size(); ++i) {
    if (ok(i)) positions.push_back(i);
  }
  if (positions.empty()) return false;
  const std::string before = s;
  for (int attempt = 0; attempt < 4 && s == before; ++attempt) {
    const size_t i = positions[rng.Below(positions.size())];
    switch (digits ? rng.Between(0, 1) * 3 : rng.Between(0, 3)) {
      case 0:  // substitution by a neighbouring key
        s[i] = NeighbourOf(s[i], rng);
        break;
      case 1: {  // insertion of a neighbouring key (fat finger), before or after
        const char key = NeighbourOf(s[i], rng);
        s.insert(s.begin() + i + rng.Below(2), key);
        break;
      }
      case 2:  // deletion (never empties the string)
        if (positions.size() > 1) s.erase(i, 1);
        break;
      default:  // transposition with the next character
        if (ok(i + 1)) std::swap(s[i], s[i + 1]);
        break;
    }
  }
  if (s == before) {
    const size_t i = positions[rng.Below(positions.size())];
    s[i] = NeighbourOf(s[i], rng);
  }
  return s != before;
}

// --- Persons ------------------------------------------------------------------------------------

struct Person {
  // Names are plain ASCII Title case, except for Vietnamese persons: theirs are spelled with
  // diacritics, which Render drops when `accented` is false.
  std::string given;
  std::string middle;            // may be empty
  std::string family;            // may be compound ("Garcia Lopez") or hyphenated ("Smith-Jones")
  std::string suffix;            // "Jr", "Sr", "II", "III" or empty
  bool suffix_recorded = false;  // the original record carries the suffix
  bool suffix_in_family = true;  // ... in the family field (else in the given field)
  bool accented = false;         // accentable names are spelled with accents
  bool hispanic = false;
  bool vietnamese = false;
  char sex = 'F';
  int year = 1980, month = 1, day = 1;
  std::string street;  // "123 Maple St"
  std::string unit;    // "Apt 4B" or empty
  int city = 0;        // index into Cities()
  std::string zip;     // 5 digits
  std::string phone;   // 10 digits or empty
  std::string email;
  std::string ssn;  // 9 digits or empty
};

struct Constraints {
  char sex = 0;  // 0: any
  int min_year = 1930;
  int max_year = 2024;
  bool common_name = false;
};

// The options that change how persons are made (all off by default).
struct Habits {
  double vietnamese_share = 0;
  double particle_rate = 0;
  int namesake_window = 0;
};

class PersonFactory {
 public:
  PersonFactory(Rng& rng, uint64_t seed, const Habits& habits)
      : rng_(rng), tables_(GetTables()), habits_(habits) {
    Rng key_rng(seed ^ 0x55aa55aa12345678ULL);
    for (uint64_t& k : ssn_keys_) k = key_rng.Next();
  }

  std::string Given(char sex, bool hispanic, size_t top = 0) {
    if (hispanic && top == 0 && rng_.Chance(0.6)) {
      return (sex == 'M' ? tables_.hispanic_male : tables_.hispanic_female).Pick(rng_);
    }
    return (sex == 'M' ? tables_.male : tables_.female).Pick(rng_, top);
  }

  std::string OtherGiven(char sex, bool hispanic, const std::string& avoid) {
    for (;;) {
      std::string g = Given(sex, hispanic);
      if (g != avoid && !tables_.NicknameRelated(g, avoid)) return g;
    }
  }

  std::string Middle(char sex, bool hispanic, const std::string& given) {
    if (!rng_.Chance(0.75)) return "";
    return OtherGiven(sex, hispanic, given);
  }

  std::string VietnameseGiven(char sex, size_t top = 0) {
    return (sex == 'M' ? tables_.vietnamese_male : tables_.vietnamese_female).Pick(rng_, top);
  }

  // A given name of p's sex and origin other than `avoid` (and no nickname of it).
  std::string OtherGivenFor(const Person& p, const std::string& avoid) {
    if (!p.vietnamese) return OtherGiven(p.sex, p.hispanic, avoid);
    for (;;) {
      std::string g = VietnameseGiven(p.sex);
      if (g != avoid) return g;
    }
  }

  // A middle name (or none) of p's sex and origin that differs from `given`. A Vietnamese
  // two-syllable given name usually holds the middle syllable already ("Thị Mai").
  std::string MiddleFor(const Person& p, const std::string& given) {
    if (!p.vietnamese) return Middle(p.sex, p.hispanic, given);
    if (!rng_.Chance(given.find(' ') == std::string::npos ? 0.8 : 0.3)) return "";
    for (;;) {
      std::string m =
          rng_.Of(p.sex == 'M' ? t::VietnameseMaleMiddleNames() : t::VietnameseFemaleMiddleNames());
      if (m != given && given.rfind(m + " ", 0) != 0) return m;
    }
  }

  std::string Family(bool hispanic) {
    if (hispanic) {
      std::string f = tables_.hispanic_family.Pick(rng_);
      if (rng_.Chance(0.35)) {
        std::string second = tables_.hispanic_family.Pick(rng_);
        if (second != f) {
          std::string sep = rng_.Chance(0.85) ? " " : "-";
          // "Abrego de Castellanos"
          if (sep == " " && habits_.particle_rate > 0 && rng_.Chance(habits_.particle_rate)) {
            sep = absl::StrCat(" ", rng_.Of(t::SurnameParticles()), " ");
          }
          f = absl::StrCat(f, sep, second);
        }
      }
      return f;
    }
    std::string f;
    if (rng_.Chance(0.3)) {  // the long tail: a synthetic rare surname
      f = rng_.Of(t::RareSurnamePrefixes());
      f += rng_.Of(t::RareSurnameSuffixes());
    } else {
      f = tables_.family.Pick(rng_);
    }
    if (rng_.Chance(0.025)) {
      std::string second = tables_.family.Pick(rng_);
      if (second != f) f = absl::StrCat(f, "-", second);
    }
    return f;
  }

  void BirthDate(Person& p, int min_year, int max_year) {
    const std::vector<uint64_t>& cum = tables_.year_cum;
    const uint64_t lo = min_year > 1930 ? cum[min_year - 1931] : 0;
    const uint64_t x = lo + rng_.Below(cum[max_year - 1930] - lo);
    p.year = 1930 + static_cast<int>(std::upper_bound(cum.begin(), cum.end(), x) - cum.begin());
    p.month = rng_.Between(1, 12);
    p.day = rng_.Between(1, DaysIn(p.year, p.month));
  }

  void Address(Person& p) {
    const int r = rng_.Between(0, 99);
    const int number = r < 20   ? rng_.Between(1, 99)
                       : r < 60 ? rng_.Between(100, 999)
                       : r < 95 ? rng_.Between(1000, 9999)
                                : rng_.Between(10000, 29999);
    const char* street_name = rng_.Of(t::StreetNames());
    p.street = absl::StrCat(number, " ", street_name, " ", rng_.Of(t::StreetTypes()));
    p.unit.clear();
    if (rng_.Chance(0.18)) {
      const int u = rng_.Between(1, 40);
      switch (rng_.Between(0, 3)) {
        case 0:
          p.unit = absl::StrCat("Apt ", u);
          break;
        case 1:
          p.unit = absl::StrCat("Apt ", u, std::string(1, 'A' + rng_.Between(0, 3)));
          break;
        case 2:
          p.unit = absl::StrCat("Unit ", u * 10 + rng_.Between(0, 9));
          break;
        default:
          p.unit = absl::StrCat("#", u);
          break;
      }
    }
  }

  void Place(Person& p, bool new_city) {
    if (new_city) p.city = static_cast<int>(rng_.Below(t::Cities().size()));
    Address(p);
    p.zip = absl::StrCat(t::Cities()[p.city].zip3, Pad(rng_.Between(1, 99), 2));
  }

  std::string Phone(int city) {
    const int exchange = rng_.Between(200, 999);
    return absl::StrCat(t::Cities()[city].area_code, exchange, Pad(rng_.Below(10000), 4));
  }

  std::string Email(const Person& p) {
    const std::string g = EmailPart(p.vietnamese ? FoldDiacritics(p.given) : p.given);
    const std::string f = EmailPart(p.vietnamese ? FoldDiacritics(p.family) : p.family);
    std::string local;
    switch (rng_.Between(0, 5)) {
      case 0:
        local = absl::StrCat(g, ".", f);
        break;
      case 1:
        local = absl::StrCat(g.substr(0, 1), f);
        break;
      case 2:
        local = absl::StrCat(g, f, rng_.Between(1, 99));
        break;
      case 3:
        local = absl::StrCat(f, ".", g);
        break;
      case 4:
        local = absl::StrCat(g, "_", f, Pad(p.year % 100, 2));
        break;
      default:
        local = absl::StrCat(g, rng_.Between(100, 999));
        break;
    }
    return absl::StrCat(local, "@", rng_.Of(t::EmailDomains()));
  }

  // SSNs are a keyed permutation of the slot number over the valid SSN space (a 30-bit Feistel
  // network with cycle walking), so different slots never share one and neighbours look unrelated.
  std::string Ssn(uint64_t slot) {
    uint64_t v = slot % kSsnSpace;
    do {
      uint64_t left = v >> 15, right = v & 0x7fff;
      for (uint64_t key : ssn_keys_) {
        uint64_t f = (right + key) * 0x9e3779b97f4a7c15ULL;
        f ^= f >> 29;
        left = std::exchange(right, left ^ (f & 0x7fff));
      }
      v = (left << 15) | right;
    } while (v >= kSsnSpace);
    const uint64_t serial = v % 9999 + 1;
    v /= 9999;
    const uint64_t group = v % 99 + 1;
    uint64_t area = v / 99 + 1;  // 1..898, skipping 666
    if (area >= 666) ++area;
    return absl::StrCat(Pad(area, 3), Pad(group, 2), Pad(serial, 4));
  }

  // `slot` is unique per person (the SSN slot).
  Person Make(uint64_t slot, const Constraints& c = {}) {
    Person p;
    p.sex = c.sex != 0 ? c.sex : (rng_.Chance(0.51) ? 'F' : 'M');
    p.vietnamese = habits_.vietnamese_share > 0 && rng_.Chance(habits_.vietnamese_share);
    p.hispanic = !p.vietnamese && !c.common_name && rng_.Chance(0.18);
    if (p.vietnamese) {
      p.given = VietnameseGiven(p.sex, c.common_name ? 8 : 0);
      p.family = tables_.vietnamese_family.Pick(rng_, c.common_name ? 4 : 0);
    } else if (c.common_name) {
      p.given = Given(p.sex, false, 15);
      p.family = tables_.family.Pick(rng_, 20);
    } else {
      p.given = Given(p.sex, p.hispanic);
      p.family = Family(p.hispanic);
    }
    p.middle = MiddleFor(p, p.given);
    p.accented = rng_.Chance(p.vietnamese ? 0.85 : (p.hispanic ? 0.35 : 0.2));
    BirthDate(p, c.min_year, c.max_year);
    if (p.sex == 'M' && rng_.Chance(0.02)) SetSuffix(p, rng_.Chance(0.7) ? "Jr" : "III");
    Place(p, true);
    if (rng_.Chance(0.92)) p.phone = Phone(p.city);
    if (rng_.Chance(p.year > 2010 ? 0.2 : 0.6)) p.email = Email(p);
    if (rng_.Chance(0.65)) p.ssn = Ssn(slot);
    return p;
  }

  void SetSuffix(Person& p, std::string suffix) {
    p.suffix = std::move(suffix);
    p.suffix_recorded = !p.suffix.empty() && rng_.Chance(0.5);
    p.suffix_in_family = rng_.Chance(0.75);
  }

  Rng& rng() { return rng_; }
  const Tables& tables() const { return tables_; }
  const Habits& habits() const { return habits_; }

 private:
  static constexpr uint64_t kSsnSpace = 898ULL * 99 * 9999;

  Rng& rng_;
  const Tables& tables_;
  Habits habits_;
  uint64_t ssn_keys_[4] = {};
};

// --- Rendering ----------------------------------------------------------------------------------

struct Style {
  int date = 0;   // 0 YYYY-MM-DD, 1 MM/DD/YYYY, 2 YYYYMMDD, 3 M/D/YYYY
  int phone = 0;  // 0 206-555-0100, 1 (206) 555-0100, 2 2065550100, 3 206.555.0100, 4 +1 ...
  int sex = 0;    // 0 M/F, 1 Male/Female, 2 male/female, 3 m/f
  bool ssn_plain = false;
};

std::string FormatDate(int y, int m, int d, int style) {
  switch (style) {
    case 1:
      return absl::StrCat(Pad(m, 2), "/", Pad(d, 2), "/", Pad(y, 4));
    case 2:
      return absl::StrCat(Pad(y, 4), Pad(m, 2), Pad(d, 2));
    case 3:
      return absl::StrCat(m, "/", d, "/", Pad(y, 4));
    default:
      return absl::StrCat(Pad(y, 4), "-", Pad(m, 2), "-", Pad(d, 2));
  }
}

std::string FormatPhone(const std::string& p, int style) {
  if (p.size() != 10) return p;
  const std::string a = p.substr(0, 3), b = p.substr(3, 3), c = p.substr(6);
  switch (style) {
    case 1:
      return absl::StrCat("(", a, ") ", b, "-", c);
    case 2:
      return p;
    case 3:
      return absl::StrCat(a, ".", b, ".", c);
    case 4:
      return absl::StrCat("+1 ", a, " ", b, " ", c);
    default:
      return absl::StrCat(a, "-", b, "-", c);
  }
}

std::string FormatSsn(const std::string& s, bool plain) {
  if (s.size() != 9 || plain) return s;
  return absl::StrCat(s.substr(0, 3), "-", s.substr(3, 2), "-", s.substr(5));
}

std::string FormatSex(char sex, int style) {
  const bool m = sex == 'M';
  switch (style) {
    case 1:
      return m ? "Male" : "Female";
    case 2:
      return m ? "male" : "female";
    case 3:
      return m ? "m" : "f";
    default:
      return m ? "M" : "F";
  }
}

// A name of p as written: with or without its accents / diacritics.
std::string Spelled(const Person& p, const std::string& name, bool family) {
  if (p.vietnamese) return p.accented ? name : FoldDiacritics(name);
  return p.accented ? Accent(name, family) : name;
}

bool Accentable(const Person& p) {
  if (p.vietnamese) {
    const std::string names = absl::StrCat(p.given, p.middle, p.family);
    return FoldDiacritics(names) != names;
  }
  return HasAccentable(p.given, false) || HasAccentable(p.middle, false) ||
         HasAccentable(p.family, true);
}

// Drops the particle of a family name ("Abrego de Castellanos" -> "Abrego Castellanos").
bool DropParticle(std::string& family) {
  for (const char* particle : {" de la ", " del ", " de ", " y "}) {
    if (size_t at = family.find(particle); at != std::string::npos) {
      family.replace(at, std::string_view(particle).size(), " ");
      return true;
    }
  }
  return false;
}

Record Render(const Person& p, const Style& style) {
  Record r;
  r.given_name = Spelled(p, p.given, false);
  r.middle_name = Spelled(p, p.middle, false);
  r.family_name = Spelled(p, p.family, true);
  if (p.suffix_recorded && !p.suffix.empty()) {
    std::string& field = p.suffix_in_family ? r.family_name : r.given_name;
    absl::StrAppend(&field, " ", p.suffix);
  }
  r.sex = FormatSex(p.sex, style.sex);
  r.birth_date = FormatDate(p.year, p.month, p.day, style.date);
  r.address_line = p.unit.empty() ? p.street : absl::StrCat(p.street, " ", p.unit);
  const t::City& city = t::Cities()[p.city];
  r.city = city.name;
  r.state = city.state;
  r.postal_code = p.zip;
  r.phone = FormatPhone(p.phone, style.phone);
  r.email = p.email;
  r.ssn = FormatSsn(p.ssn, style.ssn_plain);
  return r;
}

// --- Errors -------------------------------------------------------------------------------------

class ErrorMaker {
 public:
  ErrorMaker(PersonFactory& factory, double rate, double mixed_case_rate)
      : f_(factory),
        rng_(factory.rng()),
        rate_(std::max(0.0, rate)),
        mixed_case_rate_(std::max(0.0, mixed_case_rate)) {}

  // Applies errors to a copy of `p` and renders it. Sets `errors`. (The order of the steps is the
  // order of the draws from the PRNG, so it is part of the output.)
  Record Duplicate(const Person& p, uint32_t& errors) {
    errors = 0;
    Person q = p;
    NameErrors(q, errors);
    DateErrors(q, errors);
    Style style;
    if (Hit(0.3)) {
      style.date = rng_.Between(1, 3);
      style.phone = rng_.Between(1, 4);
      style.sex = rng_.Between(1, 3);
      style.ssn_plain = rng_.Chance(0.5);
      Mark(errors, ErrorKind::kFormatVariation);
    }
    Record r = Render(q, style);
    if (Hit(q.vietnamese ? 0.10 : 0.02)) {
      std::swap(r.given_name, r.family_name);
      Mark(errors, ErrorKind::kNameSwap);
    }
    CaseErrors(r, errors);
    TypoErrors(r, errors);
    BlankErrors(r, style, errors);
    return r;
  }

 private:
  static void Mark(uint32_t& errors, ErrorKind k) { errors |= 1u << static_cast<int>(k); }

  // Moves, marriages, nicknames, middle names, name formats and accents, on the person.
  void NameErrors(Person& q, uint32_t& errors) {
    if (Hit(0.12)) {  // move
      f_.Place(q, rng_.Chance(0.6));
      if (!q.phone.empty() || rng_.Chance(0.5)) q.phone = f_.Phone(q.city);
      Mark(errors, ErrorKind::kMove);
    }
    bool married = false;
    if (q.sex == 'F' && q.year < 2006 && Hit(0.06)) {
      std::string other = f_.Family(false);
      if (other != q.family) {
        q.family = rng_.Chance(0.25) ? absl::StrCat(q.family, "-", other) : other;
        q.suffix.clear();
        married = true;
        Mark(errors, ErrorKind::kFamilyNameChange);
      }
    }
    if (auto it = f_.tables().nicknames.find(q.given);
        it != f_.tables().nicknames.end() && Hit(0.12)) {
      q.given = it->second[rng_.Below(it->second.size())];
      Mark(errors, ErrorKind::kNickname);
    }
    if (!q.middle.empty()) {
      if (Hit(0.04)) {
        q.given = absl::StrCat(q.given, " ", q.middle);
        q.middle.clear();
        Mark(errors, ErrorKind::kMiddleInGiven);
      } else if (q.middle.size() > 1 && Hit(0.08)) {
        q.middle.resize(FirstCharLength(q.middle));
        Mark(errors, ErrorKind::kMiddleInitial);
      }
    }
    const size_t sep = q.family.find_first_of(" -");
    // (Not after a marriage: dropping the new second name would undo it.)
    if ((sep != std::string::npos || !q.suffix.empty()) && !married && Hit(0.3)) {
      if (!q.suffix.empty() && (sep == std::string::npos || rng_.Chance(0.5))) {
        q.suffix_recorded = !q.suffix_recorded;
      } else if (rng_.Chance(0.5)) {
        q.family.resize(sep);  // second surname dropped
      } else if (!DropParticle(q.family)) {
        q.family[sep] = q.family[sep] == ' ' ? '-' : ' ';
      }
      Mark(errors, ErrorKind::kNameFormatVariation);
    }
    if (Accentable(q) && Hit(q.vietnamese ? 0.5 : 0.3)) {
      q.accented = !q.accented;
      Mark(errors, ErrorKind::kAccentVariation);
    }
  }

  void DateErrors(Person& q, uint32_t& errors) {
    if (q.day <= 12 && q.day != q.month && Hit(0.04)) {
      std::swap(q.day, q.month);
      Mark(errors, ErrorKind::kDayMonthSwap);
    }
    if (Hit(0.02)) {
      const int dim = DaysIn(q.year, q.month);
      q.day = q.day == 1 ? 2 : (q.day == dim ? dim - 1 : q.day + (rng_.Chance(0.5) ? 1 : -1));
      Mark(errors, ErrorKind::kDayOffByOne);
    }
    if (Hit(0.02)) {
      const int scale = rng_.Chance(0.3) ? 10 : 1;  // last digit, sometimes the tens digit
      const int digit = q.year / scale % 10;
      const int changed = rng_.Chance(0.6) ? (digit + (rng_.Chance(0.5) ? 1 : 9)) % 10
                                           : (digit + rng_.Between(1, 9)) % 10;
      q.year += (changed - digit) * scale;
      q.day = std::min(q.day, DaysIn(q.year, q.month));
      Mark(errors, ErrorKind::kYearDigit);
    }
  }

  void CaseErrors(Record& r, uint32_t& errors) {
    const std::initializer_list<std::string*> fields = {&r.given_name, &r.middle_name,
                                                        &r.family_name, &r.address_line, &r.city};
    if (Hit(0.15)) {
      if (rng_.Chance(0.6)) {
        for (std::string* s : fields) ToUpper(*s);
      } else {
        for (std::string* s : {&r.given_name, &r.middle_name, &r.family_name}) ToLower(*s);
      }
      Mark(errors, ErrorKind::kCaseVariation);
    } else if (mixed_case_rate_ > 0 && Hit(mixed_case_rate_)) {
      const int style = rng_.Between(0, 19);  // UPPER 8, Title 5, MiXeD 4, lower 3 in 20
      bool changed = false;
      for (std::string* s : fields) {
        const std::string before = *s;
        if (style < 8) {
          ToUpper(*s);
        } else if (style < 13) {
          ToTitle(*s);
        } else if (style < 17) {
          ToMixed(*s, rng_);
        } else {
          ToLower(*s);
        }
        changed |= *s != before;
      }
      if (changed) Mark(errors, ErrorKind::kCaseVariation);
    }
  }

  void TypoErrors(Record& r, uint32_t& errors) {
    bool typo = false;
    typo |= Hit(0.05) && Typo(r.given_name, rng_, false);
    typo |= Hit(0.05) && Typo(r.family_name, rng_, false);
    typo |= Hit(0.03) && Typo(r.address_line, rng_, false);
    typo |= Hit(0.02) && Typo(r.city, rng_, false);
    typo |= Hit(0.01) && Typo(r.email, rng_, false);
    typo |= Hit(0.01) && Typo(r.phone, rng_, true);
    typo |= Hit(0.01) && Typo(r.ssn, rng_, true);
    typo |= r.sex.size() > 1 && Hit(0.01) && Typo(r.sex, rng_, false);  // "Femalw"
    if (typo) Mark(errors, ErrorKind::kTypo);
  }

  // Placeholders, then missing values.
  void BlankErrors(Record& r, const Style& style, uint32_t& errors) {
    bool placeholder = false;
    if (Hit(0.01)) placeholder |= Replace(r.given_name, "UNKNOWN");
    if (Hit(0.01)) placeholder |= Replace(r.family_name, "UNKNOWN");
    if (Hit(0.01)) placeholder |= Replace(r.birth_date, FormatDate(1900, 1, 1, style.date));
    if (!r.ssn.empty() && Hit(0.01)) {
      static constexpr const char* kSsns[] = {"000-00-0000", "999-99-9999", "123-45-6789"};
      placeholder |= Replace(r.ssn, kSsns[rng_.Below(3)]);
    }
    if (!r.phone.empty() && Hit(0.01)) {
      placeholder |= Replace(r.phone, rng_.Chance(0.5) ? "000-000-0000" : "999-999-9999");
    }
    if (placeholder) Mark(errors, ErrorKind::kPlaceholder);

    bool missing = false;
    missing |= Hit(0.15) && Clear(r.middle_name);
    missing |= Hit(0.02) && Clear(r.sex);
    missing |= Hit(0.01) && Clear(r.birth_date);
    missing |= Hit(0.04) && Clear(r.address_line);
    missing |= Hit(0.02) && Clear(r.city);
    missing |= Hit(0.03) && Clear(r.postal_code);
    missing |= Hit(0.08) && Clear(r.phone);
    missing |= Hit(0.20) && Clear(r.email);
    missing |= Hit(0.25) && Clear(r.ssn);
    if (missing) Mark(errors, ErrorKind::kMissingValue);
  }

  bool Hit(double base) { return rng_.Chance(base * rate_); }
  static bool Replace(std::string& field, std::string value) {
    if (field == value) return false;
    field = std::move(value);
    return true;
  }
  static bool Clear(std::string& field) {
    if (field.empty()) return false;
    field.clear();
    return true;
  }

  PersonFactory& f_;
  Rng& rng_;
  double rate_;
  double mixed_case_rate_;
};

// Keeps given and family name and, with equal odds, nothing else, the birth date, the phone or the
// address (line, city, state, ZIP).
void MakeSparse(Record& r, Rng& rng) {
  const int keep = rng.Between(0, 3);
  r.middle_name.clear();
  r.sex.clear();
  r.email.clear();
  r.ssn.clear();
  if (keep != 1) r.birth_date.clear();
  if (keep != 2) r.phone.clear();
  if (keep != 3) {
    r.address_line.clear();
    r.city.clear();
    r.state.clear();
    r.postal_code.clear();
  }
}

// --- Hard non-matches ---------------------------------------------------------------------------

HardNonMatchKind PickKind(Rng& rng) {
  const int r = rng.Between(0, 9);
  if (r < 3) return HardNonMatchKind::kTwin;
  if (r < 5) return HardNonMatchKind::kJuniorSenior;
  if (r < 8) return HardNonMatchKind::kSpouse;
  return HardNonMatchKind::kNamesake;
}

void ClearSuffix(Person& p) {
  p.suffix.clear();
  p.suffix_recorded = false;
}

bool SameDate(const Person& a, const Person& b) {
  return a.year == b.year && a.month == b.month && a.day == b.day;
}

// A namesake of `a` born within Habits::namesake_window years of a (never on the same day), with
// another address and phone, in a's city about 30% of the time.
Person CloseNamesake(PersonFactory& f, const Person& a, uint64_t slot) {
  Rng& rng = f.rng();
  const int lo = std::max(1930, a.year - f.habits().namesake_window);
  const int hi = std::min(2024, a.year + f.habits().namesake_window);
  Person b = f.Make(slot, {.sex = a.sex, .min_year = lo, .max_year = hi});
  ClearSuffix(b);
  b.hispanic = a.hispanic;
  b.vietnamese = a.vietnamese;
  b.given = a.given;
  b.family = a.family;
  b.accented = a.accented;
  b.middle = f.MiddleFor(b, b.given);
  while (SameDate(a, b)) f.BirthDate(b, lo, hi);
  if (rng.Chance(0.3)) {
    b.city = a.city;
    f.Place(b, false);
    if (!b.phone.empty()) b.phone = f.Phone(b.city);
  }
  while (b.street == a.street) f.Place(b, false);
  while (!b.phone.empty() && b.phone == a.phone) b.phone = f.Phone(b.city);
  b.email = b.email.empty() ? "" : f.Email(b);
  return b;
}

// Makes persons a (slot 2k) and b (slot 2k + 1) of the given kind.
std::pair<Person, Person> MakePair(PersonFactory& f, HardNonMatchKind kind, uint64_t slot) {
  Rng& rng = f.rng();
  switch (kind) {
    case HardNonMatchKind::kTwin: {
      Person a = f.Make(slot);
      ClearSuffix(a);
      Person b = a;
      if (rng.Chance(0.5)) b.sex = a.sex == 'M' ? 'F' : 'M';
      b.given = f.OtherGivenFor(b, a.given);
      b.middle = f.MiddleFor(b, b.given);
      b.email = a.email.empty() || rng.Chance(0.3) ? "" : f.Email(b);
      b.ssn = a.ssn.empty() ? "" : f.Ssn(slot + 1);
      return {a, b};
    }
    case HardNonMatchKind::kJuniorSenior: {
      Person a = f.Make(slot, {.sex = 'M', .min_year = 1930, .max_year = 2004});
      Person b = a;
      const int gap = rng.Between(20, std::min(40, 2024 - a.year));
      f.BirthDate(b, a.year + gap, a.year + gap);
      const bool junior = rng.Chance(0.85);
      f.SetSuffix(b, junior ? "Jr" : "II");
      f.SetSuffix(a, junior ? "Sr" : "");
      a.suffix_recorded = a.suffix_recorded && rng.Chance(0.6);
      if (rng.Chance(0.3)) b.middle = f.MiddleFor(b, b.given);
      b.email = rng.Chance(0.5) ? f.Email(b) : "";
      b.ssn = rng.Chance(0.65) ? f.Ssn(slot + 1) : "";
      return {a, b};
    }
    case HardNonMatchKind::kSpouse: {
      Person a = f.Make(slot, {.min_year = 1930, .max_year = 2000});
      ClearSuffix(a);
      Person b = a;
      b.sex = rng.Chance(0.97) ? (a.sex == 'M' ? 'F' : 'M') : a.sex;
      b.given = f.OtherGivenFor(b, a.given);
      b.middle = f.MiddleFor(b, b.given);
      const int year = std::clamp(a.year + rng.Between(-8, 8), 1930, 2006);
      f.BirthDate(b, year, year);
      if (SameDate(a, b)) b.day = b.day == 1 ? 2 : b.day - 1;
      b.email = rng.Chance(0.55) ? f.Email(b) : "";
      b.ssn = rng.Chance(0.65) ? f.Ssn(slot + 1) : "";
      return {a, b};
    }
    case HardNonMatchKind::kNamesake:
    default: {
      Person a = f.Make(slot, {.common_name = true});
      ClearSuffix(a);
      if (f.habits().namesake_window > 0) return {a, CloseNamesake(f, a, slot + 1)};
      Person b = f.Make(slot + 1, {.sex = a.sex});
      ClearSuffix(b);
      b.hispanic = false;
      b.vietnamese = a.vietnamese;
      b.given = a.given;
      b.family = a.family;
      b.accented = a.accented;
      while (SameDate(a, b)) f.BirthDate(b, 1930, 2024);
      while (b.street == a.street) f.Place(b, true);
      b.email = b.email.empty() ? "" : f.Email(b);
      return {a, b};
    }
  }
}

std::string OrgName(int index) {
  std::string letters;
  for (int i = index + 1; i > 0; i = (i - 1) / 26) {
    letters.insert(letters.begin(), static_cast<char>('a' + (i - 1) % 26));
  }
  return absl::StrCat("clinic-", letters);
}

std::string LocalId(int org, uint64_t n) {
  switch (org % 4) {
    case 0:
      return absl::StrCat("MRN", Pad(n, 8));
    case 1:
      return absl::StrCat(n);
    case 2:
      return absl::StrCat("E", Pad(n, 9));
    default:
      return Pad(n, 10);
  }
}

}  // namespace

bool ApplyGeneratorProfile(std::string_view profile, GeneratorOptions& options) {
  if (profile == "default") {
    options = GeneratorOptions{.persons = options.persons, .seed = options.seed};
    return true;
  }
  if (profile == "diverse") {
    GeneratorOptions o{.persons = options.persons, .seed = options.seed};
    o.orgs = 12;
    o.mean_extra_records = 0.74;
    o.hard_non_match_fraction = 0.10;
    o.sparse_record_rate = 0.05;
    o.namesake_birth_year_window = 3;
    o.vietnamese_share = 0.12;
    o.mixed_case_rate = 0.15;
    o.surname_particle_rate = 0.2;
    options = o;
    return true;
  }
  return false;
}

const char* HardNonMatchKindName(HardNonMatchKind kind) {
  switch (kind) {
    case HardNonMatchKind::kTwin:
      return "twin";
    case HardNonMatchKind::kJuniorSenior:
      return "jr_sr";
    case HardNonMatchKind::kSpouse:
      return "spouse";
    case HardNonMatchKind::kNamesake:
      return "namesake";
  }
  return "unknown";
}

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kTypo:
      return "typo";
    case ErrorKind::kNickname:
      return "nickname";
    case ErrorKind::kNameSwap:
      return "name_swap";
    case ErrorKind::kMiddleInGiven:
      return "middle_in_given";
    case ErrorKind::kMiddleInitial:
      return "middle_initial";
    case ErrorKind::kDayMonthSwap:
      return "day_month_swap";
    case ErrorKind::kDayOffByOne:
      return "day_off_by_one";
    case ErrorKind::kYearDigit:
      return "year_digit";
    case ErrorKind::kMove:
      return "move";
    case ErrorKind::kFamilyNameChange:
      return "family_name_change";
    case ErrorKind::kMissingValue:
      return "missing_value";
    case ErrorKind::kPlaceholder:
      return "placeholder";
    case ErrorKind::kCaseVariation:
      return "case_variation";
    case ErrorKind::kFormatVariation:
      return "format_variation";
    case ErrorKind::kAccentVariation:
      return "accent_variation";
    case ErrorKind::kNameFormatVariation:
      return "name_format_variation";
    case ErrorKind::kSparse:
      return "sparse";
  }
  return "unknown";
}

GeneratedPopulation GeneratePopulation(const GeneratorOptions& options) {
  const int64_t persons = std::max<int64_t>(0, options.persons);
  const int orgs = std::max(1, options.orgs);
  const double mean_extra = std::max(0.0, options.mean_extra_records);
  const double fraction = std::clamp(options.hard_non_match_fraction, 0.0, 1.0);
  const int64_t pairs = std::min<int64_t>(std::llround(fraction * persons), persons / 2);
  const double sparse_rate = std::clamp(options.sparse_record_rate, 0.0, 1.0);
  const Habits habits = {
      .vietnamese_share = std::clamp(options.vietnamese_share, 0.0, 1.0),
      .particle_rate = std::clamp(options.surname_particle_rate, 0.0, 1.0),
      .namesake_window = std::clamp(options.namesake_birth_year_window, 0, 94),
  };

  Rng rng(options.seed);
  PersonFactory factory(rng, options.seed, habits);
  ErrorMaker errors(factory, options.error_rate, options.mixed_case_rate);

  // Poisson(mean_extra) CDF; the single exp() is the only libm call on the output path.
  std::vector<double> extra_cdf;
  {
    double p = std::exp(-mean_extra), cum = p;
    for (int k = 0; k < 64 && cum < 1.0 - 1e-12; ++k) {
      extra_cdf.push_back(cum);
      p *= mean_extra / (k + 1);
      cum += p;
    }
    extra_cdf.push_back(1.0);
  }

  // Plan first (records per person), so that every record can be written straight to its
  // shuffled position instead of shuffling two million records afterwards.
  std::vector<uint8_t> extras(persons);
  size_t n = 0;
  for (int64_t i = 0; i < persons; ++i) {
    const double u = rng.Unit();
    extras[i] = static_cast<uint8_t>(std::upper_bound(extra_cdf.begin(), extra_cdf.end(), u) -
                                     extra_cdf.begin());
    n += 1 + extras[i];
  }
  std::vector<uint32_t> position(n);
  for (size_t i = 0; i < n; ++i) position[i] = static_cast<uint32_t>(i);
  for (size_t i = n; i > 1; --i) std::swap(position[i - 1], position[rng.Below(i)]);

  // Person ids are a random permutation of generation order, so ids reveal no pairing.
  std::vector<int64_t> person_ids(persons);
  for (int64_t i = 0; i < persons; ++i) person_ids[i] = i;
  for (int64_t i = persons - 1; i > 0; --i) {
    std::swap(person_ids[i], person_ids[rng.Below(i + 1)]);
  }

  GeneratedPopulation pop;
  std::vector<LabelledRecord>& records = pop.records;
  records.resize(n);
  std::vector<int> org_of(n);  // by final position
  std::vector<uint32_t> pair_originals(2 * pairs);
  std::vector<HardNonMatchKind> pair_kinds(pairs);
  std::vector<int> other_orgs;
  std::vector<std::string> org_names(orgs);
  for (int o = 0; o < orgs; ++o) org_names[o] = OrgName(o);

  size_t next = 0;  // records emitted so far
  auto emit = [&](const Person& p, int64_t index) {
    const int64_t pid = person_ids[index];
    const int home = static_cast<int>(rng.Below(orgs));
    const uint32_t at = position[next++];
    if (index < 2 * pairs) pair_originals[index] = at;
    LabelledRecord& original = records[at];
    original.record = Render(p, Style{});
    original.person_id = pid;
    original.original = true;
    org_of[at] = home;

    other_orgs.clear();
    for (int o = 0; o < orgs; ++o) {
      if (o != home) other_orgs.push_back(o);
    }
    for (int k = 0; k < extras[index]; ++k) {
      int org;
      if (k < static_cast<int>(other_orgs.size())) {  // partial Fisher-Yates: distinct orgs
        std::swap(other_orgs[k], other_orgs[k + rng.Below(other_orgs.size() - k)]);
        org = other_orgs[k];
      } else {
        org = static_cast<int>(rng.Below(orgs));
      }
      const uint32_t dup_at = position[next++];
      LabelledRecord& dup = records[dup_at];
      dup.record = errors.Duplicate(p, dup.errors);
      if (sparse_rate > 0 && rng.Chance(sparse_rate)) {
        MakeSparse(dup.record, rng);
        dup.errors |= 1u << static_cast<int>(ErrorKind::kSparse);
      }
      dup.person_id = pid;
      org_of[dup_at] = org;
    }
  };

  for (int64_t k = 0; k < pairs; ++k) {
    pair_kinds[k] = PickKind(rng);
    auto [a, b] = MakePair(factory, pair_kinds[k], static_cast<uint64_t>(2 * k));
    emit(a, 2 * k);
    emit(b, 2 * k + 1);
  }
  for (int64_t i = 2 * pairs; i < persons; ++i) emit(factory.Make(static_cast<uint64_t>(i)), i);

  // Record ids and MRNs follow the shuffled order, so neither tells generation order.
  const int id_width = std::max<int>(8, static_cast<int>(absl::StrCat(n).size()));
  std::vector<uint64_t> next_mrn(orgs);
  for (uint64_t& m : next_mrn) m = 100000 + rng.Below(900000);
  for (size_t i = 0; i < n; ++i) {
    Record& r = records[i].record;
    const int org = org_of[i];
    r.record_id = absl::StrCat("r", Pad(i + 1, id_width));
    r.org = org_names[org];
    next_mrn[org] += 1 + rng.Below(3);
    r.local_id = LocalId(org, next_mrn[org]);
  }

  pop.hard_pairs.reserve(pairs);
  for (int64_t k = 0; k < pairs; ++k) {
    uint32_t a = pair_originals[2 * k], b = pair_originals[2 * k + 1];
    if (rng.Chance(0.5)) std::swap(a, b);
    pop.hard_pairs.push_back(
        {records[a].record.record_id, records[b].record.record_id, pair_kinds[k]});
  }
  return pop;
}

// --- CSV output ---------------------------------------------------------------------------------

namespace {

void AppendCsv(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

class CsvFile {
 public:
  static absl::Status Open(const std::filesystem::path& path, CsvFile& file) {
    file.path_ = path.string();
    file.f_ = std::fopen(file.path_.c_str(), "wb");
    if (file.f_ == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("open ", file.path_));
    return absl::OkStatus();
  }
  ~CsvFile() {
    if (f_ != nullptr) std::fclose(f_);
  }

  void Row(std::initializer_list<std::string_view> values) {
    bool first = true;
    for (std::string_view v : values) {
      if (!first) buf_.push_back(',');
      first = false;
      AppendCsv(buf_, v);
    }
    buf_.push_back('\n');
    if (buf_.size() >= (1 << 20)) Flush();
  }

  absl::Status Close() {
    Flush();
    const int err = write_errno_;
    const int rc = std::fclose(f_);
    const int close_errno = errno;
    f_ = nullptr;
    if (err != 0) return absl::ErrnoToStatus(err, absl::StrCat("write ", path_));
    if (rc != 0) return absl::ErrnoToStatus(close_errno, absl::StrCat("close ", path_));
    return absl::OkStatus();
  }

 private:
  void Flush() {
    if (!buf_.empty() && write_errno_ == 0 &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      write_errno_ = errno != 0 ? errno : EIO;
    }
    buf_.clear();
  }

  std::string path_;
  std::FILE* f_ = nullptr;
  std::string buf_;
  int write_errno_ = 0;
};

}  // namespace

absl::Status WritePopulation(const GeneratedPopulation& population, const std::string& out_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::ErrnoToStatus(ec.value(), absl::StrCat("create directory ", out_dir));

  {
    CsvFile f;
    if (absl::Status s = CsvFile::Open(dir / "records.csv", f); !s.ok()) return s;
    f.Row({"record_id", "org", "local_id", "given_name", "middle_name", "family_name", "sex",
           "birth_date", "address_line", "city", "state", "postal_code", "phone", "email", "ssn"});
    for (const LabelledRecord& lr : population.records) {
      const Record& r = lr.record;
      f.Row({r.record_id, r.org, r.local_id, r.given_name, r.middle_name, r.family_name, r.sex,
             r.birth_date, r.address_line, r.city, r.state, r.postal_code, r.phone, r.email,
             r.ssn});
    }
    if (absl::Status s = f.Close(); !s.ok()) return s;
  }
  {
    CsvFile f;
    if (absl::Status s = CsvFile::Open(dir / "truth.csv", f); !s.ok()) return s;
    f.Row({"record_id", "person_id"});
    for (const LabelledRecord& lr : population.records) {
      f.Row({lr.record.record_id, absl::StrCat(lr.person_id)});
    }
    if (absl::Status s = f.Close(); !s.ok()) return s;
  }
  {
    CsvFile f;
    if (absl::Status s = CsvFile::Open(dir / "hard_pairs.csv", f); !s.ok()) return s;
    f.Row({"record_id_a", "record_id_b", "kind"});
    for (const HardNonMatchPair& p : population.hard_pairs) {
      f.Row({p.record_id_a, p.record_id_b, HardNonMatchKindName(p.kind)});
    }
    if (absl::Status s = f.Close(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace hie::mpi
