// PgIdentityStore against a real PostgreSQL (HIE_TEST_PG_DSN): the store contract suite, then
// what only the PostgreSQL store has (migrations, cross-process locks, retries, batched scan).

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/logging.h"
#include "services/common/pg/migrations.h"
#include "services/identity/store/identity_store_contract.h"
#include "services/identity/store/in_memory_identity_store.h"
#include "services/identity/store/migrations.h"
#include "services/identity/store/pg_identity_store.h"
#include "services/identity/store/write_behind_txn.h"
#include "tests/support/source_id.h"
#include "tests/support/test_env.h"

namespace hie::identity {
namespace {

using google::protobuf::util::TimeUtil;
using hie::testing::TestDatabase;

absl::Time In(absl::Duration d) { return absl::Now() + d; }

absl::StatusOr<std::unique_ptr<pg::PgPool>> MigratedPool(const std::string& dsn, size_t size) {
  absl::StatusOr<std::unique_ptr<pg::PgPool>> pool = pg::PgPool::Create({.dsn = dsn, .size = size});
  if (!pool.ok()) return pool.status();
  absl::StatusOr<int> applied =
      pg::ApplyMigrations(**pool, kSchema, Migrations(), In(absl::Seconds(30)));
  if (!applied.ok()) return applied.status();
  return pool;
}

// Owns a fresh database, a pool and the store, for as long as the contract test uses the store.
class OwningPgIdentityStore : public IdentityStore {
 public:
  static std::unique_ptr<IdentityStore> Make() {
    auto owner = std::unique_ptr<OwningPgIdentityStore>(new OwningPgIdentityStore);
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    if (!db.ok()) {
      ADD_FAILURE() << db.status();
      return nullptr;
    }
    owner->db_ = *std::move(db);
    absl::StatusOr<std::unique_ptr<pg::PgPool>> pool = MigratedPool(owner->db_->dsn(), 4);
    if (!pool.ok()) {
      ADD_FAILURE() << pool.status();
      return nullptr;
    }
    owner->pool_ = *std::move(pool);
    absl::StatusOr<std::unique_ptr<PgIdentityStore>> store =
        PgIdentityStore::Create(owner->pool_.get());
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      return nullptr;
    }
    owner->store_ = *std::move(store);
    return owner;
  }

  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override {
    return store_->Transact(deadline, lock_keys, fn);
  }
  absl::Status Read(absl::Time deadline, const TxnFn& fn) override {
    return store_->Read(deadline, fn);
  }
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override {
    return store_->ScanActiveRecords(deadline, fn);
  }

 private:
  OwningPgIdentityStore() = default;
  // Destroyed in reverse order: store, pool, then the database.
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<PgIdentityStore> store_;
};

// Skips every test without a server (fails them with HIE_TEST_REQUIRE_SERVERS=1).
class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { HIE_REQUIRE_ENV("HIE_TEST_PG_DSN"); }
};
const auto* const kPgEnvironment = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

INSTANTIATE_TEST_SUITE_P(Pg, IdentityStoreContractTest,
                         ::testing::Values(IdentityStoreFactory(&OwningPgIdentityStore::Make)));

// The write-behind layer over the real store too: its batch writes and the PostgreSQL store's
// deferred error reporting must still keep the contract.
INSTANTIATE_TEST_SUITE_P(
    PgWriteBehind, IdentityStoreContractTest,
    ::testing::Values(IdentityStoreFactory([]() -> std::unique_ptr<IdentityStore> {
      return std::make_unique<WriteBehindStore>(OwningPgIdentityStore::Make());
    })));

// ---------------------------------------------------------------------------------------------
// PostgreSQL-specific behaviour
// ---------------------------------------------------------------------------------------------

using test_support::Id;

v1::SourceRecord Record(const SourceId& id, int64_t version, const std::string& family) {
  v1::SourceRecord r;
  *r.mutable_source_id() = id;
  r.set_version(version);
  r.set_state(v1::RECORD_STATE_ACTIVE);
  r.mutable_demographics()->mutable_name()->set_family(family);
  *r.mutable_record_time() = TimeUtil::SecondsToTimestamp(1000);
  return r;
}

