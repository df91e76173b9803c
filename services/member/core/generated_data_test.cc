#include "services/member/core/generated_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "hie/mpi/generator.h"
#include "services/member/core/member_rules.h"

namespace hie::member {
namespace {

GenerateOptions Options(const std::string& org) {
  GenerateOptions o;
  o.persons = 200;
  o.seed = 11;
  o.org = org;
  o.repository_id = org + "-repository";
  return o;
}

TEST(GeneratedDataTest, DeterministicAndConsistent) {
  absl::StatusOr<MemberData> a = GenerateMemberData(Options("clinic-b"));
  absl::StatusOr<MemberData> b = GenerateMemberData(Options("clinic-b"));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  ASSERT_GT(a->patients.size(), 50u);
  ASSERT_EQ(a->patients.size(), b->patients.size());
  ASSERT_EQ(a->documents.size(), b->documents.size());
  for (size_t i = 0; i < a->documents.size(); ++i) {
    EXPECT_EQ(a->documents[i].entry.SerializeAsString(), b->documents[i].entry.SerializeAsString());
    EXPECT_EQ(*a->documents[i].content, *b->documents[i].content);
  }
  EXPECT_GE(a->documents.size(), a->patients.size());
  EXPECT_LE(a->documents.size(), 3 * a->patients.size());
  absl::StatusOr<std::unique_ptr<MemberStore>> store = MemberStore::Create(*std::move(a));
  EXPECT_TRUE(store.ok()) << store.status();
}

TEST(GeneratedDataTest, MembersHoldTheirShareOfOnePopulation) {
  // The records the generator places at clinic-a, clinic-b, clinic-c go to the three members
  // named in population_orgs, in order: every record exactly once.
  const mpi::GeneratedPopulation population =
      mpi::GeneratePopulation({.persons = 200, .seed = 11, .orgs = 3});
  std::map<std::string, std::set<std::string>> expected;
  for (const auto& r : population.records) expected[r.record.org].insert(r.record.local_id);
  const char* members[] = {"north", "south", "east"};
  for (int i = 0; i < 3; ++i) {
    GenerateOptions o = Options(members[i]);
    o.population_orgs = {"north", "south", "east"};
    absl::StatusOr<MemberData> data = GenerateMemberData(o);
    ASSERT_TRUE(data.ok()) << data.status();
    std::set<std::string> ids;
    for (const MemberPatient& p : data->patients) ids.insert(p.local_id);
    EXPECT_EQ(ids, expected[std::string("clinic-") + static_cast<char>('a' + i)]) << members[i];
    EXPECT_EQ(data->org, members[i]);
  }
}

TEST(GeneratedDataTest, DocumentsArePublishableWithSomeLabelledAndSomeLarge) {
  absl::StatusOr<MemberData> data = GenerateMemberData(Options("clinic-a"));
  ASSERT_TRUE(data.ok()) << data.status();
  int labelled = 0, large = 0;
  std::set<std::string> keys;
  for (const MemberDocument& d : data->documents) {
    const auto& e = d.entry;
    EXPECT_EQ(e.patient().org(), "clinic-a");
    EXPECT_EQ(e.hash().digest(), Sha256(*d.content));
    EXPECT_TRUE(keys.insert(e.location().retrieve_key()).second);
    EXPECT_THAT(e.unique_id(), ::testing::StartsWith("urn:uuid:"));
    labelled += e.confidentiality_codes_size() > 1;
    if (d.content->size() > kMaxChunkBytes) ++large;
  }
  EXPECT_GT(labelled, 0);
  EXPECT_GT(large, 0);
  EXPECT_LE(large, kMaxLargeDocuments);
}

TEST(GeneratedDataTest, OptionsOutOfRangeNameTheOption) {
  GenerateOptions o = Options("clinic-z");
  EXPECT_EQ(GenerateMemberData(o).status().message(), "org is not one of population-orgs");
  o = Options("clinic-a");
  o.persons = 0;
  EXPECT_EQ(GenerateMemberData(o).status().message(), "generate-patients must be 1 to 2000000");
  o = Options("clinic-a");
  o.population_orgs = {"clinic-a", "clinic-a"};
  EXPECT_EQ(GenerateMemberData(o).status().message(), "population-orgs repeats an org");
  o = Options("clinic-a");
  o.max_documents_per_patient = 21;
  EXPECT_EQ(GenerateMemberData(o).status().message(), "generate-documents must be 1 to 20");
}

}  // namespace
}  // namespace hie::member
