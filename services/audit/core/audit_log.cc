#include "services/audit/core/audit_log.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/audit/core/canonical.h"
#include "services/audit/core/chain_verifier.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace hie::audit {

struct AuditLog::Pending {
  uint64_t id = 0;
  std::vector<v1::AuditEvent> events;
  size_t bytes = 0;  // of `events`, serialised (the queue's budget)
  std::optional<std::pair<std::string, int64_t>> feed_position;
  absl::Time deadline;
  AppendCallback done;
  // Set by the committer inside the group's transaction.
  absl::Status status;
  std::vector<AppendResult> results;
};

namespace {

AppendResult ResultOf(const v1::AuditEvent& e) {
  return AppendResult{e.sequence(), e.hash(), FromTimestamp(e.record_time())};
}

}  // namespace

AuditLog::AuditLog(AuditStore* store, const CheckpointSigner* signer, CheckpointArchive* archive,
                   PatientResolver* resolver, AuditLogOptions options)
    : store_(store),
      signer_(signer),
      archive_(archive),
      resolver_(resolver),
      options_(std::move(options)) {
  for (int i = 0; i < kCommitters; ++i) committers_.emplace_back([this] { RunCommitter(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  committer_wake_.notify_all();
  for (std::thread& t : committers_) t.join();
  std::deque<std::unique_ptr<Pending>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
  }
  for (std::unique_ptr<Pending>& p : left) {
    p->done(absl::UnavailableError("the audit log is stopping"));
  }
}

absl::Status AuditLog::Start(absl::Time deadline) {
  v1::SigningKey key;
  key.set_key_id(signer_->key_id());
  key.set_signature_algorithm(kEd25519);
  key.set_public_key_pem(signer_->public_key_pem());
  SetTimestamp(options_.now(), key.mutable_valid_from());
  HIE_RETURN_IF_ERROR(store_->AddSigningKey(key, deadline));
  if (archive_ != nullptr) HIE_RETURN_IF_ERROR(archive_->WriteKey(key));
  HIE_ASSIGN_OR_RETURN(ChainHead head, store_->Head(deadline));
  HIE_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> latest,
                       store_->ListCheckpoints(absl::InfinitePast(), absl::InfiniteFuture(),
                                               std::nullopt, 1, deadline));
  std::lock_guard lock(checkpoint_mu_);
  last_checkpoint_sequence_ = latest.empty() ? 0 : latest.front().sequence();
  RaiseCheckpointClaim(last_checkpoint_sequence_);
  last_checkpoint_time_ =
      latest.empty() ? absl::InfinitePast() : FromTimestamp(latest.front().create_time());
  (void)head;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AppendResult>> AuditLog::Append(std::vector<v1::AuditEvent> events,
                                                           absl::Time deadline) {
  return AppendAndWait(std::move(events), std::nullopt, deadline);
}

absl::Status AuditLog::AppendFromFeed(const std::string& feed, int64_t position,
                                      std::vector<v1::AuditEvent> events, absl::Time deadline) {
  return AppendAndWait(std::move(events), std::make_pair(feed, position), deadline).status();
}

void AuditLog::AppendAsync(std::vector<v1::AuditEvent> events, absl::Time deadline,
                           AppendCallback done) {
  auto pending = std::make_unique<Pending>();
  pending->events = std::move(events);
  pending->deadline = deadline;
  pending->done = std::move(done);
  Enqueue(std::move(pending));
}

absl::StatusOr<int64_t> AuditLog::FeedPosition(const std::string& feed, absl::Time deadline) {
  int64_t position = 0;
  HIE_RETURN_IF_ERROR(store_->Transact(deadline, [&](AuditTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(position, txn.GetPosition(feed));
    return absl::OkStatus();
  }));
  return position;
}

uint64_t AuditLog::Enqueue(std::unique_ptr<Pending> pending) {
  for (const v1::AuditEvent& e : pending->events) pending->bytes += e.ByteSizeLong();
  absl::Status refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = absl::UnavailableError("the audit log is stopping");
    } else if (!queue_.empty() &&
               (queued_events_ + pending->events.size() > options_.max_queued_events ||
                queued_bytes_ + pending->bytes > options_.max_queued_bytes)) {
      refused =
          absl::ResourceExhaustedError("the audit log's append queue is full; retry with backoff");
    } else {
      pending->id = ++last_pending_id_;
      queued_events_ += pending->events.size();
      queued_bytes_ += pending->bytes;
      queue_.push_back(std::move(pending));
      WakeCommitter();
      return last_pending_id_;
    }
  }
  pending->done(std::move(refused));
  return 0;
}

