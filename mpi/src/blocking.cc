#include "hie/mpi/blocking.h"

#include <algorithm>
#include <string_view>

#include "hie/mpi/text.h"

namespace hie::mpi {
namespace {

// The kind sits in the top 4 bits so that statistics can recover it.
uint64_t MakeKey(uint64_t kind, uint64_t h) { return (kind << 60) | (Mix64(h) >> 4); }

uint64_t DateValue(const BirthDate& d) {
  return static_cast<uint64_t>(d.year) * 10000 + static_cast<uint64_t>(d.month) * 100 +
         static_cast<uint64_t>(d.day);
}

}  // namespace

void AppendBlockKeys(const NormalizedRecord& r, std::vector<uint64_t>* keys) {
  const size_t start = keys->size();
  const bool has_year = r.birth_date.year != 0;
  const bool has_date = has_year && r.birth_date.month != 0;
  const uint64_t postal = r.postal_code.empty() ? 0 : HashString(r.postal_code, 3);
  if (r.family_nysiis != 0 && has_year) {
    keys->push_back(MakeKey(1, r.family_nysiis * 31 + static_cast<uint64_t>(r.birth_date.year)));
  }
  if (r.given_nysiis != 0 && has_date) {
    keys->push_back(MakeKey(2, Mix64(r.given_nysiis) ^ DateValue(r.birth_date)));
  }
  if (has_date && postal != 0) keys->push_back(MakeKey(3, postal ^ DateValue(r.birth_date)));
  if (!r.phone.empty()) keys->push_back(MakeKey(4, HashString(r.phone, 4)));
  if (!r.ssn.empty()) keys->push_back(MakeKey(5, HashString(r.ssn, 5)));
  if (!r.email.empty()) keys->push_back(MakeKey(6, HashString(r.email, 6)));
  if (r.given_soundex != 0 && r.family_soundex != 0) {
    const uint64_t lo = std::min(r.given_soundex, r.family_soundex);
    const uint64_t hi = std::max(r.given_soundex, r.family_soundex);
    keys->push_back(MakeKey(7, (hi << 32) | lo));
  }
  if (r.family_nysiis != 0 && postal != 0) keys->push_back(MakeKey(8, Mix64(r.family_nysiis) ^ postal));
  if (!r.house_number.empty() && !r.address.empty() && postal != 0) {
    keys->push_back(
        MakeKey(9, HashString(r.house_number, 9) ^ Mix64(HashString(r.address, 10) ^ postal)));
  }
  // Birth date with either initial: survives a typo anywhere in the other name, and swapped
  // given/family names (the two keys of one record cover both orders).
  if (has_date && !r.family.empty()) {
    keys->push_back(MakeKey(10, DateValue(r.birth_date) * 256 + static_cast<uint8_t>(r.family[0])));
  }
  if (has_date && !r.given.empty()) {
    keys->push_back(MakeKey(10, DateValue(r.birth_date) * 256 + static_cast<uint8_t>(r.given[0])));
  }
  if (r.given_nysiis != 0 && postal != 0) keys->push_back(MakeKey(11, Mix64(r.given_nysiis) ^ postal * 7));
  if (r.given_nysiis != 0 && has_year) {
    keys->push_back(MakeKey(12, Mix64(r.given_nysiis * 31) ^ static_cast<uint64_t>(r.birth_date.year)));
  }
  if (r.family_nysiis != 0 && !r.given.empty()) {
    keys->push_back(MakeKey(14, Mix64(r.family_nysiis * 37) ^ static_cast<uint8_t>(r.given[0])));
  }
  if (const size_t at = r.email.find('@'); at != std::string::npos && at >= 4) {
    keys->push_back(MakeKey(13, HashString(std::string_view(r.email).substr(0, at), 13)));
  }
  std::sort(keys->begin() + static_cast<std::ptrdiff_t>(start), keys->end());
  keys->erase(std::unique(keys->begin() + static_cast<std::ptrdiff_t>(start), keys->end()),
              keys->end());
}

int BlockKeyKind(uint64_t key) { return static_cast<int>(key >> 60); }

uint32_t SharedKeyKinds(const NormalizedRecord& a, const NormalizedRecord& b) {
  std::vector<uint64_t> ka;
  std::vector<uint64_t> kb;
  AppendBlockKeys(a, &ka);
  AppendBlockKeys(b, &kb);
  uint32_t kinds = 0;
  for (uint64_t x : ka) {
    if (std::binary_search(kb.begin(), kb.end(), x)) kinds |= 1u << BlockKeyKind(x);
  }
  return kinds;
}

}  // namespace hie::mpi
