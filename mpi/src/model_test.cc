#include "hie/mpi/model.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "hie/mpi/nicknames.h"
#include "hie/mpi/normalize.h"

namespace hie::mpi {
namespace {

int Level(const Comparison& c, Field f) { return c.level[static_cast<int>(f)]; }

class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = NicknameTable::FromCsv(
        "robert,has_nickname,bob\nsusannah,has_nickname,susan\nsusannah,has_nickname,hannah\n");
    ASSERT_TRUE(t.ok());
    table_ = *std::move(t);
  }
  NormalizedRecord N(const Record& r) const { return Normalizer(&table_).Normalize(r); }
  static Record Person() {
    Record r;
    r.record_id = "1";
    r.given_name = "Robert";
    r.middle_name = "James";
    r.family_name = "Smith";
    r.sex = "M";
    r.birth_date = "1970-03-15";
    r.address_line = "12 Main Street";
    r.city = "Springfield";
    r.state = "IL";
    r.postal_code = "62701";
    r.phone = "217-555-0101";
    r.email = "rsmith@example.org";
    r.ssn = "219-09-9999";
    return r;
  }
  NicknameTable table_;
};

TEST_F(CompareTest, IdenticalRecordsAgreeExactlyEverywhere) {
  const NormalizedRecord a = N(Person());
  const Comparison c = Compare(a, a);
  for (int f = 0; f < kNumFields; ++f) {
    EXPECT_EQ(c.level[f], NumLevels(static_cast<Field>(f)) - 1) << FieldName(Field(f));
  }
  EXPECT_EQ(c.guards, 0u);
}

TEST_F(CompareTest, MissingValuesAreLevelZero) {
  const Comparison c = Compare(N(Person()), N(Record{}));
  for (int f = 0; f < kNumFields; ++f) EXPECT_EQ(c.level[f], 0) << FieldName(Field(f));
}

TEST_F(CompareTest, Levels) {
  Record b = Person();
  b.given_name = "Bob";           // nickname
  b.family_name = "Smiht";        // transposition
  b.birth_date = "1970-15-03";    // impossible as written: read with day and month exchanged
  b.address_line = "12 Main St";  // abbreviation
  b.phone = "(217) 555-0101";
  b.email = "rsmith@example.com";  // same user
  b.ssn = "219-09-9998";           // one typo
  b.middle_name = "J";
  const Comparison c = Compare(N(Person()), N(b));
  EXPECT_EQ(Level(c, Field::kGiven), 3);
  EXPECT_EQ(Level(c, Field::kFamily), 3);
  EXPECT_EQ(Level(c, Field::kBirthDate), 5);
  EXPECT_EQ(Level(c, Field::kAddress), 4);
  EXPECT_EQ(Level(c, Field::kPhone), 3);
  EXPECT_EQ(Level(c, Field::kEmail), 2);
  EXPECT_EQ(Level(c, Field::kSsn), 2);
  EXPECT_EQ(Level(c, Field::kMiddle), 2);
}

TEST_F(CompareTest, DateLevels) {
  auto level = [this](const char* x, const char* y) {
    Record a;
    a.birth_date = x;
    Record b;
    b.birth_date = y;
    return Level(Compare(N(a), N(b)), Field::kBirthDate);
  };
  EXPECT_EQ(level("1970-03-15", "1970-03-15"), 5);
  EXPECT_EQ(level("1970-03-04", "1970-04-03"), 4);
  EXPECT_EQ(level("1970-03-15", "1971-03-15"), 3);
  EXPECT_EQ(level("1970-03-15", "1970-08-20"), 2);
  EXPECT_EQ(level("1970-03-15", "1985-08-20"), 1);
  EXPECT_EQ(level("1970-02-31", "1970-03-15"), 2);  // impossible date keeps its year
  EXPECT_EQ(level("", "1970-03-15"), 0);
  // One digit typed wrong or two adjacent digits exchanged, as written, is one typo even when
  // the parts then disagree twice or the date becomes impossible.
  EXPECT_EQ(level("19420704", "19402704"), 3);  // 1940-04-27 read swapped, but one exchange
  EXPECT_EQ(level("19150412", "19105412"), 3);  // month 54: only the year 1910 is kept
  EXPECT_EQ(level("19150412", "19150472"), 3);  // day 72
  EXPECT_EQ(level("19420704", "19420407"), 4);  // day and month exchanged stays its own level
  EXPECT_EQ(level("19420704", "19240704"), 3);  // one part off (the year)
  EXPECT_EQ(level("19420704", "19247004"), 1);  // two exchanges
  EXPECT_EQ(level("19420704", "19431805"), 1);
}