v1::Person Person(const std::string& id) {
  v1::Person p;
  p.set_person_id(id);
  p.set_state(v1::PERSON_STATE_ACTIVE);
  p.set_etag("1");
  *p.mutable_create_time() = TimeUtil::SecondsToTimestamp(1000);
  return p;
}

v1::Link Link(const SourceId& id, const std::string& person) {
  v1::Link l;
  *l.mutable_source_id() = id;
  l.set_person_id(person);
  l.set_method(v1::LINK_METHOD_NEW_PERSON);
  return l;
}

class PgIdentityStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto pool = MigratedPool(db_->dsn(), 4);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    store_ = MakeStore(pool_.get());
  }

  static std::unique_ptr<PgIdentityStore> MakeStore(pg::PgPool* pool,
                                                    PgIdentityStoreOptions options = {}) {
    auto store = PgIdentityStore::Create(pool, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // A second pool on the same database: another replica of the service.
  std::unique_ptr<pg::PgPool> OtherReplicaPool() {
    auto pool = pg::PgPool::Create({.dsn = db_->dsn(), .size = 4});
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? *std::move(pool) : nullptr;
  }

  int64_t CountRows(const std::string& table) {
    pqxx::connection conn(db_->dsn());
    return pqxx::nontransaction(conn)
        .exec1(absl::StrCat("SELECT count(*) FROM identity.", table))[0]
        .as<int64_t>();
  }

  int64_t CountAllRows() {
    int64_t n = 0;
    for (const char* table : {"records", "record_versions", "persons", "links", "events",
                              "event_subjects", "review_tasks", "not_a_matches", "idempotency"}) {
      n += CountRows(table);
    }
    return n;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<PgIdentityStore> store_;
};

TEST_F(PgIdentityStoreTest, MigrationsApplyOnceThenAreANoOp) {
  // SetUp applied them; a second run (a second replica starting) finds nothing to do.
  absl::StatusOr<int> again =
      pg::ApplyMigrations(*pool_, kSchema, Migrations(), In(absl::Seconds(30)));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
  auto other = OtherReplicaPool();
  absl::StatusOr<int> third =
      pg::ApplyMigrations(*other, kSchema, Migrations(), In(absl::Seconds(30)));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, 0);
  EXPECT_EQ(CountRows("schema_migrations"), static_cast<int64_t>(Migrations().size()));
  EXPECT_EQ(CountAllRows(), 0);
}

TEST_F(PgIdentityStoreTest, MigrationsOnAFreshDatabaseApplyEveryVersion) {
  auto db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<int> applied =
      pg::ApplyMigrations(**pool, kSchema, Migrations(), In(absl::Seconds(30)));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, static_cast<int>(Migrations().size()));
}

TEST_F(PgIdentityStoreTest, SameLockKeyOnTwoReplicasIsSerialised) {
  auto other_pool = OtherReplicaPool();
  auto other = MakeStore(other_pool.get());
  std::promise<void> first_wrote;
  std::atomic<bool> first_committed{false};
  auto first = std::async(std::launch::async, [&] {
    bool signalled = false;
    absl::Status s = store_->Transact(In(absl::Seconds(20)), {"person:P1"}, [&](IdentityTxn& t) {
      absl::Status put = t.PutIdempotent("value", {"", "written-by-first"});
      // A read sends BEGIN, the locks and the waiting write.
      if (absl::Status read = t.LastEventSequence().status(); !read.ok()) return read;
      if (!signalled) {
        signalled = true;
        first_wrote.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      }
      return put;
    });
    first_committed = true;
    return s;
  });
  first_wrote.get_future().wait();

  // Another key does not wait, and READ COMMITTED shows it nothing uncommitted.
  std::optional<StoredIdempotentResult> seen_unlocked;
  absl::Status status1 = other->Transact(In(absl::Seconds(20)), {"person:P2"}, [&](IdentityTxn& t) {
    auto got = t.GetIdempotent("value");
    if (!got.ok()) return got.status();
    seen_unlocked = *got;
    return absl::OkStatus();
  });
  ASSERT_TRUE(status1.ok()) << status1;
  EXPECT_FALSE(seen_unlocked.has_value());
  EXPECT_FALSE(first_committed.load()) << "the other key must not have waited for the first";

  // The same key waits for the first transaction to commit, then sees its write.
  std::optional<StoredIdempotentResult> seen_locked;
  absl::Status status2 = other->Transact(In(absl::Seconds(20)), {"person:P1"}, [&](IdentityTxn& t) {
    auto got = t.GetIdempotent("value");
    if (!got.ok()) return got.status();
    seen_locked = *got;
    return absl::OkStatus();
  });
  ASSERT_TRUE(status2.ok()) << status2;
  ASSERT_TRUE(seen_locked.has_value());
  EXPECT_EQ(seen_locked->response, "written-by-first");
  EXPECT_TRUE(first.get().ok());
}

