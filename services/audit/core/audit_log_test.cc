#include "services/audit/core/audit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/audit/core/canonical.h"
#include "services/audit/store/in_memory_audit_store.h"

namespace hie::audit {
namespace {

using ::hie::common::v1::SourceId;

const absl::Time kDeadline = absl::InfiniteFuture();

v1::AuditEvent Event(const std::string& id, const std::string& patient = "MRN-1") {
  v1::AuditEvent e;
  e.set_event_id(id);
  e.mutable_event_time()->set_seconds(1'800'000'000);
  e.set_type(v1::EVENT_TYPE_DISCLOSURE);
  e.set_action("gateway.RetrieveDocument");
  e.set_outcome(v1::OUTCOME_SUCCESS);
  e.mutable_actor()->set_org("clinic-a");
  e.mutable_actor()->set_user_id("jsmith");
  e.set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  auto* p = e.add_patients();
  p->set_org("clinic-b");
  p->set_local_id(patient);
  e.set_custodian_org("clinic-b");
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = *CheckpointSigner::Generate();
    log_ = MakeLog(signer_.get());
    ASSERT_TRUE(log_->Start(kDeadline).ok());
  }
  // Verification in 3 chunks at once from 1 event on, so that every tampering test also
  // crosses chunk boundaries (10 events: 1-3, 4-6, 7-10).
  std::unique_ptr<AuditLog> MakeLog(const CheckpointSigner* signer, int64_t every = 1'000'000) {
    AuditLogOptions options;
    options.checkpoint_every_events = every;
    options.verify_parallelism = 3;
    options.verify_parallel_min_events = 1;
    options.now = [this] { return now_.load(); };  // read on the log's committer threads
    return std::make_unique<AuditLog>(&store_, signer, &archive_, nullptr, options);
  }
  void AppendN(int n, int first = 1) {
    for (int i = first; i < first + n; ++i) {
      ASSERT_TRUE(log_->Append({Event(absl::StrCat("ev-", i))}, kDeadline).ok());
      now_ = now_.load() + absl::Seconds(1);
    }
  }
  v1::VerifyResult Verify(VerifyOptions options = {}) {
    absl::StatusOr<v1::VerifyResult> result = log_->Verify(options, kDeadline);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : v1::VerifyResult();
  }
  ChainRow Row(int64_t sequence) {
    ChainRow out;
    EXPECT_TRUE(store_
                    .ScanChain(sequence, sequence, kDeadline,
                               [&](const ChainRow& r) {
                                 out = r;
                                 return absl::OkStatus();
                               })
                    .ok());
    return out;
  }
  // The row of `sequence` with its event edited and re-encoded (hash left as it was).
  ChainRow Edited(int64_t sequence) {
    ChainRow row = Row(sequence);
    v1::AuditEvent e = *DecodeEvent(row.encoding);
    e.mutable_actor()->set_user_id("someone-else");
    row.encoding = EncodeEvent(e);
    return row;
  }

  std::atomic<absl::Time> now_{absl::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<CheckpointSigner> signer_;
  InMemoryAuditStore store_;
  InMemoryCheckpointArchive archive_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, AppendsAGapFreeChainAndRetriesAnswerTheOriginal) {
  auto first = log_->Append({Event("a"), Event("b")}, kDeadline);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].sequence, 1);
  EXPECT_EQ((*first)[1].sequence, 2);
  auto retry = log_->Append({Event("b")}, kDeadline);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ((*retry)[0].sequence, 2);
  EXPECT_EQ((*retry)[0].hash, (*first)[1].hash);
  // Same id, other content: refused, and nothing of that call is appended.
  v1::AuditEvent changed = Event("b");
  changed.set_action("gateway.Other");
  auto conflict = log_->Append({Event("c"), changed}, kDeadline);
  EXPECT_TRUE(absl::IsAlreadyExists(conflict.status())) << conflict.status();
  EXPECT_NE(conflict.status().message().find("events[1].event_id"), std::string::npos);
  EXPECT_EQ(store_.Head(kDeadline)->sequence, 2);
  EXPECT_EQ(Verify().status(), v1::VerifyResult::STATUS_VALID);
}

TEST_F(AuditLogTest, ConcurrentCallersAreCommittedTogetherIntoOneValidChain) {
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!log_->Append({Event(absl::StrCat("t", t, "-", i))}, kDeadline).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(store_.Head(kDeadline)->sequence, 800);
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_VALID) << result.detail();
  EXPECT_EQ(result.events_checked(), 800);
}

