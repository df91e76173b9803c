// PgAuditStore against a real PostgreSQL (HIE_TEST_PG_DSN): the store contract suite, then
// what only the PostgreSQL store has (partitions, rows read exactly as stored, bad rows, chunked
// scans, query plans) and a throwaway timing of appends and scans (printed, never asserted).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/audit/core/canonical.h"
#include "services/audit/store/audit_store_contract.h"
#include "services/audit/store/migrations.h"
#include "services/audit/store/pg_audit_store.h"
#include "services/common/pg/migrations.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"
#include "tests/support/test_env.h"

namespace hie::audit {
namespace {

using hie::testing::TestDatabase;

absl::Time In(absl::Duration d) { return absl::Now() + d; }

// A fresh database, a migrated pool and the store, owned together.
struct PgFixture {
  std::unique_ptr<TestDatabase> db;
  std::unique_ptr<pg::PgPool> pool;
  std::unique_ptr<PgAuditStore> store;

  static absl::StatusOr<PgFixture> Make(PgAuditStoreOptions options = {}) {
    PgFixture f;
    HIE_ASSIGN_OR_RETURN(f.db, TestDatabase::Create());
    HIE_ASSIGN_OR_RETURN(f.pool, pg::PgPool::Create({.dsn = f.db->dsn(), .size = 4}));
    HIE_RETURN_IF_ERROR(
        pg::ApplyMigrations(*f.pool, kSchema, Migrations(), In(absl::Seconds(30))).status());
    HIE_ASSIGN_OR_RETURN(
        f.store, PgAuditStore::Create(f.pool.get(), absl::Now(), In(absl::Seconds(30)), options));
    return f;
  }

  // Runs SQL directly (tampering, plans): the result of the last statement.
  pqxx::result Sql(const std::string& sql) {
    pqxx::connection conn(db->dsn());
    pqxx::nontransaction tx(conn);
    return tx.exec(sql);
  }
};

// Owns a fixture for as long as the contract test uses the store.
class OwningPgAuditStore : public AuditStore {
 public:
  static std::unique_ptr<AuditStore> Make() {
    absl::StatusOr<PgFixture> f = PgFixture::Make();
    if (!f.ok()) {
      ADD_FAILURE() << f.status();
      return nullptr;
    }
    auto owner = std::make_unique<OwningPgAuditStore>();
    owner->f_ = *std::move(f);
    return owner;
  }

  absl::Status Transact(absl::Time deadline,
                        const std::function<absl::Status(AuditTxn&)>& work) override {
    return s().Transact(deadline, work);
  }
  absl::StatusOr<ChainHead> Head(absl::Time deadline) override { return s().Head(deadline); }
  absl::Status ScanChain(int64_t from, int64_t to, absl::Time deadline,
                         const std::function<absl::Status(const ChainRow&)>& visit) override {
    return s().ScanChain(from, to, deadline, visit);
  }
  absl::StatusOr<std::vector<ChainRow>> Search(const EventQuery& query,
                                               absl::Time deadline) override {
    return s().Search(query, deadline);
  }
  absl::Status PutCheckpoint(const v1::Checkpoint& checkpoint, absl::Time deadline) override {
    return s().PutCheckpoint(checkpoint, deadline);
  }
  absl::StatusOr<std::vector<v1::Checkpoint>> ListCheckpoints(
      absl::Time start, absl::Time end, std::optional<int64_t> before_sequence, int limit,
      absl::Time deadline) override {
    return s().ListCheckpoints(start, end, before_sequence, limit, deadline);
  }
  absl::StatusOr<std::vector<v1::Checkpoint>> CheckpointsIn(int64_t from, int64_t to,
                                                            absl::Time deadline) override {
    return s().CheckpointsIn(from, to, deadline);
  }
  absl::Status AddSigningKey(const v1::SigningKey& key, absl::Time deadline) override {
    return s().AddSigningKey(key, deadline);
  }
  absl::StatusOr<std::vector<v1::SigningKey>> ListSigningKeys(absl::Time deadline) override {
    return s().ListSigningKeys(deadline);
  }
  absl::StatusOr<RetentionHorizon> Horizon(absl::Time deadline) override {
    return s().Horizon(deadline);
  }
  absl::StatusOr<int64_t> DropBefore(absl::Time cutoff, int64_t covered_sequence,
                                     absl::Time deadline) override {
    return s().DropBefore(cutoff, covered_sequence, deadline);
  }

