#include "hie/mpi/linker.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hie/mpi/csv.h"
#include "hie/mpi/eval.h"
#include "hie/mpi/generator.h"
#include "hie/mpi/nicknames.h"

namespace hie::mpi {
namespace {

constexpr char kFebrlMap[] =
    "record_id=rec_id,family_name=surname,birth_date=date_of_birth,"
    "address_line=street_number+address_1,city=suburb,postal_code=postcode,ssn=soc_sec_id";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Loaded {
  std::vector<std::string> ids;
  std::vector<NormalizedRecord> records;
  std::vector<uint8_t> source;
};

void Load(const std::string& file, const std::string& map_spec, uint8_t source,
          const Normalizer& normalizer, Loaded* out) {
  const std::string text = Slurp(std::string(HIE_MPI_TESTDATA_DIR) + "/" + file);
  ASSERT_FALSE(text.empty()) << file;
  auto map = ParseColumnMap(map_spec);
  ASSERT_TRUE(map.ok());
  std::vector<RowError> errors;
  const absl::Status st = ReadRecordsCsv(
      text, *map, "",
      [&](Record&& r, int64_t) {
        out->ids.push_back(r.record_id);
        out->records.push_back(normalizer.Normalize(r));
        out->source.push_back(source);
      },
      &errors);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE(errors.empty());
}

PairwiseMetrics Score(const Loaded& data, const LinkResult& result,
                      const std::vector<std::pair<std::string, std::string>>& truth) {
  std::vector<std::pair<std::string, std::string>> clusters;
  for (size_t i = 0; i < data.ids.size(); ++i) {
    clusters.emplace_back(data.ids[i], std::to_string(result.cluster[i]));
  }
  return EvaluateClusters(truth, clusters);
}

std::vector<std::pair<std::string, std::string>> TruthFromIds(const Loaded& data) {
  std::vector<std::pair<std::string, std::string>> truth;
  for (const auto& id : data.ids) truth.emplace_back(id, EntityFromRecordId(id));
  return truth;
}

class LinkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = NicknameTable::LoadFile(DefaultNicknamePath());
    ASSERT_TRUE(t.ok());
    nicknames_ = *std::move(t);
  }
  NicknameTable nicknames_;
};

TEST_F(LinkerTest, Febrl4LinkageIsAccurate) {
  const Normalizer normalizer(&nicknames_);
  Loaded data;
  Load("febrl4a.csv", kFebrlMap, 0, normalizer, &data);
  Load("febrl4b.csv", kFebrlMap, 1, normalizer, &data);
  ASSERT_EQ(data.records.size(), 10000u);
  LinkOptions options;
  options.mode = LinkMode::kLink;
  options.keep_candidates = true;
  const LinkResult result = Link(&data.records, &data.source, options);
  const auto truth = TruthFromIds(data);

  // Pairs completeness of blocking: nearly all 5,000 true pairs reach scoring.
  std::vector<std::pair<std::string, std::string>> candidates;
  for (uint64_t p : result.candidates) candidates.emplace_back(data.ids[p >> 32], data.ids[p & 0xffffffffu]);
  const PairwiseMetrics blocking = EvaluatePairs(truth, candidates);
  EXPECT_EQ(blocking.true_pairs, 5000);
  EXPECT_GE(blocking.recall, 0.9996);  // measured 0.9998 (4,999 of 5,000) on 2026-12-04

  const PairwiseMetrics m = Score(data, result, truth);
  EXPECT_EQ(m.true_pairs, 5000);
  // Floors just below the measured values (2026-12-04): precision 1.0, recall 0.9946 (4,973 of
  // 5,000 pairs). A drop of a few pairs fails.
  EXPECT_GE(m.precision, 0.9995);
  EXPECT_GE(m.recall, 0.994);
  EXPECT_TRUE(result.em.iterations > 0);
}

TEST_F(LinkerTest, Febrl3DedupeIsPrecise) {
  const Normalizer normalizer(&nicknames_);
  Loaded data;
  Load("febrl3.csv", kFebrlMap, 0, normalizer, &data);
  const LinkResult result = Link(&data.records, nullptr, LinkOptions{});
  const PairwiseMetrics m = Score(data, result, TruthFromIds(data));
  EXPECT_EQ(m.true_pairs, 6538);
  // Measured 2026-12-04: precision 1.0, recall 0.9784 (6,397 of 6,538 pairs).
  EXPECT_GE(m.precision, 0.999);
  EXPECT_GE(m.recall, 0.977);
}

