// PgLocatorStore against a real PostgreSQL (HIE_TEST_PG_DSN): the store contract suite, then
// what only the PostgreSQL store has to show (holding locks between transactions, including on
// holdings being created; unreadable rows skipped).

#include <gtest/gtest.h>

#include <pqxx/nontransaction>
#include <set>
#include <thread>

#include "services/common/status_macros.h"
#include "services/locator/store/locator_store_contract.h"
#include "services/locator/store/pg_test_store.h"

namespace hie::locator {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Pg, LocatorStoreContractTest,
    ::testing::Values(LocatorStoreFactory([]() -> std::unique_ptr<LocatorStore> {
      return OwningPgLocatorStore::Make();
    })));

absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }

// Adds one reported document to (o, new), creating it when absent.
absl::Status AddOne(LocatorStore& store) {
  for (int attempt = 0;; ++attempt) {
    absl::Status s = store.Transact(Deadline(), [](LocatorTxn& t) -> absl::Status {
      HIE_ASSIGN_OR_RETURN(LockedHoldings locked, t.LockHoldings({{"o", "new"}}));
      Holding h;
      if (auto it = locked.holdings.find({"o", "new"}); it != locked.holdings.end()) {
        h = it->second;
      }
      h.location.mutable_source_id()->set_org("o");
      h.location.mutable_source_id()->set_local_id("new");
      h.reported_documents += 1;
      h.listed = true;
      return t.PutHoldings({h});
    });
    if (s.code() != absl::StatusCode::kAborted || attempt == 5) return s;
  }
}

TEST(PgLocatorStore, ConcurrentWritersOfANewHoldingLoseNoUpdate) {
  auto store = OwningPgLocatorStore::Make();
  if (store == nullptr) GTEST_SKIP() << "HIE_TEST_PG_DSN unset";
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < kPerThread; ++n) {
        if (!AddOne(*store).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto got = store->Get(Deadline(), {{"o", "new"}});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].reported_documents, 3 * kPerThread);
}

TEST(PgLocatorStore, AnUnreadableHoldingIsSkippedNotFatal) {
  auto store = OwningPgLocatorStore::Make();
  if (store == nullptr) GTEST_SKIP() << "HIE_TEST_PG_DSN unset";
  Holding h;
  h.location.mutable_source_id()->set_org("o");
  h.location.mutable_source_id()->set_local_id("good");
  h.listed = true;
  ASSERT_TRUE(store->Transact(Deadline(), [&](LocatorTxn& t) { return t.PutHoldings({h}); }).ok());
  {
    pqxx::connection c(store->dsn());
    pqxx::nontransaction t(c);
    t.exec(
        "INSERT INTO locator.holdings (org, local_id, activity_ns, listed, removed, "
        "admin_asserted, registry_documents, reported_documents, removed_at, location) VALUES "
        "('o', 'bad', 0, true, false, false, 0, 0, '', '\\xffffffff'::bytea)");
  }
  auto got = store->Get(Deadline(), {{"o", "good"}, {"o", "bad"}});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].location.source_id().local_id(), "good");
  auto listed = store->List(Deadline(), {.org = "o"});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  // A transaction sees it as unreadable (never to be overwritten), not as absent.
  ASSERT_TRUE(store
                  ->Transact(Deadline(),
                             [&](LocatorTxn& t) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(LockedHoldings locked,
                                                    t.LockHoldings({{"o", "good"}, {"o", "bad"}}));
                               EXPECT_EQ(locked.holdings.size(), 1u);
                               EXPECT_EQ(locked.unreadable, (std::set<HoldingKey>{{"o", "bad"}}));
                               return absl::OkStatus();
                             })
                  .ok());
}

}  // namespace
}  // namespace hie::locator
