#include "hie/mpi/generator.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "generator_tables.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hie::mpi {
namespace {

using ::testing::HasSubstr;

auto Fields(const Record& r) {
  return std::tie(r.record_id, r.org, r.local_id, r.given_name, r.middle_name, r.family_name, r.sex,
                  r.birth_date, r.address_line, r.city, r.state, r.postal_code, r.phone, r.email,
                  r.ssn);
}

// Everything but the source identifiers.
auto Content(const Record& r) {
  return std::tie(r.given_name, r.middle_name, r.family_name, r.sex, r.birth_date, r.address_line,
                  r.city, r.state, r.postal_code, r.phone, r.email, r.ssn);
}

bool SameOutput(const GeneratedPopulation& a, const GeneratedPopulation& b) {
  if (a.records.size() != b.records.size() || a.hard_pairs.size() != b.hard_pairs.size()) {
    return false;
  }
  for (size_t i = 0; i < a.records.size(); ++i) {
    const LabelledRecord& x = a.records[i];
    const LabelledRecord& y = b.records[i];
    if (Fields(x.record) != Fields(y.record) || x.person_id != y.person_id ||
        x.original != y.original || x.errors != y.errors) {
      return false;
    }
  }
  for (size_t i = 0; i < a.hard_pairs.size(); ++i) {
    const HardNonMatchPair& x = a.hard_pairs[i];
    const HardNonMatchPair& y = b.hard_pairs[i];
    if (x.record_id_a != y.record_id_a || x.record_id_b != y.record_id_b || x.kind != y.kind) {
      return false;
    }
  }
  return true;
}

struct Date {
  int y = 0, m = 0, d = 0;
  bool operator==(const Date&) const = default;
};

// Parses the formats the generator writes: YYYY-MM-DD, MM/DD/YYYY, M/D/YYYY, YYYYMMDD.
Date ParseDate(const std::string& s) {
  Date d;
  if (s.size() == 10 && s[4] == '-') {
    d = {std::stoi(s.substr(0, 4)), std::stoi(s.substr(5, 2)), std::stoi(s.substr(8, 2))};
  } else if (s.size() == 8 && s.find('/') == std::string::npos) {
    d = {std::stoi(s.substr(0, 4)), std::stoi(s.substr(4, 2)), std::stoi(s.substr(6, 2))};
  } else if (size_t a = s.find('/'), b = s.rfind('/'); a != std::string::npos && a != b) {
    d = {std::stoi(s.substr(b + 1)), std::stoi(s.substr(0, a)), std::stoi(s.substr(a + 1, b))};
  }
  return d;
}

std::string StripSuffix(std::string name) {
  for (const char* suffix : {" Jr", " Sr", " II", " III"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      return name.substr(0, name.size() - sfx.size());
    }
  }
  return name;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 128; });
}

std::string ErrorNames(uint32_t errors) {
  std::string names;
  for (int k = 0; k < kNumErrorKinds; ++k) {
    if ((errors >> k) & 1u) names += std::string(ErrorKindName(static_cast<ErrorKind>(k))) + " ";
  }
  return names;
}

struct Index {
  std::unordered_map<std::string, const LabelledRecord*> by_id;
  std::unordered_map<int64_t, const LabelledRecord*> original;
  std::unordered_map<int64_t, std::vector<const LabelledRecord*>> by_person;

  explicit Index(const GeneratedPopulation& pop) {
    for (const LabelledRecord& r : pop.records) {
      by_id[r.record.record_id] = &r;
      by_person[r.person_id].push_back(&r);
      if (r.original) original[r.person_id] = &r;
    }
  }
};

GeneratorOptions Options(int64_t persons, uint64_t seed = 1) {
  GeneratorOptions o;
  o.persons = persons;
  o.seed = seed;
  return o;
}

// One 10k population shared by the statistical tests.
const GeneratedPopulation& TenK() {
  static const GeneratedPopulation* const pop =
      new GeneratedPopulation(GeneratePopulation(Options(10000, 20240601)));
  return *pop;
}

TEST(GeneratorTest, SameSeedGivesIdenticalOutput) {
  const GeneratedPopulation a = GeneratePopulation(Options(2000, 7));
  const GeneratedPopulation b = GeneratePopulation(Options(2000, 7));
  EXPECT_TRUE(SameOutput(a, b));
}

uint64_t Fingerprint(const GeneratedPopulation& pop) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a
  auto add = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  };
  for (const LabelledRecord& r : pop.records) {
    std::apply([&](const auto&... field) { (add(field), ...); }, Fields(r.record));
    add(std::to_string(r.person_id));
    add(std::to_string(r.errors));
  }
  for (const HardNonMatchPair& p : pop.hard_pairs) {
    add(p.record_id_a);
    add(p.record_id_b);
    add(HardNonMatchKindName(p.kind));
  }
  return h;
}

// The output must not depend on the platform or standard library. This pins it: a deliberate
// change to the generator updates the constant (and says so in its commit message).
TEST(GeneratorTest, OutputIsPinned) {
  EXPECT_EQ(Fingerprint(GeneratePopulation(Options(300, 1))), 12837829424227797304ULL);
}

TEST(GeneratorTest, DifferentSeedGivesDifferentOutput) {
  const GeneratedPopulation a = GeneratePopulation(Options(2000, 7));
  const GeneratedPopulation b = GeneratePopulation(Options(2000, 8));
  EXPECT_FALSE(SameOutput(a, b));
  // Not just a different order: the first records' content differs.
  int same = 0;
  for (int i = 0; i < 100; ++i)
    same += Content(a.records[i].record) == Content(b.records[i].record);
  EXPECT_LT(same, 5);
}