TEST_F(LinkerTest, SplinkFake1000IsPrecise) {
  const Normalizer normalizer(&nicknames_);
  Loaded data;
  Load("fake_1000.csv", "record_id=unique_id,given_name=first_name,family_name=surname,birth_date=dob",
       0, normalizer, &data);
  const LinkResult result = Link(&data.records, nullptr, LinkOptions{});
  const std::string text = Slurp(std::string(HIE_MPI_TESTDATA_DIR) + "/fake_1000.csv");
  auto truth = ReadTwoColumns(text, "unique_id", "cluster");
  ASSERT_TRUE(truth.ok());
  const PairwiseMetrics m = Score(data, result, *truth);
  EXPECT_EQ(m.true_pairs, 2031);
  // Measured 2026-12-04: precision 1.0, recall 0.8474 (1,721 of 2,031 pairs).
  EXPECT_GE(m.precision, 0.995);
  EXPECT_GE(m.recall, 0.845);
}

TEST_F(LinkerTest, ResultDoesNotDependOnThreadCount) {
  const Normalizer normalizer(&nicknames_);
  Loaded one;
  Load("febrl1.csv", kFebrlMap, 0, normalizer, &one);
  Loaded two = one;
  LinkOptions options;
  options.threads = 1;
  const LinkResult a = Link(&one.records, nullptr, options);
  options.threads = 2;
  const LinkResult b = Link(&two.records, nullptr, options);
  EXPECT_EQ(a.cluster, b.cluster);
}

// A-B and B-C look alike, A and C are two different people (twins): greedy single linkage
// would chain all three into one cluster; the cluster check must not.
TEST_F(LinkerTest, ClusteringDoesNotChainThroughOneRecord) {
  const Normalizer normalizer(&nicknames_);
  Record a;
  a.record_id = "a";
  a.given_name = "Anna";
  a.family_name = "Kowalczyk";
  a.sex = "F";
  a.birth_date = "1990-05-17";
  a.address_line = "4 Elm Road";
  a.postal_code = "12345";
  a.phone = "555-201-3344";
  Record c = a;
  c.record_id = "c";
  c.given_name = "Marek";
  c.sex = "M";
  Record b = a;  // given name and sex missing: agrees with both
  b.record_id = "b";
  b.given_name = "";
  b.sex = "";
  std::vector<NormalizedRecord> records;
  for (const Record* r : {&a, &b, &c}) records.push_back(normalizer.Normalize(*r));
  // Background population so that estimation has something to learn from.
  for (int i = 0; i < 300; ++i) {
    Record x;
    x.record_id = absl::StrCat("x", i);
    x.given_name = absl::StrCat(std::string(1, static_cast<char>('A' + i % 26)), "lex", i);
    x.family_name = absl::StrCat("Fam", std::string(1, static_cast<char>('A' + (i / 26) % 26)),
                                 "son");
    x.birth_date = absl::StrCat(1940 + i % 60, "-0", 1 + i % 9, "-1", i % 10);
    x.postal_code = absl::StrCat(10000 + i * 7);
    records.push_back(normalizer.Normalize(x));
  }
  const LinkResult result = Link(&records, nullptr, LinkOptions{});
  EXPECT_FALSE(result.cluster[0] == result.cluster[1] && result.cluster[1] == result.cluster[2]);
  EXPECT_NE(result.cluster[0], result.cluster[2]);
}

TEST_F(LinkerTest, TinyInputs) {
  std::vector<NormalizedRecord> none;
  EXPECT_TRUE(Link(&none, nullptr, LinkOptions{}).cluster.empty());
  std::vector<NormalizedRecord> one(1);
  EXPECT_EQ(Link(&one, nullptr, LinkOptions{}).cluster.size(), 1u);
  std::vector<NormalizedRecord> empties(5);  // records with nothing in them
  const LinkResult r = Link(&empties, nullptr, LinkOptions{});
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(r.cluster[i], i);
}