absl::StatusOr<std::vector<AppendResult>> AuditLog::AppendAndWait(
    std::vector<v1::AuditEvent> events,
    std::optional<std::pair<std::string, int64_t>> feed_position, absl::Time deadline) {
  struct Outcome {
    std::mutex mu;
    std::condition_variable ready;
    std::optional<absl::StatusOr<std::vector<AppendResult>>> result;
  };
  auto outcome = std::make_shared<Outcome>();
  auto pending = std::make_unique<Pending>();
  pending->events = std::move(events);
  pending->feed_position = std::move(feed_position);
  pending->deadline = deadline;
  pending->done = [outcome](absl::StatusOr<std::vector<AppendResult>> result) {
    std::lock_guard lock(outcome->mu);
    outcome->result = std::move(result);
    outcome->ready.notify_all();
  };
  const uint64_t id = Enqueue(std::move(pending));
  std::unique_lock lock(outcome->mu);
  auto answered = [&] { return outcome->result.has_value(); };
  if (!outcome->ready.wait_until(lock, absl::ToChronoTime(deadline), answered)) {
    lock.unlock();
    if (Withdraw(id))
      return absl::DeadlineExceededError("audit append: deadline passed while queued");
    lock.lock();
    outcome->ready.wait(lock, answered);  // taken: its transaction ends within its own timeout
  }
  return *std::move(outcome->result);
}

bool AuditLog::Withdraw(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(queue_.begin(), queue_.end(),
                         [id](const std::unique_ptr<Pending>& p) { return p->id == id; });
  if (it == queue_.end()) return false;
  queued_events_ -= (*it)->events.size();
  queued_bytes_ -= (*it)->bytes;
  queue_.erase(it);
  return true;
}

void AuditLog::RunCommitter() {
  std::unique_lock lock(mu_);
  while (true) {
    committer_wake_.wait(lock, [&] { return stopping_ || (CanLead() && !queue_.empty()); });
    if (stopping_) return;
    writing_ = true;
    ++in_flight_;
    Group expired;  // answered without being written
    Group group = TakeGroup(&expired);
    std::optional<ChainHead> predicted = predicted_;
    // An event id of a group still in flight (a caller's retry while its first attempt is being
    // committed): this group does not write behind that one; it waits until that one holds the
    // head, locks the head (so waits for its commit) and then finds the id stored, instead of
    // both writing it at once.
    if (SharesIdsInFlight(group)) predicted.reset();
    TrackIds(group, +1);
    if (group.empty()) writing_ = false;
    lock.unlock();
    for (std::unique_ptr<Pending>& p : expired) {
      p->done(absl::DeadlineExceededError("audit append: deadline passed while queued"));
    }
    absl::StatusOr<std::optional<ChainHead>> left = std::nullopt;
    if (!group.empty()) left = CommitGroup(group, predicted);
    lock.lock();
    --in_flight_;
    TrackIds(group, -1);
    WakeCommitter();  // the next group commits while this one's callers are answered
    lock.unlock();
    // Claimed before the callers hear back, so that their next appends do not sign first.
    std::optional<int64_t> replaced_claim;
    if (left.ok() && left->has_value()) replaced_claim = ClaimCheckpoint(**left);
    Answer(group, left.status());
    if (replaced_claim) SignClaimed(**left, *replaced_claim);
    lock.lock();
  }
}

