#include "hie/mpi/model_params_file.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "hie/mpi/linker.h"
#include "hie/mpi/normalize.h"

namespace hie::mpi {
namespace {

// Parameters whose values need all 17 digits to survive a round trip.
ModelParams Odd() {
  ModelParams p = Model::DefaultParams();
  p.lambda = 1.0 / 3e5;
  p.m[0][1] = 0.1 / 3;
  p.m[0][2] = 0.2 / 3;
  p.m[0][3] = 0.3 / 3;
  p.m[0][4] = 1 - p.m[0][1] - p.m[0][2] - p.m[0][3];
  p.u[10][1] = 1 - 1e-7;
  p.u[10][2] = 1e-7 / 3;
  p.u[10][3] = 1e-7 - p.u[10][2];
  return p;
}

void ExpectSame(const ModelParams& a, const ModelParams& b) {
  EXPECT_EQ(a.lambda, b.lambda);
  for (int f = 0; f < kNumFields; ++f) {
    for (int l = 1; l < NumLevels(static_cast<Field>(f)); ++l) {
      EXPECT_EQ(a.m[f][l], b.m[f][l]) << FieldName(static_cast<Field>(f)) << " m level " << l;
      EXPECT_EQ(a.u[f][l], b.u[f][l]) << FieldName(static_cast<Field>(f)) << " u level " << l;
    }
  }
}

TEST(ModelParamsFileTest, RoundTripIsExact) {
  const ModelParams p = Odd();
  const std::string text = FormatModelParams(p, "a comment\nsecond line dropped");
  EXPECT_NE(text.find("# a comment\n"), std::string::npos);
  EXPECT_EQ(text.find("second line"), std::string::npos);
  absl::StatusOr<ModelParams> back = ParseModelParams(text);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(p, *back);
  // Same scores from the loaded parameters.
  EXPECT_EQ(Model(p).prior(), Model(*back).prior());
  EXPECT_EQ(Model(p).weight(Field::kSsn, 3), Model(*back).weight(Field::kSsn, 3));
}

TEST(ModelParamsFileTest, TrainedParametersRoundTrip) {
  Normalizer normalizer(nullptr);
  std::vector<NormalizedRecord> records;
  const char* names[] = {"JOHN", "MARY", "ANNA", "PETER", "LUCY", "MARK"};
  for (int i = 0; i < 300; ++i) {
    Record r;
    r.record_id = "r" + std::to_string(i);
    r.given_name = names[i % 6];
    r.family_name = "FAMILY" + std::to_string(i / 2);  // pairs of duplicates
    r.birth_date = "19" + std::to_string(50 + i / 8) + "-0" + std::to_string(1 + i % 9) + "-1" +
                   std::to_string(i % 10);
    r.postal_code = std::to_string(10000 + i / 2);
    records.push_back(normalizer.Normalize(r));
  }
  const TrainResult trained = TrainOnRecords(&records, TrainOptions{});
  absl::StatusOr<ModelParams> back = ParseModelParams(FormatModelParams(trained.params));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(trained.params, *back);
}

TEST(ModelParamsFileTest, CommentsBlankLinesAndCrlfAreAccepted) {
  std::string text = absl::StrReplaceAll(FormatModelParams(Odd()), {{"\n", "\r\n"}});
  text = "\r\n# leading comment\r\n\r\n" + text;
  absl::StatusOr<ModelParams> back = ParseModelParams(text);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(Odd(), *back);
}

TEST(ModelParamsFileTest, MalformedFilesAreRejectedWithTheLine) {
  const std::string good = FormatModelParams(Model::DefaultParams());
  struct Case {
    std::string from;
    std::string to;
    std::string message;
  };
  const Case cases[] = {
      {"format 1", "format 2", "unsupported format version"},
      {"format 1\n", "", "missing format line"},
      {"lambda 0.050000000000000003", "lambda 0", "lambda must be"},
      {"lambda 0.050000000000000003", "lambda 1.5", "lambda must be"},
      {"lambda 0.050000000000000003\n", "", "missing lambda"},
      {"lambda 0.050000000000000003", "lambda 0.05\nlambda 0.05", "repeated lambda"},
      {"m sex 0.10000000000000001 0.90000000000000002", "m sex 0.1", "sex needs 2 values"},
      {"m sex 0.10000000000000001 0.90000000000000002", "m sex 0.2 0.9", "sum to 1"},
      {"m sex 0.10000000000000001 0.90000000000000002", "m sex -0.1 1.1", "numbers in [0, 1]"},
      {"m sex 0.10000000000000001 0.90000000000000002", "m sex x 0.9", "numbers in [0, 1]"},
      {"m sex 0.10000000000000001 0.90000000000000002", "m gender 0.1 0.9", "unknown field"},
      {"m sex 0.10000000000000001 0.90000000000000002\n", "", "missing m row of sex"},
      {"u state 0.69999999999999996 0.29999999999999999", "u state 0.7 0.3\nu state 0.7 0.3",
       "repeated u row of state"},
      {"format 1", "format 1\nweights 1 2", "unknown keyword"},
  };
  for (const Case& c : cases) {
    ASSERT_NE(good.find(c.from), std::string::npos) << c.from;
    const std::string bad = absl::StrReplaceAll(good, {{c.from, c.to}});
    absl::StatusOr<ModelParams> parsed = ParseModelParams(bad);
    ASSERT_FALSE(parsed.ok()) << c.to;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.message), std::string::npos)
        << parsed.status().message() << " / expected " << c.message;
  }
}

TEST(ModelParamsFileTest, FileRoundTripAndErrors) {
  const std::string path = ::testing::TempDir() + "/model_params_file_test.txt";
  ASSERT_TRUE(WriteModelParamsFile(Odd(), path, "test").ok());
  absl::StatusOr<ModelParams> back = LoadModelParamsFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(Odd(), *back);
  std::remove(path.c_str());
  EXPECT_EQ(LoadModelParamsFile(path).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(WriteModelParamsFile(Odd(), "/nonexistent-dir/x/params.txt").ok());
}

}  // namespace
}  // namespace hie::mpi