// A generated background population (so that estimation learns realistic weights) with
// hand-made records appended after it; returns the index of the first appended record.
class SparseRecordTest : public LinkerTest {
 protected:
  size_t Background() {
    const Normalizer normalizer(&nicknames_);
    for (const LabelledRecord& r : GeneratePopulation({.persons = 3000, .seed = 5}).records) {
      records_.push_back(normalizer.Normalize(r.record));
    }
    return records_.size();
  }
  void Add(const Record& r) { records_.push_back(Normalizer(&nicknames_).Normalize(r)); }
  // Someone living in Tacoma unless `in_spokane`.
  static Record Full(std::string given, std::string family, std::string birth_date,
                     std::string address, std::string phone, bool in_spokane = false) {
    Record r;
    r.given_name = std::move(given);
    r.family_name = std::move(family);
    r.birth_date = std::move(birth_date);
    r.address_line = std::move(address);
    r.city = in_spokane ? "Spokane" : "Tacoma";
    r.postal_code = in_spokane ? "99201" : "98402";
    r.phone = std::move(phone);
    return r;
  }
  std::vector<NormalizedRecord> records_;
};

TEST_F(SparseRecordTest, ASparseRecordDoesNotBridgeNamesakesAndGoesToReview) {
  const size_t p = Background();
  // Two people of one rare name, born two years apart, in two cities: three records each.
  for (int i = 0; i < 3; ++i) {
    Add(Full("Theodora", "Quillfeather", "1971-03-04", "12 Larch Lane", "253-555-0141"));
  }
  for (int i = 0; i < 3; ++i) {
    Add(Full("Theodora", "Quillfeather", "1973-08-19", "880 Orchard Blvd", "509-555-0187", true));
  }
  Record sparse;  // the name alone: it cannot tell the two apart
  sparse.given_name = "Theodora";
  sparse.family_name = "Quillfeather";
  Add(sparse);
  const LinkResult r = Link(&records_, nullptr, LinkOptions{});
  const auto& c = r.cluster;
  EXPECT_EQ(c[p], c[p + 1]);
  EXPECT_EQ(c[p], c[p + 2]);
  EXPECT_EQ(c[p + 3], c[p + 4]);
  EXPECT_EQ(c[p + 3], c[p + 5]);
  EXPECT_NE(c[p], c[p + 3]);
  EXPECT_NE(c[p + 6], c[p]);
  EXPECT_NE(c[p + 6], c[p + 3]);
  EXPECT_GE(r.ambiguous_records, 1);
  int sparse_review_pairs = 0;
  for (const ScoredPair& pair : r.review) {
    if (pair.a == p + 6 || pair.b == p + 6) ++sparse_review_pairs;
  }
  EXPECT_GE(sparse_review_pairs, 2) << "its links to both people must reach review";
}

TEST_F(SparseRecordTest, ASparseRecordJoinsTheOnlyPersonItMatches) {
  const size_t p = Background();
  for (int i = 0; i < 3; ++i) {
    Add(Full("Theodora", "Quillfeather", "1971-03-04", "12 Larch Lane", "253-555-0141"));
  }
  Record sparse;
  sparse.given_name = "Theodora";
  sparse.family_name = "Quillfeather";
  sparse.phone = "(253) 555-0141";
  Add(sparse);
  const LinkResult r = Link(&records_, nullptr, LinkOptions{});
  EXPECT_EQ(r.cluster[p + 3], r.cluster[p]);
  for (const ScoredPair& pair : r.review) {
    EXPECT_TRUE(pair.a != p + 3 && pair.b != p + 3) << "nothing to ask about it";
  }
}

TEST_F(SparseRecordTest, ASparseRecordOfAnotherGivenNameAtOneAddressStaysApart) {
  const size_t p = Background();
  // He has full records; she has only her names and the shared address (the household guard
  // the online matcher applies: given names not alike, no birth date to tell them apart).
  for (int i = 0; i < 3; ++i) {
    Add(Full("Rafael", "Garcia-Reyes", "1967-09-23", "327 Forest Blvd", "402-555-6297"));
  }
  Record her;
  her.given_name = "Virginia";
  her.family_name = "Garcia-Reyes";
  her.address_line = "327 Forest Blvd";
  her.city = "Tacoma";
  her.postal_code = "98402";
  Add(her);
  const LinkResult r = Link(&records_, nullptr, LinkOptions{});
  EXPECT_EQ(r.cluster[p], r.cluster[p + 2]);
  EXPECT_NE(r.cluster[p + 3], r.cluster[p]);
}

}  // namespace
}  // namespace hie::mpi
