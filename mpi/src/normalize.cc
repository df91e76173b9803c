#include "hie/mpi/normalize.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mpi/src/string_view_compat.h"
#include "hie/mpi/text.h"

namespace hie::mpi {
namespace {

std::vector<std::string> Tokens(std::string_view folded) {
  return absl::StrSplit(Av(folded), ' ', absl::SkipEmpty());
}

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> values) {
  return std::find(values.begin(), values.end(), s) != values.end();
}

bool IsPlaceholderName(std::string_view folded) {
  return IsOneOf(folded, {"UNKNOWN", "UNK", "UNKN", "NONE", "NA", "N A", "NULL", "NIL", "TEST",
                          "FNU", "LNU", "NFN", "NMN", "NLN", "BABY", "BABY BOY", "BABY GIRL",
                          "BABYBOY", "BABYGIRL", "INFANT", "NEWBORN", "NOT GIVEN", "NO NAME",
                          "NONAME", "NOT KNOWN", "NOTKNOWN", "X", "XX", "XXX", "ZZZ", "DECEASED",
                          "PATIENT", "ANONYMOUS", "MALE", "FEMALE"});
}

NameSuffix SuffixOf(std::string_view token) {
  if (token == "JR" || token == "JNR" || token == "JUNIOR") return NameSuffix::kJunior;
  if (token == "SR" || token == "SNR" || token == "SENIOR") return NameSuffix::kSenior;
  if (token == "II" || token == "2ND") return NameSuffix::kSecond;
  if (token == "III" || token == "3RD") return NameSuffix::kThird;
  if (token == "IV" || token == "4TH") return NameSuffix::kFourth;
  return NameSuffix::kNone;
}

bool IsTitle(std::string_view token) {
  return IsOneOf(token, {"MR", "MRS", "MS", "MISS", "DR", "PROF", "REV", "SIR", "MME", "MLLE"});
}

// Removes titles (leading) and suffixes (anywhere after the first token) from `tokens`.
void StripTitlesAndSuffixes(std::vector<std::string>& tokens, NameSuffix& suffix) {
  while (tokens.size() > 1 && IsTitle(tokens.front())) tokens.erase(tokens.begin());
  for (size_t i = tokens.size(); i-- > 1;) {
    const NameSuffix s = SuffixOf(tokens[i]);
    if (s != NameSuffix::kNone) {
      suffix = s;
      tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
}

bool ValidDate(int y, int m, int d) {
  if (y < 1850 || y > 2100 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int days = kDays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) days = 29;
  return d <= days;
}

int MonthFromName(std::string_view t) {
  static constexpr std::string_view kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                 "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  if (t.size() < 3) return 0;
  for (int i = 0; i < 12; ++i) {
    if (t.substr(0, 3) == kMonths[i]) return i + 1;
  }
  return 0;
}

int ToInt(std::string_view digits) {
  int v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
    if (v > 100000) return -1;
  }
  return digits.empty() ? -1 : v;
}

int ExpandYear(int y, size_t digits) {
  if (digits == 2) return y > 30 ? 1900 + y : 2000 + y;  // documented pivot
  return y;
}

BirthDate MakeDate(int y, int m, int d) {
  BirthDate out;
  if (y < 1850 || y > 2100) return out;
  // Placeholder dates that systems store for "unknown".
  if ((y == 1900 || y == 1901 || y == 1899 || y == 1850) && m == 1 && d == 1) return out;
  if (ValidDate(y, m, d)) {
    out = {static_cast<int16_t>(y), static_cast<int8_t>(m), static_cast<int8_t>(d), false};
  } else if (ValidDate(y, d, m)) {
    out = {static_cast<int16_t>(y), static_cast<int8_t>(d), static_cast<int8_t>(m), true};
  } else {
    out.year = static_cast<int16_t>(y);  // only the year is trustworthy
  }
  if (m >= 0 && m <= 99 && d >= 0 && d <= 99) out.as_written = y * 10000 + m * 100 + d;
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

const std::vector<std::pair<std::string_view, std::string_view>>& AddressAbbreviations() {
  static const auto* table = new std::vector<std::pair<std::string_view, std::string_view>>{
      {"STREET", "ST"},     {"STR", "ST"},        {"AVENUE", "AVE"},   {"AV", "AVE"},
      {"ROAD", "RD"},       {"DRIVE", "DR"},      {"LANE", "LN"},      {"COURT", "CT"},
      {"PLACE", "PL"},      {"BOULEVARD", "BLVD"}, {"CRESCENT", "CRES"}, {"CIRCUIT", "CCT"},
      {"TERRACE", "TCE"},   {"HIGHWAY", "HWY"},   {"PARKWAY", "PKWY"}, {"SQUARE", "SQ"},
      {"APARTMENT", "APT"}, {"SUITE", "STE"},     {"NORTH", "N"},      {"SOUTH", "S"},
      {"EAST", "E"},        {"WEST", "W"},        {"FLOOR", "FL"},     {"BUILDING", "BLDG"},
      {"CIRCLE", "CIR"},    {"TRAIL", "TRL"},     {"CLOSE", "CL"},     {"GROVE", "GR"},
      {"MOUNT", "MT"},      {"NUMBER", "NO"},     {"PARADE", "PDE"},   {"ESPLANADE", "ESP"},
      {"EXPRESSWAY", "EXPY"}, {"FREEWAY", "FWY"}, {"HEIGHTS", "HTS"},  {"POINT", "PT"},
      {"UNIT", "UNIT"},     {"FLAT", "UNIT"},     {"APPT", "APT"},     {"HOUSE", "HSE"}};
  return *table;
}

}  // namespace

ParsedName ParseName(std::string_view given, std::string_view middle, std::string_view family) {
  ParsedName out;
  std::string g = FoldToAscii(given, false);
  std::string f = FoldToAscii(family, false);
  std::string m = FoldToAscii(middle, false);
  if (IsPlaceholderName(g)) g.clear();
  if (IsPlaceholderName(f)) f.clear();
  if (IsPlaceholderName(m)) m.clear();
  std::vector<std::string> gt = Tokens(g);
  std::vector<std::string> ft = Tokens(f);
  std::vector<std::string> mt = Tokens(m);
  if (!gt.empty() && gt.front() == "BABY") gt.clear();  // "BABY BOY SMITH" style newborn names
  StripTitlesAndSuffixes(gt, out.suffix);
  StripTitlesAndSuffixes(ft, out.suffix);
  if (gt.size() == 1 && IsTitle(gt.front())) gt.clear();
  if (!gt.empty()) {
    out.given = gt.front();
    std::vector<std::string> rest(gt.begin() + 1, gt.end());
    rest.insert(rest.end(), mt.begin(), mt.end());
    out.middle = absl::StrJoin(rest, " ");
  } else {
    out.middle = absl::StrJoin(mt, " ");
  }
  out.family = absl::StrJoin(ft, " ");
  return out;
}

BirthDate ParseBirthDate(std::string_view text, DateOrder order) {
  text = Trim(text);
  if (text.empty()) return {};
  if (const size_t t = text.find('T'); t != std::string_view::npos && t >= 8) {
    text = text.substr(0, t);  // ISO date-time
  }
  // Split into parts of digits or letters.
  std::vector<std::string_view> parts;
  char separator = 0;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool digit = c >= '0' && c <= '9';
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!digit && !alpha) {
      if (separator == 0 && c != ' ' && c != ',') separator = c;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (((text[j] >= '0' && text[j] <= '9') == digit) &&
                               (digit || (text[j] >= 'A' && text[j] <= 'Z') ||
                                (text[j] >= 'a' && text[j] <= 'z')))) {
      ++j;
    }
    parts.push_back(text.substr(i, j - i));
    i = j;
  }
  if (parts.size() == 1 && parts[0].size() == 8) {
    const std::string_view s = parts[0];
    const int first4 = ToInt(s.substr(0, 4));
    if (first4 >= 1850 && first4 <= 2100) {
      return MakeDate(first4, ToInt(s.substr(4, 2)), ToInt(s.substr(6, 2)));
    }
    parts = {s.substr(0, 2), s.substr(2, 2), s.substr(4, 4)};
  }
  if (parts.size() != 3) return {};
  // Month names: "12 Jan 1990", "Jan 12, 1990", "1990-Jan-12".
  for (size_t k = 0; k < 3; ++k) {
    if (ToInt(parts[k]) >= 0) continue;
    std::string upper(parts[k]);
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    const int month = MonthFromName(upper);
    if (month == 0) return {};
    std::vector<std::string_view> numeric;
    for (size_t q = 0; q < 3; ++q) {
      if (q != k) numeric.push_back(parts[q]);
    }
    const int a = ToInt(numeric[0]);
    const int b = ToInt(numeric[1]);
    const size_t na = numeric[0].size();
    const size_t nb = numeric[1].size();
    if (a < 0 || b < 0) return {};
    if (na == 4) return MakeDate(a, month, b);
    return MakeDate(ExpandYear(b, nb), month, a);
  }
  const int p0 = ToInt(parts[0]);
  const int p1 = ToInt(parts[1]);
  const int p2 = ToInt(parts[2]);
  if (parts[0].size() == 4) return MakeDate(p0, p1, p2);
  if (parts[2].size() != 4 && parts[2].size() != 2) return {};
  const int year = ExpandYear(p2, parts[2].size());
  bool day_first = order == DateOrder::kDayFirst || separator == '.';
  if (p0 > 12 && p1 <= 12) day_first = true;
  if (p1 > 12 && p0 <= 12) day_first = false;
  return day_first ? MakeDate(year, p1, p0) : MakeDate(year, p0, p1);
}