// Answers of AppendAsync, gathered from the committer threads.
class Answers {
 public:
  AuditLog::AppendCallback Callback() {
    return [this](absl::StatusOr<std::vector<AppendResult>> result) {
      std::lock_guard lock(mu_);
      results_.push_back(std::move(result));
      changed_.notify_all();
    };
  }
  std::vector<absl::StatusOr<std::vector<AppendResult>>> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, std::chrono::seconds(30), [&] { return results_.size() >= n; });
    return results_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<absl::StatusOr<std::vector<AppendResult>>> results_;
};

TEST_F(AuditLogTest, AsyncAppendsAnswerEveryCallerOnceAfterItsGroupIsStored) {
  Answers answers;
  std::atomic<int> not_yet_stored = 0;
  for (int i = 0; i < 300; ++i) {
    log_->AppendAsync({Event(absl::StrCat("async-", i))}, kDeadline,
                      [&, cb = answers.Callback()](absl::StatusOr<std::vector<AppendResult>> r) {
                        if (r.ok() && store_.Head(kDeadline)->sequence < (*r)[0].sequence) {
                          ++not_yet_stored;
                        }
                        cb(std::move(r));
                      });
  }
  auto results = answers.WaitFor(300);
  ASSERT_EQ(results.size(), 300u);
  std::set<int64_t> sequences;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    sequences.insert((*r)[0].sequence);
  }
  EXPECT_EQ(sequences.size(), 300u);
  EXPECT_EQ(*sequences.begin(), 1);
  EXPECT_EQ(*sequences.rbegin(), 300);
  EXPECT_EQ(not_yet_stored, 0);
  EXPECT_EQ(Verify().status(), v1::VerifyResult::STATUS_VALID);
}

// A log whose clock can be stopped: a committer asking the time inside its group's
// transaction waits, so that callers queue up behind it.
class HeldLog {
 public:
  HeldLog(AuditStore* store, const CheckpointSigner* signer, AuditLogOptions options) {
    options.now = [this] {
      std::unique_lock lock(mu_);
      if (held_) ++waiting_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !held_; });
      return absl::FromUnixSeconds(1'800'000'000);
    };
    log_ = std::make_unique<AuditLog>(store, signer, nullptr, nullptr, options);
  }
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    held_ = false;
    changed_.notify_all();
  }
  // Waits until a thread is stopped at the clock.
  bool SomeoneHeld() {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ > 0; });
  }
  AuditLog& log() { return *log_; }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool held_ = false;
  int waiting_ = 0;
  std::unique_ptr<AuditLog> log_;  // last: its committers stop before the clock goes
};

TEST(AuditLogQueueTest, AFullQueueAndAPassedDeadlineRefuseAndWriteNothing) {
  InMemoryAuditStore store;
  auto signer = *CheckpointSigner::Generate();
  AuditLogOptions options;
  options.max_queued_events = 3;
  HeldLog held(&store, signer.get(), options);
  ASSERT_TRUE(held.log().Start(kDeadline).ok());
  held.Hold();
  Answers answers;
  held.log().AppendAsync({Event("first")}, kDeadline, answers.Callback());  // taken, then held
  ASSERT_TRUE(held.SomeoneHeld());
  held.log().AppendAsync({Event("q1"), Event("q2")}, kDeadline, answers.Callback());
  // Two events queued, the bound is three: two more are refused at once, on this thread.
  held.log().AppendAsync({Event("over1"), Event("over2")}, kDeadline, answers.Callback());
  auto refused = answers.WaitFor(1);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_TRUE(absl::IsResourceExhausted(refused[0].status())) << refused[0].status();
  // A waiting caller whose deadline passes while queued is withdrawn.
  auto late = held.log().Append({Event("late")}, absl::Now() + absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(late.status())) << late.status();
  // An asynchronous one is answered when a committer reaches it.
  held.log().AppendAsync({Event("expired")}, absl::Now() - absl::Seconds(1), answers.Callback());
  held.Release();
  auto results = answers.WaitFor(4);
  ASSERT_EQ(results.size(), 4u);
  int ok = 0, expired = 0;
  for (const auto& r : results) {
    ok += r.ok();
    expired += absl::IsDeadlineExceeded(r.status());
  }
  EXPECT_EQ(ok, 2);  // "first" and the pair q1, q2
  EXPECT_EQ(expired, 1);
  EXPECT_EQ(store.Head(kDeadline)->sequence, 3);
  for (const char* never : {"over1", "late", "expired"}) {
    auto again = held.log().Append({Event(never)}, kDeadline);
    ASSERT_TRUE(again.ok());
    EXPECT_GT((*again)[0].sequence, 3) << never << " was written before";
  }
}

