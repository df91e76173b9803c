// The audit log over the real PostgreSQL store, tampered with directly in SQL as someone with
// database access would: every kind of edit must be detected by Verify at the exact first bad
// sequence (core/chain_verifier.h says which sequence each kind is reported at). The checkpoint
// archive is a real directory (store/checkpoint_directory.h).

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <pqxx/nontransaction>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/audit/core/audit_log.h"
#include "services/audit/store/checkpoint_directory.h"
#include "services/audit/store/migrations.h"
#include "services/audit/store/pg_audit_store.h"
#include "services/common/pg/migrations.h"
#include "tests/support/test_env.h"

namespace hie::audit {
namespace {

const absl::Time kDeadline = absl::InfiniteFuture();
// One time for every event of the run: a retry must be byte-identical to its original, even
// when a second boundary passes between the two (a clock read per event made the test flaky).
const int64_t kEventTime = absl::ToUnixSeconds(absl::Now()) - 60;

v1::AuditEvent Event(int i) {
  v1::AuditEvent e;
  e.set_event_id(absl::StrCat("ev-", i));
  e.mutable_event_time()->set_seconds(kEventTime);
  e.set_type(v1::EVENT_TYPE_DISCLOSURE);
  e.set_action("gateway.RetrieveDocument");
  e.set_outcome(v1::OUTCOME_SUCCESS);
  e.mutable_actor()->set_org("clinic-a");
  e.mutable_actor()->set_user_id(absl::StrCat("user-", i));
  auto* p = e.add_patients();
  p->set_org("clinic-b");
  p->set_local_id(absl::StrCat("MRN-", i % 3));
  return e;
}

class AuditTamperPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto pool = pg::PgPool::Create({.dsn = db_->dsn(), .size = 4});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    ASSERT_TRUE(
        pg::ApplyMigrations(*pool_, kSchema, Migrations(), absl::Now() + absl::Seconds(30)).ok());
    auto store = PgAuditStore::Create(pool_.get(), absl::Now(), absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("audit-archive-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->random_seed(), "-",
                        reinterpret_cast<uintptr_t>(this));
    auto archive = DirectoryCheckpointArchive::Open(dir_.string());
    ASSERT_TRUE(archive.ok());
    archive_ = *std::move(archive);
    signer_ = *CheckpointSigner::Generate();
    // Verification in two chunks on two connections at once, as on long ranges in production.
    AuditLogOptions options;
    options.verify_parallel_min_events = 1;
    log_ =
        std::make_unique<AuditLog>(store_.get(), signer_.get(), archive_.get(), nullptr, options);
    ASSERT_TRUE(log_->Start(kDeadline).ok());
    std::vector<v1::AuditEvent> events;
    for (int i = 1; i <= 20; ++i) events.push_back(Event(i));
    ASSERT_TRUE(log_->Append(events, kDeadline).ok());
    ASSERT_EQ(Verify().status(), v1::VerifyResult::STATUS_VALID);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  void Sql(const std::string& sql) {
    pqxx::connection conn(db_->dsn());
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  }
  v1::VerifyResult Verify() {
    auto result = log_->Verify({}, kDeadline);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : v1::VerifyResult();
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<PgAuditStore> store_;
  std::filesystem::path dir_;
  std::unique_ptr<DirectoryCheckpointArchive> archive_;
  std::unique_ptr<CheckpointSigner> signer_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditTamperPgTest, AnUpdatedEventIsAHashMismatchAtItsSequence) {
  // Flip one byte of the user id inside the stored encoding.
  Sql("UPDATE audit.events SET encoding = overlay(encoding placing '\\x58'::bytea from "
      "length(encoding) - 30 for 1) WHERE sequence = 7");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_HASH_MISMATCH) << r.detail();
  EXPECT_EQ(r.first_bad_sequence(), 7);
}

TEST_F(AuditTamperPgTest, AnUpdatedHashIsCaught) {
  Sql("UPDATE audit.events SET hash = sha256('forged') WHERE sequence = 12");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_HASH_MISMATCH);
  EXPECT_EQ(r.first_bad_sequence(), 12);
}

TEST_F(AuditTamperPgTest, ADeletedEventIsAGapAtItsSequence) {
  Sql("DELETE FROM audit.events WHERE sequence = 9");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_GAP) << r.detail();
  EXPECT_EQ(r.first_bad_sequence(), 9);
}