Sex ParseSex(std::string_view text) {
  const std::string f = FoldToAscii(text, true);
  if (f.empty()) return Sex::kUnknown;
  if (f == "1") return Sex::kMale;
  if (f == "2") return Sex::kFemale;
  if (f[0] == 'M' && f.rfind("MIS", 0) != 0) return Sex::kMale;  // M, MALE, MAN, typos "MAL3"
  if (f[0] == 'F' || f[0] == 'W' || f.rfind("MIS", 0) == 0) return Sex::kFemale;
  return Sex::kUnknown;
}

std::string NormalizePhone(std::string_view text) {
  std::string d = DigitsOnly(text);
  if (d.size() == 11 && d[0] == '1') d.erase(0, 1);
  if (d.size() < 7) return "";
  if (std::all_of(d.begin(), d.end(), [&d](char c) { return c == d[0]; })) return "";
  if (d == "1234567890" || d == "0123456789" || d == "1234567") return "";
  return d;
}

std::string NormalizeSsn(std::string_view text, bool* is_us_ssn) {
  if (is_us_ssn != nullptr) *is_us_ssn = false;
  std::string d = DigitsOnly(text);
  if (d.size() < 4) return "";
  if (std::all_of(d.begin(), d.end(), [&d](char c) { return c == d[0]; })) return "";
  if (d == "123456789" || d == "012345678" || d == "987654321") return "";
  if (d.size() == 9 && is_us_ssn != nullptr) {
    const int area = ToInt(d.substr(0, 3));
    *is_us_ssn = area != 0 && area != 666 && area < 900 && d.substr(3, 2) != "00" &&
                 d.substr(5, 4) != "0000";
  }
  return d;
}

