// PgRegistryStore against a real PostgreSQL (HIE_TEST_PG_DSN): the store contract suite, then
// what only the PostgreSQL store has to show (row locks between transactions, the stamped
// change feed, unreadable rows skipped, and passed over by the feed).

#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/common/pg/migrations.h"
#include "services/common/status_macros.h"
#include "services/registry/core/test_entries.h"
#include "services/registry/store/pg_registry_store.h"
#include "services/registry/store/pg_test_store.h"
#include "services/registry/store/registry_store_contract.h"

namespace hie::registry {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Pg, RegistryStoreContractTest,
    ::testing::Values(RegistryStoreFactory([]() -> std::unique_ptr<RegistryStore> {
      return OwningPgRegistryStore::Make();
    })));

absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }

v1::DocumentEntry Entry(const std::string& name) {
  v1::DocumentEntry e = testing::ValidEntry("1.2." + name);
  e.set_entry_uuid("urn:uuid:" + name);
  e.set_logical_id(e.entry_uuid());
  e.set_version(1);
  e.set_status(v1::AVAILABILITY_STATUS_APPROVED);
  return e;
}

v1::SubmissionSet SetWithoutTime(const std::string& name) {
  v1::SubmissionSet s;
  s.set_id("urn:uuid:set-" + name);
  s.set_unique_id("9.9." + name);
  s.set_source_org("clinic-a");
  return s;
}

TEST(PgRegistryStoreTest, ASecondLockerWaitsAndReadsWhatTheFirstCommitted) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto store = OwningPgRegistryStore::Make();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [](RegistryTxn& txn) {
                               return txn.Insert(SetWithoutTime("s"), {Entry("a")}, {});
                             })
                  .ok());
  std::atomic<bool> first_locked = false;
  std::thread first([&] {
    EXPECT_TRUE(store
                    ->Transact(Deadline(),
                               [&](RegistryTxn& txn) -> absl::Status {
                                 HIE_ASSIGN_OR_RETURN(auto locked, txn.LockEntries({"urn:uuid:a"}));
                                 first_locked = true;
                                 absl::SleepFor(
                                     absl::Milliseconds(300));  // the second must wait here
                                 return txn.Deprecate("urn:uuid:a", absl::Now(), "urn:uuid:b");
                               })
                    .ok());
  });
  while (!first_locked) absl::SleepFor(absl::Milliseconds(5));
  v1::AvailabilityStatus seen = v1::AVAILABILITY_STATUS_UNSPECIFIED;
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [&](RegistryTxn& txn) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(auto locked, txn.LockEntries({"urn:uuid:a"}));
                               seen = locked.at("urn:uuid:a").status();
                               return absl::OkStatus();
                             })
                  .ok());
  first.join();
  EXPECT_EQ(seen, v1::AVAILABILITY_STATUS_DEPRECATED);
}

