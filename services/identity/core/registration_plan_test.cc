// PlanRegistration and the candidate rules, table-driven: facts in, the plan expected out.

#include "services/identity/core/registration_plan.h"

#include <gtest/gtest.h>

#include "tests/support/source_id.h"

namespace hie::identity {
namespace {

namespace v1 = ::hie::identity::v1;
using ::hie::common::v1::SourceId;

using test_support::Id;

RecordMatch Match(const std::string& org, const std::string& local, v1::MatchGrade grade,
                  double score) {
  RecordMatch m;
  m.source_id = Id(org, local);
  m.grade = grade;
  m.score = score;
  m.explanation.set_grade(grade);
  return m;
}

v1::Link LinkTo(const std::string& person, v1::LinkMethod method) {
  v1::Link link;
  link.set_person_id(person);
  link.set_method(method);
  return link;
}

// Three matches: a certain one on P1, a probable one on P2, a possible one on P3.
const std::vector<RecordMatch>& Matches() {
  static const auto* matches = new std::vector<RecordMatch>{
      Match("b", "1", v1::MATCH_GRADE_CERTAIN, 20),
      Match("c", "2", v1::MATCH_GRADE_PROBABLE, 10),
      Match("d", "3", v1::MATCH_GRADE_POSSIBLE, 5),
  };
  return *matches;
}

struct Case {
  const char* name;
  RegistrationFacts facts;
  RegistrationAction action;
  v1::MatchOutcome outcome;
  std::string person;
  bool index;
  std::vector<std::string> questions;  // local ids of the records asked about, in order
  int max_questions;
};

std::vector<PersonCandidate> Candidates(std::vector<int> which) {
  std::vector<PersonCandidate> out;
  for (int i : which) out.push_back({"P" + std::to_string(i + 1), &Matches()[i]});
  return out;
}

RegistrationFacts Facts(bool created, bool stale, std::optional<v1::Link> link,
                        std::vector<PersonCandidate> candidates, int home_links = 0,
                        std::optional<SourceId> home_other = std::nullopt) {
  RegistrationFacts f;
  f.created = created;
  f.stale = stale;
  f.current_link = std::move(link);
  f.candidates = std::move(candidates);
  f.home_links = home_links;
  f.home_other = std::move(home_other);
  return f;
}

TEST(PlanRegistrationTest, DecidesAsTheRulesSay) {
  using A = RegistrationAction;
  const v1::Link auto_p1 = LinkTo("P1", v1::LINK_METHOD_AUTO);
  const v1::Link founded_p9 = LinkTo("P9", v1::LINK_METHOD_NEW_PERSON);
  const v1::Link manual_p9 = LinkTo("P9", v1::LINK_METHOD_MANUAL);
  const std::vector<Case> cases = {
      {"first version, certain best person: linked",
       Facts(true, false, {}, Candidates({0, 1})),
       A::kLinkToCandidate,
       v1::MATCH_OUTCOME_LINKED,
       "P1",
       true,
       {},
       0},
      {"first version, no candidate: new person",
       Facts(true, false, {}, {}),
       A::kNewPerson,
       v1::MATCH_OUTCOME_NEW_PERSON,
       "",
       true,
       {},
       3},
      {"first version, only probable/possible: new person, each asked",
       Facts(true, false, {}, Candidates({1, 2})),
       A::kNewPerson,
       v1::MATCH_OUTCOME_NEW_PERSON,
       "",
       true,
       {"2", "3"},
       3},
      {"first version, certain not best: new person (the best decides)",
       Facts(true, false, {}, Candidates({1, 0})),
       A::kNewPerson,
       v1::MATCH_OUTCOME_NEW_PERSON,
       "",
       true,
       {"2", "1"},
       3},
      {"stale update: nothing decided, not indexed",
       Facts(false, true, auto_p1, Candidates({0})),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "P1",
       false,
       {},
       0},
      {"stale, unlinked",
       Facts(false, true, {}, {}),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "",
       false,
       {},
       0},
      {"update, still certain at home: no question",
       Facts(false, false, auto_p1, Candidates({0}), 2, Id("e", "5")),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "P1",
       true,
       {},
       1},
      {"update, no longer certain at home, home has others: ask about the other home record",
       Facts(false, false, founded_p9, Candidates({1}), 2, Id("e", "5")),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "P9",
       true,
       {"5"},
       1},
      {"update, alone at home, certain elsewhere: ask about the certain person",
       Facts(false, false, founded_p9, Candidates({1, 0}), 1),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "P9",
       true,
       {"1"},
       1},
      {"update, alone at home, nothing certain elsewhere: no question",
       Facts(false, false, founded_p9, Candidates({1, 2}), 1),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "P9",
       true,
       {},
       1},
      {"update of a manual link: never questioned",
       Facts(false, false, manual_p9, Candidates({0}), 2, Id("e", "5")),
       A::kKeepLink,
       v1::MATCH_OUTCOME_UNCHANGED,
       "P9",
       true,
       {},
       0},
      {"stored but unlinked, not stale: decided as a first version",
       Facts(false, false, {}, Candidates({0})),
       A::kLinkToCandidate,
       v1::MATCH_OUTCOME_LINKED,
       "P1",
       true,
       {},
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RegistrationPlan plan = PlanRegistration(c.facts);
    EXPECT_EQ(plan.action, c.action);
    EXPECT_EQ(plan.outcome, c.outcome);
    EXPECT_EQ(plan.person_id, c.person);
    EXPECT_EQ(plan.index, c.index);
    EXPECT_EQ(plan.max_questions, c.max_questions);
    std::vector<std::string> asked;
    for (const ReviewQuestion& q : plan.questions) asked.push_back(q.right.local_id());
    EXPECT_EQ(asked, c.questions);
    if (c.action == A::kLinkToCandidate) {
      ASSERT_NE(plan.link_to, nullptr);
      EXPECT_EQ(plan.link_to->person_id, c.person);
    }
  }
}

TEST(PlanRegistrationTest, QuestionsAboutTheOwnPersonCompareTheRecordsOthersShowTheMatch) {
  const v1::Link founded = LinkTo("P9", v1::LINK_METHOD_NEW_PERSON);
  RegistrationFacts home = Facts(false, false, founded, Candidates({1}), 2, Id("e", "5"));
  RegistrationPlan plan = PlanRegistration(home);
  ASSERT_EQ(plan.questions.size(), 1u);
  EXPECT_EQ(plan.questions[0].match, nullptr);
  EXPECT_EQ(plan.questions[0].right_person, "");

  RegistrationFacts first = Facts(true, false, {}, Candidates({1}));
  plan = PlanRegistration(first);
  ASSERT_EQ(plan.questions.size(), 1u);
  EXPECT_EQ(plan.questions[0].match, &Matches()[1]);
  EXPECT_EQ(plan.questions[0].right_person, "P2");
}

TEST(PersonDisagreementTest, AGuardAgainstAnyRecordOfThePersonDisagrees) {
  const auto m = [](double score) { return Match("c", "1", v1::MATCH_GRADE_CERTAIN, score); };
  EXPECT_EQ(PersonDisagreement({}), -1) << "a person of one record: its best record decided";
  EXPECT_EQ(PersonDisagreement({m(12), m(-11)}), -1) << "low scores alone do not disagree";
  std::vector<RecordMatch> guarded = {m(30), m(25), m(28), m(3)};
  guarded[2].explanation.add_guards()->set_kind(v1::GuardResult::KIND_NAMESAKE);
  guarded[3].explanation.add_guards()->set_kind(v1::GuardResult::KIND_TWINS);
  EXPECT_EQ(PersonDisagreement(guarded), 2) << "the first guarded comparison is named";
}

TEST(CandidatesByPersonTest, OnePerPersonAtItsBestRecordRefusedAndUnlinkedLeftOut) {
  std::vector<RecordMatch> matches = {
      Match("b", "1", v1::MATCH_GRADE_PROBABLE, 12), Match("b", "2", v1::MATCH_GRADE_POSSIBLE, 6),
      Match("c", "3", v1::MATCH_GRADE_CERTAIN, 30), Match("d", "4", v1::MATCH_GRADE_POSSIBLE, 5),
      Match("e", "5", v1::MATCH_GRADE_POSSIBLE, 4)};
  std::vector<std::optional<v1::Link>> links = {
      LinkTo("P1", v1::LINK_METHOD_AUTO), LinkTo("P1", v1::LINK_METHOD_AUTO),
      LinkTo("P2", v1::LINK_METHOD_AUTO), std::nullopt, LinkTo("P3", v1::LINK_METHOD_AUTO)};
  std::vector<PersonCandidate> out = CandidatesByPerson(matches, links, {"P2"});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].person_id, "P1");
  EXPECT_EQ(out[0].match, &matches[0]);  // the first (best) record of P1
  EXPECT_EQ(out[1].person_id, "P3");
}

TEST(CapSameOrgMatchesTest, ARecordOfTheSameOrganisationIsAtMostProbable) {
  std::vector<RecordMatch> matches = {Match("a", "1", v1::MATCH_GRADE_CERTAIN, 30),
                                      Match("b", "2", v1::MATCH_GRADE_CERTAIN, 30),
                                      Match("a", "3", v1::MATCH_GRADE_POSSIBLE, 5)};
  CapSameOrgMatches(Id("a", "9"), &matches);
  EXPECT_EQ(matches[0].grade, v1::MATCH_GRADE_PROBABLE);
  EXPECT_EQ(matches[0].explanation.grade(), v1::MATCH_GRADE_PROBABLE);
  ASSERT_EQ(matches[0].explanation.guards_size(), 1);
  EXPECT_EQ(matches[0].explanation.guards(0).kind(), v1::GuardResult::KIND_SAME_SOURCE_ORG);
  EXPECT_EQ(matches[1].grade, v1::MATCH_GRADE_CERTAIN);
  EXPECT_EQ(matches[1].explanation.guards_size(), 0);
  EXPECT_EQ(matches[2].grade, v1::MATCH_GRADE_POSSIBLE);
  EXPECT_EQ(matches[2].explanation.guards_size(), 1);
}

}  // namespace
}  // namespace hie::identity