std::string NormalizePostalCode(std::string_view text) {
  std::string f = FoldToAscii(text, true);
  f.erase(std::remove(f.begin(), f.end(), ' '), f.end());
  if (f.size() == 9 && std::all_of(f.begin(), f.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    f.resize(5);  // ZIP+4
  }
  if (f.empty() || std::all_of(f.begin(), f.end(), [&f](char c) { return c == f[0]; })) return "";
  if (f == "UNKNOWN" || f == "NA" || f == "NONE") return "";
  return f;
}

std::string NormalizeEmail(std::string_view text) {
  std::string e(Trim(text));
  for (char& c : e) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  const size_t at = e.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= e.size()) return "";
  const std::string_view local = std::string_view(e).substr(0, at);
  if (IsOneOf(local, {"none", "noemail", "no", "na", "n/a", "unknown", "test", "noreply",
                      "no.email", "nomail", "declined"})) {
    return "";
  }
  return e;
}

void NormalizeAddress(std::string_view text, std::string* house_number, std::string* street) {
  house_number->clear();
  street->clear();
  const std::string f = FoldToAscii(text, true);
  if (IsOneOf(f, {"UNKNOWN", "NONE", "NA", "HOMELESS", "NO FIXED ADDRESS", "NFA", "NO ADDRESS"})) {
    return;
  }
  std::vector<std::string> tokens = Tokens(f);
  std::vector<std::string> out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string& t = tokens[i];
    if (house_number->empty() && out.empty() && !t.empty() && t[0] >= '0' && t[0] <= '9') {
      *house_number = t;
      continue;
    }
    if (t == "P" && i + 2 < tokens.size() && tokens[i + 1] == "O" && tokens[i + 2] == "BOX") {
      out.push_back("PO");
      i += 1;
      continue;
    }
    for (const auto& [from, to] : AddressAbbreviations()) {
      if (t == from) {
        t = std::string(to);
        break;
      }
    }
    out.push_back(t);
  }
  *street = absl::StrJoin(out, " ");
}