bool AuditLog::SharesIdsInFlight(const Group& group) const {
  if (ids_in_flight_.empty()) return false;
  for (const std::unique_ptr<Pending>& p : group) {
    for (const v1::AuditEvent& e : p->events) {
      if (ids_in_flight_.count(e.event_id()) > 0) return true;
    }
  }
  return false;
}

void AuditLog::TrackIds(const Group& group, int change) {
  for (const std::unique_ptr<Pending>& p : group) {
    for (const v1::AuditEvent& e : p->events) {
      auto it = ids_in_flight_.try_emplace(e.event_id(), 0).first;
      it->second += change;
      if (it->second == 0) ids_in_flight_.erase(it);
    }
  }
}

AuditLog::Group AuditLog::TakeGroup(Group* expired) {
  Group group;
  size_t events = 0;
  const absl::Time now = absl::Now();  // deadlines are real time, whatever options_.now says
  while (!queue_.empty() &&
         (group.empty() || events + queue_.front()->events.size() <= options_.max_group_events)) {
    std::unique_ptr<Pending> p = std::move(queue_.front());
    queue_.pop_front();
    queued_events_ -= p->events.size();
    queued_bytes_ -= p->bytes;
    if (p->deadline < now) {
      expired->push_back(std::move(p));
      continue;
    }
    events += p->events.size();
    group.push_back(std::move(p));
  }
  return group;
}

void AuditLog::Answer(const Group& group, const absl::Status& status) {
  for (const std::unique_ptr<Pending>& p : group) {
    if (!status.ok()) {
      p->done(status);
    } else if (!p->status.ok()) {
      p->done(p->status);
    } else {
      p->done(std::move(p->results));
    }
  }
}

std::optional<int64_t> AuditLog::ClaimCheckpoint(const ChainHead& head) {
  // Due when this head is checkpoint_every_events past the last one claimed; claiming it keeps
  // a group committed just behind from signing too.
  int64_t claimed = checkpoint_claimed_.load();
  for (;;) {
    if (head.sequence - claimed < options_.checkpoint_every_events) return std::nullopt;
    if (checkpoint_claimed_.compare_exchange_weak(claimed, head.sequence)) return claimed;
  }
}

void AuditLog::SignClaimed(const ChainHead& head, int64_t replaced_claim) {
  // Never waits for another signing (a slow archive must not hold committers): busy or failed,
  // the claim is handed back for the next group or the periodic checkpoint.
  std::unique_lock checkpoint_lock(checkpoint_mu_, std::try_to_lock);
  if (!checkpoint_lock.owns_lock() || !SignHead(head, options_.now() + absl::Seconds(10)).ok()) {
    int64_t mine = head.sequence;
    checkpoint_claimed_.compare_exchange_strong(mine, replaced_claim);
  }
}

bool AuditLog::CanLead() const { return !writing_ && in_flight_ < kMaxGroupsInFlight; }

void AuditLog::WakeCommitter() {
  if (CanLead() && !queue_.empty()) committer_wake_.notify_one();
}

