#include "services/audit/store/in_memory_audit_store.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace hie::audit {
namespace {

// A transaction over a copy of the state; the copy replaces the state on commit.
class InMemoryTxn : public AuditTxn {
 public:
  explicit InMemoryTxn(InMemoryAuditStore::State state) : state_(std::move(state)) {}
  absl::StatusOr<ChainHead> LockHead() override { return state_.head; }
  absl::StatusOr<std::map<std::string, ExistingEvent>> FindEvents(
      const std::vector<std::string>& event_ids) override {
    std::map<std::string, ExistingEvent> found;
    for (const auto& id : event_ids) {
      auto it = state_.by_id.find(id);
      if (it != state_.by_id.end()) found.emplace(id, it->second);
    }
    return found;
  }
  absl::Status Append(const std::vector<NewEvent>& events) override {
    for (const NewEvent& e : events) {
      if (e.event.sequence() != state_.head.sequence + 1) {
        return absl::FailedPreconditionError("append does not continue the head");
      }
      if (!state_.by_id
               .emplace(e.event.event_id(),
                        ExistingEvent{e.event.sequence(), e.event.hash(),
                                      absl::FromUnixNanos(TimestampNanos(e.event.record_time())),
                                      e.fingerprint})
               .second) {
        return absl::AlreadyExistsError("event_id already stored");
      }
      state_.chain[e.event.sequence()] =
          ChainRow{e.event.sequence(), e.encoding, e.event.hash(), e.event.previous_hash()};
      state_.events[e.event.sequence()] = e.event;
      state_.head = ChainHead{e.event.sequence(), e.event.hash(),
                              absl::FromUnixNanos(TimestampNanos(e.event.record_time()))};
    }
    return absl::OkStatus();
  }
  // Transactions run one at a time here, so the head is already what it will be at the lock.
  absl::Status AppendExpecting(const ChainHead& expected, const std::vector<NewEvent>& events,
                               const std::function<void()>& written,
                               const std::function<void()>& locked) override {
    if (state_.head.sequence != expected.sequence || state_.head.hash != expected.hash) {
      return absl::AbortedError("the head is not the one expected");
    }
    absl::Status appended = Append(events);
    if (appended.ok()) {
      written();
      locked();
    }
    return appended;
  }
  absl::StatusOr<int64_t> GetPosition(const std::string& feed) override {
    auto it = state_.positions.find(feed);
    return it == state_.positions.end() ? 0 : it->second;
  }
  absl::Status SetPosition(const std::string& feed, int64_t position) override {
    state_.positions[feed] = position;
    return absl::OkStatus();
  }
  InMemoryAuditStore::State& state() { return state_; }

 private:
  InMemoryAuditStore::State state_;
};

bool SamePatient(const SourceId& a, const SourceId& b) {
  return a.org() == b.org() && a.local_id() == b.local_id();
}

bool Matches(const EventQuery& q, const v1::AuditEvent& e) {
  int64_t t = TimestampNanos(e.event_time());
  absl::Time time = absl::FromUnixNanos(t);
  if (time < q.event_time_start || time >= q.event_time_end) return false;
  if (q.before && std::make_pair(t, e.sequence()) >= *q.before) return false;
  if (!q.patients.empty() &&
      std::none_of(q.patients.begin(), q.patients.end(), [&](const SourceId& p) {
        return std::any_of(e.patients().begin(), e.patients().end(),
                           [&](const SourceId& x) { return SamePatient(p, x); });
      })) {
    return false;
  }
  auto in = [](const auto& list, auto value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
  };
  return (q.actor_org.empty() || q.actor_org == e.actor().org()) &&
         (q.actor_user_id.empty() || q.actor_user_id == e.actor().user_id()) &&
         (q.custodian_org.empty() || q.custodian_org == e.custodian_org()) &&
         (q.request_id.empty() || q.request_id == e.request_id()) &&
         (!q.break_glass_only || !e.break_glass_id().empty()) && in(q.types, e.type()) &&
         in(q.outcomes, e.outcome()) && in(q.purposes, e.purpose_of_use());
}

}  // namespace

absl::Status InMemoryAuditStore::Check() const {
  return unavailable_ ? absl::UnavailableError("in-memory audit store: set unavailable")
                      : absl::OkStatus();
}

absl::Status InMemoryAuditStore::Transact(absl::Time,
                                          const std::function<absl::Status(AuditTxn&)>& work) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  InMemoryTxn txn(state_);
  absl::Status status = work(txn);
  if (status.ok()) state_ = std::move(txn.state());
  return status;
}

absl::StatusOr<ChainHead> InMemoryAuditStore::Head(absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  return state_.head;
}

