#include "hie/mpi/text.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace hie::mpi {
namespace {

// ASCII folding of U+00C0..U+00FF, one entry per code point (space-separated; "_" = separator).
constexpr const char* kLatin1Fold =
    "A A A A A A AE C E E E E I I I I D N O O O O O _ O U U U U Y TH SS "
    "A A A A A A AE C E E E E I I I I D N O O O O O _ O U U U U Y TH Y";
// ASCII folding of U+0100..U+017F.
constexpr const char* kLatinExtAFold =
    "A A A A A A C C C C C C C C D D D D E E E E E E E E E E G G G G G G G G H H H H "
    "I I I I I I I I I I IJ IJ J J K K K L L L L L L L L L L N N N N N N N N N O O O O O O "
    "OE OE R R R R R R S S S S S S S S T T T T T T U U U U U U U U U U U U W W Y Y Y Z Z Z Z Z Z "
    "S";

struct FoldTable {
  std::array<std::array<char, 3>, 0x180 - 0xC0> entries{};  // NUL-terminated, "" = separator
  FoldTable() {
    auto fill = [this](const char* spec, int first) {
      int cp = first;
      const char* p = spec;
      while (*p != '\0') {
        const char* end = std::strchr(p, ' ');
        if (end == nullptr) end = p + std::strlen(p);
        auto& e = entries[cp - 0xC0];
        if (!(end - p == 1 && *p == '_')) {
          for (int i = 0; i < end - p && i < 2; ++i) e[i] = p[i];
        }
        ++cp;
        p = (*end == ' ') ? end + 1 : end;
      }
    };
    fill(kLatin1Fold, 0xC0);
    fill(kLatinExtAFold, 0x100);
  }
};

const FoldTable& Table() {
  static const FoldTable* table = new FoldTable();
  return *table;
}

// Decodes one UTF-8 code point at `s[i]`, advancing `i`; returns -1 for an invalid sequence.
int32_t DecodeUtf8(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  int len = 0;
  int32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    ++i;
    return -1;
  }
  if (i + len > s.size()) {
    i = s.size();
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      i += k;
      return -1;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  i += len;
  return cp;
}

// The base letter of a Vietnamese letter: U+01A0/U+01A1 (O with horn), U+01AF/U+01B0 (U with
// horn) and the Vietnamese part of Latin Extended Additional, U+1EA0..U+1EF9, whose letters come
// in runs by base letter (A with dot below ... Y with tilde). 0 for any other code point.
char VietnameseBase(int32_t cp) {
  if (cp == 0x1A0 || cp == 0x1A1) return 'O';
  if (cp == 0x1AF || cp == 0x1B0) return 'U';
  if (cp < 0x1EA0 || cp > 0x1EF9) return 0;
  if (cp < 0x1EB8) return 'A';
  if (cp < 0x1EC8) return 'E';
  if (cp < 0x1ECC) return 'I';
  if (cp < 0x1EE4) return 'O';
  if (cp < 0x1EF2) return 'U';
  return 'Y';
}

bool IsVowel(char c) { return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U'; }

}  // namespace

std::string FoldToAscii(std::string_view text, bool keep_digits) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  auto emit = [&](char c) {
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  };
  size_t i = 0;
  while (i < text.size()) {
    const int32_t cp = DecodeUtf8(text, i);
    if (cp >= 'a' && cp <= 'z') {
      emit(static_cast<char>(cp - 'a' + 'A'));
    } else if (cp >= 'A' && cp <= 'Z') {
      emit(static_cast<char>(cp));
    } else if (cp >= '0' && cp <= '9') {
      if (keep_digits) {
        emit(static_cast<char>(cp));
      } else {
        pending_space = true;
      }
    } else if (cp == '\'' || cp == '`' || cp == 0x2018 || cp == 0x2019 || cp == 0xB4 ||
               cp == 0x2BC) {
      // Apostrophes join: O'Brien -> OBRIEN.
    } else if (cp >= 0x300 && cp <= 0x36F) {
      // Combining diacritical marks (decomposed input: "Nguye\u0302\u0303n") belong to the
      // letter before them: dropped without a separator.
    } else if (const char base = VietnameseBase(cp); base != 0) {
      emit(base);
    } else if (cp >= 0xC0 && cp < 0x180) {
      const auto& e = Table().entries[cp - 0xC0];
      if (e[0] == '\0') {
        pending_space = true;
      } else {
        emit(e[0]);
        if (e[1] != '\0') emit(e[1]);
      }
    } else {
      pending_space = true;
    }
  }
  return out;
}

std::string DigitsOnly(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c >= '0' && c <= '9') out.push_back(c);
  }
  return out;
}