TEST_F(PgIdentityStoreTest, CountersOnTwoReplicasLoseNoUpdate) {
  auto other_pool = OtherReplicaPool();
  auto other = MakeStore(other_pool.get());
  constexpr int kThreadsPerReplica = 3, kIncrements = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (PgIdentityStore* store : {store_.get(), other.get()}) {
    for (int i = 0; i < kThreadsPerReplica; ++i) {
      threads.emplace_back([&, store] {
        for (int j = 0; j < kIncrements; ++j) {
          // Several keys per transaction, in varying order: the store sorts them.
          std::vector<std::string> keys = {"b", "counter", "a"};
          if (j % 2) std::reverse(keys.begin(), keys.end());
          absl::Status s =
              store->Transact(In(absl::Seconds(30)), keys, [](IdentityTxn& t) -> absl::Status {
                auto current = t.GetIdempotent("counter");
                if (!current.ok()) return current.status();
                int value = current->has_value() ? std::stoi((*current)->response) : 0;
                return t.PutIdempotent("counter", {"", std::to_string(value + 1)});
              });
          if (!s.ok()) ++failures;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::string value;
  absl::Status status3 = store_->Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
    value = (*t.GetIdempotent("counter"))->response;
    return absl::OkStatus();
  });
  ASSERT_TRUE(status3.ok()) << status3;
  EXPECT_EQ(value, std::to_string(2 * kThreadsPerReplica * kIncrements));
}

TEST_F(PgIdentityStoreTest, LockWaitEndsAtTheDeadline) {
  auto other_pool = OtherReplicaPool();
  auto other = MakeStore(other_pool.get());
  std::promise<void> holding;
  bool signalled = false;
  auto holder = std::async(std::launch::async, [&] {
    return store_->Transact(In(absl::Seconds(20)), {"k"}, [&](IdentityTxn& t) {
      if (absl::Status read = t.LastEventSequence().status(); !read.ok()) return read;
      if (!signalled) {
        signalled = true;
        holding.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(3000));
      }
      return absl::OkStatus();
    });
  });
  holding.get_future().wait();
  absl::Time start = absl::Now();
  absl::Status waited = other->Transact(In(absl::Milliseconds(300)), {"k"}, [](IdentityTxn& t) {
    return t.LastEventSequence().status();
  });
  EXPECT_EQ(waited.code(), absl::StatusCode::kDeadlineExceeded) << waited;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(holder.get().ok());
}

TEST_F(PgIdentityStoreTest, FailedTransactionLeavesNothingInAnyTable) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "2");
  absl::Status status = store_->Transact(In(absl::Seconds(10)), {"k"}, [&](IdentityTxn& t) {
    EXPECT_TRUE(t.PutRecordVersion(Record(a, 1, "A"), true).ok());
    EXPECT_TRUE(t.PutRecordVersion(Record(b, 1, "B"), true).ok());
    EXPECT_TRUE(t.PutPerson(Person("P1")).ok());
    EXPECT_TRUE(t.PutLink(Link(a, "P1")).ok());
    v1::IdentityEvent e;
    e.set_type(v1::IDENTITY_EVENT_TYPE_RECORD_LINKED);
    *e.add_source_ids() = a;
    e.set_to_person_id("P1");
    EXPECT_TRUE(t.AppendEvent(&e).ok());
    v1::ReviewTask task;
    task.set_task_id(*t.NewTaskId());
    task.set_state(v1::REVIEW_TASK_STATE_OPEN);
    EXPECT_TRUE(t.PutTask(task).ok());
    v1::NotAMatch nam;
    *nam.mutable_a() = a;
    *nam.mutable_b() = b;
    EXPECT_TRUE(t.PutNotAMatch(nam).ok());
    EXPECT_TRUE(t.PutIdempotent("key", {"f", "r"}).ok());
    return absl::FailedPreconditionError("stop");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountAllRows(), 0);
}

TEST_F(PgIdentityStoreTest, DatabaseErrorPoisonsTheTransactionEvenIfFnIgnoresIt) {
  int later_code = -1;
  absl::Status status = store_->Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
    EXPECT_TRUE(t.PutPerson(Person("P1")).ok());
    // Invalid UTF-8 is refused by the server (SQLSTATE 22021): the PG transaction is aborted.
    // (A write's error can surface at a later call: writes wait for the next statement.)
    (void)t.PutPerson(Person("P\xff\xfe"));
    absl::Status later = t.GetPerson("P1").status();
    EXPECT_EQ(later.message().find("\xff"), std::string_view::npos);
    later_code = static_cast<int>(later.code());
    return absl::OkStatus();  // ignores the error
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(later_code, static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(CountAllRows(), 0);
}

TEST_F(PgIdentityStoreTest, DeadlockIsRetriedWithFnRunAgain) {
  // Two transactions without lock keys write the same two rows in opposite orders: PostgreSQL
  // aborts one (deadlock, after deadlock_timeout), which the store retries.
  auto other_pool = OtherReplicaPool();
  auto other = MakeStore(other_pool.get());
  std::atomic<int> first_writes{0};
  std::atomic<int> runs{0};
  auto writer = [&](PgIdentityStore* store, std::string first, std::string second) {
    bool first_attempt = true;
    return store->Transact(In(absl::Seconds(30)), {}, [&, first, second](IdentityTxn& t) {
      ++runs;
      if (auto s = t.PutIdempotent(first, {"", "x"}); !s.ok()) return s;
      if (auto s = t.GetIdempotent(first).status(); !s.ok()) return s;  // sends the write
      if (first_attempt) {
        first_attempt = false;
        ++first_writes;
        while (first_writes.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return t.PutIdempotent(second, {"", "y"});
    });
  };
  auto one = std::async(std::launch::async, [&] { return writer(store_.get(), "a", "b"); });
  auto two = std::async(std::launch::async, [&] { return writer(other.get(), "b", "a"); });
  absl::Status s1 = one.get(), s2 = two.get();
  EXPECT_TRUE(s1.ok()) << s1;
  EXPECT_TRUE(s2.ok()) << s2;
  // At least one retry; an immediate retry can collide with the survivor again (a second
  // deadlock), which is retried too.
  EXPECT_GE(runs.load(), 3) << "one of the two must have been retried";
  EXPECT_EQ(CountRows("idempotency"), 2);
}

TEST_F(PgIdentityStoreTest, LockKeyInsideTheTransactionSerialisesAndIsReentrant) {
  auto other_pool = OtherReplicaPool();
  auto other = MakeStore(other_pool.get());
  std::promise<void> first_wrote;
  auto first = std::async(std::launch::async, [&] {
    bool signalled = false;
    return store_->Transact(In(absl::Seconds(20)), {"person:P1"}, [&](IdentityTxn& t) {
      // Re-entrant: the key is already held through lock_keys, and is taken twice more.
      if (auto s = t.LockKey("person:P1"); !s.ok()) return s;
      if (auto s = t.LockKey("person:P1"); !s.ok()) return s;
      absl::Status put = t.PutIdempotent("value", {"", "written-by-first"});
      if (absl::Status read = t.LastEventSequence().status(); !read.ok()) return read;
      if (!signalled) {
        signalled = true;
        first_wrote.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      }
      return put;
    });
  });
  first_wrote.get_future().wait();
  std::optional<StoredIdempotentResult> before_lock, after_lock;
  absl::Status status4 =
      other->Transact(In(absl::Seconds(20)), {}, [&](IdentityTxn& t) -> absl::Status {
        auto got = t.GetIdempotent("value");
        if (!got.ok()) return got.status();
        before_lock = *got;
        if (auto s = t.LockKey("person:P1"); !s.ok()) return s;
        got = t.GetIdempotent("value");  // read again after taking the lock
        if (!got.ok()) return got.status();
        after_lock = *got;
        return absl::OkStatus();
      });
  ASSERT_TRUE(status4.ok()) << status4;
  EXPECT_FALSE(before_lock.has_value());
  ASSERT_TRUE(after_lock.has_value());
  EXPECT_EQ(after_lock->response, "written-by-first");
  EXPECT_TRUE(first.get().ok());
}

TEST_F(PgIdentityStoreTest, ConcurrentFirstVersionsWithoutLocksAcceptExactlyOne) {
  // Callers should lock the record's key; without it, the version rule still holds: the later
  // writer waits for the earlier one and is refused (not a unique-violation error).
  auto other_pool = OtherReplicaPool();
  auto other = MakeStore(other_pool.get());
  SourceId a = Id("clinic-a", "1");
  std::promise<void> first_wrote;
  auto first = std::async(std::launch::async, [&] {
    bool signalled = false;
    return store_->Transact(In(absl::Seconds(20)), {}, [&](IdentityTxn& t) {
      absl::Status put = t.PutRecordVersion(Record(a, 1, "First"), true).status();
      if (!signalled) {
        signalled = true;
        first_wrote.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
      return put;
    });
  });
  first_wrote.get_future().wait();
  absl::Status second = other->Transact(In(absl::Seconds(20)), {}, [&](IdentityTxn& t) {
    return t.PutRecordVersion(Record(a, 1, "Second"), true).status();
  });
  EXPECT_TRUE(first.get().ok());
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  absl::Status status5 = store_->Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
    auto r = t.GetRecord(a);
    EXPECT_EQ((*r)->demographics().name().family(), "First");
    EXPECT_EQ(t.RecordVersions(a)->size(), 1u);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status5.ok()) << status5;
}

TEST_F(PgIdentityStoreTest, AbortedReturnedByFnIsNotRetried) {
  int runs = 0;
  absl::Status s = store_->Transact(In(absl::Seconds(10)), {"k"}, [&](IdentityTxn& t) {
    ++runs;
    EXPECT_TRUE(t.PutPerson(Person("P1")).ok());
    return absl::AbortedError("stale etag");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(CountRows("persons"), 0);
}

TEST_F(PgIdentityStoreTest, ScanActiveRecordsReadsThousandsInBatches) {
  auto store = MakeStore(pool_.get(), {.scan_batch_size = 256});
  constexpr int kRecords = 3000, kPerTxn = 500;
  for (int start = 0; start < kRecords; start += kPerTxn) {
    absl::Status status6 =
        store->Transact(In(absl::Seconds(60)), {}, [&](IdentityTxn& t) -> absl::Status {
          for (int i = start; i < start + kPerTxn; ++i) {
            SourceId id = Id(absl::StrCat("org-", i % 7), absl::StrCat("MRN", i));
            std::string person = absl::StrCat("P", i / 3);
            if (i % 3 == 0) {
              if (auto s = t.PutPerson(Person(person)); !s.ok()) return s;
            }
            if (auto s = t.PutRecordVersion(Record(id, 1, "v1"), true); !s.ok()) {
              return s.status();
            }
            if (i % 5 == 0) {  // a second, current version
              if (auto s = t.PutRecordVersion(Record(id, 2, "v2"), true); !s.ok()) {
                return s.status();
              }
            }
            if (auto s = t.PutLink(Link(id, person)); !s.ok()) return s;
            if (i % 10 == 1) {
              auto s = t.SetRecordState(id, v1::RECORD_STATE_INACTIVE, SourceId());
              if (!s.ok()) return s;
            }
          }
          return absl::OkStatus();
        });
    ASSERT_TRUE(status6.ok()) << status6;
  }
  std::set<std::string> seen;
  int wrong = 0;
  absl::Status scan =
      store->ScanActiveRecords(In(absl::Seconds(60)), [&](const v1::SourceRecord& r) {
        int i = std::stoi(r.source_id().local_id().substr(3));
        bool ok = r.state() == v1::RECORD_STATE_ACTIVE && i % 10 != 1 &&
                  r.person_id() == absl::StrCat("P", i / 3) &&
                  r.version() == (i % 5 == 0 ? 2 : 1) &&
                  r.demographics().name().family() == (i % 5 == 0 ? "v2" : "v1");
        if (!ok) ++wrong;
        seen.insert(RecordKey(r.source_id()));
      });
  ASSERT_TRUE(scan.ok()) << scan;
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords - kRecords / 10));
}

// The outside review: one stored record that did not parse (Latin-1 bytes in a protobuf string,
// stored before text was checked) made every Resolve of its person fail and stopped the service
// at start. A row that cannot be read is now reported and left out; the rest is served.
TEST_F(PgIdentityStoreTest, AStoredRecordThatCannotBeReadIsSkippedNotFatal) {
  auto store = MakeStore(pool_.get(), {.scan_batch_size = 2});
  ASSERT_TRUE(store
                  ->Transact(In(absl::Seconds(10)), {},
                             [&](IdentityTxn& t) -> absl::Status {
                               if (auto s = t.PutPerson(Person("P1")); !s.ok()) return s;
                               for (const char* mrn : {"A", "B", "MRN9876", "D", "E"}) {
                                 auto v = t.PutRecordVersion(Record(Id("org", mrn), 1, mrn), true);
                                 if (!v.ok()) return v.status();
                                 if (auto s = t.PutLink(Link(Id("org", mrn), "P1")); !s.ok()) {
                                   return s;
                                 }
                               }
                               return absl::OkStatus();
                             })
                  .ok());
  {  // what an undecoded Latin-1 feed stored: a SourceRecord whose string is not UTF-8
    pqxx::connection conn(db_->dsn());
    pqxx::work tx(conn);
    // field 1 (source_id) holding field 1 (org) = the single byte 0xFC
    tx.exec(
        "UPDATE identity.record_versions SET record = '\\x0a030a01fc'::bytea"
        " WHERE local_id = 'MRN9876'");
    tx.commit();
  }
  const int64_t corrupt_before = PgIdentityStore::CorruptRowsSeen();
  std::vector<std::string> logged;
  SetLogSink([&](std::string_view line) { logged.emplace_back(line); });
  std::set<std::string> scanned;
  absl::Status scan = store->ScanActiveRecords(
      In(absl::Seconds(10)),
      [&](const v1::SourceRecord& r) { scanned.insert(r.source_id().local_id()); });
  ASSERT_TRUE(scan.ok()) << scan;
  EXPECT_EQ(scanned, (std::set<std::string>{"A", "B", "D", "E"}));
  EXPECT_EQ(PgIdentityStore::CorruptRowsSeen(), corrupt_before + 1);
  SetLogSink(nullptr);
  // Reported by org, person and version; never by the local id (an MRN).
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("\"event\":\"corrupt_record_skipped\""), std::string::npos) << logged[0];
  EXPECT_NE(logged[0].find("\"person_id\":\"P1\""), std::string::npos) << logged[0];
  EXPECT_EQ(logged[0].find("MRN9876"), std::string::npos) << logged[0];
  // Resolve of the person still answers, with the unreadable record's link.
  absl::Status read = store->Read(In(absl::Seconds(10)), [&](IdentityTxn& t) -> absl::Status {
    auto linked = t.LinkedRecordsWith(Id("org", "A"));
    if (!linked.ok()) return linked.status();
    EXPECT_EQ(linked->size(), 5u);
    auto one = t.GetRecord(Id("org", "MRN9876"));
    EXPECT_EQ(one.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(std::string(one.status().message()).find("\xfc"), std::string::npos);
    return absl::OkStatus();
  });
  EXPECT_TRUE(read.ok()) << read;
}

TEST_F(PgIdentityStoreTest, EveryTaskQueryVariantAgreesWithTheInMemoryStore) {
  // Each filter combination is its own SQL statement: compare them all with the reference.
  InMemoryIdentityStore reference;
  std::mt19937 random(7);
  const std::vector<std::string> orgs = {"clinic-a", "clinic-b", "clinic-c"};
  const std::vector<std::string> persons = {"P1", "P2", "P3", "P4"};
  const std::vector<v1::ReviewTaskState> states = {v1::REVIEW_TASK_STATE_OPEN,
                                                   v1::REVIEW_TASK_STATE_RESOLVED_SAME,
                                                   v1::REVIEW_TASK_STATE_OBSOLETE};
  std::vector<v1::ReviewTask> tasks;
  for (int i = 0; i < 60; ++i) {
    v1::ReviewTask task;
    task.set_task_id(absl::StrCat("T", 1000 + i));
    task.set_state(states[random() % states.size()]);
    *task.mutable_left()->mutable_source_id() = Id(orgs[random() % 3], absl::StrCat("L", i));
    *task.mutable_right()->mutable_source_id() = Id(orgs[random() % 3], absl::StrCat("R", i));
    task.set_left_person_id(persons[random() % 4]);
    task.set_right_person_id(persons[random() % 4]);
    task.mutable_explanation()->set_total_score(static_cast<double>(random() % 8));  // ties
    *task.mutable_create_time() =
        TimeUtil::NanosecondsToTimestamp(1'000'000'000LL * (random() % 10) + random() % 3);
    tasks.push_back(task);
  }
  auto put_all = [&](IdentityTxn& t) -> absl::Status {
    for (const auto& task : tasks) {
      if (auto s = t.PutTask(task); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  absl::Status put_pg = store_->Transact(In(absl::Seconds(10)), {}, put_all);
  ASSERT_TRUE(put_pg.ok()) << put_pg;
  ASSERT_TRUE(reference.Transact(In(absl::Seconds(10)), {}, put_all).ok());

  auto ids = [](const std::vector<v1::ReviewTask>& list) {
    std::vector<std::string> out;
    for (const auto& task : list) out.push_back(task.task_id());
    return out;
  };
  auto query = [&](IdentityStore& store, const TaskFilter& filter) {
    std::pair<std::vector<std::string>, int64_t> result;
    absl::Status s = store.Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
      auto list = t.ListTasks(filter);
      if (!list.ok()) return list.status();
      auto count = t.CountTasks(filter);
      if (!count.ok()) return count.status();
      result = {ids(*list), *count};
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return result;
  };
  int compared = 0, non_empty = 0;
  for (v1::ReviewTaskState state : states) {
    for (const std::string& org : {std::string(), orgs[0], orgs[2]}) {
      for (const std::string& person : {std::string(), persons[1], persons[3]}) {
        for (bool by_score : {false, true}) {
          for (auto [limit, offset] : {std::pair{50, 0}, std::pair{3, 2}}) {
            TaskFilter filter{.state = state,
                              .org = org,
                              .person_id = person,
                              .order_by_score_desc = by_score,
                              .limit = limit,
                              .offset = offset};
            auto expected = query(reference, filter);
            EXPECT_EQ(query(*store_, filter), expected)
                << "state " << state << " org '" << org << "' person '" << person << "' by_score "
                << by_score << " limit " << limit << " offset " << offset;
            ++compared;
            non_empty += expected.first.empty() ? 0 : 1;
          }
        }
      }
    }
  }
  EXPECT_EQ(compared, 3 * 3 * 3 * 2 * 2);
  EXPECT_GT(non_empty, compared / 2) << "the data should make most queries non-trivial";

  for (const auto& task : tasks) {
    for (const SourceId& id : {task.left().source_id(), task.right().source_id()}) {
      std::vector<std::string> pg_open, reference_open;
      auto open = [&](IdentityStore& store, std::vector<std::string>* out) {
        return store.Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
          auto list = t.OpenTasksWith(id);
          if (!list.ok()) return list.status();
          *out = ids(*list);
          return absl::OkStatus();
        });
      };
      ASSERT_TRUE(open(*store_, &pg_open).ok());
      ASSERT_TRUE(open(reference, &reference_open).ok());
      EXPECT_EQ(pg_open, reference_open);
    }
  }
}

TEST_F(PgIdentityStoreTest, EventIdsAreOpaqueButParsedStrictly) {
  std::string id;
  absl::Status status7 = store_->Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
    v1::IdentityEvent e;
    e.set_type(v1::IDENTITY_EVENT_TYPE_PERSON_CREATED);
    e.set_to_person_id("P1");
    e.set_from_person_id("P1");  // named twice: found once
    e.add_affected_person_ids("P1");
    auto seq = t.AppendEvent(&e);
    if (!seq.ok()) return seq.status();
    id = e.event_id();
    return absl::OkStatus();
  });
  ASSERT_TRUE(status7.ok()) << status7;
  absl::Status status8 = store_->Transact(In(absl::Seconds(10)), {}, [&](IdentityTxn& t) {
    auto got = t.GetEvent(id);
    EXPECT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->event_id(), id);
    EXPECT_EQ((*got)->to_person_id(), "P1");
    for (std::string bad :
         {"E1", "E00000000001", "X0000000001", "E000000000a", "E-000000001", ""}) {
      auto none = t.GetEvent(bad);
      EXPECT_TRUE(none.ok() && !none->has_value()) << bad;
    }
    EXPECT_EQ(t.EventsAboutPerson("P1", absl::InfiniteFuture(), 0, 1000)->size(), 1u);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status8.ok()) << status8;
}

TEST_F(PgIdentityStoreTest, ReadRefusesWritesAndHonoursTheDeadline) {
  absl::Status write =
      store_->Read(In(absl::Seconds(10)), [](IdentityTxn& t) { return t.PutPerson(Person("P1")); });
  EXPECT_EQ(write.code(), absl::StatusCode::kFailedPrecondition) << write;
  EXPECT_EQ(CountRows("persons"), 0);
  // The deadline becomes the statement's timeout (a lock wait stands in for a slow query).
  pqxx::connection holder(db_->dsn());
  pqxx::work hold(holder);
  hold.exec("LOCK TABLE identity.idempotency IN ACCESS EXCLUSIVE MODE");
  absl::Time start = absl::Now();
  absl::Status slow = store_->Read(In(absl::Milliseconds(300)),
                                   [](IdentityTxn& t) { return t.GetIdempotent("k").status(); });
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(PgIdentityStoreTest, WorksWithPrepareStatementsAsOnConnect) {
  auto pool = pg::PgPool::Create(
      {.dsn = db_->dsn(), .size = 1, .on_connect = &PgIdentityStore::PrepareStatements});
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto store = MakeStore(pool->get());
  std::string person_id;
  absl::Status status9 = store->Transact(In(absl::Seconds(10)), {"k"}, [&](IdentityTxn& t) {
    auto id = t.NewPersonId();
    if (!id.ok()) return id.status();
    person_id = *id;
    return t.PutPerson(Person(*id));
  });
  ASSERT_TRUE(status9.ok()) << status9;
  EXPECT_EQ(person_id.size(), 9u);
  EXPECT_EQ(person_id[0], 'P');
  EXPECT_EQ(CountRows("persons"), 1);
}

}  // namespace
}  // namespace hie::identity