TEST(AuditLogQueueTest, TheQueueIsBoundedInBytesToo) {
  InMemoryAuditStore store;
  auto signer = *CheckpointSigner::Generate();
  AuditLogOptions options;
  options.max_queued_bytes = 1;  // one caller waits whatever its size; a second does not
  HeldLog held(&store, signer.get(), options);
  ASSERT_TRUE(held.log().Start(kDeadline).ok());
  held.Hold();
  Answers answers;
  held.log().AppendAsync({Event("taken")}, kDeadline, answers.Callback());
  ASSERT_TRUE(held.SomeoneHeld());
  held.log().AppendAsync({Event("waits")}, kDeadline, answers.Callback());
  held.log().AppendAsync({Event("refused")}, kDeadline, answers.Callback());
  auto refused = answers.WaitFor(1);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_TRUE(absl::IsResourceExhausted(refused[0].status())) << refused[0].status();
  held.Release();
  auto results = answers.WaitFor(3);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[1].ok() && results[2].ok());
  EXPECT_EQ(store.Head(kDeadline)->sequence, 2);
}

TEST(AuditLogQueueTest, DestroyingTheLogAnswersEveryQueuedCaller) {
  InMemoryAuditStore store;
  auto signer = *CheckpointSigner::Generate();
  Answers answers;
  {
    AuditLog log(&store, signer.get(), nullptr, nullptr);
    ASSERT_TRUE(log.Start(kDeadline).ok());
    for (int i = 0; i < 200; ++i) {
      log.AppendAsync({Event(absl::StrCat("d-", i))}, kDeadline, answers.Callback());
    }
  }
  auto results = answers.WaitFor(200);
  ASSERT_EQ(results.size(), 200u);
  int64_t ok = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++ok;
    } else {
      EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
    }
  }
  EXPECT_EQ(store.Head(kDeadline)->sequence, ok);  // answered OK exactly when stored
}

TEST_F(AuditLogTest, FeedPositionCommitsWithTheEvents) {
  ASSERT_TRUE(log_->AppendFromFeed("identity", 41, {Event("i-41")}, kDeadline).ok());
  EXPECT_EQ(*log_->FeedPosition("identity", kDeadline), 41);
  // A repeat after a restart: the event is not appended twice.
  ASSERT_TRUE(log_->AppendFromFeed("identity", 41, {Event("i-41")}, kDeadline).ok());
  EXPECT_EQ(store_.Head(kDeadline)->sequence, 1);
}

TEST_F(AuditLogTest, AnEditedRowIsReportedAtItsSequence) {
  AppendN(10);
  store_.TamperRow(Edited(4));
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_HASH_MISMATCH);
  EXPECT_EQ(result.first_bad_sequence(), 4);
}

TEST_F(AuditLogTest, AnEditedAndRehashedRowBreaksTheLinkToTheNextOne) {
  AppendN(10);
  ChainRow row = Edited(4);
  row.hash = ChainHash(row.previous_hash, row.encoding);
  store_.TamperRow(row);
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_CHAIN_BROKEN);
  EXPECT_EQ(result.first_bad_sequence(), 5);
}