 private:
  PgAuditStore& s() { return *f_.store; }
  PgFixture f_;
};

// Skips every test without a server (fails them with HIE_TEST_REQUIRE_SERVERS=1).
class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { HIE_REQUIRE_ENV("HIE_TEST_PG_DSN"); }
};
const auto* const kPgEnvironment = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

INSTANTIATE_TEST_SUITE_P(Pg, AuditStoreContractTest,
                         ::testing::Values(AuditStoreFactory(&OwningPgAuditStore::Make)));

// ---------------------------------------------------------------------------------------------
// PostgreSQL only
// ---------------------------------------------------------------------------------------------

// Events continuing a chain, with two patients each and realistic text.
class Events {
 public:
  std::vector<NewEvent> Batch(int n, absl::Time record_time) {
    std::vector<NewEvent> out;
    out.reserve(n);
    for (int i = 0; i < n; ++i) {
      v1::AuditEvent e;
      ++sequence_;
      e.set_event_id(absl::StrCat("3f1c2a9e-7d4b-4c1e-9a55-", 100000000000 + sequence_));
      SetTimestamp(absl::FromUnixSeconds(1700000000) + absl::Seconds(sequence_),
                   e.mutable_event_time());
      e.set_type(v1::EVENT_TYPE_DISCLOSURE);
      e.set_action("gateway.RetrieveDocument");
      e.set_outcome(v1::OUTCOME_SUCCESS);
      e.mutable_actor()->set_org(absl::StrCat("clinic-", sequence_ % 50));
      e.mutable_actor()->set_user_id(absl::StrCat("user-", sequence_ % 997));
      e.set_purpose_of_use(hie::common::v1::PurposeOfUse(1));
      e.set_request_id(absl::StrCat("req-", sequence_));
      SourceId* p = e.add_patients();
      p->set_org(absl::StrCat("clinic-", sequence_ % 50));
      p->set_local_id(absl::StrCat("mrn-", sequence_ % 20011));
      p = e.add_patients();
      p->set_org("hospital-b");
      p->set_local_id(absl::StrCat("hb-", sequence_ % 30011));
      e.set_custodian_org("hospital-b");
      e.set_recipient_org(e.actor().org());
      e.set_source_service("gateway");
      e.set_sequence(sequence_);
      SetTimestamp(record_time, e.mutable_record_time());
      e.set_previous_hash(previous_);
      NewEvent ne;
      ne.encoding = EncodeEvent(e);
      ne.fingerprint = ContentFingerprint(e);
      e.set_hash(ChainHash(previous_, ne.encoding));
      previous_ = e.hash();
      ne.event = std::move(e);
      out.push_back(std::move(ne));
    }
    return out;
  }