std::string Soundex(std::string_view word) {
  static constexpr char kCodes[] = "01230120022455012623010202";  // A..Z
  std::string out;
  char last = 0;
  for (char c : word) {
    if (c < 'A' || c > 'Z') continue;
    const char code = kCodes[c - 'A'];
    if (out.empty()) {
      out.push_back(c);
      last = code;
      continue;
    }
    if (c == 'H' || c == 'W') continue;  // do not separate equal codes
    if (code == '0') {
      last = 0;  // vowels separate equal codes
      continue;
    }
    if (code != last) out.push_back(code);
    last = code;
    if (out.size() == 4) break;
  }
  if (!out.empty()) out.resize(4, '0');
  return out;
}

std::string Nysiis(std::string_view input) {
  std::string w;
  for (char c : input) {
    if (c >= 'A' && c <= 'Z') w.push_back(c);
  }
  if (w.empty()) return w;
  auto starts = [&w](std::string_view p) { return w.compare(0, p.size(), p) == 0; };
  auto ends = [&w](std::string_view p) {
    return w.size() >= p.size() && w.compare(w.size() - p.size(), p.size(), p) == 0;
  };
  if (starts("MAC")) {
    w.replace(0, 3, "MCC");
  } else if (starts("KN")) {
    w.replace(0, 2, "NN");
  } else if (starts("K")) {
    w[0] = 'C';
  } else if (starts("PH") || starts("PF")) {
    w.replace(0, 2, "FF");
  } else if (starts("SCH")) {
    w.replace(0, 3, "SSS");
  }
  if (ends("EE") || ends("IE")) {
    w.replace(w.size() - 2, 2, "Y");
  } else if (ends("DT") || ends("RT") || ends("RD") || ends("NT") || ends("ND")) {
    w.replace(w.size() - 2, 2, "D");
  }
  std::string key(1, w[0]);
  char prev_translated = w[0];  // the previous letter after translation (vowels became A)
  for (size_t i = 1; i < w.size(); ++i) {
    const char c = w[i];
    const char prev = w[i - 1];
    const char next = i + 1 < w.size() ? w[i + 1] : '\0';
    std::string repl;
    if (c == 'E' && next == 'V') {
      repl = "AF";
      w[i + 1] = 'F';
      ++i;
    } else if (IsVowel(c)) {
      repl = "A";
    } else if (c == 'Q') {
      repl = "G";
    } else if (c == 'Z') {
      repl = "S";
    } else if (c == 'M') {
      repl = "N";
    } else if (c == 'K') {
      repl = next == 'N' ? "" : "C";
      if (next == 'N') repl = "N", ++i;
    } else if (c == 'S' && next == 'C' && i + 2 < w.size() && w[i + 2] == 'H') {
      repl = "SSS";
      i += 2;
    } else if (c == 'P' && next == 'H') {
      repl = "FF";
      ++i;
    } else if (c == 'H' && (!IsVowel(prev) || (next != '\0' && !IsVowel(next)))) {
      repl = std::string(1, prev_translated);
    } else if (c == 'W' && IsVowel(prev)) {
      repl = std::string(1, prev_translated);
    } else {
      repl = std::string(1, c);
    }
    for (char r : repl) {
      if (key.back() != r) key.push_back(r);
    }
    if (!repl.empty()) prev_translated = repl.back();
  }
  if (key.size() > 1 && key.back() == 'S') key.pop_back();
  if (key.size() > 2 && key.compare(key.size() - 2, 2, "AY") == 0) key.replace(key.size() - 2, 2, "Y");
  if (key.size() > 1 && key.back() == 'A') key.pop_back();
  if (key.size() > 6) key.resize(6);
  return key;
}

namespace {

// Maps a byte to one of 64 buckets for the position masks of JaroWinkler. Distinct upper-case
// letters, digits and space get distinct buckets; rarer bytes may share one, which is resolved
// by comparing the bytes themselves.
inline int Bucket(unsigned char c) { return c & 31; }

}  // namespace

double JaroWinkler(std::string_view a, std::string_view b) {
  if (a.size() > 64) a = a.substr(0, 64);
  if (b.size() > 64) b = b.substr(0, 64);
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  if (a == b) return 1.0;
  const int la = static_cast<int>(a.size());
  const int lb = static_cast<int>(b.size());
  const int window = std::max(0, std::max(la, lb) / 2 - 1);
  // positions[k]: bit j set when b[j] falls in bucket k.
  uint64_t positions[32] = {};
  for (int j = 0; j < lb; ++j) {
    positions[Bucket(static_cast<unsigned char>(b[j]))] |= uint64_t{1} << j;
  }
  uint64_t a_flags = 0;
  uint64_t b_flags = 0;
  int matches = 0;
  for (int i = 0; i < la; ++i) {
    const int lo = std::max(0, i - window);
    const int hi = std::min(lb - 1, i + window);
    if (lo > hi) continue;
    const uint64_t range = (hi - lo + 1 == 64 ? ~uint64_t{0}
                                              : ((uint64_t{1} << (hi - lo + 1)) - 1) << lo);
    uint64_t candidates =
        positions[Bucket(static_cast<unsigned char>(a[i]))] & range & ~b_flags;
    while (candidates != 0) {
      const int j = __builtin_ctzll(candidates);
      if (b[j] == a[i]) {
        a_flags |= uint64_t{1} << i;
        b_flags |= uint64_t{1} << j;
        ++matches;
        break;
      }
      candidates &= candidates - 1;
    }
  }
  if (matches == 0) return 0.0;
  int transpositions = 0;
  uint64_t bf = b_flags;
  for (int i = 0; i < la; ++i) {
    if ((a_flags >> i & 1) == 0) continue;
    const int j = __builtin_ctzll(bf);
    bf &= bf - 1;
    if (a[i] != b[j]) ++transpositions;
  }
  const double m = matches;
  const double jaro = (m / la + m / lb + (m - transpositions / 2.0) / m) / 3.0;
  if (jaro <= 0.7) return jaro;
  int prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * 0.1 * (1.0 - jaro);
}

