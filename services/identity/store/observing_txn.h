#pragma once

// ObservingTxn: a decorator that notes what a write transaction's events are about, for the
// writer to act on once the transaction commits (drop cached Resolve answers of the records and
// persons named, mark the event sequences as applied to the match index). It changes nothing
// the transaction does: every call is forwarded unchanged.

#include <set>
#include <string>
#include <vector>

#include "services/identity/store/forwarding_txn.h"

namespace hie::identity {

struct ChangeSet {
  std::vector<SourceId> records;
  std::set<std::string> persons;
  std::vector<int64_t> sequences;
};

// Notes what the transaction's events are about (for cache invalidation and index sync).
class ObservingTxn : public ForwardingTxn {
 public:
  ObservingTxn(IdentityTxn& inner, ChangeSet* changes) : ForwardingTxn(inner), changes_(changes) {}

  absl::StatusOr<int64_t> AppendEvent(v1::IdentityEvent* event) override {
    Observe(*event);
    absl::StatusOr<int64_t> sequence = t_.AppendEvent(event);
    if (sequence.ok()) changes_->sequences.push_back(*sequence);
    return sequence;
  }
  absl::Status AppendEvents(const std::vector<v1::IdentityEvent*>& events) override {
    for (const v1::IdentityEvent* e : events) Observe(*e);
    absl::Status status = t_.AppendEvents(events);
    if (status.ok()) {
      for (const v1::IdentityEvent* e : events) changes_->sequences.push_back(e->sequence());
    }
    return status;
  }

 private:
  void Observe(const v1::IdentityEvent& event) {
    for (const SourceId& id : event.source_ids()) changes_->records.push_back(id);
    for (const std::string& p : {event.from_person_id(), event.to_person_id()}) {
      if (!p.empty()) changes_->persons.insert(p);
    }
    for (const std::string& p : event.affected_person_ids()) changes_->persons.insert(p);
  }

  ChangeSet* changes_;
};

}  // namespace hie::identity
