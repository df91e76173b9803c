#pragma once

#include <cstdint>
#include <vector>

#include "hie/mpi/normalize.h"

namespace hie::mpi {

// Blocking: only records that share at least one block key are compared. Each key is a 64-bit
// hash of a key kind and the values it combines, so keys of different kinds never collide
// (up to hash collisions, which only add candidates).
//
// Keys per record (a key is produced only when all of its parts are present):
//   1 family NYSIIS + birth year          7 given Soundex + family Soundex (order-free: swaps)
//   2 given NYSIIS + birth date           8 family NYSIIS + postal code
//   3 birth date + postal code            9 house number + street + postal code
//   4 phone                              10 birth date + family initial, and birth date +
//   5 ssn                                   given initial (two keys; order-free for swaps)
//   6 email                              11 given NYSIIS + postal code
//  12 given NYSIIS + birth year          13 email user name (>= 4 characters)
//  14 family NYSIIS + given initial
inline constexpr int kMaxBlockKeys = 15;

// Appends the record's block keys to `keys` (at most kMaxBlockKeys, no duplicates).
void AppendBlockKeys(const NormalizedRecord& r, std::vector<uint64_t>* keys);

// The kind (1..14) a key was made for, for statistics.
int BlockKeyKind(uint64_t key);

// Bit k set when a and b share a key of kind k.
uint32_t SharedKeyKinds(const NormalizedRecord& a, const NormalizedRecord& b);

}  // namespace hie::mpi