TEST_F(AuditTamperPgTest, AnInsertedCopyOfAnEventIsCaughtAtItsSequence) {
  // A second row with sequence 5 (another record time, so the primary key lets it in).
  Sql("INSERT INTO audit.events SELECT sequence, event_id || 'x', record_time_ns + 1, "
      "event_time_ns, type, outcome, purpose, actor_org, actor_user_id, custodian_org, "
      "request_id, break_glass, encoding, hash, previous_hash, fingerprint FROM audit.events "
      "WHERE sequence = 5");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_CHAIN_BROKEN) << r.detail();
  EXPECT_EQ(r.first_bad_sequence(), 5);
}

TEST_F(AuditTamperPgTest, ReorderedEventsAreCaughtAtTheFirstMovedOne) {
  Sql("UPDATE audit.events SET sequence = -1 WHERE sequence = 4");
  Sql("UPDATE audit.events SET sequence = 4 WHERE sequence = 15");
  Sql("UPDATE audit.events SET sequence = 15 WHERE sequence = -1");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_CHAIN_BROKEN) << r.detail();
  EXPECT_EQ(r.first_bad_sequence(), 4);
}

TEST_F(AuditTamperPgTest, ACutTailWithHeadAndCheckpointsRewrittenIsCaughtByTheArchive) {
  ASSERT_TRUE(log_->CreateCheckpoint(kDeadline).ok());  // signs 20, also in the archive
  Sql("DELETE FROM audit.events WHERE sequence > 16");
  Sql("DELETE FROM audit.checkpoints");
  Sql("UPDATE audit.head SET sequence = 16, hash = (SELECT hash FROM audit.events WHERE "
      "sequence = 16)");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_GAP) << r.detail();
  EXPECT_EQ(r.first_bad_sequence(), 17);
}

TEST_F(AuditTamperPgTest, ACutTailWithTheHeadLeftIsAGap) {
  Sql("DELETE FROM audit.events WHERE sequence > 18");
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_GAP);
  EXPECT_EQ(r.first_bad_sequence(), 19);
}

TEST_F(AuditTamperPgTest, AForgedCheckpointRowIsInvalid) {
  auto checkpoint = log_->CreateCheckpoint(kDeadline);
  ASSERT_TRUE(checkpoint.ok());
  // The stored checkpoint (the serialized message is the record) with another signature.
  v1::Checkpoint forged = *checkpoint;
  forged.set_signature(std::string(64, 'x'));
  Sql(absl::StrCat("UPDATE audit.checkpoints SET checkpoint = decode('",
                   HexEncode(forged.SerializeAsString()), "', 'hex'), signature = decode('",
                   HexEncode(forged.signature()), "', 'hex')"));
  // The database's copy is checked as well as the archive's.
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_CHECKPOINT_INVALID) << r.detail();
  EXPECT_EQ(r.first_bad_sequence(), 20);
}

TEST_F(AuditTamperPgTest, AKeySwappedInTheDatabaseDoesNotHideARewrite) {
  ASSERT_TRUE(log_->CreateCheckpoint(kDeadline).ok());
  // Rewrite the database's key for the same id; the archive keeps the real one and wins.
  auto other = *CheckpointSigner::Generate();
  Sql(absl::StrCat("UPDATE audit.signing_keys SET public_key_pem = '", other->public_key_pem(),
                   "'"));
  EXPECT_EQ(Verify().status(), v1::VerifyResult::STATUS_VALID);
}

