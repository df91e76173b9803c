#include "services/audit/core/audit_log.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/audit/core/chain_verifier.h"
#include "services/common/status_macros.h"

namespace hie::audit {

struct AuditLog::Pending {
  std::vector<v1::AuditEvent> events;
  std::optional<std::pair<std::string, int64_t>> feed_position;
  absl::Status status;
  std::vector<AppendResult> results;
  bool taken = false;  // in a group being committed: the caller must wait for the outcome
  bool done = false;
  std::condition_variable wake;  // done, or this caller should lead the next group
};

namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixNanos(TimestampNanos(ts));
}

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
      options_(std::move(options)) {}

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
  last_checkpoint_time_ =
      latest.empty() ? absl::InfinitePast() : FromTimestamp(latest.front().create_time());
  (void)head;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AppendResult>> AuditLog::Append(std::vector<v1::AuditEvent> events,
                                                           absl::Time deadline) {
  Pending pending;
  pending.events = std::move(events);
  HIE_RETURN_IF_ERROR(Submit(&pending, deadline));
  return std::move(pending.results);
}

absl::Status AuditLog::AppendFromFeed(const std::string& feed, int64_t position,
                                      std::vector<v1::AuditEvent> events, absl::Time deadline) {
  Pending pending;
  pending.events = std::move(events);
  pending.feed_position.emplace(feed, position);
  return Submit(&pending, deadline);
}

absl::StatusOr<int64_t> AuditLog::FeedPosition(const std::string& feed, absl::Time deadline) {
  int64_t position = 0;
  HIE_RETURN_IF_ERROR(store_->Transact(deadline, [&](AuditTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(position, txn.GetPosition(feed));
    return absl::OkStatus();
  }));
  return position;
}

absl::Status AuditLog::Submit(Pending* pending, absl::Time deadline) {
  std::unique_lock lock(mu_);
  queue_.push_back(pending);
  while (!pending->done) {
    if (CanLead()) {  // lead: commit what is queued; the lead passes on once the rows are written
      writing_ = true;
      ++in_flight_;
      std::vector<Pending*> group;
      size_t events = 0;
      while (!queue_.empty() && (group.empty() || events + queue_.front()->events.size() <=
                                                      options_.max_group_events)) {
        events += queue_.front()->events.size();
        queue_.front()->taken = true;
        group.push_back(queue_.front());
        queue_.pop_front();
      }
      const std::optional<ChainHead> predicted = predicted_;
      lock.unlock();
      const bool checkpoint_due = CommitGroup(group, predicted);  // answers each member
      lock.lock();
      --in_flight_;
      WakeNextLeader();
      if (checkpoint_due) {  // signed after handing on the lead: appends do not wait for it
        lock.unlock();
        (void)CreateCheckpoint(options_.now() + absl::Seconds(10));
        lock.lock();
      }
      continue;
    }
    if (pending->taken) {  // in a group being committed: only the outcome is left to wait for
      pending->wake.wait(lock);
      continue;
    }
    // Each waiter sleeps on its own condition: a commit wakes only its group and the next
    // leader, not every waiting caller (64 callers made the broadcast the main cost).
    if (pending->wake.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
        !pending->taken && !pending->done) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), pending));
      WakeNextLeader();
      return absl::DeadlineExceededError("audit append: deadline passed while queued");
    }
  }
  return pending->status;
}

bool AuditLog::CanLead() const { return !writing_ && in_flight_ < kMaxGroupsInFlight; }

void AuditLog::WakeNextLeader() {
  if (CanLead() && !queue_.empty()) queue_.front()->wake.notify_one();
}

bool AuditLog::CommitGroup(const std::vector<Pending*>& group, std::optional<ChainHead> predicted) {
  int64_t head = 0;
  absl::Status status;
  bool released = false;   // the lead has been handed on (under mu_)
  uint64_t published = 0;  // the generation of the prediction this group published, if any
  // Once this group's rows are written the next group may write behind it, predicting the head
  // this one will leave.
  auto written = [&](const ChainHead& next) {
    std::lock_guard lock(mu_);
    predicted_ = next;
    published = ++prediction_generation_;
    if (!released) {
      released = true;
      writing_ = false;
      WakeNextLeader();
    }
  };
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = store_->Transact(options_.now() + absl::Seconds(10), [&](AuditTxn& txn) {
      return CommitGroupInTxn(txn, group, predicted, written, &head);
    });
    if (status.ok()) break;
    {  // groups behind this one must not predict from its failed attempt
      std::lock_guard lock(mu_);
      if (published != 0 && published == prediction_generation_) predicted_.reset();
    }
    const bool optimistic = predicted.has_value();
    predicted.reset();  // a retry locks the head first
    if (!absl::IsAborted(status) && !(optimistic && absl::IsAlreadyExists(status))) break;
  }
  {
    std::lock_guard lock(mu_);
    if (!released) writing_ = false;  // failed before its rows were written
    for (Pending* p : group) {
      if (!status.ok()) p->status = status;
      p->done = true;
      p->wake.notify_one();
    }
  }
  if (!status.ok()) return false;
  std::lock_guard lock(checkpoint_mu_);
  return head - last_checkpoint_sequence_ >= options_.checkpoint_every_events;
}

absl::Status AuditLog::CommitGroupInTxn(AuditTxn& txn, const std::vector<Pending*>& group,
                                        const std::optional<ChainHead>& predicted,
                                        const std::function<void(const ChainHead&)>& written,
                                        int64_t* head_out) {
  ChainHead head;
  if (predicted) {
    head = *predicted;
  } else {
    HIE_ASSIGN_OR_RETURN(head, txn.LockHead());
  }
  std::vector<std::string> ids;
  for (const Pending* p : group) {
    for (const auto& e : p->events) ids.push_back(e.event_id());
  }
  HIE_ASSIGN_OR_RETURN(auto known, txn.FindEvents(ids));
  int64_t sequence = head.sequence;
  std::string previous = head.hash;
  absl::Time record_time = std::max(options_.now(), head.record_time);
  std::vector<NewEvent> appended;
  std::map<std::string, int64_t> positions;
  for (Pending* p : group) {
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
  const ChainHead next = appended.empty() ? head : ChainHead{sequence, previous, record_time};
  if (appended.empty()) {
    written(next);
  } else if (predicted) {
    HIE_RETURN_IF_ERROR(txn.AppendExpecting(head, appended, [&] { written(next); }));
  } else {
    HIE_RETURN_IF_ERROR(txn.Append(appended));
    written(next);
  }
  for (const auto& [feed, position] : positions) {
    HIE_RETURN_IF_ERROR(txn.SetPosition(feed, position));
  }
  *head_out = sequence;
  return absl::OkStatus();
}

absl::StatusOr<v1::Checkpoint> AuditLog::CreateCheckpoint(absl::Time deadline) {
  std::lock_guard lock(checkpoint_mu_);
  HIE_ASSIGN_OR_RETURN(ChainHead head, store_->Head(deadline));
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