TEST_F(CompareTest, NameSwapAndCompoundNames) {
  Record b = Person();
  b.given_name = "Smith";
  b.family_name = "Robert";
  const Comparison swapped = Compare(N(Person()), N(b));
  EXPECT_TRUE(swapped.names_swapped);
  EXPECT_EQ(Level(swapped, Field::kGiven), 4);
  EXPECT_EQ(Level(swapped, Field::kFamily), 4);

  Record x = Person();
  x.family_name = "García-López";
  Record y = Person();
  y.family_name = "Garcia";
  EXPECT_EQ(Level(Compare(N(x), N(y)), Field::kFamily), 3);
}

TEST_F(CompareTest, Symmetric) {
  // Every pair from a small zoo of variants compares the same both ways.
  std::vector<Record> zoo;
  zoo.push_back(Person());
  Record r = Person();
  r.given_name = "Smith";
  r.family_name = "Robert";
  zoo.push_back(r);
  r = Person();
  r.given_name = "Hannah";
  r.sex = "F";
  zoo.push_back(r);
  r.given_name = "Susan";
  r.ssn = "";
  zoo.push_back(r);
  r = Person();
  r.family_name = "Smith Jr";
  r.birth_date = "1995-03-15";
  zoo.push_back(r);
  zoo.push_back(Record{});
  r = Person();
  r.org = "a";
  r.local_id = "1";
  zoo.push_back(r);
  r.local_id = "2";
  zoo.push_back(r);
  const Model model;
  for (const auto& x : zoo) {
    for (const auto& y : zoo) {
      const NormalizedRecord a = N(x);
      const NormalizedRecord b = N(y);
      const Comparison ab = Compare(a, b);
      const Comparison ba = Compare(b, a);
      EXPECT_EQ(ab.level, ba.level);
      EXPECT_EQ(ab.guards, ba.guards);
      EXPECT_DOUBLE_EQ(model.Score(a, b, ab), model.Score(b, a, ba));
    }
  }
}

TEST_F(CompareTest, TwinGuard) {
  Record twin = Person();
  twin.given_name = "Hannah";
  twin.middle_name = "";
  twin.sex = "F";
  twin.ssn = "";
  twin.email = "";
  const Comparison c = Compare(N(Person()), N(twin));
  EXPECT_TRUE(c.guards & kGuardTwin) << GuardNames(c.guards);
  // Same sex, different given names, same family name and address: still twins.
  twin.sex = "M";
  twin.given_name = "William";
  EXPECT_TRUE(Compare(N(Person()), N(twin)).guards & kGuardTwin);
  // Two nicknames of one formal name are different given names for this purpose.
  Record s1 = Person();
  s1.given_name = "Susan";
  s1.middle_name = "";
  s1.ssn = "";
  s1.email = "";
  Record s2 = s1;
  s2.given_name = "Hannah";
  EXPECT_TRUE(Compare(N(s1), N(s2)).guards & kGuardTwin);
  // A typo in the given name is not a twin.
  Record typo = Person();
  typo.given_name = "Robret";
  EXPECT_EQ(Compare(N(Person()), N(typo)).guards, 0u);
  // Nor is a nickname.
  Record nick = Person();
  nick.given_name = "Bob";
  EXPECT_EQ(Compare(N(Person()), N(nick)).guards, 0u);
  // Names sharing most letters at different lengths are two names (DANIEL / AIDEN), but
  // transposed letters at equal length are a typo.
  Record d1 = Person();
  d1.given_name = "Daniel";
  d1.ssn = "";
  d1.email = "";
  Record d2 = d1;
  d2.given_name = "Aiden";
  d2.middle_name = "";
  EXPECT_TRUE(Compare(N(d1), N(d2)).guards & kGuardTwin);
  d2.given_name = "Dnaiel";
  EXPECT_FALSE(Compare(N(d1), N(d2)).guards & kGuardTwin);
  // Similar given names (JOHN / JUAN: one NYSIIS code) with different middle names: twins.
  Record j1 = d1;
  j1.given_name = "John";
  j1.middle_name = "Carlos";
  Record j2 = j1;
  j2.given_name = "Juan";
  j2.middle_name = "Jose";
  EXPECT_TRUE(Compare(N(j1), N(j2)).guards & kGuardTwin);
  j2.middle_name = "";  // no middle name to tell them apart: a spelling variant
  EXPECT_FALSE(Compare(N(j1), N(j2)).guards & kGuardTwin);
}

