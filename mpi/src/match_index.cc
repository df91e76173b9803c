#include "hie/mpi/match_index.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "hie/mpi/blocking.h"
#include "mpi/src/string_view_compat.h"

namespace hie::mpi {

Comparison CompareOnline(const NormalizedRecord& a, const NormalizedRecord& b) {
  Comparison c = Compare(a, b);
  c.guards |= OnlineGuards(a, b, c);
  return c;
}

MatchIndex::MatchIndex(const ModelParams& params, const NicknameTable* nicknames,
                       MatchIndexOptions options, NormalizerOptions normalizer_options)
    : model_(params), normalizer_(nicknames, normalizer_options), options_(options) {}

uint32_t MatchIndex::NewNode(uint32_t slot, uint32_t next) {
  if (free_node_ != kNil) {
    const uint32_t n = free_node_;
    free_node_ = nodes_[n].next;
    nodes_[n] = {slot, next};
    return n;
  }
  nodes_.push_back({slot, next});
  return static_cast<uint32_t>(nodes_.size() - 1);
}

void MatchIndex::Insert(uint32_t slot) {
  std::vector<uint64_t> keys;
  AppendBlockKeys(records_[slot], &keys);
  for (uint64_t k : keys) {
    auto [it, inserted] = postings_.try_emplace(k, Postings{kNil, 0});
    it->second.head = NewNode(slot, it->second.head);
    ++it->second.count;
  }
  frequencies_.Add(records_[slot]);
}

void MatchIndex::Erase(uint32_t slot) {
  std::vector<uint64_t> keys;
  AppendBlockKeys(records_[slot], &keys);
  for (uint64_t k : keys) {
    auto it = postings_.find(k);
    if (it == postings_.end()) continue;
    uint32_t* link = &it->second.head;
    while (*link != kNil) {
      const uint32_t n = *link;
      if (nodes_[n].slot == slot) {
        *link = nodes_[n].next;
        nodes_[n].next = free_node_;
        free_node_ = n;
        --it->second.count;
        break;
      }
      link = &nodes_[n].next;
    }
    if (it->second.count == 0) postings_.erase(it);
  }
  frequencies_.Remove(records_[slot]);
}

namespace {

// Stored records carry no frequencies (Match annotates its query only), whatever the caller
// passed: the scores must not depend on how a record reached the index.
void ClearFrequencies(NormalizedRecord* n) {
  n->given_freq = n->family_freq = n->city_freq = n->postal_freq = 0;
}

}  // namespace

NormalizedRecord MatchIndex::Normalize(const Record& record) const {
  return normalizer_.Normalize(record);
}

absl::Status MatchIndex::Add(const Record& record) {
  if (record.record_id.empty()) return absl::InvalidArgumentError("record_id is empty");
  return Add(record.record_id, normalizer_.Normalize(record));
}

absl::Status MatchIndex::Update(const Record& record) {
  return Update(record.record_id, normalizer_.Normalize(record));
}

absl::Status MatchIndex::Add(std::string_view record_id, NormalizedRecord record) {
  if (record_id.empty()) return absl::InvalidArgumentError("record_id is empty");
  ClearFrequencies(&record);
  std::unique_lock lock(mu_);
  if (slot_of_.contains(Av(record_id))) {
    return absl::AlreadyExistsError("record_id is already indexed");
  }
  AddLocked(record_id, std::move(record));
  return absl::OkStatus();
}

absl::Status MatchIndex::Update(std::string_view record_id, NormalizedRecord record) {
  ClearFrequencies(&record);
  std::unique_lock lock(mu_);
  auto it = slot_of_.find(Av(record_id));
  if (it == slot_of_.end()) return absl::NotFoundError("record_id is not indexed");
  ReplaceLocked(it->second, std::move(record));
  return absl::OkStatus();
}

absl::Status MatchIndex::Upsert(std::string_view record_id, NormalizedRecord record) {
  if (record_id.empty()) return absl::InvalidArgumentError("record_id is empty");
  ClearFrequencies(&record);
  std::unique_lock lock(mu_);
  auto it = slot_of_.find(Av(record_id));
  if (it == slot_of_.end()) {
    AddLocked(record_id, std::move(record));
    return absl::OkStatus();
  }
  ReplaceLocked(it->second, std::move(record));
  return absl::OkStatus();
}

std::optional<NormalizedRecord> MatchIndex::Find(std::string_view record_id) const {
  std::shared_lock lock(mu_);
  auto it = slot_of_.find(Av(record_id));
  if (it == slot_of_.end()) return std::nullopt;
  return records_[it->second];
}

void MatchIndex::ReplaceLocked(uint32_t slot, NormalizedRecord n) {
  Erase(slot);
  records_[slot] = std::move(n);
  Insert(slot);
}

void MatchIndex::AddLocked(std::string_view record_id, NormalizedRecord n) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    records_[slot] = std::move(n);
    ids_[slot] = std::string(record_id);
  } else {
    slot = static_cast<uint32_t>(records_.size());
    records_.push_back(std::move(n));
    ids_.emplace_back(record_id);
  }
  slot_of_.emplace(std::string(record_id), slot);
  Insert(slot);
}