absl::StatusOr<std::optional<ChainHead>> AuditLog::CommitGroup(const Group& group,
                                                               std::optional<ChainHead> predicted) {
  std::optional<ChainHead> head;
  absl::Status status;
  bool released = false;   // the lead has been handed on (under mu_)
  uint64_t published = 0;  // the generation of the prediction this group published, if any
  // Once this group is chained the next group may chain and write behind it, predicting the
  // head this one will leave; their rows are written at the same time.
  auto chained = [&](const std::optional<ChainHead>& next) {
    std::lock_guard lock(mu_);
    if (next) {  // a group that appends nothing predicts nothing (the head may not be committed)
      predicted_ = *next;
      // A rerun of the attempt (the store's, inside one Transact) chains anew: its generation
      // replaces the first run's, and it now counts as chained after any group that chained
      // behind the first run (which waited on it: woken here).
      if (published != 0 && turns_pending_.erase(published) > 0) turn_.notify_all();
      published = ++prediction_generation_;
      turns_pending_.insert(published);
    }
    if (!released) {
      released = true;
      writing_ = false;
      WakeCommitter();
    }
  };
  // Before taking the head lock a group waits until every group chained ahead of it holds the
  // head or has ended its attempt (`behind_prediction`: its rows written behind its own
  // prediction, the groups chained before that one; otherwise, locking the head first, every
  // group chained and not yet holding the head). Else it would take the lock first: written
  // behind, it would find the head not yet moved and start over; locking first, it would chain
  // from a head the other is about to move, blind to its uncommitted rows. Bounded: the one in
  // front may itself wait in PostgreSQL on this one's rows (a partition this one creates, an
  // event id another replica writes); past the bound this one locks anyway and, finding the
  // head not the one it expected, rolls back, which frees the other, or PostgreSQL's deadlock
  // detection breaks the wait.
  auto wait_turn = [&](bool behind_prediction) {
    std::unique_lock lock(mu_);
    const uint64_t before = behind_prediction ? published : UINT64_MAX;
    turn_.wait_for(lock, std::chrono::seconds(1), [&] {
      for (uint64_t generation : turns_pending_) {  // ascending: in the order they chained
        if (generation >= before) break;
        if (generation != published) return false;
      }
      return true;  // (also while the log stops: groups in flight still commit)
    });
  };
  auto pass_turn = [&] {  // this group holds the head, or its attempt ended
    std::lock_guard lock(mu_);
    if (published != 0 && turns_pending_.erase(published) > 0) turn_.notify_all();
  };
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = store_->Transact(options_.now() + absl::Seconds(10), [&](AuditTxn& txn) {
      return CommitGroupInTxn(txn, group, predicted, chained, wait_turn, pass_turn, &head);
    });
    if (status.ok()) break;
    {  // groups behind this one must not predict from its failed attempt
      std::lock_guard lock(mu_);
      if (published != 0 && published == prediction_generation_) predicted_.reset();
    }
    pass_turn();
    const bool optimistic = predicted.has_value();
    predicted.reset();  // a retry locks the head first
    if (!absl::IsAborted(status) && !(optimistic && absl::IsAlreadyExists(status))) break;
  }
  pass_turn();
  if (!released) {  // failed before it was chained
    std::lock_guard lock(mu_);
    writing_ = false;
    WakeCommitter();
  }
  HIE_RETURN_IF_ERROR(status);
  return head;
}

void AuditLog::RaiseCheckpointClaim(int64_t sequence) {
  int64_t claimed = checkpoint_claimed_.load();
  while (claimed < sequence && !checkpoint_claimed_.compare_exchange_weak(claimed, sequence)) {
  }
}