absl::Status InMemoryAuditStore::ScanChain(
    int64_t from, int64_t to, absl::Time, const std::function<absl::Status(const ChainRow&)>& visit) {
  std::vector<ChainRow> rows;
  {
    std::lock_guard lock(mu_);
    if (auto s = Check(); !s.ok()) return s;
    for (auto it = state_.chain.lower_bound(from); it != state_.chain.end() && it->first <= to;
         ++it) {
      rows.push_back(it->second);
    }
  }
  for (const ChainRow& row : rows) {
    if (auto s = visit(row); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ChainRow>> InMemoryAuditStore::Search(const EventQuery& query,
                                                                 absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<std::pair<std::pair<int64_t, int64_t>, int64_t>> hits;  // ((time, seq), seq)
  for (const auto& [seq, event] : state_.events) {
    if (state_.chain.count(seq) && Matches(query, event)) {
      hits.push_back({{TimestampNanos(event.event_time()), seq}, seq});
    }
  }
  std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ChainRow> rows;
  for (const auto& hit : hits) {
    if (static_cast<int>(rows.size()) >= query.limit) break;
    rows.push_back(state_.chain.at(hit.second));
  }
  return rows;
}

absl::Status InMemoryAuditStore::PutCheckpoint(const v1::Checkpoint& checkpoint, absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  checkpoints_.emplace(checkpoint.sequence(), checkpoint);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Checkpoint>> InMemoryAuditStore::ListCheckpoints(
    absl::Time start, absl::Time end, std::optional<int64_t> before_sequence, int limit,
    absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<v1::Checkpoint> out;
  for (auto it = checkpoints_.rbegin(); it != checkpoints_.rend(); ++it) {
    if (static_cast<int>(out.size()) >= limit) break;
    absl::Time created = absl::FromUnixNanos(TimestampNanos(it->second.create_time()));
    if (before_sequence && it->first >= *before_sequence) continue;
    if (created < start || created >= end) continue;
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<std::vector<v1::Checkpoint>> InMemoryAuditStore::CheckpointsIn(int64_t from,
                                                                             int64_t to,
                                                                             absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<v1::Checkpoint> out;
  for (auto it = checkpoints_.lower_bound(from); it != checkpoints_.end() && it->first <= to; ++it) {
    out.push_back(it->second);
  }
  return out;
}

absl::Status InMemoryAuditStore::AddSigningKey(const v1::SigningKey& key, absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  for (const auto& k : keys_) {
    if (k.key_id() == key.key_id()) return absl::OkStatus();
  }
  for (auto& k : keys_) {
    if (!k.has_valid_until()) *k.mutable_valid_until() = key.valid_from();
  }
  keys_.push_back(key);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::SigningKey>> InMemoryAuditStore::ListSigningKeys(absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  return keys_;
}

absl::StatusOr<RetentionHorizon> InMemoryAuditStore::Horizon(absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  return state_.horizon;
}

absl::StatusOr<int64_t> InMemoryAuditStore::DropBefore(absl::Time cutoff, int64_t covered_sequence,
                                                       absl::Time) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  // Months in order: a month goes when it ends at or before the cutoff and every event in it is
  // covered; the first month that cannot go stops the drop (the chain stays contiguous).
  std::map<absl::Time, int64_t> month_max;  // month start -> highest sequence in it
  for (const auto& [seq, event] : state_.events) {
    absl::Time month = MonthStart(absl::FromUnixNanos(TimestampNanos(event.record_time())));
    month_max[month] = std::max(month_max[month], seq);
  }
  int64_t dropped = 0;
  for (const auto& [month, max_seq] : month_max) {
    absl::Time next = MonthStart(month + absl::Hours(24 * 32));
    if (next > cutoff || max_seq > covered_sequence) break;
    for (auto it = state_.events.begin(); it != state_.events.end() && it->first <= max_seq;) {
      state_.horizon = RetentionHorizon{it->first + 1, it->second.hash()};
      state_.by_id.erase(it->second.event_id());
      state_.chain.erase(it->first);
      it = state_.events.erase(it);
      ++dropped;
    }
  }
  return dropped;
}

void InMemoryAuditStore::TamperRow(const ChainRow& row) {
  std::lock_guard lock(mu_);
  state_.chain[row.sequence] = row;
}

void InMemoryAuditStore::EraseRow(int64_t sequence) {
  std::lock_guard lock(mu_);
  state_.chain.erase(sequence);
}

void InMemoryAuditStore::Truncate(int64_t last_sequence) {
  std::lock_guard lock(mu_);
  state_.chain.erase(state_.chain.upper_bound(last_sequence), state_.chain.end());
  state_.events.erase(state_.events.upper_bound(last_sequence), state_.events.end());
  checkpoints_.erase(checkpoints_.upper_bound(last_sequence), checkpoints_.end());
  auto last = state_.chain.find(last_sequence);
  if (last != state_.chain.end())
    state_.head.sequence = last_sequence, state_.head.hash = last->second.hash;
}

void InMemoryAuditStore::SetUnavailable(bool unavailable) {
  std::lock_guard lock(mu_);
  unavailable_ = unavailable;
}

}  // namespace hie::audit