std::string NormalizePlace(std::string_view text) {
  std::string f = FoldToAscii(text, true);
  if (IsOneOf(f, {"UNKNOWN", "UNK", "NONE", "NA", "N A", "NULL", "XX", "XXX", "TEST"})) return "";
  return f;
}

NormalizedRecord Normalizer::Normalize(const Record& r) const {
  NormalizedRecord n;
  ParsedName name = ParseName(r.given_name, r.middle_name, r.family_name);
  n.given = std::move(name.given);
  n.middle = std::move(name.middle);
  n.family = std::move(name.family);
  n.suffix = name.suffix;
  if (!n.given.empty()) {
    n.given_nysiis = PackCode(Nysiis(n.given));
    n.given_soundex = static_cast<uint32_t>(PackCode(Soundex(n.given)));
    if (nicknames_ != nullptr) {
      n.given_formal = nicknames_->FormalId(n.given);
      if (const auto* groups = nicknames_->Groups(n.given)) {
        for (size_t i = 0; i < groups->size() && i < n.given_groups.size(); ++i) {
          n.given_groups[i] = (*groups)[i];
        }
      }
    }
  }
  if (!n.family.empty()) {
    const std::string_view first = std::string_view(n.family).substr(0, n.family.find(' '));
    n.family_nysiis = PackCode(Nysiis(first));
    n.family_soundex = static_cast<uint32_t>(PackCode(Soundex(first)));
  }
  n.sex = ParseSex(r.sex);
  n.birth_date = ParseBirthDate(r.birth_date, options_.date_order);
  NormalizeAddress(r.address_line, &n.house_number, &n.address);
  n.city = NormalizePlace(r.city);
  n.state = NormalizePlace(r.state);
  n.postal_code = NormalizePostalCode(r.postal_code);
  n.phone = NormalizePhone(r.phone);
  n.ssn = NormalizeSsn(r.ssn, &n.ssn_is_us);
  n.email = NormalizeEmail(r.email);
  if (!r.org.empty()) n.org = HashString(r.org, 17) | 1;
  if (!r.local_id.empty()) n.local_id = HashString(r.local_id, 29) | 1;
  return n;
}

}  // namespace hie::mpi
