#include "services/audit/core/identity_events.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hie::audit {

hie::audit::v1::AuditEvent AuditEventOf(const hie::identity::v1::IdentityEvent& ie) {
  namespace idv1 = ::hie::identity::v1;
  v1::AuditEvent e;
  e.set_event_id(absl::StrCat("identity-", ie.sequence()));
  *e.mutable_event_time() = ie.event_time();
  e.set_type(v1::EVENT_TYPE_IDENTITY_CHANGE);
  std::string type_name(
      absl::StripPrefix(idv1::IdentityEventType_Name(ie.type()), "IDENTITY_EVENT_TYPE_"));
  e.set_action(absl::StrCat("identity.", type_name.empty() ? "UNKNOWN" : type_name));
  e.set_outcome(v1::OUTCOME_SUCCESS);
  *e.mutable_actor() = ie.actor();
  if (e.actor().org().empty()) e.mutable_actor()->set_org("hie");
  e.set_request_id(ie.request_id());
  *e.mutable_patients() = ie.source_ids();
  e.set_person_id(!ie.to_person_id().empty() ? ie.to_person_id() : ie.from_person_id());
  std::set<std::string> persons;
  for (const std::string* id : {&ie.from_person_id(), &ie.to_person_id()}) {
    if (!id->empty()) persons.insert(*id);
  }
  for (const auto& id : ie.affected_person_ids()) persons.insert(id);
  for (const auto& id : persons) {
    auto* o = e.add_objects();
    o->set_kind("person");
    o->set_id(id);
  }
  if (!ie.review_task_id().empty()) {
    auto* o = e.add_objects();
    o->set_kind("review_task");
    o->set_id(ie.review_task_id());
  }
  auto& details = *e.mutable_details();
  details["identity_sequence"] = absl::StrCat(ie.sequence());
  details["identity_event_id"] = ie.event_id();
  if (!ie.reason().empty()) details["reason"] = ie.reason().substr(0, 1024);
  if (ie.score() != 0) details["score"] = absl::StrCat(ie.score());
  if (ie.grade() != idv1::MATCH_GRADE_UNSPECIFIED) {
    details["grade"] = idv1::MatchGrade_Name(ie.grade());
  }
  if (ie.record_version() != 0) details["record_version"] = absl::StrCat(ie.record_version());
  if (!ie.undoes_event_id().empty()) details["undoes_event_id"] = ie.undoes_event_id();
  e.set_source_service("identity");
  return e;
}

}  // namespace hie::audit
