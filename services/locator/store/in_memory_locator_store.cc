#include "services/locator/store/in_memory_locator_store.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace hie::locator {
namespace {

class InMemoryTxn : public LocatorTxn {
 public:
  explicit InMemoryTxn(InMemoryLocatorStore::State* state) : s_(state) {}

  absl::StatusOr<std::optional<StoredResponse>> GetIdempotent(const std::string& key) override {
    auto it = s_->idempotency.find(key);
    if (it == s_->idempotency.end()) return std::nullopt;
    return it->second;
  }
  absl::Status PutIdempotent(const std::string& key, const StoredResponse& value) override {
    if (!s_->idempotency.emplace(key, value).second) {
      return absl::AlreadyExistsError("idempotency key already recorded");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<LockedHoldings> LockHoldings(const std::vector<HoldingKey>& keys) override {
    LockedHoldings out;
    for (const HoldingKey& key : keys) {
      if (auto it = s_->holdings.find(key); it != s_->holdings.end()) {
        out.holdings[key] = it->second;
      }
    }
    return out;
  }
  absl::Status PutHoldings(const std::vector<Holding>& holdings) override {
    for (const Holding& h : holdings) s_->holdings[KeyOf(h.location.source_id())] = h;
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, bool>> DocumentMarks(
      const std::vector<std::string>& uuids) override {
    std::map<std::string, bool> out;
    for (const std::string& id : uuids) {
      if (auto it = s_->marks.find(id); it != s_->marks.end()) out[id] = it->second;
    }
    return out;
  }
  absl::Status PutDocumentMarks(const std::map<std::string, bool>& marks) override {
    for (const auto& [id, counted] : marks) s_->marks[id] = counted;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> LockFeedPosition(const std::string& feed) override {
    auto it = s_->positions.find(feed);
    return it == s_->positions.end() ? "" : it->second;
  }
  absl::Status PutFeedPosition(const std::string& feed, const std::string& position) override {
    s_->positions[feed] = position;
    return absl::OkStatus();
  }

 private:
  InMemoryLocatorStore::State* s_;
};

int64_t ActivityNanos(const Holding& h) { return UnixNanosOf(h.location.last_activity_time()); }

}  // namespace

void InMemoryLocatorStore::SetFailure(absl::Status failure) {
  std::lock_guard lock(mu_);
  failure_ = std::move(failure);
}

absl::Status InMemoryLocatorStore::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

absl::Status InMemoryLocatorStore::Transact(absl::Time, const TxnFn& fn) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard txn_lock(txn_mu_);
  State copy;
  {
    std::lock_guard lock(mu_);
    copy = state_;
  }
  InMemoryTxn txn(&copy);
  HIE_RETURN_IF_ERROR(fn(txn));
  std::lock_guard lock(mu_);
  state_ = std::move(copy);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Holding>> InMemoryLocatorStore::Get(
    absl::Time, const std::vector<HoldingKey>& keys) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  std::vector<Holding> out;
  for (const HoldingKey& key : std::set<HoldingKey>(keys.begin(), keys.end())) {
    if (auto it = state_.holdings.find(key); it != state_.holdings.end()) {
      out.push_back(it->second);
    }
  }
  return out;
}

absl::StatusOr<std::vector<Holding>> InMemoryLocatorStore::List(absl::Time, const ListQuery& q) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  // The page's holdings picked by pointer and only they copied: a walk over N holdings, page
  // by page, must not copy all N for every page.
  std::vector<const Holding*> matches;
  for (auto it = state_.holdings.lower_bound({q.org, ""});
       it != state_.holdings.end() && it->first.first == q.org; ++it) {
    const Holding& h = it->second;
    const bool removed = h.location.has_removal();
    if (!(h.listed || (q.include_removed && removed))) continue;
    const absl::Time activity = TimeOf(h.location.last_activity_time());
    if (q.active_from && activity < *q.active_from) continue;
    if (q.active_before && activity >= *q.active_before) continue;
    if (q.after && std::make_pair(ActivityNanos(h), it->first.second) >= *q.after) continue;
    matches.push_back(&h);
  }
  const size_t n = std::min<size_t>(matches.size(), q.limit);
  std::partial_sort(
      matches.begin(), matches.begin() + n, matches.end(), [](const Holding* a, const Holding* b) {
        return std::make_tuple(ActivityNanos(*a), a->location.source_id().local_id()) >
               std::make_tuple(ActivityNanos(*b), b->location.source_id().local_id());
      });
  std::vector<Holding> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*matches[i]);
  return out;
}

absl::StatusOr<std::string> InMemoryLocatorStore::FeedPosition(absl::Time,
                                                               const std::string& feed) {
  HIE_RETURN_IF_ERROR(Failure());
  std::lock_guard lock(mu_);
  auto it = state_.positions.find(feed);
  return it == state_.positions.end() ? "" : it->second;
}

}  // namespace hie::locator