TEST(GeneratorTest, CountsAndIds) {
  GeneratorOptions o = Options(3000, 3);
  o.orgs = 4;
  const GeneratedPopulation pop = GeneratePopulation(o);
  const Index index(pop);

  EXPECT_EQ(index.by_person.size(), 3000u);
  EXPECT_EQ(index.original.size(), 3000u);
  EXPECT_EQ(index.by_id.size(), pop.records.size()) << "record ids must be unique";
  std::set<std::pair<std::string, std::string>> local_ids;
  std::set<std::string> orgs;
  for (const LabelledRecord& r : pop.records) {
    EXPECT_GE(r.person_id, 0);
    EXPECT_LT(r.person_id, 3000);
    EXPECT_THAT(r.record.record_id, ::testing::MatchesRegex("r[0-9]{8}"));
    EXPECT_FALSE(r.record.local_id.empty());
    EXPECT_TRUE(local_ids.insert({r.record.org, r.record.local_id}).second)
        << "duplicate local id " << r.record.org << " " << r.record.local_id;
    orgs.insert(r.record.org);
    if (r.original) {
      EXPECT_EQ(r.errors, 0u);
    }
  }
  EXPECT_EQ(orgs, (std::set<std::string>{"clinic-a", "clinic-b", "clinic-c", "clinic-d"}));

  // Mean 1 further record per person: about 6000 records.
  EXPECT_NEAR(static_cast<double>(pop.records.size()) / 3000, 2.0, 0.1);

  // A person's records are at distinct orgs while there are orgs left.
  for (const auto& [pid, recs] : index.by_person) {
    std::set<std::string> person_orgs;
    for (const LabelledRecord* r : recs) person_orgs.insert(r->record.org);
    EXPECT_EQ(person_orgs.size(), std::min<size_t>(recs.size(), 4)) << "person " << pid;
  }

  // Records are shuffled: originals are not all at the front.
  int originals_in_first_half = 0;
  for (size_t i = 0; i < pop.records.size() / 2; ++i) {
    originals_in_first_half += pop.records[i].original;
  }
  EXPECT_NEAR(originals_in_first_half, 1500, 150);
}

TEST(GeneratorTest, EdgeOptions) {
  EXPECT_TRUE(GeneratePopulation(Options(0)).records.empty());

  GeneratorOptions one_org = Options(200);
  one_org.orgs = 1;
  for (const LabelledRecord& r : GeneratePopulation(one_org).records) {
    EXPECT_EQ(r.record.org, "clinic-a");
  }

  GeneratorOptions no_extras = Options(300);
  no_extras.mean_extra_records = 0;
  EXPECT_EQ(GeneratePopulation(no_extras).records.size(), 300u);

  GeneratorOptions all_pairs = Options(301);
  all_pairs.hard_non_match_fraction = 1.0;
  EXPECT_EQ(GeneratePopulation(all_pairs).hard_pairs.size(), 150u);

  GeneratorOptions many_orgs = Options(50);
  many_orgs.orgs = 30;
  many_orgs.mean_extra_records = 5;
  std::set<std::string> orgs;
  for (const LabelledRecord& r : GeneratePopulation(many_orgs).records) orgs.insert(r.record.org);
  EXPECT_TRUE(orgs.count("clinic-z"));
  EXPECT_TRUE(orgs.count("clinic-ad"));
}

TEST(GeneratorTest, HardPairsHaveTheirPromisedProperties) {
  GeneratorOptions o = Options(4000, 11);
  o.hard_non_match_fraction = 0.1;
  const GeneratedPopulation pop = GeneratePopulation(o);
  const Index index(pop);
  ASSERT_EQ(pop.hard_pairs.size(), 400u);

  std::map<HardNonMatchKind, int> kinds;
  std::set<int64_t> paired_persons;
  int twins_other_sex = 0, jr_sr_suffix_recorded = 0;
  for (const HardNonMatchPair& p : pop.hard_pairs) {
    ++kinds[p.kind];
    ASSERT_TRUE(index.by_id.count(p.record_id_a)) << p.record_id_a;
    ASSERT_TRUE(index.by_id.count(p.record_id_b)) << p.record_id_b;
    const LabelledRecord& la = *index.by_id.at(p.record_id_a);
    const LabelledRecord& lb = *index.by_id.at(p.record_id_b);
    ASSERT_NE(la.person_id, lb.person_id);
    EXPECT_TRUE(la.original && lb.original);
    EXPECT_TRUE(paired_persons.insert(la.person_id).second);
    EXPECT_TRUE(paired_persons.insert(lb.person_id).second);
    const Record& a = la.record;
    const Record& b = lb.record;
    const std::string what =
        std::string(HardNonMatchKindName(p.kind)) + " " + a.record_id + " " + b.record_id;
    switch (p.kind) {
      case HardNonMatchKind::kTwin:
        EXPECT_EQ(a.family_name, b.family_name) << what;
        EXPECT_EQ(a.birth_date, b.birth_date) << what;
        EXPECT_EQ(a.address_line, b.address_line) << what;
        EXPECT_EQ(a.postal_code, b.postal_code) << what;
        EXPECT_EQ(a.phone, b.phone) << what;
        EXPECT_NE(a.given_name, b.given_name) << what;
        EXPECT_TRUE(a.ssn.empty() || a.ssn != b.ssn) << what;
        twins_other_sex += a.sex != b.sex;
        break;
      case HardNonMatchKind::kJuniorSenior: {
        jr_sr_suffix_recorded += (a.family_name + a.given_name !=
                                  StripSuffix(a.family_name) + StripSuffix(a.given_name)) ||
                                 (b.family_name + b.given_name !=
                                  StripSuffix(b.family_name) + StripSuffix(b.given_name));
        EXPECT_EQ(StripSuffix(a.given_name), StripSuffix(b.given_name)) << what;
        EXPECT_EQ(StripSuffix(a.family_name), StripSuffix(b.family_name)) << what;
        EXPECT_EQ(a.address_line, b.address_line) << what;
        EXPECT_EQ(a.sex, b.sex) << what;
        const int gap = std::abs(ParseDate(a.birth_date).y - ParseDate(b.birth_date).y);
        EXPECT_GE(gap, 20) << what;
        EXPECT_LE(gap, 40) << what;
        break;
      }
      case HardNonMatchKind::kSpouse:
        EXPECT_EQ(a.family_name, b.family_name) << what;
        EXPECT_EQ(a.address_line, b.address_line) << what;
        EXPECT_EQ(a.phone, b.phone) << what;
        EXPECT_NE(a.given_name, b.given_name) << what;
        EXPECT_NE(a.birth_date, b.birth_date) << what;
        break;
      case HardNonMatchKind::kNamesake:
        EXPECT_EQ(a.given_name, b.given_name) << what;
        EXPECT_EQ(a.family_name, b.family_name) << what;
        EXPECT_EQ(a.sex, b.sex) << what;
        EXPECT_NE(a.birth_date, b.birth_date) << what;
        EXPECT_NE(a.address_line, b.address_line) << what;
        break;
    }
  }
  // Kinds are mixed 30/20/30/20.
  EXPECT_NEAR(kinds[HardNonMatchKind::kTwin], 120, 35);
  EXPECT_NEAR(kinds[HardNonMatchKind::kJuniorSenior], 80, 30);
  EXPECT_NEAR(kinds[HardNonMatchKind::kSpouse], 120, 35);
  EXPECT_NEAR(kinds[HardNonMatchKind::kNamesake], 80, 30);
  // Twins are often of the other sex; Jr/Sr suffixes are sometimes recorded, sometimes not.
  EXPECT_GT(twins_other_sex, kinds[HardNonMatchKind::kTwin] / 4);
  EXPECT_LT(twins_other_sex, kinds[HardNonMatchKind::kTwin] * 3 / 4);
  EXPECT_GT(jr_sr_suffix_recorded, kinds[HardNonMatchKind::kJuniorSenior] / 4);
  EXPECT_LT(jr_sr_suffix_recorded, kinds[HardNonMatchKind::kJuniorSenior]);

  // Namesakes share a common name: within the 20 most common surnames.
  const auto family = gen_tables::FamilyNames();
  const std::set<std::string> top20(family.begin(), family.begin() + 20);
  for (const HardNonMatchPair& p : pop.hard_pairs) {
    if (p.kind == HardNonMatchKind::kNamesake) {
      EXPECT_TRUE(top20.count(index.by_id.at(p.record_id_a)->record.family_name))
          << index.by_id.at(p.record_id_a)->record.family_name;
    }
  }
}