 private:
  int64_t sequence_ = 0;
  std::string previous_ = GenesisHash();
};

absl::Status Append(AuditStore& store, const std::vector<NewEvent>& events) {
  return store.Transact(In(absl::Seconds(60)), [&](AuditTxn& txn) -> absl::Status {
    HIE_RETURN_IF_ERROR(txn.LockHead().status());
    HIE_RETURN_IF_ERROR(txn.FindEvents({events.front().event.event_id()}).status());
    HIE_RETURN_IF_ERROR(txn.Append(events));
    return txn.SetPosition("identity", events.back().event.sequence());
  });
}

std::vector<ChainRow> ScanAll(AuditStore& store, int64_t from = 1, int64_t to = 1'000'000) {
  std::vector<ChainRow> rows;
  absl::Status s = store.ScanChain(from, to, In(absl::Seconds(60)), [&](const ChainRow& row) {
    rows.push_back(row);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return rows;
}

class PgAuditStoreTest : public ::testing::Test {};

TEST_F(PgAuditStoreTest, CreateMakesThisAndNextMonthAndAppendMakesOthers) {
  absl::StatusOr<PgFixture> f = PgFixture::Make();
  ASSERT_TRUE(f.ok()) << f.status();
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& row : f->Sql("SELECT c.relname FROM pg_inherits i JOIN pg_class c"
                                  " ON c.oid = i.inhrelid WHERE i.inhparent ="
                                  " 'audit.events'::regclass ORDER BY 1")) {
      out.push_back(row[0].c_str());
    }
    return out;
  };
  absl::Time now = absl::Now();
  std::string this_month = absl::FormatTime("events_%Y%m", now, absl::UTCTimeZone());
  std::string next_month =
      absl::FormatTime("events_%Y%m", MonthStart(now) + absl::Hours(24 * 32), absl::UTCTimeZone());
  EXPECT_EQ(names(), (std::vector<std::string>{this_month, next_month}));
  // A second store (another replica) starting concurrently changes nothing.
  absl::StatusOr<std::unique_ptr<PgAuditStore>> again =
      PgAuditStore::Create(f->pool.get(), now, In(absl::Seconds(10)));
  ASSERT_TRUE(again.ok()) << again.status();
  Events events;
  ASSERT_TRUE(Append(*f->store, events.Batch(2, absl::FromCivil(absl::CivilDay(2023, 7, 4),
                                                                absl::UTCTimeZone())))
                  .ok());
  EXPECT_EQ(names(), (std::vector<std::string>{"events_202307", this_month, next_month}));
  // The other store did not know the month: it finds it made (IF NOT EXISTS, under the lock).
  ASSERT_TRUE(Append(**again, events.Batch(2, absl::FromCivil(absl::CivilDay(2023, 7, 5),
                                                              absl::UTCTimeZone())))
                  .ok());
  EXPECT_EQ(ScanAll(*f->store).size(), 4u);
}

// The pipelined append: a second transaction writes behind a first that has not committed, and
// commits only after it and only if it committed.
TEST_F(PgAuditStoreTest, AppendExpectingWritesBehindATransactionInFlight) {
  absl::StatusOr<PgFixture> f = PgFixture::Make();
  ASSERT_TRUE(f.ok()) << f.status();
  for (const bool first_commits : {true, false}) {
    Events events;
    const ChainHead start = *f->store->Head(In(absl::Seconds(10)));
    // Events continues from genesis: skip what an earlier round committed.
    (void)events.Batch(static_cast<int>(start.sequence), absl::Now());
    std::vector<NewEvent> first = events.Batch(3, absl::Now());
    std::vector<NewEvent> second = events.Batch(2, absl::Now());
    const ChainHead after_first{first.back().event.sequence(), first.back().event.hash(),
                                absl::Now()};
    std::promise<void> first_written, second_written;
    std::promise<void> release_first;
    std::shared_future<void> release = release_first.get_future().share();
    std::thread one([&] {
      absl::Status s = f->store->Transact(In(absl::Seconds(30)), [&](AuditTxn& txn) {
        HIE_RETURN_IF_ERROR(txn.LockHead().status());
        HIE_RETURN_IF_ERROR(txn.Append(first));
        first_written.set_value();
        release.wait();
        return first_commits ? absl::OkStatus() : absl::InternalError("rolled back");
      });
      EXPECT_EQ(s.ok(), first_commits) << s;
    });
    first_written.get_future().wait();
    absl::Status second_status;
    std::thread two([&] {
      second_status = f->store->Transact(In(absl::Seconds(30)), [&](AuditTxn& txn) {
        return txn.AppendExpecting(
            after_first, second, [&] { second_written.set_value(); }, [] {});
      });
    });
    // The second's rows are written while the first still holds the head.
    ASSERT_EQ(second_written.get_future().wait_for(std::chrono::seconds(10)),
              std::future_status::ready);
    EXPECT_EQ(f->store->Head(In(absl::Seconds(10)))->sequence, start.sequence);
    release_first.set_value();
    one.join();
    two.join();
    if (first_commits) {
      EXPECT_TRUE(second_status.ok()) << second_status;
      EXPECT_EQ(f->store->Head(In(absl::Seconds(10)))->sequence, start.sequence + 5);
    } else {
      EXPECT_EQ(second_status.code(), absl::StatusCode::kAborted) << second_status;
      EXPECT_EQ(f->store->Head(In(absl::Seconds(10)))->sequence, start.sequence);
      EXPECT_EQ(ScanAll(*f->store).size(), static_cast<size_t>(start.sequence));
    }
  }
}

TEST_F(PgAuditStoreTest, ScanShowsRowsExactlyAsStored) {
  absl::StatusOr<PgFixture> f = PgFixture::Make({.scan_chunk_rows = 3});
  ASSERT_TRUE(f.ok()) << f.status();
  Events events;
  const absl::Time may = absl::FromCivil(absl::CivilDay(2024, 5, 2), absl::UTCTimeZone());
  std::vector<NewEvent> batch = events.Batch(10, may);
  ASSERT_TRUE(Append(*f->store, batch).ok());
  std::vector<ChainRow> rows = ScanAll(*f->store);  // four chunks of 3
  ASSERT_EQ(rows.size(), 10u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].sequence, static_cast<int64_t>(i + 1));
    EXPECT_EQ(rows[i].encoding, batch[i].encoding);
  }
  // Tampered, removed and duplicated rows (the duplicate in another month) show as they are.
  f->Sql("UPDATE audit.events SET encoding = '\\x00ff'::bytea WHERE sequence = 4");
  f->Sql("DELETE FROM audit.events WHERE sequence = 6");
  f->Sql(absl::StrCat("INSERT INTO audit.events SELECT sequence, event_id || '-copy', ",
                      absl::ToUnixNanos(MonthStart(absl::Now())),
                      ", event_time_ns, type, outcome, purpose, actor_org, actor_user_id,"
                      " custodian_org, request_id, break_glass, encoding, hash, previous_hash,"
                      " fingerprint FROM audit.events WHERE sequence = 8"));
  rows = ScanAll(*f->store);
  std::vector<int64_t> sequences;
  for (const ChainRow& row : rows) sequences.push_back(row.sequence);
  EXPECT_EQ(sequences, (std::vector<int64_t>{1, 2, 3, 4, 5, 7, 8, 8, 9, 10}));
  EXPECT_EQ(rows[3].encoding, std::string("\x00\xff", 2));
  EXPECT_EQ(ScanAll(*f->store, 8, 8).size(), 2u);
}