// A transaction that fails, by a statement's error or by its function's status, leaves
// nothing behind: neither rows nor a pooled connection stuck in an aborted transaction.
TEST(PgRegistryStoreTest, FailedTransactionsLeaveNothingAndTheConnectionsUsable) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto store = OwningPgRegistryStore::Make();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [](RegistryTxn& txn) {
                               return txn.Insert(SetWithoutTime("s"), {Entry("a")}, {});
                             })
                  .ok());
  for (int i = 0; i < 12; ++i) {  // more rounds than the pool has connections
    const std::string n = absl::StrCat("r", i);
    // A statement fails: an entry reusing a stored unique id, after the set was written.
    v1::DocumentEntry clash = Entry(n);
    clash.set_unique_id(Entry("a").unique_id());
    absl::Status failed = store->Transact(Deadline(), [&](RegistryTxn& txn) -> absl::Status {
      HIE_RETURN_IF_ERROR(txn.PutIdempotent("k" + n, {"f", "r"}));
      return txn.Insert(SetWithoutTime(n), {clash}, {});
    });
    EXPECT_TRUE(absl::IsAlreadyExists(failed)) << failed;
    // The function refuses after writing.
    absl::Status refused = store->Transact(Deadline(), [&](RegistryTxn& txn) -> absl::Status {
      HIE_ASSIGN_OR_RETURN(auto existing, txn.GetIdempotent("k" + n));
      EXPECT_FALSE(existing.has_value());
      HIE_RETURN_IF_ERROR(txn.Insert(SetWithoutTime(n + "x"), {Entry(n + "x")}, {}));
      HIE_RETURN_IF_ERROR(txn.PutIdempotent("k" + n, {"f", "r"}));
      // A read sends the writes kept so far (PgTxn holds them until then): they are in the
      // transaction, and the refusal below must undo them.
      HIE_ASSIGN_OR_RETURN(auto own, txn.EntriesByUniqueId({Entry(n + "x").unique_id()}));
      EXPECT_EQ(own.size(), 1u) << "a transaction reads its own writes";
      return absl::FailedPreconditionError("refused");
    });
    EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  }
  absl::StatusOr<std::map<std::string, v1::DocumentEntry>> found;
  std::optional<StoredResponse> key;
  ASSERT_TRUE(
      store
          ->Transact(
              Deadline(),
              [&](RegistryTxn& txn) -> absl::Status {
                found = txn.EntriesByUniqueId({Entry("r0").unique_id(), Entry("r0x").unique_id()});
                HIE_ASSIGN_OR_RETURN(key, txn.GetIdempotent("kr0"));
                return found.status();
              })
          .ok());
  EXPECT_TRUE(found->empty());
  EXPECT_FALSE(key.has_value());
  for (int i = 0; i < 8; ++i) {  // every connection still serves
    const std::string n = absl::StrCat("ok", i);
    EXPECT_TRUE(store
                    ->Transact(Deadline(),
                               [&](RegistryTxn& txn) -> absl::Status {
                                 HIE_ASSIGN_OR_RETURN(auto existing, txn.GetIdempotent("k" + n));
                                 HIE_RETURN_IF_ERROR(txn.Insert(SetWithoutTime(n), {Entry(n)}, {}));
                                 return txn.PutIdempotent("k" + n, {"f", "r"});
                               })
                    .ok());
  }
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [&](RegistryTxn& txn) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(key, txn.GetIdempotent("kok7"));
                               return absl::OkStatus();
                             })
                  .ok());
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->fingerprint, "f");
}

TEST(PgRegistryStoreTest, AChangeCommittedLaterComesAfterWhatWasRead) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto store = OwningPgRegistryStore::Make();
  ASSERT_NE(store, nullptr);
  // A publication held open while another commits and the feed is read.
  std::atomic<bool> inserted = false, release = false;
  std::thread slow([&] {
    EXPECT_TRUE(store
                    ->Transact(Deadline(),
                               [&](RegistryTxn& txn) -> absl::Status {
                                 HIE_RETURN_IF_ERROR(
                                     txn.Insert(SetWithoutTime("slow"), {Entry("slow")}, {}));
                                 // Sends the insert (kept until a read or the commit): the row
                                 // is written, uncommitted, while the other publication commits.
                                 HIE_RETURN_IF_ERROR(
                                     txn.EntriesByUniqueId({Entry("slow").unique_id()}).status());
                                 inserted = true;
                                 while (!release) absl::SleepFor(absl::Milliseconds(5));
                                 return absl::OkStatus();
                               })
                    .ok());
  });
  while (!inserted) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [](RegistryTxn& txn) {
                               return txn.Insert(SetWithoutTime("fast"), {Entry("fast")}, {});
                             })
                  .ok());
  auto first = store->ChangesSince(Deadline(), {}, 100);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->at(0).entry.entry_uuid(), "urn:uuid:fast");
  release = true;
  slow.join();
  auto next = store->ChangesSince(Deadline(), first->back().position, 100);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 1u) << "resuming from the last position misses nothing";
  EXPECT_EQ(next->at(0).entry.entry_uuid(), "urn:uuid:slow");
}

TEST(PgRegistryStoreTest, AnUnreadableRowIsSkipped) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto store = OwningPgRegistryStore::Make();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [](RegistryTxn& txn) {
                               return txn.Insert(SetWithoutTime("s"), {Entry("a"), Entry("b")}, {});
                             })
                  .ok());
  {
    pqxx::connection c(store->dsn());
    pqxx::nontransaction t(c);
    t.exec(
        "UPDATE registry.entries SET entry = '\\xffffffff'::bytea WHERE entry_uuid = "
        "'urn:uuid:a'");
  }
  DocumentFilter f;
  f.patients.push_back(Entry("a").patient());
  auto found = store->FindDocuments(Deadline(), f);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->at(0).entry_uuid(), "urn:uuid:b");
  auto got = store->GetDocuments(Deadline(), {.entry_uuids = {"urn:uuid:a", "urn:uuid:b"}});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
  // The feed, read one change at a time, moves past it.
  std::vector<std::string> readable, unreadable;
  FeedPosition at;
  for (int i = 0; i < 5; ++i) {
    auto feed = store->ChangesSince(Deadline(), at, 1);
    ASSERT_TRUE(feed.ok()) << feed.status();
    if (feed->empty()) break;
    at = feed->at(0).position;
    (feed->at(0).unreadable ? unreadable : readable).push_back(at.entry_uuid);
  }
  EXPECT_EQ(readable, std::vector<std::string>{"urn:uuid:b"});
  EXPECT_EQ(unreadable, std::vector<std::string>{"urn:uuid:a"});
}

