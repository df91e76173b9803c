#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hie::mpi {

// String primitives used by the normalisers and comparators. All functions are pure and
// thread-safe; none allocates more than its result.

// Decodes UTF-8, folds Latin-1, Latin Extended-A and Vietnamese letters to ASCII ("José" ->
// "JOSE", "Łódź" -> "LODZ", "Straße" -> "STRASSE", "Nguyễn Đức" -> "NGUYEN DUC"), drops
// combining diacritical marks (U+0300..U+036F, so decomposed input folds alike), upper-cases,
// deletes apostrophes, turns every other
// character that is not a letter or digit (hyphens, dots, commas, other scripts) into a space,
// and collapses runs of spaces. Invalid UTF-8 bytes are treated as separators. With
// `keep_digits` false, digits are treated as separators too (names).
std::string FoldToAscii(std::string_view text, bool keep_digits = true);

// The characters of `text` that are ASCII digits, in order.
std::string DigitsOnly(std::string_view text);

// American Soundex of an upper-case ASCII word ("ROBERT" -> "R163"); "" for "".
std::string Soundex(std::string_view word);

// NYSIIS phonetic key (original algorithm, truncated to 6 characters) of an upper-case ASCII
// word ("MACINTOSH" -> "MCANT"); "" for "". Non-letters are ignored.
std::string Nysiis(std::string_view word);

// Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, at most 4 prefix characters, boost only
// when the Jaro similarity exceeds 0.7). Two empty strings give 1. Only the first 64 bytes of
// each string are compared.
double JaroWinkler(std::string_view a, std::string_view b);

// JaroWinkler(a, b) when it may reach `floor`; 0 when a cheap upper bound (letters in common,
// common prefix) shows it cannot. Faster for the many pairs that are nowhere near.
double JaroWinklerAtLeast(std::string_view a, std::string_view b, double floor);

// Damerau-Levenshtein distance (optimal string alignment: insertions, deletions, substitutions
// and transpositions of adjacent characters), computed only up to `max_distance`: the result is
// min(distance, max_distance + 1).
int DamerauLevenshtein(std::string_view a, std::string_view b, int max_distance);

// DamerauLevenshtein(a, b, 1) <= 1, in linear time.
bool WithinOneEdit(std::string_view a, std::string_view b);

// Packs up to 8 bytes of `code` into an integer (for hashing phonetic codes); "" -> 0.
uint64_t PackCode(std::string_view code);

// 64-bit mixing hash (splitmix64 finaliser) and a combiner, for block keys.
uint64_t Mix64(uint64_t x);
uint64_t HashString(std::string_view s, uint64_t seed);

}  // namespace hie::mpi
