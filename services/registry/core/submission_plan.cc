#include "services/registry/core/submission_plan.h"

#include "absl/strings/str_cat.h"
#include "services/common/proto_time.h"

namespace hie::registry {
namespace {

bool SamePatient(const common::v1::SourceId& a, const common::v1::SourceId& b) {
  return a.org() == b.org() && a.local_id() == b.local_id();
}

bool Replaces(v1::AssociationType type) {
  return type == v1::ASSOCIATION_TYPE_REPLACE || type == v1::ASSOCIATION_TYPE_TRANSFORM_AND_REPLACE;
}

// The entry as the caller may give it: output-only fields cleared.
v1::DocumentEntry InputEntry(const v1::DocumentEntry& e) {
  v1::DocumentEntry out = e;
  out.clear_entry_uuid();
  out.clear_logical_id();
  out.clear_version();
  out.clear_status();
  out.clear_submission_set_id();
  out.clear_submission_time();
  out.clear_deprecate_time();
  out.clear_replaced_by_entry_uuid();
  return out;
}

bool SameContent(const v1::DocumentEntry& stored, const v1::DocumentEntry& given) {
  return stored.hash().algorithm() == given.hash().algorithm() &&
         stored.hash().digest() == given.hash().digest() &&
         stored.size_bytes() == given.size_bytes() &&
         SamePatient(stored.patient(), given.patient());
}

}  // namespace

absl::StatusOr<SubmissionPlan> PlanSubmission(const v1::RegisterSubmissionSetRequest& request,
                                              const std::string& caller_org,
                                              const SubmissionState& state, absl::Time now,
                                              const std::function<std::string()>& new_id) {
  SubmissionPlan plan;
  plan.submission_set = request.submission_set();
  plan.submission_set.clear_entry_uuids();
  plan.submission_set.set_id(new_id());
  plan.submission_set.set_source_org(caller_org);
  SetTimestamp(now, plan.submission_set.mutable_submission_time());

  // Entries: the stored one (re-registration) or a new APPROVED one; by unique_id.
  std::map<std::string, v1::DocumentEntry> entries;
  std::set<std::string> registered_before;
  for (int i = 0; i < request.entries_size(); ++i) {
    const v1::DocumentEntry& given = request.entries(i);
    if (auto it = state.by_unique_id.find(given.unique_id()); it != state.by_unique_id.end()) {
      if (!SameContent(it->second, given)) {
        return absl::AlreadyExistsError(absl::StrCat(
            "entries[", i, "].unique_id is already registered with different content"));
      }
      entries[given.unique_id()] = it->second;
      registered_before.insert(given.unique_id());
      continue;
    }
    v1::DocumentEntry e = InputEntry(given);
    if (e.location().retrieve_key().empty()) {
      e.mutable_location()->set_retrieve_key(e.unique_id());  // the proto's default, stated
    }
    e.set_entry_uuid(new_id());
    e.set_logical_id(e.entry_uuid());
    e.set_version(1);
    e.set_status(v1::AVAILABILITY_STATUS_APPROVED);
    e.set_submission_set_id(plan.submission_set.id());
    SetTimestamp(now, e.mutable_submission_time());
    entries[given.unique_id()] = std::move(e);
  }

  // Associations, checked against their targets as the store read (and locked) them.
  std::map<std::string, v1::DocumentEntry> targets = state.targets;
  for (int k = 0; k < request.associations_size(); ++k) {
    const v1::Association& a = request.associations(k);
    const std::string at = absl::StrCat("associations[", k, "]");
    v1::DocumentEntry& source = entries.at(a.source());  // validated: an entry of the request
    auto target = targets.find(a.target_entry_uuid());
    if (registered_before.contains(a.source())) {
      if (state.associations.contains({a.type(), source.entry_uuid(), a.target_entry_uuid()})) {
        continue;  // a retried publication: recorded then
      }
      return absl::FailedPreconditionError(absl::StrCat(
          at, ".source is already registered without this association (metadata is immutable)"));
    }
    if (target == targets.end()) {
      return absl::NotFoundError(absl::StrCat(at, ".target_entry_uuid is not registered"));
    }
    if (!SamePatient(target->second.patient(), source.patient())) {
      return absl::FailedPreconditionError(
          absl::StrCat(at, ".target_entry_uuid belongs to another patient"));
    }
    if (target->second.status() != v1::AVAILABILITY_STATUS_APPROVED) {
      return absl::FailedPreconditionError(absl::StrCat(at, ".target_entry_uuid is deprecated"));
    }
    v1::Association out;
    out.set_id(new_id());
    out.set_type(a.type());
    out.set_source(source.entry_uuid());
    out.set_target_entry_uuid(a.target_entry_uuid());
    if (Replaces(a.type())) {
      source.set_logical_id(target->second.logical_id());
      source.set_version(target->second.version() + 1);
      target->second.set_status(v1::AVAILABILITY_STATUS_DEPRECATED);  // a later one sees it
      plan.deprecations.push_back({a.target_entry_uuid(), source.entry_uuid()});
      plan.response.add_deprecated_entry_uuids(a.target_entry_uuid());
    }
    plan.new_associations.push_back(out);
    *plan.response.add_associations() = std::move(out);
  }

  for (const v1::DocumentEntry& given : request.entries()) {
    const v1::DocumentEntry& e = entries.at(given.unique_id());
    if (!registered_before.contains(given.unique_id())) {
      plan.new_entries.push_back(e);
      plan.submission_set.add_entry_uuids(e.entry_uuid());
    }
    *plan.response.add_entries() = e;
  }
  *plan.response.mutable_submission_set() = plan.submission_set;
  return plan;
}

}  // namespace hie::registry