absl::Status MatchIndex::Remove(std::string_view record_id) {
  std::unique_lock lock(mu_);
  auto it = slot_of_.find(Av(record_id));
  if (it == slot_of_.end()) return absl::NotFoundError("record_id is not indexed");
  const uint32_t slot = it->second;
  Erase(slot);
  slot_of_.erase(it);
  records_[slot] = NormalizedRecord();
  ids_[slot].clear();
  free_slots_.push_back(slot);
  return absl::OkStatus();
}

size_t MatchIndex::size() const {
  std::shared_lock lock(mu_);
  return slot_of_.size();
}

std::vector<MatchCandidate> MatchIndex::Match(const Record& query, int limit) const {
  if (limit <= 0) return {};
  return MatchOwned(query.record_id, normalizer_.Normalize(query), limit);
}

std::vector<MatchCandidate> MatchIndex::Match(std::string_view record_id,
                                              const NormalizedRecord& query, int limit) const {
  if (limit <= 0) return {};
  return MatchOwned(record_id, query, limit);  // a copy: annotation must not touch `query`
}

std::vector<MatchCandidate> MatchIndex::MatchOwned(std::string_view record_id, NormalizedRecord q,
                                                   int limit) const {
  std::vector<MatchCandidate> out;
  std::vector<uint64_t> keys;
  AppendBlockKeys(q, &keys);
  struct Scored {
    uint32_t slot;
    double score;
    Comparison comparison;
  };
  std::vector<Scored> scored;
  std::shared_lock lock(mu_);
  frequencies_.Annotate(&q);
  std::vector<uint32_t> slots;
  for (uint64_t k : keys) {
    auto it = postings_.find(k);
    const int kind = BlockKeyKind(k);
    const int cap =
        (kind == 12 || kind == 14) ? options_.max_broad_block_size : options_.max_block_size;
    if (it == postings_.end() || it->second.count > static_cast<uint32_t>(cap)) continue;
    for (uint32_t n = it->second.head; n != kNil; n = nodes_[n].next)
      slots.push_back(nodes_[n].slot);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  scored.reserve(slots.size());
  for (uint32_t slot : slots) {
    if (!record_id.empty() && ids_[slot] == record_id) continue;
    const Comparison c = CompareOnline(q, records_[slot]);
    scored.push_back({slot, model_.Score(q, records_[slot], c), c});
  }
  const size_t keep = std::min(scored.size(), static_cast<size_t>(limit));
  // Sort at least two, for the margin rule.
  const size_t sorted = std::min(scored.size(), std::max<size_t>(keep, 2));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(sorted),
                    scored.end(), [&](const Scored& a, const Scored& b) {
                      // Ties by record id: slots depend on the order records were indexed,
                      // which a restart changes; the answer must not.
                      return a.score != b.score ? a.score > b.score : ids_[a.slot] < ids_[b.slot];
                    });
  const Thresholds& t = options_.thresholds;
  // Margin rule: two auto-link candidates too close to tell apart are ambiguous, unless they
  // are themselves clearly one person (two records of the same patient already indexed).
  bool ambiguous = false;
  if (sorted >= 2 && scored[0].score - scored[1].score < t.margin &&
      Decide(scored[0].score, scored[0].comparison.guards, t) == Decision::kAutoLink &&
      Decide(scored[1].score, scored[1].comparison.guards, t) == Decision::kAutoLink) {
    const NormalizedRecord& a = records_[scored[0].slot];
    const NormalizedRecord& b = records_[scored[1].slot];
    const Comparison c = CompareOnline(a, b);
    ambiguous = Decide(model_.Score(a, b, c), c.guards, t) != Decision::kAutoLink;
  }
  // Guarded neighbour rule: a candidate is not auto-linked when a record the query is guarded
  // from (twin, Jr/Sr, household, SSN conflict) would itself be auto-linked with it. Linking
  // would join the query to the person of someone a guard separates it from, e.g. a twin's
  // record without family name already linked with the other twin.
  std::vector<size_t> guarded;
  for (size_t j = 0; j < scored.size(); ++j) {
    if (scored[j].comparison.guards != 0) guarded.push_back(j);
  }
  auto has_guarded_neighbour = [&](size_t i) {
    const NormalizedRecord& a = records_[scored[i].slot];
    for (size_t j : guarded) {
      const NormalizedRecord& b = records_[scored[j].slot];
      const Comparison c = CompareOnline(a, b);
      if (Decide(model_.Score(a, b, c), c.guards, t) == Decision::kAutoLink) return true;
    }
    return false;
  };
  out.reserve(keep);
  for (size_t i = 0; i < keep; ++i) {
    const Scored& s = scored[i];
    MatchCandidate m;
    m.record_id = ids_[s.slot];
    m.score = s.score;
    m.decision = Decide(s.score, s.comparison.guards, t);
    if (ambiguous && i < 2 && m.decision == Decision::kAutoLink) m.decision = Decision::kReview;
    if (m.decision == Decision::kAutoLink && has_guarded_neighbour(i)) {
      m.decision = Decision::kReview;
    }
    m.explanation = model_.Explain(q, records_[s.slot], s.comparison);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace hie::mpi
