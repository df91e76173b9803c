#pragma once

// Fakes of the core's ports for tests (header only): a person resolver over a person -> records
// table that a test can re-link (merge, unmerge) or take down, an audit sink that can fail and
// that, like the audit service, records each event_id once, and a settable clock.

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "services/consent/core/ports.h"

namespace hie::consent {

class FakePersonResolver : public PersonResolver {
 public:
  // Links `record` ("org/local") to `person`, moving it off any other person.
  void Link(const std::string& person, const hie::common::v1::SourceId& record) {
    std::lock_guard lock(mu_);
    person_of_[Key(record)] = person;
    records_[Key(record)] = record;
  }
  void SetUnavailable(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  absl::StatusOr<std::vector<hie::common::v1::SourceId>> LinkedRecords(
      const hie::common::v1::SourceId& id, hie::common::v1::PurposeOfUse, absl::Time) override {
    std::lock_guard lock(mu_);
    ++calls_;
    if (down_) return absl::UnavailableError("identity is down");
    auto it = person_of_.find(Key(id));
    if (it == person_of_.end()) return absl::NotFoundError("source record not found");
    std::vector<hie::common::v1::SourceId> out;
    for (const auto& [key, person] : person_of_) {
      if (person == it->second) out.push_back(records_[key]);
    }
    return out;
  }

 private:
  static std::string Key(const hie::common::v1::SourceId& id) {
    return id.org() + "\x1f" + id.local_id();
  }
  mutable std::mutex mu_;
  std::map<std::string, std::string> person_of_;
  std::map<std::string, hie::common::v1::SourceId> records_;
  bool down_ = false;
  int calls_ = 0;
};

class FakeAuditSink : public AuditSink {
 public:
  void SetFailing(bool failing) {
    std::lock_guard lock(mu_);
    failing_ = failing;
  }
  absl::Status RecordBatch(const std::vector<hie::audit::v1::AuditEvent>& events,
                           absl::Time) override {
    std::lock_guard lock(mu_);
    ++calls_;
    if (failing_) return absl::UnavailableError("audit is down");
    for (const auto& e : events) {
      ++received_;
      if (seen_.insert(e.event_id()).second) recorded_.push_back(e);
    }
    return absl::OkStatus();
  }
  std::vector<hie::audit::v1::AuditEvent> recorded() const {
    std::lock_guard lock(mu_);
    return recorded_;
  }
  int received() const {  // events received, duplicates included
    std::lock_guard lock(mu_);
    return received_;
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  bool failing_ = false;
  int calls_ = 0;
  int received_ = 0;
  std::set<std::string> seen_;
  std::vector<hie::audit::v1::AuditEvent> recorded_;
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_;
};

}  // namespace hie::consent
