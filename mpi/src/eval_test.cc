#include "hie/mpi/eval.h"

#include <map>

#include "gtest/gtest.h"

namespace hie::mpi {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(EvaluateClustersTest, SmallExample) {
  // Truth: {a,b,c} {d,e} {f}: 3 + 1 = 4 true pairs.
  const Pairs truth = {{"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "2"}, {"e", "2"}, {"f", "3"}};
  // Predicted: {a,b} {c,d} {e} {f}: 2 pairs, 1 correct (a-b).
  const Pairs clusters = {{"a", "x"}, {"b", "x"}, {"c", "y"}, {"d", "y"}, {"e", "z"}, {"f", "w"}};
  const PairwiseMetrics m = EvaluateClusters(truth, clusters);
  EXPECT_EQ(m.true_pairs, 4);
  EXPECT_EQ(m.predicted_pairs, 2);
  EXPECT_EQ(m.true_positives, 1);
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.recall, 0.25);
  EXPECT_NEAR(m.f1, 1.0 / 3.0, 1e-12);
}

TEST(EvaluateClustersTest, PerfectAndEmpty) {
  const Pairs truth = {{"a", "1"}, {"b", "1"}};
  EXPECT_DOUBLE_EQ(EvaluateClusters(truth, truth).f1, 1.0);
  const PairwiseMetrics none = EvaluateClusters({}, {});
  EXPECT_EQ(none.true_pairs, 0);
  EXPECT_DOUBLE_EQ(none.precision, 1.0);
  EXPECT_DOUBLE_EQ(none.recall, 1.0);
  // Records missing from the prediction are singletons there.
  const PairwiseMetrics missing = EvaluateClusters(truth, {{"a", "x"}});
  EXPECT_EQ(missing.predicted_pairs, 0);
  EXPECT_DOUBLE_EQ(missing.recall, 0.0);
}

TEST(EvaluatePairsTest, CountsDistinctPairs) {
  const Pairs truth = {{"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "2"}};
  const PairwiseMetrics m = EvaluatePairs(truth, {{"a", "b"}, {"b", "a"}, {"a", "d"}, {"c", "c"}});
  EXPECT_EQ(m.true_pairs, 3);
  EXPECT_EQ(m.predicted_pairs, 2);
  EXPECT_EQ(m.true_positives, 1);
}

TEST(EntitiesFromPairsTest, ConnectedComponents) {
  const Pairs entities = EntitiesFromPairs({{"a", "b"}, {"b", "c"}, {"d", "e"}});
  std::map<std::string, std::string> e(entities.begin(), entities.end());
  EXPECT_EQ(e["a"], e["c"]);
  EXPECT_EQ(e["d"], e["e"]);
  EXPECT_NE(e["a"], e["d"]);
}

TEST(EntityFromRecordIdTest, FebrlAndJempi) {
  EXPECT_EQ(EntityFromRecordId("rec-1070-org"), "1070");
  EXPECT_EQ(EntityFromRecordId("rec-561-dup-0"), "561");
  EXPECT_EQ(EntityFromRecordId("rec-00000429-bbb-3"), "00000429");
  EXPECT_EQ(EntityFromRecordId("plain"), "");
}

}  // namespace
}  // namespace hie::mpi