TEST_F(AuditLogTest, ARewrittenRestOfTheChainIsCaughtByTheCheckpoint) {
  AppendN(10);
  ASSERT_TRUE(log_->CreateCheckpoint(kDeadline).ok());  // signs 10
  // Rewrite 4..10 consistently: every hash recomputed.
  std::string previous = Row(3).hash;
  for (int64_t s = 4; s <= 10; ++s) {
    ChainRow row = s == 4 ? Edited(4) : Row(s);
    row.previous_hash = previous;
    row.hash = ChainHash(previous, row.encoding);
    previous = row.hash;
    store_.TamperRow(row);
  }
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_CHECKPOINT_INVALID);
  EXPECT_EQ(result.first_bad_sequence(), 10);
  EXPECT_EQ(Verify({.skip_checkpoints = true}).status(), v1::VerifyResult::STATUS_VALID);
}

TEST_F(AuditLogTest, EditsAtChunkBoundariesAreReportedExactly) {
  AppendN(10);
  for (int64_t s : {3, 4, 7}) {  // last of a chunk, first of the next, first of the last
    ChainRow original = Row(s);
    store_.TamperRow(Edited(s));
    v1::VerifyResult result = Verify();
    EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_HASH_MISMATCH) << s;
    EXPECT_EQ(result.first_bad_sequence(), s);
    store_.TamperRow(original);
  }
  store_.EraseRow(4);  // the row that seeds the middle chunk
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_GAP);
  EXPECT_EQ(result.first_bad_sequence(), 4);
  EXPECT_EQ(result.events_checked(), 3);
}

TEST_F(AuditLogTest, ADeletedRowIsAGapAtItsSequence) {
  AppendN(10);
  store_.EraseRow(6);
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_GAP);
  EXPECT_EQ(result.first_bad_sequence(), 6);
}

TEST_F(AuditLogTest, AnInsertedRowIsReportedWhereItWasInserted) {
  AppendN(10);
  // Insert a forged event at 6, shifting 6..10 up by one (what a careful forger would do).
  for (int64_t s = 10; s >= 6; --s) {
    ChainRow row = Row(s);
    row.sequence = s + 1;
    store_.TamperRow(row);
  }
  v1::AuditEvent forged = Event("forged");
  forged.set_sequence(6);
  ChainRow row{6, EncodeEvent(forged), "", Row(5).hash};
  row.hash = ChainHash(row.previous_hash, row.encoding);
  store_.TamperRow(row);
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_CHAIN_BROKEN);
  EXPECT_EQ(result.first_bad_sequence(), 7);  // 6 is self-consistent; 7 no longer follows it
}

TEST_F(AuditLogTest, ReorderedRowsAreReportedAtTheFirstMovedOne) {
  AppendN(10);
  ChainRow three = Row(3), seven = Row(7);
  std::swap(three.sequence, seven.sequence);
  store_.TamperRow(three);
  store_.TamperRow(seven);
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_CHAIN_BROKEN);
  EXPECT_EQ(result.first_bad_sequence(), 3);
}

TEST_F(AuditLogTest, ACutTailIsCaughtByTheArchivedCheckpoint) {
  AppendN(10);
  ASSERT_TRUE(log_->CreateCheckpoint(kDeadline).ok());
  store_.Truncate(7);  // rows, head and the database's checkpoint beyond 7 removed
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_GAP) << result.detail();
  EXPECT_EQ(result.first_bad_sequence(), 8);
}

TEST_F(AuditLogTest, AForgedCheckpointSignatureIsInvalid) {
  AppendN(5);
  auto checkpoint = log_->CreateCheckpoint(kDeadline);
  ASSERT_TRUE(checkpoint.ok());
  v1::Checkpoint forged = *checkpoint;
  forged.set_sequence(3);
  forged.set_head_hash(Row(3).hash);  // right hash, signature made for another sequence
  ASSERT_TRUE(archive_.Write(forged).ok());
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_CHECKPOINT_INVALID);
  EXPECT_EQ(result.first_bad_sequence(), 3);
}