TEST_F(PgAuditStoreTest, UnreadableRowsAreErrorsNamingTheSequence) {
  absl::StatusOr<PgFixture> f = PgFixture::Make();
  ASSERT_TRUE(f.ok()) << f.status();
  v1::Checkpoint c;
  c.set_sequence(77);
  c.set_key_id("k");
  ASSERT_TRUE(f->store->PutCheckpoint(c, In(absl::Seconds(10))).ok());
  f->Sql("UPDATE audit.checkpoints SET checkpoint = '\\xffffffff'::bytea");
  absl::StatusOr<std::vector<v1::Checkpoint>> list = f->store->ListCheckpoints(
      absl::InfinitePast(), absl::InfiniteFuture(), std::nullopt, 10, In(absl::Seconds(10)));
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(list.status().message().find("77"), std::string::npos) << list.status();
  // A NUL in a searchable text field is refused before anything is sent.
  Events events;
  std::vector<NewEvent> batch = events.Batch(1, absl::Now());
  batch[0].event.mutable_actor()->set_org(std::string("a\0b", 3));
  EXPECT_EQ(Append(*f->store, batch).code(), absl::StatusCode::kInvalidArgument);
  EventQuery q;
  q.actor_org = std::string("a\0b", 3);
  EXPECT_EQ(f->store->Search(q, In(absl::Seconds(10))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The plans of a patient search and an org search on a table with some volume.
TEST_F(PgAuditStoreTest, SearchesUseIndexes) {
  absl::StatusOr<PgFixture> f = PgFixture::Make();
  ASSERT_TRUE(f.ok()) << f.status();
  Events events;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Append(*f->store, events.Batch(1000, absl::Now())).ok());
  }
  f->Sql("ANALYZE audit.events; ANALYZE audit.event_patients");
  auto plan = [&](const EventQuery& q) {
    pqxx::connection conn(f->db->dsn());
    pqxx::nontransaction tx(conn);
    std::string text;
    for (const auto& row : tx.exec("EXPLAIN " + PgAuditStore::SearchSql(tx, q))) {
      absl::StrAppend(&text, row[0].c_str(), "\n");
    }
    return text;
  };
  EventQuery by_patient;
  SourceId* p = &by_patient.patients.emplace_back();
  p->set_org("clinic-7");
  p->set_local_id("mrn-7");
  p = &by_patient.patients.emplace_back();
  p->set_org("hospital-b");
  p->set_local_id("hb-7");
  EventQuery by_org;
  by_org.actor_org = "clinic-7";
  by_org.before = {{absl::ToUnixNanos(absl::FromUnixSeconds(1700010000)), 10000}};
  // The month holding the events (next month's partition is empty: any plan will do there).
  const std::string month = absl::FormatTime("%Y%m", absl::Now(), absl::UTCTimeZone());
  for (const EventQuery& q : {by_patient, by_org}) {
    std::string text = plan(q);
    std::printf("%s\n", text.c_str());
    EXPECT_EQ(text.find("Seq Scan on events_" + month), std::string::npos) << text;
    EXPECT_EQ(text.find("Seq Scan on event_patients_" + month), std::string::npos) << text;
    EXPECT_NE(text.find("Index"), std::string::npos) << text;
  }
  absl::StatusOr<std::vector<ChainRow>> rows = f->store->Search(by_patient, In(absl::Seconds(10)));
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 1u);  // sequence 7 names both (found once); no other names either
}