TEST(GeneratorTest, ErrorRateZeroGivesCleanCopies) {
  GeneratorOptions o = Options(3000, 5);
  o.error_rate = 0;
  o.mean_extra_records = 1.5;
  const GeneratedPopulation pop = GeneratePopulation(o);
  const Index index(pop);
  size_t duplicates = 0;
  for (const LabelledRecord& r : pop.records) {
    EXPECT_EQ(r.errors, 0u);
    if (r.original) continue;
    ++duplicates;
    const LabelledRecord& orig = *index.original.at(r.person_id);
    EXPECT_EQ(Content(r.record), Content(orig.record)) << r.record.record_id;
    EXPECT_NE(r.record.record_id, orig.record.record_id);
    EXPECT_NE(std::tie(r.record.org, r.record.local_id),
              std::tie(orig.record.org, orig.record.local_id));
  }
  EXPECT_GT(duplicates, 4000u);
}

// Observed share of further records with each error, at error_rate 1 on 10k persons, with the
// range each must fall in (base probability times how often the error applies).
TEST(GeneratorTest, EachErrorKindAppearsAtAPlausibleRate) {
  const GeneratedPopulation& pop = TenK();
  const Index index(pop);
  std::vector<int> count(kNumErrorKinds);
  int duplicates = 0;
  for (const LabelledRecord& r : pop.records) {
    if (r.original) continue;
    ++duplicates;
    for (int k = 0; k < kNumErrorKinds; ++k) count[k] += r.HasError(static_cast<ErrorKind>(k));
  }
  ASSERT_GT(duplicates, 8000);
  struct Range {
    ErrorKind kind;
    double lo, hi;
  };
  const Range kRanges[] = {
      {ErrorKind::kTypo, 0.12, 0.24},
      {ErrorKind::kNickname, 0.03, 0.10},
      {ErrorKind::kNameSwap, 0.01, 0.035},
      {ErrorKind::kMiddleInGiven, 0.015, 0.05},
      {ErrorKind::kMiddleInitial, 0.03, 0.09},
      {ErrorKind::kDayMonthSwap, 0.008, 0.03},
      {ErrorKind::kDayOffByOne, 0.01, 0.035},
      {ErrorKind::kYearDigit, 0.01, 0.035},
      {ErrorKind::kMove, 0.09, 0.16},
      {ErrorKind::kFamilyNameChange, 0.015, 0.05},
      {ErrorKind::kMissingValue, 0.35, 0.65},
      {ErrorKind::kPlaceholder, 0.02, 0.07},
      {ErrorKind::kCaseVariation, 0.11, 0.19},
      {ErrorKind::kFormatVariation, 0.25, 0.35},
      {ErrorKind::kAccentVariation, 0.02, 0.12},
      {ErrorKind::kNameFormatVariation, 0.01, 0.06},
      {ErrorKind::kSparse, 0.0, 0.0},  // only with GeneratorOptions::sparse_record_rate
  };
  ASSERT_EQ(std::size(kRanges), static_cast<size_t>(kNumErrorKinds));
  for (const Range& range : kRanges) {
    const double share = static_cast<double>(count[static_cast<int>(range.kind)]) / duplicates;
    EXPECT_GE(share, range.lo) << ErrorKindName(range.kind);
    EXPECT_LE(share, range.hi) << ErrorKindName(range.kind);
  }
}

