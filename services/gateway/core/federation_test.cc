#include "services/gateway/core/federation.h"

#include <gtest/gtest.h>

namespace hie::gateway {
namespace {

using registry::v1::DocumentEntry;

DocumentEntry LoincEntry(const std::string& org, const std::string& local_id,
                         const std::string& unique_id, int64_t created_seconds,
                         const std::string& class_code = "11506-3") {
  DocumentEntry e;
  e.set_unique_id(unique_id);
  e.mutable_patient()->set_org(org);
  e.mutable_patient()->set_local_id(local_id);
  e.mutable_creation_time()->set_seconds(created_seconds);
  e.mutable_location()->set_member_org(org);
  e.mutable_class_code()->set_system("http://loinc.org");
  e.mutable_class_code()->set_code(class_code);
  return e;
}

std::map<std::string, DirectoryEntry> Directory() {
  std::map<std::string, DirectoryEntry> d;
  for (const char* org : {"clinic-a", "clinic-b", "clinic-c", "clinic-d"}) {
    d[org] = DirectoryEntry{org, std::string("Clinic ") + org[7], v1::MEMBER_STATE_ACTIVE, 1000};
  }
  d["clinic-d"].state = v1::MEMBER_STATE_SUSPENDED;
  d["clinic-c"].max_results = 20;
  return d;
}

Verdict Permit() { return Verdict{true, {}, "dec-1"}; }

TEST(PlanFanOutTest, ConsentFirstThenTheDirectoryThenTheCall) {
  std::vector<Holder> holders = {
      {"clinic-b", {"b-2"}}, {"clinic-a", {"a-1"}}, {"clinic-b", {"b-1"}}, {"clinic-c", {"c-1"}},
      {"clinic-d", {"d-1"}}, {"clinic-e", {"e-1"}}, {"clinic-f", {"f-1"}}};
  std::map<std::string, Verdict> verdicts = {{"clinic-b", Permit()},
                                             {"clinic-c", Permit()},
                                             {"clinic-d", Permit()},
                                             {"clinic-e", Permit()},
                                             {"clinic-f", Verdict{false, {}, "dec-2"}}};
  FanOutPlan plan = PlanFanOut({.caller_org = "clinic-a", .max_results_per_member = 50}, holders,
                               Directory(), verdicts);
  // clinic-a is the caller: left out. clinic-b has two records, one target.
  ASSERT_EQ(plan.contact.size(), 2u);
  EXPECT_EQ(plan.contact[0].org, "clinic-b");
  EXPECT_EQ(plan.contact[0].local_ids, (std::vector<std::string>{"b-1", "b-2"}));
  EXPECT_EQ(plan.contact[0].max_results, 50);
  EXPECT_EQ(plan.contact[0].decision_id, "dec-1");
  EXPECT_EQ(plan.contact[1].org, "clinic-c");
  EXPECT_EQ(plan.contact[1].max_results, 20);  // its capability
  ASSERT_EQ(plan.not_callable.size(), 2u);
  EXPECT_EQ(plan.not_callable[0].first.org, "clinic-d");
  EXPECT_EQ(plan.not_callable[0].second, "MEMBER_SUSPENDED");
  EXPECT_EQ(plan.not_callable[1].first.org, "clinic-e");
  EXPECT_EQ(plan.not_callable[1].second, "NOT_IN_DIRECTORY");
  ASSERT_EQ(plan.denied.size(), 1u);
  EXPECT_EQ(plan.denied[0].member_org(), "clinic-f");
  EXPECT_EQ(plan.denied[0].status(), v1::MEMBER_STATUS_DENIED_BY_CONSENT);
}

TEST(PlanFanOutTest, AMissingVerdictIsADenialAndTheFilterNarrows) {
  std::vector<Holder> holders = {{"clinic-b", {"b-1"}}, {"clinic-c", {"c-1"}}};
  FanOutPlan plan =
      PlanFanOut({.caller_org = "clinic-a", .member_orgs = {"clinic-b"}}, holders, Directory(), {});
  EXPECT_TRUE(plan.contact.empty());
  ASSERT_EQ(plan.denied.size(), 1u);  // clinic-c filtered out, clinic-b without a verdict
  EXPECT_EQ(plan.denied[0].member_org(), "clinic-b");
  EXPECT_EQ(plan.denied[0].detail(), "NO_DECISION");
}

Target B() {
  Target t;
  t.org = "clinic-b";
  t.display_name = "Clinic B";
  t.local_ids = {"b-1", "b-2"};
  t.max_results = 100;
  return t;
}

MemberAnswer Answer(std::vector<DocumentEntry> entries, bool truncated = false) {
  MemberAnswer a;
  a.status = absl::OkStatus();
  a.entries = std::move(entries);
  a.truncated = truncated;
  a.latency = absl::Milliseconds(12);
  return a;
}

TEST(ResultOfTest, MergesRegistryAndLiveByUniqueIdNewestFirst) {
  DocumentEntry registered = LoincEntry("clinic-b", "b-1", "1.1", 100);
  registered.set_entry_uuid("urn:uuid:r1");
  BuiltResult built = ResultOf(B(),
                               Answer({LoincEntry("clinic-b", "b-1", "1.1", 100),
                                       LoincEntry("clinic-b", "b-2", "1.2", 300)}),
                               {registered, LoincEntry("clinic-b", "b-2", "1.3", 200)}, nullptr);
  const v1::MemberResult& r = built.result;
  EXPECT_EQ(r.status(), v1::MEMBER_STATUS_OK);
  ASSERT_EQ(r.entries_size(), 3);
  EXPECT_EQ(r.entries(0).unique_id(), "1.2");
  EXPECT_EQ(r.entry_sources(0), v1::ENTRY_SOURCE_MEMBER);
  EXPECT_EQ(r.entries(1).unique_id(), "1.3");
  EXPECT_EQ(r.entry_sources(1), v1::ENTRY_SOURCE_REGISTRY);
  EXPECT_EQ(r.entries(2).unique_id(), "1.1");
  EXPECT_EQ(r.entry_sources(2), v1::ENTRY_SOURCE_REGISTRY_AND_MEMBER);
  EXPECT_EQ(r.entries(2).entry_uuid(), "urn:uuid:r1");
  for (const auto& e : r.entries()) EXPECT_TRUE(e.patient().local_id().empty());
  EXPECT_EQ(r.latency().nanos(), 12'000'000);
}

TEST(ResultOfTest, DropsWhatBelongsToAnotherOrgOrPatient) {
  DocumentEntry moved = LoincEntry("clinic-b", "b-1", "1.4", 100);
  moved.mutable_location()->set_member_org("clinic-z");
  BuiltResult built = ResultOf(
      B(),
      Answer({LoincEntry("clinic-b", "b-9", "1.1", 100), LoincEntry("clinic-z", "b-1", "1.2", 100),
              moved, LoincEntry("clinic-b", "b-2", "1.3", 100)}),
      {LoincEntry("clinic-b", "someone-else", "1.5", 100)}, nullptr);
  EXPECT_EQ(built.dropped, 4);
  ASSERT_EQ(built.result.entries_size(), 1);
  EXPECT_EQ(built.result.entries(0).unique_id(), "1.3");
}

TEST(ResultOfTest, TheHubRedactsWhateverTheMemberSent) {
  auto forbids_mental_health = [](const DocumentEntry& e) {
    return e.class_code().code() == "11488-4";
  };
  BuiltResult built =
      ResultOf(B(),
               Answer({LoincEntry("clinic-b", "b-1", "1.1", 100, "11488-4"),
                       LoincEntry("clinic-b", "b-1", "1.2", 90)}),
               {LoincEntry("clinic-b", "b-1", "1.3", 80, "11488-4")}, forbids_mental_health);
  ASSERT_EQ(built.result.entries_size(), 1);
  EXPECT_EQ(built.result.entries(0).unique_id(), "1.2");
  // All redacted: NO_DATA, not OK.
  built = ResultOf(B(), Answer({LoincEntry("clinic-b", "b-1", "1.1", 100, "11488-4")}), {},
                   forbids_mental_health);
  EXPECT_EQ(built.result.status(), v1::MEMBER_STATUS_NO_DATA);
  EXPECT_EQ(built.result.entries_size(), 0);
}

TEST(ResultOfTest, TruncatesToTheTargetsLimit) {
  Target t = B();
  t.max_results = 2;
  BuiltResult built = ResultOf(
      t,
      Answer({LoincEntry("clinic-b", "b-1", "1.1", 1), LoincEntry("clinic-b", "b-1", "1.2", 2),
              LoincEntry("clinic-b", "b-1", "1.3", 3)}),
      {}, nullptr);
  EXPECT_TRUE(built.result.truncated());
  ASSERT_EQ(built.result.entries_size(), 2);
  EXPECT_EQ(built.result.entries(0).unique_id(), "1.3");
  EXPECT_EQ(built.result.entry_sources_size(), 2);
  built = ResultOf(B(), Answer({LoincEntry("clinic-b", "b-1", "1.1", 1)}, /*truncated=*/true), {},
                   nullptr);
  EXPECT_TRUE(built.result.truncated());
}

TEST(ResultOfTest, ADownMembersRegistryEntriesStillAnswer) {
  MemberAnswer timeout;
  timeout.status = absl::DeadlineExceededError("member");
  timeout.entries = {LoincEntry("clinic-b", "b-1", "1.9", 1)};  // ignored: the call failed
  BuiltResult built = ResultOf(B(), timeout, {LoincEntry("clinic-b", "b-1", "1.1", 1)}, nullptr);
  EXPECT_EQ(built.result.status(), v1::MEMBER_STATUS_TIMEOUT);
  ASSERT_EQ(built.result.entries_size(), 1);
  EXPECT_EQ(built.result.entries(0).unique_id(), "1.1");
  EXPECT_EQ(built.result.entry_sources(0), v1::ENTRY_SOURCE_REGISTRY);

  MemberAnswer unavailable;
  unavailable.status = absl::UnavailableError("connection refused");
  built = ResultOf(B(), unavailable, {}, nullptr);
  EXPECT_EQ(built.result.status(), v1::MEMBER_STATUS_UNAVAILABLE);
  EXPECT_EQ(built.result.detail(), "UNAVAILABLE");

  MemberAnswer open;
  open.kind = MemberAnswer::Kind::kCircuitOpen;
  built = ResultOf(B(), open, {LoincEntry("clinic-b", "b-2", "1.1", 1)}, nullptr);
  EXPECT_EQ(built.result.status(), v1::MEMBER_STATUS_CIRCUIT_OPEN);
  EXPECT_EQ(built.result.entries_size(), 1);

  MemberAnswer suspended;
  suspended.kind = MemberAnswer::Kind::kNotCalled;
  suspended.detail = "MEMBER_SUSPENDED";
  built = ResultOf(B(), suspended, {}, nullptr);
  EXPECT_EQ(built.result.status(), v1::MEMBER_STATUS_UNAVAILABLE);
  EXPECT_EQ(built.result.detail(), "MEMBER_SUSPENDED");
}

TEST(SummarizeTest, CountsEveryMemberAndFlagsAPartialAnswer) {
  std::vector<v1::MemberResult> results(5);
  const v1::MemberStatus statuses[] = {v1::MEMBER_STATUS_OK, v1::MEMBER_STATUS_NO_DATA,
                                       v1::MEMBER_STATUS_DENIED_BY_CONSENT,
                                       v1::MEMBER_STATUS_TIMEOUT, v1::MEMBER_STATUS_CIRCUIT_OPEN};
  for (int i = 0; i < 5; ++i) {
    results[i].set_member_org("clinic-" + std::to_string(i));
    results[i].set_status(statuses[i]);
  }
  *results[0].add_entries() = LoincEntry("clinic-0", "", "1.1", 1);
  *results[0].add_entries() = LoincEntry("clinic-0", "", "1.2", 1);
  std::vector<v1::MemberSummary> rows;
  for (const v1::MemberResult& r : results) rows.push_back(SummaryRowOf(r));
  v1::QuerySummary s = Summarize("req-1", rows, absl::Milliseconds(1500));
  EXPECT_EQ(s.request_id(), "req-1");
  EXPECT_EQ(s.members_total(), 5);
  EXPECT_EQ(s.members_ok(), 1);
  EXPECT_EQ(s.members_no_data(), 1);
  EXPECT_EQ(s.members_denied(), 1);
  EXPECT_EQ(s.members_timeout(), 1);
  EXPECT_EQ(s.members_circuit_open(), 1);
  EXPECT_EQ(s.entries_total(), 2);
  EXPECT_TRUE(s.partial());
  ASSERT_EQ(s.members_size(), 5);
  EXPECT_EQ(s.members(3).status(), v1::MEMBER_STATUS_TIMEOUT);
  EXPECT_EQ(s.members(0).member_org(), "clinic-0");
  EXPECT_EQ(s.members(0).entries(), 2);
  EXPECT_EQ(s.elapsed().seconds(), 1);
  EXPECT_EQ(s.elapsed().nanos(), 500'000'000);
  // Denied and no-data members do not make an answer partial.
  rows.resize(3);
  EXPECT_FALSE(Summarize("req-2", rows, absl::ZeroDuration()).partial());
}

}  // namespace
}  // namespace hie::gateway