absl::Status AuditLog::CommitGroupInTxn(
    AuditTxn& txn, const Group& group, const std::optional<ChainHead>& predicted,
    const std::function<void(const std::optional<ChainHead>&)>& chained,
    const std::function<void(bool)>& wait_turn, const std::function<void()>& locked,
    std::optional<ChainHead>* head_out) {
  ChainHead head;
  if (predicted) {
    head = *predicted;
  } else {
    wait_turn(false);  // not ahead of a group in flight, whose rows this one could not see
    HIE_ASSIGN_OR_RETURN(head, txn.LockHead());
  }
  std::vector<std::string> ids;
  for (const std::unique_ptr<Pending>& p : group) {
    for (const auto& e : p->events) ids.push_back(e.event_id());
  }
  HIE_ASSIGN_OR_RETURN(auto known, txn.FindEvents(ids));
  int64_t sequence = head.sequence;
  std::string previous = head.hash;
  absl::Time record_time = std::max(options_.now(), head.record_time);
  std::vector<NewEvent> appended;
  std::map<std::string, int64_t> positions;
  for (const std::unique_ptr<Pending>& p : group) {
    p->status = absl::OkStatus();
    p->results.clear();
    const size_t mark = appended.size();
    const int64_t sequence_mark = sequence;
    const std::string previous_mark = previous;
    std::vector<std::string> added;
    for (size_t i = 0; i < p->events.size() && p->status.ok(); ++i) {
      v1::AuditEvent& e = p->events[i];
      std::string fingerprint = ContentFingerprint(e);
      if (auto it = known.find(e.event_id()); it != known.end()) {
        if (it->second.fingerprint != fingerprint) {
          p->status = absl::AlreadyExistsError(
              absl::StrCat("events[", i, "].event_id: already recorded with different content"));
        } else {
          p->results.push_back({it->second.sequence, it->second.hash, it->second.record_time});
        }
        continue;
      }
      e.set_sequence(++sequence);
      SetTimestamp(record_time, e.mutable_record_time());
      e.set_previous_hash(previous);
      std::string encoding = EncodeEvent(e);
      e.set_hash(ChainHash(previous, encoding));
      previous = e.hash();
      p->results.push_back(ResultOf(e));
      known[e.event_id()] = ExistingEvent{e.sequence(), e.hash(), record_time, fingerprint};
      added.push_back(e.event_id());
      appended.push_back(NewEvent{e, std::move(encoding), std::move(fingerprint)});
    }
    if (!p->status.ok()) {  // this caller's events go, the rest of the group stays
      appended.resize(mark);
      sequence = sequence_mark;
      previous = previous_mark;
      for (const auto& id : added) known.erase(id);
      p->results.clear();
      continue;
    }
    if (p->feed_position) {
      int64_t& position = positions[p->feed_position->first];
      position = std::max(position, p->feed_position->second);
    }
  }
  // A group of retries only (every id already stored) moves nothing: it reports no head, so
  // that nothing predicts from, or signs, a head it never checked was committed.
  const std::optional<ChainHead> next =
      appended.empty() ? std::nullopt
                       : std::optional<ChainHead>(ChainHead{sequence, previous, record_time});
  chained(next);
  if (!appended.empty() && predicted) {
    HIE_RETURN_IF_ERROR(txn.AppendExpecting(
        head, appended, [&] { wait_turn(true); }, locked));
  } else if (!appended.empty()) {
    locked();  // since the start of the transaction
    HIE_RETURN_IF_ERROR(txn.Append(appended));
  }
  for (const auto& [feed, position] : positions) {
    HIE_RETURN_IF_ERROR(txn.SetPosition(feed, position));
  }
  *head_out = next;
  return absl::OkStatus();
}

absl::StatusOr<v1::Checkpoint> AuditLog::CreateCheckpoint(absl::Time deadline) {
  std::lock_guard lock(checkpoint_mu_);
  HIE_ASSIGN_OR_RETURN(ChainHead head, store_->Head(deadline));
  return SignHead(head, deadline);
}