// Each flagged error is visible in the record, in the way its kind says.
TEST(GeneratorTest, FlaggedErrorsShowInTheRecord) {
  const GeneratedPopulation& pop = TenK();
  const Index index(pop);
  std::multimap<std::string, std::string> nicknames;
  for (const auto& p : gen_tables::Nicknames()) {
    nicknames.emplace(p.formal, p.nickname);
    nicknames.emplace(p.nickname, p.formal);
  }
  auto is_nickname = [&](const std::string& formal, const std::string& nick) {
    auto [lo, hi] = nicknames.equal_range(formal);
    for (auto it = lo; it != hi; ++it) {
      if (Upper(it->second) == Upper(nick)) return true;
    }
    return false;
  };

  int checked_nickname = 0, checked_swap = 0, checked_move = 0;
  for (const LabelledRecord& lr : pop.records) {
    if (lr.original || lr.errors == 0) continue;
    const Record& r = lr.record;
    const Record& o = index.original.at(lr.person_id)->record;
    EXPECT_NE(Content(r), Content(o))
        << r.record_id << " has errors but equals its original: " << ErrorNames(lr.errors);
    // Only the checks whose evidence no other error can destroy.
    const uint32_t name_noise = (1u << int(ErrorKind::kTypo)) | (1u << int(ErrorKind::kNameSwap)) |
                                (1u << int(ErrorKind::kPlaceholder)) |
                                (1u << int(ErrorKind::kMiddleInGiven)) |
                                (1u << int(ErrorKind::kAccentVariation));
    if (lr.HasError(ErrorKind::kNickname) && (lr.errors & name_noise) == 0 &&
        IsAscii(o.given_name)) {
      EXPECT_TRUE(is_nickname(StripSuffix(o.given_name), StripSuffix(r.given_name)))
          << o.given_name << " -> " << r.given_name;
      ++checked_nickname;
    }
    const uint32_t date_noise = (1u << int(ErrorKind::kDayOffByOne)) |
                                (1u << int(ErrorKind::kYearDigit)) |
                                (1u << int(ErrorKind::kPlaceholder));
    if (lr.HasError(ErrorKind::kDayMonthSwap) && (lr.errors & date_noise) == 0 &&
        !r.birth_date.empty()) {
      const Date a = ParseDate(o.birth_date), b = ParseDate(r.birth_date);
      EXPECT_EQ(b, (Date{a.y, a.d, a.m})) << o.birth_date << " -> " << r.birth_date;
      ++checked_swap;
    }
    if (lr.HasError(ErrorKind::kYearDigit) && !lr.HasError(ErrorKind::kPlaceholder) &&
        !r.birth_date.empty()) {
      EXPECT_NE(ParseDate(r.birth_date).y, ParseDate(o.birth_date).y);
    }
    if (lr.HasError(ErrorKind::kMove) && !r.address_line.empty()) {
      EXPECT_NE(Upper(r.address_line), Upper(o.address_line));
      ++checked_move;
    }
    if (lr.HasError(ErrorKind::kCaseVariation) && !lr.HasError(ErrorKind::kPlaceholder)) {
      const std::string names = r.given_name + r.middle_name + r.family_name;
      EXPECT_TRUE(names == Upper(names) || names == Lower(names)) << names;
    }
    if (lr.HasError(ErrorKind::kMissingValue)) {
      const bool blanked =
          (r.middle_name.empty() && !o.middle_name.empty()) || (r.sex.empty() && !o.sex.empty()) ||
          (r.birth_date.empty() && !o.birth_date.empty()) ||
          (r.address_line.empty() && !o.address_line.empty()) ||
          (r.city.empty() && !o.city.empty()) ||
          (r.postal_code.empty() && !o.postal_code.empty()) ||
          (r.phone.empty() && !o.phone.empty()) || (r.email.empty() && !o.email.empty()) ||
          (r.ssn.empty() && !o.ssn.empty());
      // (A move may give a phone that a missing value then takes away again.)
      EXPECT_TRUE(blanked || lr.HasError(ErrorKind::kMove))
          << r.record_id << " " << ErrorNames(lr.errors);
    }
    if (lr.HasError(ErrorKind::kMiddleInitial) && !r.middle_name.empty()) {
      EXPECT_EQ(r.middle_name.size(), 1u) << r.record_id;
    }
    if (lr.HasError(ErrorKind::kPlaceholder)) {
      const bool has = r.given_name == "UNKNOWN" || r.family_name == "UNKNOWN" ||
                       ParseDate(r.birth_date) == (Date{1900, 1, 1}) || r.ssn == "000-00-0000" ||
                       r.ssn == "999-99-9999" || r.ssn == "123-45-6789" ||
                       r.phone == "000-000-0000" || r.phone == "999-999-9999";
      // A placeholder may have been blanked afterwards by a missing-value error.
      EXPECT_TRUE(has || lr.HasError(ErrorKind::kMissingValue)) << r.record_id;
    }
    if (lr.HasError(ErrorKind::kFormatVariation) && !r.birth_date.empty() &&
        !lr.HasError(ErrorKind::kPlaceholder)) {
      EXPECT_NE(r.birth_date.substr(4, 1), "-") << r.birth_date;
    }
  }
  EXPECT_GT(checked_nickname, 100);
  EXPECT_GT(checked_swap, 50);
  EXPECT_GT(checked_move, 500);
}

TEST(GeneratorTest, ErrorRateScalesErrors) {
  GeneratorOptions half = Options(10000, 20240601);
  half.error_rate = 0.5;
  const GeneratedPopulation a = GeneratePopulation(half);
  auto share = [](const GeneratedPopulation& pop, ErrorKind kind) {
    int hits = 0, dups = 0;
    for (const LabelledRecord& r : pop.records) {
      if (r.original) continue;
      ++dups;
      hits += r.HasError(kind);
    }
    return static_cast<double>(hits) / dups;
  };
  for (ErrorKind kind : {ErrorKind::kTypo, ErrorKind::kMove, ErrorKind::kFormatVariation}) {
    const double ratio = share(a, kind) / share(TenK(), kind);
    EXPECT_GT(ratio, 0.35) << ErrorKindName(kind);
    EXPECT_LT(ratio, 0.65) << ErrorKindName(kind);
  }
}