TEST_F(CompareTest, JuniorSeniorGuard) {
  Record junior = Person();
  junior.family_name = "Smith Jr";
  junior.ssn = "";
  Record senior = Person();
  senior.family_name = "Smith Sr";
  senior.ssn = "";
  EXPECT_TRUE(Compare(N(junior), N(senior)).guards & kGuardJuniorSenior);
  // Same name and address, born 25 years apart on a different day.
  Record son = Person();
  son.birth_date = "1995-07-01";
  son.ssn = "";
  Record father = Person();
  father.ssn = "";
  EXPECT_EQ(Compare(N(father), N(son)).guards, kGuardGeneration);
  // Suffixes and years both: two reasons, two people.
  Record son_jr = son;
  son_jr.family_name = "Smith Jr";
  EXPECT_EQ(Compare(N(senior), N(son_jr)).guards, kGuardJuniorSenior | kGuardGeneration);
  EXPECT_EQ(Decide(30, Compare(N(senior), N(son_jr)).guards, Thresholds()), Decision::kNew);
  // A one-digit typo in the year that keeps month and day is not a generation...
  Record typo = Person();
  typo.birth_date = "1990-03-15";
  typo.ssn = "";
  EXPECT_FALSE(Compare(N(father), N(typo)).guards & kGuardGeneration);
  // ...but two digits are a generation even on the same birthday.
  typo.birth_date = "1997-03-15";
  EXPECT_TRUE(Compare(N(father), N(typo)).guards & kGuardGeneration);
}

TEST_F(CompareTest, SsnGuardOnlyForUsSsns) {
  Record other = Person();
  other.ssn = "078-05-1120";
  EXPECT_TRUE(Compare(N(Person()), N(other)).guards & kGuardSsnConflict);
  Record typo = Person();
  typo.ssn = "219-09-9998";
  EXPECT_FALSE(Compare(N(Person()), N(typo)).guards & kGuardSsnConflict);
  Record id7 = Person();
  id7.ssn = "1234567";
  Record id7b = Person();
  id7b.ssn = "7654321";
  EXPECT_FALSE(Compare(N(id7), N(id7b)).guards & kGuardSsnConflict);  // not US SSNs
}

TEST_F(CompareTest, DuplicateMrnsInOneOrgAreNotGuarded) {
  Record a = Person();
  a.org = "clinic-a";
  a.local_id = "MRN1";
  Record b = a;
  b.local_id = "MRN2";
  EXPECT_EQ(Compare(N(a), N(b)).guards, 0u);
}

TEST_F(CompareTest, SharedEmailIsNotATwin) {
  Record a = Person();
  a.ssn = "";
  Record b = a;
  b.given_name = "Bobby-Joe";  // not spelled like Robert, not a known nickname
  EXPECT_FALSE(Compare(N(a), N(b)).guards & kGuardTwin);  // same e-mail
  b.email = "";
  EXPECT_TRUE(Compare(N(a), N(b)).guards & kGuardTwin);  // twins may share a middle name
}

TEST_F(CompareTest, HouseholdGuard) {
  Record husband = Person();
  husband.ssn = "";
  husband.email = "";
  Record wife = husband;
  wife.given_name = "Margaret";
  wife.middle_name = "";
  wife.sex = "F";
  wife.birth_date = "1972-08-01";
  EXPECT_TRUE(Compare(N(husband), N(wife)).guards & kGuardHousehold);
  Record brother = husband;  // same sex, born the same year
  brother.given_name = "Derek";
  brother.birth_date = "1970-11-30";
  EXPECT_TRUE(Compare(N(husband), N(brother)).guards & kGuardHousehold);
  Record spouse = husband;  // another given name, born on the same day of another year
  spouse.given_name = "William";
  spouse.birth_date = "1976-03-15";
  EXPECT_TRUE(Compare(N(husband), N(spouse)).guards & kGuardHousehold);
  Record unnamed = husband;  // registered without a given name, born another day and year
  unnamed.given_name = "UNKNOWN";
  unnamed.middle_name = "";
  unnamed.birth_date = "1998-07-06";
  EXPECT_TRUE(Compare(N(husband), N(unnamed)).guards & kGuardHousehold);
  unnamed.birth_date = "1970-03-16";  // a one-part typo of his birth date: maybe him
  EXPECT_FALSE(Compare(N(husband), N(unnamed)).guards & kGuardHousehold);
  Record typo = husband;  // a typo in the name and in the date: the same man
  typo.given_name = "Robrt";
  typo.birth_date = "1970-11-30";
  EXPECT_FALSE(Compare(N(husband), N(typo)).guards & kGuardHousehold);
}