// Throwaway timing (printed, not asserted): 20 batches of 1000 events appended, then scanned.
TEST_F(PgAuditStoreTest, TimingOfAppendAndScan) {
  absl::StatusOr<PgFixture> f = PgFixture::Make();
  ASSERT_TRUE(f.ok()) << f.status();
  Events events;
  std::vector<std::vector<NewEvent>> batches;
  for (int i = 0; i < 20; ++i) batches.push_back(events.Batch(1000, absl::Now()));
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu = std::clock();
  for (const auto& batch : batches) ASSERT_TRUE(Append(*f->store, batch).ok());
  double append_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double append_cpu = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  start = std::chrono::steady_clock::now();
  cpu = std::clock();
  int64_t rows = 0, bytes = 0;
  ASSERT_TRUE(f->store
                  ->ScanChain(1, 20000, In(absl::Seconds(60)),
                              [&](const ChainRow& row) {
                                ++rows;
                                bytes += row.encoding.size();
                                return absl::OkStatus();
                              })
                  .ok());
  double scan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double scan_cpu = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  EXPECT_EQ(rows, 20000);
  std::printf(
      "timing: append 20 x 1000 events in %.3f s (%.0f events/s, %.1f us/event); scan %lld rows"
      " (%lld encoding bytes, %.0f B/event) in %.3f s (%.0f rows/s); client CPU: append %.3f s,"
      " scan %.3f s\n",
      append_s, 20000 / append_s, append_s * 1e6 / 20000, static_cast<long long>(rows),
      static_cast<long long>(bytes), static_cast<double>(bytes) / rows, scan_s, rows / scan_s,
      append_cpu, scan_cpu);
}

}  // namespace
}  // namespace hie::audit