TEST(GeneratorTest, OriginalsLookLikeAUsPopulation) {
  const GeneratedPopulation& pop = TenK();
  std::map<std::string, int> family_counts;
  std::set<std::string> male(gen_tables::MaleGivenNames().begin(),
                             gen_tables::MaleGivenNames().end());
  male.insert(gen_tables::HispanicMaleGivenNames().begin(),
              gen_tables::HispanicMaleGivenNames().end());
  std::set<std::string> female(gen_tables::FemaleGivenNames().begin(),
                               gen_tables::FemaleGivenNames().end());
  female.insert(gen_tables::HispanicFemaleGivenNames().begin(),
                gen_tables::HispanicFemaleGivenNames().end());
  std::map<std::string, const gen_tables::City*> cities;
  for (const auto& c : gen_tables::Cities()) cities[std::string(c.name) + "|" + c.state] = &c;
  std::map<std::string, std::string> plain;  // accented -> plain
  for (const auto& a : gen_tables::GivenNameAccents()) plain[a.accented] = a.plain;

  int originals = 0, with_ssn = 0, with_email = 0, with_phone = 0, with_middle = 0;
  int accented = 0, compound = 0, hyphenated = 0, apartments = 0, wrong_sex = 0;
  for (const LabelledRecord& lr : pop.records) {
    if (!lr.original) continue;
    const Record& r = lr.record;
    ++originals;
    ++family_counts[r.family_name];
    with_ssn += !r.ssn.empty();
    with_email += !r.email.empty();
    with_phone += !r.phone.empty();
    with_middle += !r.middle_name.empty();
    accented += !IsAscii(r.given_name + r.family_name);
    compound += r.family_name.find(' ') != std::string::npos;
    hyphenated += r.family_name.find('-') != std::string::npos;
    apartments += r.address_line.find("Apt") != std::string::npos ||
                  r.address_line.find('#') != std::string::npos;

    std::string given = StripSuffix(r.given_name);
    if (plain.count(given)) given = plain[given];
    const bool in_male = male.count(given), in_female = female.count(given);
    ASSERT_TRUE(in_male || in_female) << given;
    wrong_sex += (r.sex == "M" && !in_male) || (r.sex == "F" && !in_female);

    EXPECT_THAT(r.birth_date, ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}"));
    const Date d = ParseDate(r.birth_date);
    EXPECT_GE(d.y, 1930);
    EXPECT_LE(d.y, 2024);
    EXPECT_GE(d.m, 1);
    EXPECT_LE(d.m, 12);
    EXPECT_GE(d.d, 1);
    EXPECT_LE(d.d, 31);

    const auto city = cities.find(r.city + "|" + r.state);
    ASSERT_NE(city, cities.end()) << r.city << ", " << r.state;
    EXPECT_EQ(r.postal_code.size(), 5u);
    EXPECT_EQ(r.postal_code.substr(0, 3), city->second->zip3) << r.city;
    if (!r.phone.empty()) {
      EXPECT_THAT(r.phone, ::testing::MatchesRegex("[0-9]{3}-[2-9][0-9]{2}-[0-9]{4}"));
      EXPECT_EQ(r.phone.substr(0, 3), city->second->area_code) << r.city;
    }
    if (!r.ssn.empty()) {
      EXPECT_THAT(r.ssn, ::testing::MatchesRegex("[0-8][0-9]{2}-[0-9]{2}-[0-9]{4}"));
    }
    if (!r.email.empty()) {
      EXPECT_THAT(r.email, HasSubstr("@"));
    }
  }
  EXPECT_EQ(wrong_sex, 0);
  // Skewed surnames: Smith about 1%, hundreds of distinct names, a long tail of singletons.
  const double smith = static_cast<double>(family_counts["Smith"]) / originals;
  EXPECT_GT(smith, 0.004);
  EXPECT_LT(smith, 0.02);
  EXPECT_GT(family_counts["Smith"], family_counts["Wilson"]);
  EXPECT_GT(family_counts.size(), 1500u);
  const int singletons = static_cast<int>(std::count_if(
      family_counts.begin(), family_counts.end(), [](const auto& kv) { return kv.second == 1; }));
  EXPECT_GT(singletons, 300);

  EXPECT_NEAR(static_cast<double>(with_ssn) / originals, 0.65, 0.04);
  EXPECT_NEAR(static_cast<double>(with_email) / originals, 0.55, 0.04);
  EXPECT_NEAR(static_cast<double>(with_phone) / originals, 0.92, 0.03);
  EXPECT_NEAR(static_cast<double>(with_middle) / originals, 0.75, 0.04);
  EXPECT_GT(accented, 100);
  EXPECT_GT(compound, 200);
  EXPECT_GT(hyphenated, 100);
  EXPECT_GT(apartments, 800);
}

TEST(GeneratorTest, SsnsOfDifferentPersonsDiffer) {
  GeneratorOptions o = Options(20000, 9);
  o.error_rate = 0;
  std::unordered_map<std::string, int64_t> owner;
  for (const LabelledRecord& r : GeneratePopulation(o).records) {
    if (r.record.ssn.empty()) continue;
    auto [it, inserted] = owner.emplace(r.record.ssn, r.person_id);
    EXPECT_EQ(it->second, r.person_id) << r.record.ssn;
  }
  EXPECT_GT(owner.size(), 10000u);
}

