#pragma once

// The in-memory, versioned view of the directives and break-glass grants in force, which
// decisions read (never the database). A ViewRefresher (view_refresher.h) feeds it from the
// store's change feed and confirms it current; Decide asks FreshAt() and decides DENY
// (CONSENT_UNAVAILABLE) when the last confirmation is older than the freshness bound.
//
// Apply() replaces rows by id: an ACTIVE directive is (re)indexed by its patient, any other
// state removes it; a grant that ended is removed. Expired grants are dropped by Prune().
// Thread-safe: readers share a lock, Apply takes it exclusively (rows are shared_ptr to const,
// so a reader keeps what it copied out while the view moves on).

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/time/time.h"
#include "hie/consent/v1/consent.pb.h"
#include "services/consent/store/consent_store.h"

namespace hie::consent {

using DirectivePtr = std::shared_ptr<const v1::ConsentDirective>;
using GrantPtr = std::shared_ptr<const v1::BreakGlassGrant>;

class ConsentView {
 public:
  // Applies `changes` (whose version must not be below the view's) and confirms the view
  // current as of `read_started` (when the read that produced them began).
  void Apply(const ChangeSet& changes, absl::Time read_started);

  // True when the view was confirmed current no longer than `max_age` before `now`.
  bool FreshAt(absl::Time now, absl::Duration max_age) const;
  int64_t version() const;
  absl::Time confirmed_at() const;

  // ACTIVE directives of any of `patients` (each once).
  std::vector<DirectivePtr> DirectivesOf(
      const google::protobuf::RepeatedPtrField<hie::common::v1::SourceId>& patients) const;
  GrantPtr Grant(const std::string& grant_id) const;
  // The grants of one user (org, user_id), newest start first.
  std::vector<GrantPtr> GrantsOf(const std::string& org, const std::string& user_id) const;

  // Drops grants expired before `now`.
  void Prune(absl::Time now);

  size_t directive_count() const;
  size_t grant_count() const;

 private:
  static std::string PatientKey(const hie::common::v1::SourceId& id);
  void RemoveDirective(const std::string& id);

  mutable std::shared_mutex mu_;
  int64_t version_ = 0;
  absl::Time confirmed_at_ = absl::InfinitePast();
  std::unordered_map<std::string, DirectivePtr> directives_;
  std::unordered_map<std::string, std::vector<std::string>> by_patient_;  // key -> ids
  std::unordered_map<std::string, GrantPtr> grants_;
};

}  // namespace hie::consent
