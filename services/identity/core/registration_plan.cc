#include "services/identity/core/registration_plan.h"

namespace hie::identity {
namespace {

namespace v1 = ::hie::identity::v1;

// An update of a linked record: it stays; an automatic link may raise one question.
RegistrationPlan PlanUpdate(const RegistrationFacts& facts) {
  RegistrationPlan plan;
  plan.action = RegistrationAction::kKeepLink;
  plan.outcome = v1::MATCH_OUTCOME_UNCHANGED;
  plan.person_id = facts.current_link->person_id();
  plan.index = true;
  if (!IsAutomaticLink(*facts.current_link)) return plan;
  const std::string& home = facts.current_link->person_id();
  const PersonCandidate* best_elsewhere = nullptr;
  bool still_certain_at_home = false;
  for (const PersonCandidate& c : facts.candidates) {
    if (c.person_id == home) {
      still_certain_at_home = c.match->grade == v1::MATCH_GRADE_CERTAIN;
    } else if (best_elsewhere == nullptr && c.match->grade == v1::MATCH_GRADE_CERTAIN) {
      best_elsewhere = &c;
    }
  }
  const bool alone = facts.home_links <= 1;
  plan.max_questions = 1;
  if (!alone && !still_certain_at_home && facts.home_other.has_value()) {
    plan.questions.push_back({*facts.home_other, "", nullptr});
  } else if (best_elsewhere != nullptr) {
    plan.questions.push_back({best_elsewhere->match->source_id, "", best_elsewhere->match});
  }
  return plan;
}

}  // namespace

void CapSameOrgMatches(const hie::common::v1::SourceId& id, std::vector<RecordMatch>* matches) {
  for (RecordMatch& m : *matches) {
    if (m.source_id.org() != id.org()) continue;
    if (m.grade == v1::MATCH_GRADE_CERTAIN) m.grade = v1::MATCH_GRADE_PROBABLE;
    m.explanation.set_grade(m.grade);
    v1::GuardResult* guard = m.explanation.add_guards();
    guard->set_kind(v1::GuardResult::KIND_SAME_SOURCE_ORG);
    guard->set_field("org");
  }
}

int PersonDisagreement(const std::vector<RecordMatch>& others) {
  for (int i = 0; i < static_cast<int>(others.size()); ++i) {
    if (others[i].explanation.guards_size() > 0) return i;
  }
  return -1;
}

std::vector<PersonCandidate> CandidatesByPerson(const std::vector<RecordMatch>& matches,
                                                const std::vector<std::optional<v1::Link>>& links,
                                                const std::set<std::string>& refused_persons) {
  std::vector<PersonCandidate> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < matches.size() && i < links.size(); ++i) {
    if (!links[i].has_value()) continue;
    const std::string& person = links[i]->person_id();
    if (refused_persons.count(person) > 0 || !seen.insert(person).second) continue;
    out.push_back({person, &matches[i]});
  }
  return out;
}

bool IsAutomaticLink(const v1::Link& link) {
  return link.method() == v1::LINK_METHOD_AUTO || link.method() == v1::LINK_METHOD_NEW_PERSON;
}

RegistrationPlan PlanRegistration(const RegistrationFacts& facts) {
  if (facts.stale) {
    RegistrationPlan plan;
    plan.person_id = facts.current_link ? facts.current_link->person_id() : "";
    return plan;
  }
  if (facts.current_link.has_value()) return PlanUpdate(facts);
  RegistrationPlan plan;
  plan.index = true;
  if (!facts.candidates.empty() && facts.candidates[0].match->grade == v1::MATCH_GRADE_CERTAIN) {
    plan.action = RegistrationAction::kLinkToCandidate;
    plan.outcome = v1::MATCH_OUTCOME_LINKED;
    plan.link_to = &facts.candidates[0];
    plan.person_id = facts.candidates[0].person_id;
    return plan;
  }
  plan.action = RegistrationAction::kNewPerson;
  plan.outcome = v1::MATCH_OUTCOME_NEW_PERSON;
  plan.max_questions = kMaxReviewTasksPerRegistration;
  for (const PersonCandidate& c : facts.candidates) {
    plan.questions.push_back({c.match->source_id, c.person_id, c.match});
  }
  return plan;
}

}  // namespace hie::identity