TEST_F(CompareTest, NamesakeGuard) {
  Record one = Person();
  one.ssn = "";
  Record other = one;  // same name and e-mail, born months apart, living elsewhere
  other.birth_date = "1970-09-02";
  other.address_line = "880 Orchard Blvd";
  other.city = "Peoria";
  other.postal_code = "61602";
  other.phone = "309-555-0187";
  EXPECT_EQ(Compare(N(one), N(other)).guards & kGuardNamesake, kGuardNamesake);
  EXPECT_EQ(GuardNames(kGuardNamesake), "namesake");
  Record born_elsewhen = other;  // birth years apart too
  born_elsewhen.birth_date = "1968-01-21";
  EXPECT_TRUE(Compare(N(one), N(born_elsewhen)).guards & kGuardNamesake);
  Record moved = other;  // a move with the same birth date, or one part of it off: one person
  moved.birth_date = one.birth_date;
  EXPECT_FALSE(Compare(N(one), N(moved)).guards & kGuardNamesake);
  moved.birth_date = "1970-03-16";
  EXPECT_FALSE(Compare(N(one), N(moved)).guards & kGuardNamesake);
  Record same_phone = other;  // still sharing a phone: not living apart
  same_phone.phone = one.phone;
  EXPECT_FALSE(Compare(N(one), N(same_phone)).guards & kGuardNamesake);
  Record no_contact = other;  // nothing to say where they live: the guard has no ground
  no_contact.address_line = no_contact.phone = "";
  EXPECT_FALSE(Compare(N(one), N(no_contact)).guards & kGuardNamesake);
  Record identified = other;  // an agreeing SSN lifts it
  one.ssn = identified.ssn = "219-09-9999";
  EXPECT_FALSE(Compare(N(one), N(identified)).guards & kGuardNamesake);
}

TEST_F(CompareTest, ExplanationAddsUpToScore) {
  const Model model;
  Record b = Person();
  b.given_name = "Bob";
  b.birth_date = "1970-03-16";
  b.email = "";
  NormalizedRecord x = N(Person());
  NormalizedRecord y = N(b);
  const Comparison c = Compare(x, y);
  const Explanation e = model.Explain(x, y, c);
  double sum = e.prior + e.location_cap_adjustment;
  for (const FieldWeight& fw : e.fields) {
    sum += fw.weight;
    EXPECT_NE(fw.level, 0);
    EXPECT_NE(fw.field, Field::kEmail);  // missing on one side: not listed
  }
  EXPECT_NEAR(sum, e.total, 1e-9);
  EXPECT_NEAR(e.total, model.Score(x, y, c), 1e-9);
}

// Another home in the same area: city, postal code and state agreeing count at most 10 bits
// together when the street addresses differ and the phones do not agree; one home keeps the
// whole household cap.
TEST_F(CompareTest, NeighboursAreNotHousemates) {
  ModelParams p = Model::DefaultParams();
  for (Field f :
       {Field::kAddress, Field::kCity, Field::kPostalCode, Field::kState, Field::kPhone}) {
    p.u[static_cast<int>(f)][NumLevels(f) - 1] = 1e-5;  // rare agreement: about 16 bits each
  }
  const Model model(p);
  auto location_sum = [&](const Record& a, const Record& b) {
    const NormalizedRecord x = N(a);
    const NormalizedRecord y = N(b);
    const Explanation e = model.Explain(x, y, Compare(x, y));
    double sum = e.location_cap_adjustment;
    for (const FieldWeight& fw : e.fields) {
      if (fw.field == Field::kAddress || fw.field == Field::kCity ||
          fw.field == Field::kPostalCode || fw.field == Field::kState ||
          fw.field == Field::kPhone) {
        sum += fw.weight;
      }
    }
    return sum;
  };
  Record neighbour = Person();
  neighbour.address_line = "980 Oak Avenue";
  neighbour.phone = "217-555-7777";
  EXPECT_NEAR(location_sum(Person(), neighbour), 10.0, 1e-9);
  Record same_phone = neighbour;
  same_phone.phone = Person().phone;
  EXPECT_GT(location_sum(Person(), same_phone), 15.0);
  Record same_home = Person();
  same_home.phone = "217-555-7777";
  EXPECT_GT(location_sum(Person(), same_home), 15.0);
}