absl::StatusOr<v1::Checkpoint> AuditLog::SignHead(const ChainHead& head, absl::Time deadline) {
  if (head.sequence == 0) return absl::FailedPreconditionError("the audit log is empty");
  HIE_ASSIGN_OR_RETURN(auto existing,
                       store_->CheckpointsIn(head.sequence, head.sequence, deadline));
  v1::Checkpoint checkpoint;
  if (!existing.empty()) {
    checkpoint = existing.front();
  } else {
    checkpoint.set_sequence(head.sequence);
    checkpoint.set_head_hash(head.hash);
    absl::Time now = options_.now();
    SetTimestamp(now, checkpoint.mutable_create_time());
    checkpoint.set_key_id(signer_->key_id());
    checkpoint.set_signature_algorithm(kEd25519);
    HIE_ASSIGN_OR_RETURN(
        std::string signature,
        signer_->Sign(EncodeCheckpoint(
            head.sequence, head.hash, FromTimestamp(checkpoint.create_time()), signer_->key_id())));
    checkpoint.set_signature(std::move(signature));
    absl::Status put = store_->PutCheckpoint(checkpoint, deadline);
    if (absl::IsAlreadyExists(put)) {  // another replica signed this head first
      HIE_ASSIGN_OR_RETURN(existing, store_->CheckpointsIn(head.sequence, head.sequence, deadline));
      if (existing.empty()) return put;
      checkpoint = existing.front();
    } else {
      HIE_RETURN_IF_ERROR(put);
    }
  }
  if (archive_ != nullptr) HIE_RETURN_IF_ERROR(archive_->Write(checkpoint));
  last_checkpoint_sequence_ = std::max(last_checkpoint_sequence_, checkpoint.sequence());
  last_checkpoint_time_ = options_.now();
  RaiseCheckpointClaim(checkpoint.sequence());
  return checkpoint;
}

void AuditLog::MaybeCheckpoint(absl::Time deadline) {
  {
    std::lock_guard lock(checkpoint_mu_);
    if (options_.now() - last_checkpoint_time_ < options_.checkpoint_interval) return;
  }
  absl::StatusOr<ChainHead> head = store_->Head(deadline);
  if (!head.ok() || head->sequence == 0) return;
  {
    std::lock_guard lock(checkpoint_mu_);
    if (head->sequence == last_checkpoint_sequence_) return;
  }
  (void)CreateCheckpoint(deadline);
}

absl::StatusOr<std::vector<SourceId>> AuditLog::CurrentRecords(
    const std::vector<SourceId>& patients, absl::Time deadline) {
  std::vector<SourceId> out;
  std::set<std::pair<std::string, std::string>> seen;
  auto add = [&](const SourceId& id) {
    if (seen.emplace(id.org(), id.local_id()).second) out.push_back(id);
  };
  for (const SourceId& patient : patients) {
    add(patient);
    if (resolver_ == nullptr) continue;
    absl::StatusOr<std::vector<SourceId>> linked = resolver_->LinkedRecords(patient, deadline);
    if (absl::IsNotFound(linked.status())) continue;  // identity does not know it: as given
    HIE_RETURN_IF_ERROR(linked.status());
    for (const SourceId& id : *linked) add(id);
  }
  return out;
}

absl::StatusOr<std::vector<v1::AuditEvent>> AuditLog::Search(EventQuery query,
                                                             const std::string& person_id,
                                                             absl::Time deadline) {
  HIE_ASSIGN_OR_RETURN(query.patients, CurrentRecords(query.patients, deadline));
  if (!person_id.empty()) {
    if (resolver_ == nullptr) {
      return absl::FailedPreconditionError(
          "person_id: searching by person needs the identity service (--identity)");
    }
    HIE_ASSIGN_OR_RETURN(std::vector<SourceId> records,
                         resolver_->RecordsOfPerson(person_id, deadline));
    if (records.empty()) return std::vector<v1::AuditEvent>{};
    query.patients.insert(query.patients.end(), records.begin(), records.end());
  }
  HIE_ASSIGN_OR_RETURN(std::vector<ChainRow> rows, store_->Search(query, deadline));
  std::vector<v1::AuditEvent> events;
  events.reserve(rows.size());
  for (const ChainRow& row : rows) {
    absl::StatusOr<v1::AuditEvent> event = DecodeEvent(row.encoding);
    if (!event.ok()) {
      return absl::DataLossError(
          absl::StrCat("audit event ", row.sequence, " is stored unreadable; run Verify"));
    }
    event->set_hash(row.hash);
    event->set_previous_hash(row.previous_hash);
    events.push_back(*std::move(event));
  }
  return events;
}

}  // namespace hie::audit