// Many callers at once: groups are pipelined (two transactions in flight, the second writing
// behind the first); the chain must still be one gap-free, valid sequence, each event once.
TEST_F(AuditTamperPgTest, ConcurrentCallersMakeOneValidGapFreeChain) {
  std::mutex mu;
  std::set<int64_t> sequences;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        std::vector<v1::AuditEvent> events;
        for (int k = 0; k <= i % 3; ++k) events.push_back(Event(1000 + t * 1000 + i * 10 + k));
        if (i % 7 == 0) events.push_back(Event(5));  // a retry of a stored event
        auto appended = log_->Append(events, kDeadline);
        ASSERT_TRUE(appended.ok()) << appended.status();
        std::lock_guard lock(mu);
        for (size_t k = 0; k < appended->size(); ++k) {
          if (events[k].event_id() == "ev-5") {
            EXPECT_EQ((*appended)[k].sequence, 5);
          } else {
            EXPECT_TRUE(sequences.insert((*appended)[k].sequence).second);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(sequences.size(), 8u * (14 * 1 + 13 * 2 + 13 * 3));
  EXPECT_EQ(*sequences.begin(), 21);
  EXPECT_EQ(*sequences.rbegin(), 20 + static_cast<int64_t>(sequences.size()));
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_VALID) << r.detail();
  EXPECT_EQ(r.events_checked(), 20 + static_cast<int64_t>(sequences.size()));
}

// Callers that send the same new events at once (a client retrying while its first attempt is
// still being committed): groups written side by side collide on those event ids in
// PostgreSQL's unique index, whichever wrote first. Each event is stored once, every caller gets
// its sequence, and the chain stays valid and gap-free.
TEST_F(AuditTamperPgTest, TheSameNewEventsFromConcurrentCallersAreStoredOnce) {
  constexpr int kThreads = 6, kRounds = 15;
  std::mutex mu;
  std::map<std::string, std::set<int64_t>> sequences_of;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        // Round i: every caller sends ev-(5000+i) and, from caller 0, a batch of its own too,
        // so that groups differ in size.
        std::vector<v1::AuditEvent> events = {Event(5000 + i), Event(6000 + 100 * t + i)};
        if (t == 0) {
          for (int k = 0; k < 50; ++k) events.push_back(Event(100000 + 100 * i + k));
        }
        auto appended = log_->Append(events, kDeadline);
        ASSERT_TRUE(appended.ok()) << appended.status();
        std::lock_guard lock(mu);
        for (size_t k = 0; k < appended->size(); ++k) {
          sequences_of[events[k].event_id()].insert((*appended)[k].sequence);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& [id, sequences] : sequences_of) {
    EXPECT_EQ(sequences.size(), 1u) << id << " stored at more than one sequence";
    all.insert(sequences.begin(), sequences.end());
  }
  const size_t expected = kRounds * (1 + kThreads + 50);
  ASSERT_EQ(all.size(), expected);
  EXPECT_EQ(*all.begin(), 21);
  EXPECT_EQ(*all.rbegin(), 20 + static_cast<int64_t>(expected));
  v1::VerifyResult r = Verify();
  EXPECT_EQ(r.status(), v1::VerifyResult::STATUS_VALID) << r.detail();
  EXPECT_EQ(r.events_checked(), 20 + static_cast<int64_t>(expected));
}

TEST_F(AuditTamperPgTest, AppendsAfterARestartContinueTheChain) {
  auto store = PgAuditStore::Create(pool_.get(), absl::Now(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(store.ok());
  AuditLog again(store->get(), signer_.get(), archive_.get(), nullptr);
  ASSERT_TRUE(again.Start(kDeadline).ok());
  auto appended = again.Append({Event(21), Event(1)}, kDeadline);  // 1 is a retry
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ((*appended)[0].sequence, 21);
  EXPECT_EQ((*appended)[1].sequence, 1);
  EXPECT_EQ(Verify().events_checked(), 21);
  // The first log (a second replica, now) predicts a stale head: it must notice and go on.
  auto behind = log_->Append({Event(22)}, kDeadline);
  ASSERT_TRUE(behind.ok()) << behind.status();
  EXPECT_EQ((*behind)[0].sequence, 22);
  EXPECT_EQ(Verify().status(), v1::VerifyResult::STATUS_VALID);
}

}  // namespace
}  // namespace hie::audit
