#include "hie/mpi/blocking.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "hie/mpi/normalize.h"

namespace hie::mpi {
namespace {

NormalizedRecord N(const Record& r) { return Normalizer(nullptr).Normalize(r); }

Record Person() {
  Record r;
  r.given_name = "Maria";
  r.family_name = "Gonzalez";
  r.birth_date = "1980-02-03";
  r.postal_code = "10001";
  r.address_line = "5 Main St";
  r.phone = "212-555-0199";
  r.ssn = "219-09-9999";
  r.email = "maria.g@example.org";
  return r;
}

TEST(BlockingTest, KeysAreSortedUniqueAndBounded) {
  std::vector<uint64_t> keys;
  AppendBlockKeys(N(Person()), &keys);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  EXPECT_LE(keys.size(), static_cast<size_t>(kMaxBlockKeys));
  EXPECT_GE(keys.size(), 10u);
  for (uint64_t k : keys) {
    EXPECT_GE(BlockKeyKind(k), 1);
    EXPECT_LE(BlockKeyKind(k), 14);
  }
}

TEST(BlockingTest, EmptyRecordHasNoKeys) {
  std::vector<uint64_t> keys;
  AppendBlockKeys(N(Record{}), &keys);
  EXPECT_TRUE(keys.empty());
}

TEST(BlockingTest, AppendsWithoutTouchingExistingKeys) {
  std::vector<uint64_t> keys = {42};
  AppendBlockKeys(N(Person()), &keys);
  EXPECT_EQ(keys.front(), 42u);
}

TEST(BlockingTest, TyposAndSwapsStillShareAKey) {
  Record typo = Person();
  typo.family_name = "Gonzales";  // same NYSIIS
  typo.phone = "";
  typo.ssn = "";
  typo.email = "";
  EXPECT_NE(SharedKeyKinds(N(Person()), N(typo)), 0u);

  Record swapped = Person();
  swapped.given_name = "Gonzalez";
  swapped.family_name = "Maria";
  swapped.phone = "";
  swapped.ssn = "";
  swapped.email = "";
  swapped.postal_code = "";
  swapped.address_line = "";
  const uint32_t kinds = SharedKeyKinds(N(Person()), N(swapped));
  EXPECT_TRUE(kinds & (1u << 7)) << kinds;   // order-free Soundex pair
  EXPECT_TRUE(kinds & (1u << 10)) << kinds;  // birth date + initial, either order

  Record stranger;
  stranger.given_name = "Olu";
  stranger.family_name = "Adeyemi";
  stranger.birth_date = "1955-11-30";
  EXPECT_EQ(SharedKeyKinds(N(Person()), N(stranger)), 0u);
}

}  // namespace
}  // namespace hie::mpi