// Version 2 fills the location columns of the rows version 1 stored, from their entries.
TEST(PgRegistryStoreTest, MigrationTwoFindsEntriesStoredBeforeIt) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto db = hie::testing::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 2});
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(pg::ApplyMigrations(**pool, kSchema, Migrations().first(1), Deadline()).ok());
  v1::DocumentEntry keyed = Entry("keyed");
  keyed.mutable_location()->set_retrieve_key("k\xc3\xa9y-1");  // UTF-8 text
  keyed.set_size_bytes(-1);                                // a ten-byte varint before the location
  const v1::DocumentEntry defaulted = Entry("defaulted");  // no retrieve key
  {
    pqxx::connection c((*db)->dsn());
    pqxx::work t(c);
    for (const auto& [e, bytes] : {std::pair{keyed, keyed.SerializeAsString()},
                                   std::pair{defaulted, defaulted.SerializeAsString()},
                                   std::pair{Entry("broken"), std::string("\xff\xff\xff\xff")}}) {
      t.exec(absl::StrCat(
          "INSERT INTO registry.entries (entry_uuid, unique_id, org, local_id, status, "
          "creation_ns, entry) VALUES (",
          t.quote(e.entry_uuid()), ", ", t.quote(e.unique_id()), ", 'clinic-a', 'MRN-1', 1, 0, ",
          t.quote_raw(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), ")"));
    }
    t.commit();
  }
  auto applied = pg::ApplyMigrations(**pool, kSchema, Migrations(), Deadline());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, static_cast<int>(Migrations().size()) - 1);
  PgRegistryStore store(pool->get());
  auto find = [&](const std::string& repository, const std::string& key) {
    v1::DocumentLocation l;
    l.set_member_org("clinic-a");
    l.set_repository_unique_id(repository);
    l.set_retrieve_key(key);
    std::vector<std::string> out;
    auto got = store.GetDocuments(Deadline(), {.locations = {l}});
    EXPECT_TRUE(got.ok()) << got.status();
    for (const auto& e : got.value_or(std::vector<v1::DocumentEntry>{})) {
      out.push_back(e.entry_uuid());
    }
    return out;
  };
  EXPECT_EQ(find("1.2.3.4", "k\xc3\xa9y-1"), std::vector<std::string>{"urn:uuid:keyed"});
  EXPECT_EQ(find("1.2.3.4", "1.2.defaulted"), std::vector<std::string>{"urn:uuid:defaulted"});
  EXPECT_TRUE(find("1.2.3.4", "1.2.keyed").empty()) << "a given key replaces the default";
  EXPECT_TRUE(find("1.2.3.4", "1.2.broken").empty()) << "an unreadable row is skipped";
  pqxx::connection c((*db)->dsn());
  pqxx::nontransaction t(c);
  EXPECT_EQ(
      t.exec1("SELECT member_org FROM registry.entries WHERE entry_uuid = 'urn:uuid:broken'")[0]
          .as<std::string>(),
      "")
      << "a row that does not parse gets no location";
  EXPECT_EQ(t.exec1("SELECT count(*) FROM pg_proc WHERE proname LIKE 'v2\\_%'")[0].as<int>(), 0)
      << "the migration's helper functions are gone";
}

// Version 3: new wide values compress with lz4 (Debian's PostgreSQL has it), and the values
// stored before it read back unchanged.
TEST(PgRegistryStoreTest, MigrationThreeCompressesWideValuesWithLz4) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto db = hie::testing::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 2});
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(pg::ApplyMigrations(**pool, kSchema, Migrations().first(2), Deadline()).ok());
  const std::string before(6000, 'b'), after(6000, 'a');  // compressible, past 2 KB
  auto put = [&](const std::string& key, const std::string& response) {
    pqxx::connection c((*db)->dsn());
    pqxx::work t(c);
    t.exec(absl::StrCat(
        "INSERT INTO registry.idempotency (key, fingerprint, response) VALUES (", t.quote(key),
        ", '\\x00', ",
        t.quote_raw(reinterpret_cast<const unsigned char*>(response.data()), response.size()),
        ")"));
    t.commit();
  };
  put("before", before);
  ASSERT_TRUE(pg::ApplyMigrations(**pool, kSchema, Migrations(), Deadline()).ok());
  put("after", after);
  pqxx::connection c((*db)->dsn());
  pqxx::nontransaction t(c);
  auto method = [&](const std::string& key) {
    return t
        .exec1(
            "SELECT coalesce(pg_column_compression(response), 'none') FROM "
            "registry.idempotency WHERE key = " +
            t.quote(key))[0]
        .as<std::string>();
  };
  EXPECT_EQ(method("before"), "pglz");
  EXPECT_EQ(method("after"), "lz4");
  for (const auto& [key, value] : {std::pair{"before", before}, std::pair{"after", after}}) {
    EXPECT_EQ(pqxx::binarystring(
                  t.exec1(absl::StrCat("SELECT response FROM registry.idempotency WHERE key = ",
                                       t.quote(key)))[0])
                  .str(),
              value)
        << key;
  }
}