// A minimal RFC-4180 reader for the round trip.
std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field.push_back(c);
    }
  }
  return rows;
}

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string TempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("generator_test_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(WritePopulationTest, RoundTrip) {
  GeneratedPopulation pop = GeneratePopulation(Options(500, 4));
  // Values that need quoting.
  pop.records[0].record.family_name = "Smith, Jr";
  pop.records[1].record.address_line = "12 \"The Oaks\" Rd";
  const std::string dir = TempDir("round_trip") + "/nested";
  ASSERT_TRUE(WritePopulation(pop, dir).ok());

  EXPECT_EQ(FirstLine(dir + "/records.csv"),
            "record_id,org,local_id,given_name,middle_name,family_name,sex,birth_date,"
            "address_line,city,state,postal_code,phone,email,ssn");
  EXPECT_EQ(FirstLine(dir + "/truth.csv"), "record_id,person_id");
  EXPECT_EQ(FirstLine(dir + "/hard_pairs.csv"), "record_id_a,record_id_b,kind");

  const auto records = ReadCsv(dir + "/records.csv");
  ASSERT_EQ(records.size(), pop.records.size() + 1);
  for (size_t i = 0; i < pop.records.size(); ++i) {
    const Record& r = pop.records[i].record;
    const std::vector<std::string> expected = {
        r.record_id,   r.org,         r.local_id,   r.given_name,   r.middle_name,
        r.family_name, r.sex,         r.birth_date, r.address_line, r.city,
        r.state,       r.postal_code, r.phone,      r.email,        r.ssn};
    ASSERT_EQ(records[i + 1], expected) << "row " << i + 1;
  }

  const auto truth = ReadCsv(dir + "/truth.csv");
  ASSERT_EQ(truth.size(), pop.records.size() + 1);
  EXPECT_EQ(truth[5], (std::vector<std::string>{pop.records[4].record.record_id,
                                                std::to_string(pop.records[4].person_id)}));
  const auto pairs = ReadCsv(dir + "/hard_pairs.csv");
  ASSERT_EQ(pairs.size(), pop.hard_pairs.size() + 1);
  ASSERT_EQ(pop.hard_pairs.size(), 25u);
  EXPECT_EQ(pairs[1],
            (std::vector<std::string>{pop.hard_pairs[0].record_id_a, pop.hard_pairs[0].record_id_b,
                                      HardNonMatchKindName(pop.hard_pairs[0].kind)}));

  // The quoting itself, byte for byte.
  std::ifstream in(dir + "/records.csv");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr(",\"Smith, Jr\","));
  EXPECT_THAT(text, HasSubstr(",\"12 \"\"The Oaks\"\" Rd\","));
}