TEST_F(CompareTest, RareFamilyNameWeighsMoreThanCommon) {
  const Model model;
  NormalizedRecord a = N(Person());
  NormalizedRecord b = a;
  const Comparison c = Compare(a, b);
  a.family_freq = b.family_freq = 0.01f;  // SMITH-like
  const double common = model.Score(a, b, c);
  a.family_freq = b.family_freq = 0.00001f;
  const double rare = model.Score(a, b, c);
  EXPECT_GT(rare, common + 3);
  const Explanation e = model.Explain(a, b, c);
  bool tf = false;
  for (const auto& fw : e.fields) tf |= fw.field == Field::kFamily && fw.tf_adjusted;
  EXPECT_TRUE(tf);
}

TEST(DecideTest, ThresholdsAndGuards) {
  const Thresholds t;
  EXPECT_EQ(Decide(t.auto_link + 1, 0, t), Decision::kAutoLink);
  EXPECT_EQ(Decide(t.auto_link + 50, kGuardTwin, t), Decision::kReview);
  EXPECT_EQ(Decide((t.auto_link + t.review) / 2, 0, t), Decision::kReview);
  EXPECT_EQ(Decide(t.review - 1, 0, t), Decision::kNew);
  EXPECT_EQ(Decide((t.auto_link + t.review) / 2, kGuardNamesake, t), Decision::kReview);
  EXPECT_EQ(Decide(t.review - 1, kGuardHousehold, t), Decision::kNew);
  // Two guards: two people.
  EXPECT_EQ(Decide(t.auto_link + 50, kGuardTwin | kGuardHousehold, t), Decision::kNew);
  EXPECT_EQ(Decide(t.auto_link + 50, kGuardSsnConflict | kGuardJuniorSenior, t), Decision::kNew);
  EXPECT_STREQ(DecisionName(Decision::kAutoLink), "auto_link");
}

TEST(PatternKeyTest, RoundTrip) {
  Comparison c;
  for (int f = 0; f < kNumFields; ++f) c.level[f] = static_cast<uint8_t>(f % 6);
  EXPECT_EQ(PatternLevels(PatternKey(c)), c.level);
}

// EM on a synthetic two-class mixture drawn from known parameters recovers them.
TEST(EmTest, RecoversKnownMixture) {
  std::mt19937_64 rng(1234);
  // True parameters for three-level fields (e.g. postal code: disagree, typo, exact): level
  // index 1..3.
  const std::array<double, 4> m3 = {0, 0.05, 0.15, 0.80};
  const std::array<double, 4> u3 = {0, 0.90, 0.07, 0.03};
  const int fields[] = {static_cast<int>(Field::kCity), static_cast<int>(Field::kPostalCode),
                        static_cast<int>(Field::kPhone), static_cast<int>(Field::kSsn),
                        static_cast<int>(Field::kEmail)};
  const double lambda = 0.2;
  absl::flat_hash_map<uint64_t, double> counts;
  std::uniform_real_distribution<double> uni(0, 1);
  auto draw = [&](const std::array<double, 4>& p) {
    double x = uni(rng);
    for (int l = 1; l < 4; ++l) {
      if ((x -= p[l]) < 0) return l;
    }
    return 3;
  };
  for (int i = 0; i < 200000; ++i) {
    const bool match = uni(rng) < lambda;
    Comparison c;
    for (int f : fields) c.level[f] = static_cast<uint8_t>(draw(match ? m3 : u3));
    counts[PatternKey(c)] += 1;
  }
  std::vector<PatternCount> patterns;
  for (const auto& [k, n] : counts) patterns.push_back({k, n});

  for (bool estimate_u : {false, true}) {
    ModelParams p = Model::DefaultParams();
    for (int f : fields) {
      if (!estimate_u) {
        for (int l = 1; l < 4; ++l) p.u[f][l] = u3[l];  // u known (as from random pairs)
      }
    }
    EmOptions options;
    options.estimate_u = estimate_u;
    const EmResult r = RunEm(patterns, options, &p);
    EXPECT_TRUE(r.converged) << "estimate_u=" << estimate_u;
    EXPECT_NEAR(p.lambda, lambda, 0.01) << "estimate_u=" << estimate_u;
    for (int f : fields) {
      for (int l = 1; l < 4; ++l) {
        EXPECT_NEAR(p.m[f][l], m3[l], 0.015) << FieldName(Field(f)) << " level " << l;
        EXPECT_NEAR(p.u[f][l], u3[l], 0.015) << FieldName(Field(f)) << " level " << l;
      }
    }
  }
}