// Version 4 drops entries_unstamped_idx: rows left unstamped before it are still stamped, in
// entry_uuid order, through entries_feed_idx.
TEST(PgRegistryStoreTest, MigrationFourStampsRowsLeftUnstampedBeforeIt) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto db = hie::testing::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 2});
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(pg::ApplyMigrations(**pool, kSchema, Migrations().first(3), Deadline()).ok());
  PgRegistryStore store(pool->get());
  for (const char* name : {"c", "a", "b"}) {
    ASSERT_TRUE(store
                    .Transact(Deadline(),
                              [&](RegistryTxn& txn) {
                                return txn.Insert(SetWithoutTime(name), {Entry(name)}, {});
                              })
                    .ok());
  }
  ASSERT_TRUE(pg::ApplyMigrations(**pool, kSchema, Migrations(), Deadline()).ok());
  pqxx::connection c((*db)->dsn());
  EXPECT_EQ(
      pqxx::nontransaction(c)
          .exec1("SELECT count(*) FROM pg_indexes WHERE indexname = 'entries_unstamped_idx'")[0]
          .as<int>(),
      0);
  ASSERT_TRUE(store
                  .Transact(Deadline(),
                            [&](RegistryTxn& txn) {
                              return txn.Insert(SetWithoutTime("d"), {Entry("d")}, {});
                            })
                  .ok());
  auto changes = store.ChangesSince(Deadline(), {}, 100);
  ASSERT_TRUE(changes.ok()) << changes.status();
  std::vector<std::string> order;
  for (const EntryChange& change : *changes) order.push_back(change.entry.entry_uuid());
  EXPECT_EQ(order,
            (std::vector<std::string>{"urn:uuid:a", "urn:uuid:b", "urn:uuid:c", "urn:uuid:d"}));
}

// A connection that lost its prepared statements (DEALLOCATE ALL behind the store's back): the
// transaction is prepared again and run again, and writes once.
TEST(PgRegistryStoreTest, AConnectionWithoutItsStatementsIsPreparedAgain) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto db = hie::testing::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(pg::ApplyMigrations(**pool, kSchema, Migrations(), Deadline()).ok());
  PgRegistryStore store(pool->get());
  auto insert = [&](const std::string& name) {
    return store.Transact(Deadline(), [&](RegistryTxn& txn) -> absl::Status {
      HIE_RETURN_IF_ERROR(txn.EntriesByUniqueId({Entry(name).unique_id()}).status());
      return txn.Insert(SetWithoutTime(name), {Entry(name)}, {});
    });
  };
  ASSERT_TRUE(insert("first").ok());
  ASSERT_TRUE((*pool)
                  ->Run(Deadline(),
                        [](pqxx::connection& c) {
                          pqxx::nontransaction(c).exec("DEALLOCATE ALL; RESET enable_seqscan");
                          return absl::OkStatus();
                        })
                  .ok());
  ASSERT_TRUE(insert("second").ok());
  pqxx::connection c((*db)->dsn());
  EXPECT_EQ(
      pqxx::nontransaction(c)
          .exec1("SELECT count(*) FROM registry.entries WHERE entry_uuid = 'urn:uuid:second'")[0]
          .as<int>(),
      1);
  EXPECT_EQ(
      (*pool)
          ->Run(
              Deadline(),
              [](pqxx::connection& c) {
                return pqxx::nontransaction(c).exec1("SHOW enable_seqscan")[0].as<std::string>() ==
                               "off"
                           ? absl::OkStatus()
                           : absl::FailedPreconditionError("enable_seqscan is on");
              })
          .ToString(),
      "OK")
      << "the session settings come back with the statements";
}

}  // namespace
}  // namespace hie::registry
