#pragma once

// What RegisterSubmissionSet does to the registry, decided without I/O: the store reads the
// state the plan needs inside its transaction (with the association targets locked), the plan
// decides, and the store writes the plan or nothing. The request is validated first
// (validation.h: ValidateRegister, CheckPublisher).
//
// The rules (XDS.b metadata update semantics, v1):
//  - An entry whose unique_id is already registered: with the same hash, size and patient it is
//    a no-op (the answer carries the stored entry); otherwise ALREADY_EXISTS "entries[i].
//    unique_id is already registered with different content". Nothing is written either way
//    for that entry.
//  - Every association names an existing target (else NOT_FOUND "associations[k].
//    target_entry_uuid is not registered") of the same patient as its source (else
//    FAILED_PRECONDITION "... belongs to another patient") that is APPROVED (else
//    FAILED_PRECONDITION "... is deprecated"): nothing is published onto a deprecated document.
//    Of two concurrent replacements of one target, the store's lock makes the second see it
//    DEPRECATED: one wins, the other fails FAILED_PRECONDITION.
//  - An association whose source entry was already registered (a retried publication) is a
//    no-op when the store already holds it, else FAILED_PRECONDITION (metadata is immutable).
//  - REPLACE and TRANSFORM_AND_REPLACE: the new entry continues the target's logical document
//    (same logical_id, version + 1); the target becomes DEPRECATED at `now`, replaced_by the new
//    entry. Every other new entry starts a logical document (logical_id = its entry_uuid,
//    version 1). APPEND, TRANSFORM, SIGNS leave the target APPROVED.
//  - New entries are APPROVED, carry the submission set's id and `now` as submission_time; the
//    submission set's source_org is the caller's org. A location without a retrieve_key gets
//    the entry's unique_id (the proto's default, stated), so lookups by location find it.
// Any error: no plan (the whole submission is refused and nothing changes).

#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::registry {

// What the store read for one submission.
struct SubmissionState {
  // Stored entries whose unique_id is one of the request's entries'.
  std::map<std::string, v1::DocumentEntry> by_unique_id;
  // Stored entries named as association targets, by entry_uuid (locked by the store).
  std::map<std::string, v1::DocumentEntry> targets;
  // Stored associations (type, source entry_uuid, target entry_uuid) from the request's already
  // registered entries.
  std::set<std::tuple<int, std::string, std::string>> associations;
};

struct Deprecation {
  std::string entry_uuid;
  std::string replaced_by_entry_uuid;  // empty when withdrawn without replacement
};

struct SubmissionPlan {
  v1::SubmissionSet submission_set;            // with id, source_org, time, entry uuids
  std::vector<v1::DocumentEntry> new_entries;  // to insert, complete
  std::vector<v1::Association> new_associations;
  std::vector<Deprecation> deprecations;
  v1::RegisterSubmissionSetResponse response;  // the answer, entries in request order
};

// `new_id` returns a fresh "urn:uuid:..." id on each call (submission set, entries,
// associations).
absl::StatusOr<SubmissionPlan> PlanSubmission(const v1::RegisterSubmissionSetRequest& request,
                                              const std::string& caller_org,
                                              const SubmissionState& state, absl::Time now,
                                              const std::function<std::string()>& new_id);

}  // namespace hie::registry