TEST(EmTest, EmptyInputLeavesParameters) {
  ModelParams p = Model::DefaultParams();
  const ModelParams before = p;
  const EmResult r = RunEm({}, EmOptions{}, &p);
  EXPECT_EQ(r.iterations, 0);
  EXPECT_EQ(p.m, before.m);
}

TEST(EstimateUTest, CountsLevelsIgnoringMissing) {
  std::vector<Comparison> pairs(100);
  for (int i = 0; i < 100; ++i) {
    pairs[i].level[static_cast<int>(Field::kSex)] = i < 50 ? 2 : (i < 90 ? 1 : 0);
  }
  ModelParams p = Model::DefaultParams();
  EstimateU(pairs, &p);
  const int sex = static_cast<int>(Field::kSex);
  EXPECT_NEAR(p.u[sex][2], 50.5 / 91.0, 1e-9);
  EXPECT_NEAR(p.u[sex][1], 40.5 / 91.0, 1e-9);
}

}  // namespace
}  // namespace hie::mpi

namespace hie::mpi {
namespace {

class OnlineGuardsTest : public CompareTest {
 protected:
  // Two records of one household: same family name, address and phone; no SSN or e-mail.
  static Record Household(const std::string& given, const std::string& sex,
                          const std::string& birth_date) {
    Record r = Person();
    r.given_name = given;
    r.middle_name = "";
    r.sex = sex;
    r.birth_date = birth_date;
    r.ssn = "";
    r.email = "";
    return r;
  }
  uint32_t Guards(const Record& x, const Record& y) const {
    const NormalizedRecord a = N(x);
    const NormalizedRecord b = N(y);
    const Comparison c = Compare(a, b);
    EXPECT_EQ(OnlineGuards(a, b, c), OnlineGuards(b, a, Compare(b, a)));  // symmetric
    return OnlineGuards(a, b, c);
  }
};

TEST_F(OnlineGuardsTest, UnlikeGivenNamesWithoutBirthDate) {
  const Record roger = Household("Roger", "M", "1946-12-25");
  const Record ricardo = Household("Ricardo", "M", "");
  EXPECT_EQ(Compare(N(roger), N(ricardo)).guards, 0u);  // the batch guards let it through
  EXPECT_EQ(Guards(roger, ricardo), kGuardHousehold);
  // The same given name, or a nickname of it, is the same person as far as this guard goes.
  EXPECT_EQ(Guards(roger, Household("Roger", "M", "")), 0u);
  EXPECT_EQ(Guards(Household("Robert", "M", "1946-12-25"), Household("Bob", "M", "")), 0u);
  // With a birth date on both sides the usual guards decide.
  EXPECT_EQ(Guards(roger, Household("Ricardo", "M", "1946-12-25")), 0u);
  // Another address and phone: not a household.
  Record elsewhere = ricardo;
  elsewhere.address_line = "99 Elm Road";
  elsewhere.phone = "217-555-0199";
  EXPECT_EQ(Guards(roger, elsewhere), 0u);
}

TEST_F(OnlineGuardsTest, DifferentSexesWithSimilarGivenNames) {
  const Record patrick = Household("Patrick", "M", "1960-10-19");
  const Record patricia = Household("Patricia", "F", "1960-12-29");
  EXPECT_EQ(Guards(patrick, patricia), kGuardHousehold);
  // A sex typo on the same person (same given name) is not guarded here.
  EXPECT_EQ(Guards(patrick, Household("Patrick", "F", "1960-10-19")), 0u);
  // No given name on one side: a different sex is all there is to tell them apart.
  EXPECT_EQ(Guards(patrick, Household("UNKNOWN", "F", "")), kGuardHousehold);
  EXPECT_EQ(Guards(patrick, Household("", "M", "")), 0u);
}

TEST_F(OnlineGuardsTest, AnAgreeingIdentifierLiftsTheGuard) {
  Record roger = Household("Roger", "M", "1946-12-25");
  Record ricardo = Household("Ricardo", "M", "");
  roger.ssn = ricardo.ssn = "219-09-9999";
  EXPECT_EQ(Guards(roger, ricardo), 0u);
  roger.ssn = ricardo.ssn = "";
  roger.email = ricardo.email = "family@example.org";
  EXPECT_EQ(Guards(roger, ricardo), 0u);
}

}  // namespace
}  // namespace hie::mpi
