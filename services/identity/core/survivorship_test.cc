#include "services/identity/core/survivorship.h"

#include <gtest/gtest.h>

#include "google/protobuf/util/time_util.h"

namespace hie::identity {
namespace {

using ::google::protobuf::util::TimeUtil;

// A record of `org` received at `seconds` with a family name and a birth date.
v1::SourceRecord Record(const std::string& org, int64_t seconds, const std::string& family,
                        const std::string& birth) {
  v1::SourceRecord r;
  r.mutable_source_id()->set_org(org);
  r.mutable_source_id()->set_local_id("L" + std::to_string(seconds));
  r.set_version(1);
  r.set_state(v1::RECORD_STATE_ACTIVE);
  r.mutable_demographics()->mutable_name()->set_family(family);
  r.mutable_demographics()->set_birth_date(birth);
  *r.mutable_record_time() = TimeUtil::SecondsToTimestamp(seconds);
  return r;
}

// The provenance of `field`: "org rule", or "" when the golden record lacks it.
std::string From(const v1::GoldenRecord& golden, const std::string& field) {
  for (const auto& p : golden.provenance()) {
    if (p.field() == field) return p.source_id().org() + " " + p.rule();
  }
  return "";
}

TEST(SurvivorshipTest, DefaultsAreMostRecentNameAndMostFrequentBirthDate) {
  const auto golden = ComputeGoldenRecord(
      {Record("a", 1, "Smith", "1980-01-02"), Record("b", 2, "Smith", "1980-01-02"),
       Record("c", 3, "Smith-Jones", "1980-02-01")},
      absl::FromUnixSeconds(10), SurvivorshipPolicy());
  EXPECT_EQ(golden.demographics().name().family(), "Smith-Jones");
  EXPECT_EQ(From(golden, "name"), "c most_recent");
  EXPECT_EQ(golden.demographics().birth_date(), "1980-01-02");
  EXPECT_EQ(From(golden, "birth_date"), "b most_frequent") << "the newest of the most frequent";
  EXPECT_EQ(From(golden, "addresses"), "") << "no record has an address";
  EXPECT_EQ(golden.compute_time().seconds(), 10);
}

TEST(SurvivorshipTest, MostTrustedSourceWinsAndTrustBreaksFrequencyTies) {
  absl::StatusOr<SurvivorshipPolicy> policy =
      ParseSurvivorshipPolicy("name=most_trusted", "hospital=10, lab=5");
  ASSERT_TRUE(policy.ok()) << policy.status();
  v1::SourceRecord inactive = Record("hospital", 9, "Gone", "1999-09-09");
  inactive.set_state(v1::RECORD_STATE_INACTIVE);
  const auto golden = ComputeGoldenRecord(
      {Record("clinic", 4, "Newest", "1980-01-02"), Record("lab", 2, "Lab", "1980-01-02"),
       Record("hospital", 1, "Hospital", "1981-01-02"),
       Record("hospital", 3, "Hospital Later", "1981-01-02"), inactive},
      absl::FromUnixSeconds(10), *policy);
  EXPECT_EQ(golden.demographics().name().family(), "Hospital Later")
      << "the most trusted source, its newest record; inactive records do not count";
  EXPECT_EQ(From(golden, "name"), "hospital most_trusted");
  // Birth dates: two records each; the tie goes to the more trusted source.
  EXPECT_EQ(golden.demographics().birth_date(), "1981-01-02");
  EXPECT_EQ(From(golden, "birth_date"), "hospital most_frequent");
}

TEST(SurvivorshipTest, UntrustedSourcesFallBackToTheMostRecent) {
  absl::StatusOr<SurvivorshipPolicy> policy = ParseSurvivorshipPolicy("name=most_trusted", "");
  ASSERT_TRUE(policy.ok());
  const auto golden =
      ComputeGoldenRecord({Record("a", 1, "Old", "1980-01-02"), Record("b", 2, "New", "")},
                          absl::FromUnixSeconds(3), *policy);
  EXPECT_EQ(golden.demographics().name().family(), "New");
  EXPECT_EQ(From(golden, "birth_date"), "a most_frequent") << "only one record has a birth date";
}

TEST(SurvivorshipTest, EmptyInputGivesAnEmptyGoldenRecord) {
  const auto golden = ComputeGoldenRecord({}, absl::FromUnixSeconds(3), SurvivorshipPolicy());
  EXPECT_EQ(golden.provenance_size(), 0);
  EXPECT_EQ(golden.demographics().ByteSizeLong(), 0u);
}

TEST(SurvivorshipTest, BadConfigurationNamesTheEntry) {
  struct Case {
    const char* rules;
    const char* trust;
    const char* message;
  };
  const Case cases[] = {
      {"nickname=most_recent", "", "unknown field 'nickname'"},
      {"name=newest", "", "unknown rule for name"},
      {"name", "", "unknown rule for name"},
      {"", "hospital=high", "entry 'hospital' must be org=integer"},
      {"", "=3", "must be org=integer"},
      {"", "a=1,a=2", "a given twice"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SurvivorshipPolicy> policy = ParseSurvivorshipPolicy(c.rules, c.trust);
    ASSERT_FALSE(policy.ok()) << c.rules << " | " << c.trust;
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(policy.status().message().find(c.message), std::string::npos)
        << policy.status().message();
  }
  EXPECT_TRUE(ParseSurvivorshipPolicy("", "").ok());
  EXPECT_TRUE(ParseSurvivorshipPolicy(" sex = most_trusted , ", " lab = -2 ").ok());
}

}  // namespace
}  // namespace hie::identity