double JaroWinklerAtLeast(std::string_view a, std::string_view b, double floor) {
  if (a.size() > 64) a = a.substr(0, 64);
  if (b.size() > 64) b = b.substr(0, 64);
  if (a.empty() || b.empty() || a == b) return JaroWinkler(a, b);
  // Upper bound from the number of letters the two strings have in common (the Jaro matches
  // can be no more) and the common prefix.
  uint8_t counts[32] = {};
  for (char c : a) ++counts[Bucket(static_cast<unsigned char>(c))];
  int common = 0;
  for (char c : b) {
    uint8_t& n = counts[Bucket(static_cast<unsigned char>(c))];
    if (n > 0) {
      --n;
      ++common;
    }
  }
  const double m = common;
  const double la = static_cast<double>(a.size());
  const double lb = static_cast<double>(b.size());
  const double jaro_bound = common == 0 ? 0.0 : (m / la + m / lb + 1.0) / 3.0;
  int prefix = 0;
  while (prefix < 4 && prefix < static_cast<int>(std::min(a.size(), b.size())) &&
         a[prefix] == b[prefix]) {
    ++prefix;
  }
  const double bound = jaro_bound <= 0.7 ? jaro_bound
                                         : jaro_bound + prefix * 0.1 * (1.0 - jaro_bound);
  if (bound < floor) return 0.0;
  return JaroWinkler(a, b);
}

int DamerauLevenshtein(std::string_view a, std::string_view b, int max_distance) {
  if (a.size() > 63) a = a.substr(0, 63);
  if (b.size() > 63) b = b.substr(0, 63);
  const int la = static_cast<int>(a.size());
  const int lb = static_cast<int>(b.size());
  if (std::abs(la - lb) > max_distance) return max_distance + 1;
  if (la == 0 || lb == 0) return std::min(std::max(la, lb), max_distance + 1);
  // Three rotating rows of the optimal-string-alignment table.
  int rows[3][64];
  int* prev2 = rows[0];
  int* prev = rows[1];
  int* cur = rows[2];
  for (int j = 0; j <= lb; ++j) prev[j] = j;
  for (int i = 1; i <= la; ++i) {
    cur[0] = i;
    int row_min = i;
    const char ca = a[i - 1];
    for (int j = 1; j <= lb; ++j) {
      const int cost = ca == b[j - 1] ? 0 : 1;
      int v = std::min(std::min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
      if (i > 1 && j > 1 && ca == b[j - 2] && a[i - 2] == b[j - 1]) v = std::min(v, prev2[j - 2] + 1);
      cur[j] = v;
      row_min = std::min(row_min, v);
    }
    if (row_min > max_distance) return max_distance + 1;
    int* t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return std::min(prev[lb], max_distance + 1);
}

bool WithinOneEdit(std::string_view a, std::string_view b) {
  if (a.size() < b.size()) std::swap(a, b);
  const size_t la = a.size();
  const size_t lb = b.size();
  if (la - lb > 1) return false;
  size_t i = 0;
  while (i < lb && a[i] == b[i]) ++i;
  if (i == lb) return true;  // equal, or one character appended
  if (la == lb) {
    // One substitution, or one transposition of adjacent characters.
    if (a.substr(i + 1) == b.substr(i + 1)) return true;
    return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] && a.substr(i + 2) == b.substr(i + 2);
  }
  return a.substr(i + 1) == b.substr(i);  // one deletion from the longer string
}

uint64_t PackCode(std::string_view code) {
  uint64_t v = 0;
  for (size_t i = 0; i < code.size() && i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(code[i])) << (8 * i);
  }
  return v;
}

uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t HashString(std::string_view s, uint64_t seed) {
  uint64_t h = Mix64(seed ^ s.size());
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = Mix64(h ^ w);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < s.size(); ++k) {
    tail |= static_cast<uint64_t>(static_cast<unsigned char>(s[i + k])) << (8 * k);
  }
  return Mix64(h ^ tail);
}

}  // namespace hie::mpi