TEST_F(AuditLogTest, CheckpointsAreIdempotentAndOldKeysStillVerifyAfterRotation) {
  AppendN(3);
  auto a = log_->CreateCheckpoint(kDeadline);
  auto again = log_->CreateCheckpoint(kDeadline);
  ASSERT_TRUE(a.ok() && again.ok());
  EXPECT_EQ(a->signature(), again->signature());
  // Rotate: a new key signs from now on; the old checkpoint still verifies.
  auto rotated = *CheckpointSigner::Generate();
  log_ = MakeLog(rotated.get());
  now_ = now_.load() + absl::Hours(1);
  ASSERT_TRUE(log_->Start(kDeadline).ok());
  AppendN(3, 100);
  auto b = log_->CreateCheckpoint(kDeadline);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->key_id(), b->key_id());
  v1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_VALID) << result.detail();
  EXPECT_EQ(result.checkpoints_checked(), 4);  // two, each in the database and the archive
  auto keys = store_.ListSigningKeys(kDeadline);
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_TRUE((*keys)[0].has_valid_until());
  EXPECT_FALSE((*keys)[1].has_valid_until());
}

TEST_F(AuditLogTest, CheckpointsAreMadeEveryNEvents) {
  log_ = MakeLog(signer_.get(), /*every=*/4);
  ASSERT_TRUE(log_->Start(kDeadline).ok());
  // Signed by the committer after it answered, each the head its group left; a signing still
  // under way makes a later due group skip its turn (the next one signs), so each checkpoint is
  // awaited before appending on.
  auto await = [&](size_t n) {
    auto checkpoints = store_.CheckpointsIn(1, 100, kDeadline);
    for (int i = 0; i < 500 && checkpoints.ok() && checkpoints->size() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      checkpoints = store_.CheckpointsIn(1, 100, kDeadline);
    }
    return checkpoints.ok() ? *checkpoints : std::vector<v1::Checkpoint>{};
  };
  AppendN(4);
  ASSERT_EQ(await(1).size(), 1u);
  AppendN(5, /*first=*/5);
  std::vector<v1::Checkpoint> checkpoints = await(2);
  ASSERT_EQ(checkpoints.size(), 2u);
  EXPECT_EQ(checkpoints[0].sequence(), 4);
  EXPECT_EQ(checkpoints[1].sequence(), 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(store_.CheckpointsIn(1, 100, kDeadline)->size(), 2u);  // 9 is not due
}

TEST_F(AuditLogTest, PartialRangesVerifyFromTheRowBeforeThem) {
  AppendN(10);
  v1::VerifyResult result = Verify({.from_sequence = 4, .to_sequence = 8});
  EXPECT_EQ(result.status(), v1::VerifyResult::STATUS_VALID);
  EXPECT_EQ(result.events_checked(), 5);
  store_.TamperRow(Edited(9));
  EXPECT_EQ(Verify({.from_sequence = 4, .to_sequence = 8}).status(),
            v1::VerifyResult::STATUS_VALID);
  EXPECT_FALSE(log_->Verify({.from_sequence = 11}, kDeadline).ok());
}

TEST_F(AuditLogTest, SearchDecodesTheHashedBytes) {
  AppendN(3);
  ASSERT_TRUE(log_->Append({Event("other", "MRN-9")}, kDeadline).ok());
  EventQuery q;
  SourceId p;
  p.set_org("clinic-b");
  p.set_local_id("MRN-9");
  q.patients = {p};
  auto events = log_->Search(q, "", kDeadline);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].event_id(), "other");
  EXPECT_EQ((*events)[0].sequence(), 4);
  EXPECT_EQ((*events)[0].hash().size(), kHashSize);
  EXPECT_TRUE(absl::IsFailedPrecondition(log_->Search({}, "P-1", kDeadline).status()));
}

TEST_F(AuditLogTest, AnUnavailableStoreFailsTheAppend) {
  store_.SetUnavailable(true);
  EXPECT_TRUE(absl::IsUnavailable(log_->Append({Event("x")}, kDeadline).status()));
  store_.SetUnavailable(false);
  EXPECT_TRUE(log_->Append({Event("x")}, kDeadline).ok());
}

}  // namespace
}  // namespace hie::audit