TEST(WritePopulationTest, UnwritableDirectoryIsAnError) {
  const std::string dir = TempDir("unwritable");
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/plain_file";
  std::ofstream(file) << "x";
  const std::string out = file + "/sub";
  const absl::Status status = WritePopulation(GeneratePopulation(Options(10)), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;  // ENOTDIR
  EXPECT_THAT(status.message(), HasSubstr(out));
}

TEST(WritePopulationTest, UnopenableFileIsAnError) {
  const std::string dir = TempDir("unopenable");
  std::filesystem::create_directories(dir + "/truth.csv");  // a directory where a file must go
  const absl::Status status = WritePopulation(GeneratePopulation(Options(10)), dir);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(dir + "/truth.csv"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/records.csv"));  // written before
}

TEST(GeneratorTest, KindNames) {
  EXPECT_STREQ(HardNonMatchKindName(HardNonMatchKind::kTwin), "twin");
  EXPECT_STREQ(HardNonMatchKindName(HardNonMatchKind::kJuniorSenior), "jr_sr");
  EXPECT_STREQ(HardNonMatchKindName(HardNonMatchKind::kSpouse), "spouse");
  EXPECT_STREQ(HardNonMatchKindName(HardNonMatchKind::kNamesake), "namesake");
  std::set<std::string> names;
  for (int k = 0; k < kNumErrorKinds; ++k) names.insert(ErrorKindName(static_cast<ErrorKind>(k)));
  EXPECT_EQ(names.size(), static_cast<size_t>(kNumErrorKinds));
  EXPECT_EQ(names.count("unknown"), 0u);
}

// --- The diverse profile and the options behind it -----------------------------------------------

GeneratorOptions Diverse(int64_t persons, uint64_t seed = 1) {
  GeneratorOptions o = Options(persons, seed);
  EXPECT_TRUE(ApplyGeneratorProfile("diverse", o));
  return o;
}

// One 20k diverse population shared by the tests below.
const GeneratedPopulation& DiverseTwentyK() {
  static const GeneratedPopulation* const pop =
      new GeneratedPopulation(GeneratePopulation(Diverse(20000, 20240601)));
  return *pop;
}

// Code points of `s`, or nullopt when it is not valid UTF-8 (overlong forms, surrogates, code
// points above U+10FFFF and truncated sequences are invalid).
std::optional<std::vector<uint32_t>> DecodeUtf8(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const int extra = c < 0x80                 ? 0
                      : c >= 0xC2 && c <= 0xDF ? 1
                      : (c & 0xF0) == 0xE0     ? 2
                      : c >= 0xF0 && c <= 0xF4 ? 3
                                               : -1;
    if (extra < 0 || i + extra >= s.size()) return std::nullopt;
    uint32_t cp = extra == 0 ? c : c & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return std::nullopt;
    out.push_back(cp);
    i += 1 + extra;
  }
  return out;
}

bool AllFieldsValidUtf8(const Record& r) {
  bool ok = true;
  std::apply([&](const auto&... field) { ((ok &= DecodeUtf8(field).has_value()), ...); },
             Fields(r));
  return ok;
}

// A letter beyond Latin-1 (the Vietnamese ones: Đ, ơ, ư, ễ, ...).
bool HasLetterBeyondLatin1(const std::string& s) {
  const auto cps = DecodeUtf8(s);
  return cps && std::any_of(cps->begin(), cps->end(), [](uint32_t c) { return c > 0xFF; });
}

// A token whose ASCII letters are in neither UPPER, lower nor Title case ("GaRcIa", "gARCIA").
bool IsMixedCase(const std::string& s) {
  auto mixed = [](const std::string& t) {
    return t.size() > 1 && t != Upper(t) && t != Lower(t) && t.substr(1) != Lower(t.substr(1));
  };
  std::string token;
  for (char c : s + " ") {
    if (c == ' ' || c == '-') {
      if (mixed(token)) return true;
      token.clear();
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      token.push_back(c);
    }
  }
  return false;
}

bool HasParticle(const std::string& family) {
  const std::string f = Lower(family);
  for (const char* p : {" de ", " del ", " de la ", " y "}) {
    if (f.find(p) != std::string::npos) return true;
  }
  return false;
}

TEST(GeneratorProfileTest, ProfilesSetTheirOptions) {
  GeneratorOptions o = Options(1234, 99);
  o.orgs = 3;
  ASSERT_TRUE(ApplyGeneratorProfile("diverse", o));
  EXPECT_EQ(o.persons, 1234);
  EXPECT_EQ(o.seed, 99u);
  EXPECT_EQ(o.orgs, 12);
  EXPECT_DOUBLE_EQ(o.mean_extra_records, 0.74);
  EXPECT_DOUBLE_EQ(o.error_rate, 1.0);
  EXPECT_DOUBLE_EQ(o.hard_non_match_fraction, 0.10);
  EXPECT_DOUBLE_EQ(o.sparse_record_rate, 0.05);
  EXPECT_EQ(o.namesake_birth_year_window, 3);
  EXPECT_DOUBLE_EQ(o.vietnamese_share, 0.12);
  EXPECT_DOUBLE_EQ(o.mixed_case_rate, 0.15);
  EXPECT_GT(o.surname_particle_rate, 0);

  ASSERT_TRUE(ApplyGeneratorProfile("default", o));
  EXPECT_EQ(Fingerprint(GeneratePopulation(o)), Fingerprint(GeneratePopulation(Options(1234, 99))));

  const GeneratorOptions before = o;
  EXPECT_FALSE(ApplyGeneratorProfile("Diverse", o));
  EXPECT_FALSE(ApplyGeneratorProfile("", o));
  EXPECT_EQ(o.orgs, before.orgs);
  EXPECT_EQ(o.sparse_record_rate, before.sparse_record_rate);
}

// The new options are off by default: none of their marks is in the default population.
TEST(GeneratorTest, DefaultOptionsHaveNoneOfTheNewHabits) {
  const GeneratorOptions defaults;
  EXPECT_EQ(defaults.sparse_record_rate, 0);
  EXPECT_EQ(defaults.namesake_birth_year_window, 0);
  EXPECT_EQ(defaults.vietnamese_share, 0);
  EXPECT_EQ(defaults.mixed_case_rate, 0);
  EXPECT_EQ(defaults.surname_particle_rate, 0);
  for (const LabelledRecord& lr : TenK().records) {
    const Record& r = lr.record;
    EXPECT_FALSE(lr.HasError(ErrorKind::kSparse)) << r.record_id;
    EXPECT_TRUE(AllFieldsValidUtf8(r)) << r.record_id;
    EXPECT_FALSE(HasLetterBeyondLatin1(r.given_name + r.middle_name + r.family_name))
        << r.record_id << " " << r.given_name << " " << r.family_name;
    EXPECT_FALSE(HasParticle(r.family_name)) << r.family_name;
    if (!lr.HasError(ErrorKind::kTypo)) {
      EXPECT_FALSE(IsMixedCase(r.given_name) || IsMixedCase(r.family_name))
          << r.given_name << " " << r.family_name;
    }
  }
  // Default namesakes differ in everything but the name: birth years mostly far apart.
  GeneratorOptions o = Options(4000, 11);
  o.hard_non_match_fraction = 0.1;
  const GeneratedPopulation pop = GeneratePopulation(o);
  const Index index(pop);
  int namesakes = 0, far = 0;
  for (const HardNonMatchPair& p : pop.hard_pairs) {
    if (p.kind != HardNonMatchKind::kNamesake) continue;
    ++namesakes;
    far += std::abs(ParseDate(index.by_id.at(p.record_id_a)->record.birth_date).y -
                    ParseDate(index.by_id.at(p.record_id_b)->record.birth_date).y) > 3;
  }
  EXPECT_GT(namesakes, 40);
  EXPECT_GT(far, namesakes * 3 / 4);
}

TEST(DiverseProfileTest, IsDeterministicAndNotTheDefault) {
  const GeneratedPopulation a = GeneratePopulation(Diverse(3000, 5));
  const GeneratedPopulation b = GeneratePopulation(Diverse(3000, 5));
  EXPECT_TRUE(SameOutput(a, b));
  EXPECT_EQ(Fingerprint(a), Fingerprint(b));
  EXPECT_NE(Fingerprint(a), Fingerprint(GeneratePopulation(Options(3000, 5))));
  EXPECT_FALSE(SameOutput(a, GeneratePopulation(Diverse(3000, 6))));
}

TEST(DiverseProfileTest, CountsAndOrgs) {
  const GeneratedPopulation& pop = DiverseTwentyK();
  const Index index(pop);
  EXPECT_EQ(index.by_person.size(), 20000u);
  EXPECT_EQ(pop.hard_pairs.size(), 2000u);
  EXPECT_NEAR(static_cast<double>(pop.records.size()) / 20000, 1.74, 0.03);
  std::set<std::string> orgs;
  for (const LabelledRecord& r : pop.records) orgs.insert(r.record.org);
  EXPECT_EQ(orgs.size(), 12u);
}

TEST(DiverseProfileTest, AllTextIsValidUtf8) {
  for (const LabelledRecord& lr : DiverseTwentyK().records) {
    EXPECT_TRUE(AllFieldsValidUtf8(lr.record)) << lr.record.record_id;
  }
  EXPECT_FALSE(DecodeUtf8("Nguy\xE1\xBB").has_value());  // the validator itself
  EXPECT_FALSE(DecodeUtf8("\xC0\xAF").has_value());
  EXPECT_EQ(DecodeUtf8("Ễ")->size(), 1u);
}

TEST(DiverseProfileTest, SparseRecordsKeepNamesAndAtMostOneMore) {
  const GeneratedPopulation& pop = DiverseTwentyK();
  int further = 0, sparse = 0;
  std::map<std::string, int> kept;
  for (const LabelledRecord& lr : pop.records) {
    const Record& r = lr.record;
    if (lr.original) {
      EXPECT_FALSE(lr.HasError(ErrorKind::kSparse));
      continue;
    }
    ++further;
    if (!lr.HasError(ErrorKind::kSparse)) continue;
    ++sparse;
    EXPECT_FALSE(r.given_name.empty()) << r.record_id;
    EXPECT_FALSE(r.family_name.empty()) << r.record_id;
    EXPECT_TRUE(r.middle_name.empty() && r.sex.empty() && r.email.empty() && r.ssn.empty())
        << r.record_id;
    const bool date = !r.birth_date.empty(), phone = !r.phone.empty();
    const bool address =
        !r.address_line.empty() || !r.city.empty() || !r.state.empty() || !r.postal_code.empty();
    EXPECT_LE(date + phone + address, 1) << r.record_id;
    ++kept[date ? "date" : phone ? "phone" : address ? "address" : "names only"];
  }
  EXPECT_NEAR(static_cast<double>(sparse) / further, 0.05, 0.01);
  for (const char* k : {"names only", "date", "phone", "address"}) {
    EXPECT_GT(kept[k], sparse / 8) << k;
  }
}

TEST(DiverseProfileTest, NamesakesHaveTheSameNameAndCloseBirthYears) {
  const GeneratedPopulation& pop = DiverseTwentyK();
  const Index index(pop);
  int namesakes = 0, same_city = 0, vietnamese = 0;
  for (const HardNonMatchPair& p : pop.hard_pairs) {
    if (p.kind != HardNonMatchKind::kNamesake) continue;
    ++namesakes;
    const Record& a = index.by_id.at(p.record_id_a)->record;
    const Record& b = index.by_id.at(p.record_id_b)->record;
    const std::string what = a.record_id + " " + b.record_id;
    EXPECT_EQ(a.given_name, b.given_name) << what;
    EXPECT_EQ(a.family_name, b.family_name) << what;
    EXPECT_EQ(a.sex, b.sex) << what;
    EXPECT_LE(std::abs(ParseDate(a.birth_date).y - ParseDate(b.birth_date).y), 3) << what;
    EXPECT_NE(a.birth_date, b.birth_date) << what;
    EXPECT_NE(a.address_line, b.address_line) << what;
    if (!a.phone.empty() && !b.phone.empty()) {
      EXPECT_NE(a.phone, b.phone) << what;
    }
    same_city += a.city == b.city;
    vietnamese += HasLetterBeyondLatin1(a.given_name + a.family_name);
  }
  EXPECT_NEAR(namesakes, 400, 80);
  EXPECT_GT(same_city, namesakes / 6);
  EXPECT_LT(same_city, namesakes / 2);
  EXPECT_GT(vietnamese, 0);
}

TEST(DiverseProfileTest, VietnameseNamesWithAndWithoutDiacritics) {
  const GeneratedPopulation& pop = DiverseTwentyK();
  const Index index(pop);
  const auto family = gen_tables::VietnameseFamilyNames();
  const std::set<std::string> vi_family(family.begin(), family.end());
  std::set<std::string> male(gen_tables::VietnameseMaleGivenNames().begin(),
                             gen_tables::VietnameseMaleGivenNames().end());
  std::set<std::string> female(gen_tables::VietnameseFemaleGivenNames().begin(),
                               gen_tables::VietnameseFemaleGivenNames().end());
  int originals = 0, vietnamese = 0, accented = 0, wrong_given = 0, further = 0, plain = 0;
  int swapped = 0;
  for (const LabelledRecord& lr : pop.records) {
    if (!lr.original) continue;
    ++originals;
    const Record& o = lr.record;
    if (!vi_family.count(o.family_name)) continue;
    ++vietnamese;
    // (Unaccented originals, 15%, cannot be told by their family name alone: "Phan", "Cao".)
    if (IsAscii(o.given_name + o.middle_name + o.family_name)) continue;
    ++accented;
    wrong_given += !(o.sex == "M" ? male : female).count(StripSuffix(o.given_name));
    for (const LabelledRecord* r : index.by_person.at(lr.person_id)) {
      if (r->original || r->HasError(ErrorKind::kFamilyNameChange)) continue;
      ++further;
      plain += IsAscii(r->record.given_name + r->record.middle_name + r->record.family_name);
      swapped += vi_family.count(r->record.given_name) > 0;
    }
  }
  // 12% Vietnamese, 85% of their originals with diacritics; a few unaccented family names are
  // plain ASCII anyway.
  EXPECT_NEAR(static_cast<double>(vietnamese) / originals, 0.105, 0.02);
  EXPECT_GT(accented, vietnamese * 3 / 4);
  EXPECT_EQ(wrong_given, 0);
  EXPECT_GT(further, 1000);
  EXPECT_GT(plain, further / 4) << "further records lose the diacritics";
  EXPECT_LT(plain, further * 3 / 4);
  EXPECT_GT(swapped, further / 50) << "family and given name exchanged";
}

TEST(DiverseProfileTest, CaseStylesAndSurnameParticles) {
  const GeneratedPopulation& pop = DiverseTwentyK();
  const std::set<std::string> kUpper = {"NGUYỄN", "TRẦN", "PHẠM", "ĐẶNG", "ĐỖ", "HỒ", "VŨ"};
  const std::set<std::string> kLower = {"nguyễn", "trần", "phạm", "đặng", "đỗ", "hồ", "vũ"};
  int further = 0, mixed = 0, upper_vietnamese = 0, lower_vietnamese = 0, particles = 0;
  for (const LabelledRecord& lr : pop.records) {
    const Record& r = lr.record;
    particles += lr.original && HasParticle(r.family_name);
    if (lr.original) continue;
    ++further;
    if (!lr.HasError(ErrorKind::kTypo) &&
        (IsMixedCase(r.given_name) || IsMixedCase(r.family_name))) {
      ++mixed;
      EXPECT_TRUE(lr.HasError(ErrorKind::kCaseVariation)) << r.given_name << " " << r.family_name;
    }
    // Case changes reach the Vietnamese letters too.
    for (const std::string* name : {&r.given_name, &r.family_name}) {
      upper_vietnamese += kUpper.count(*name);
      lower_vietnamese += kLower.count(*name);
    }
  }
  EXPECT_GT(mixed, further / 200);
  EXPECT_GT(upper_vietnamese, 10);
  EXPECT_GT(lower_vietnamese, 0);
  EXPECT_GT(particles, 50);
}

}  // namespace
}  // namespace hie::mpi
