// PgConsentStore against a real PostgreSQL (HIE_TEST_PG_DSN): the store contract suite, then
// what only the PostgreSQL store has (migrations, NOTIFY on commit, unreadable rows skipped).

#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/nontransaction>

#include "services/common/pg/migrations.h"
#include "services/common/status_macros.h"
#include "services/consent/core/time_proto.h"
#include "services/consent/store/consent_store_contract.h"
#include "services/consent/store/migrations.h"
#include "services/consent/store/pg_change_listener.h"
#include "services/consent/store/pg_consent_store.h"
#include "tests/support/test_env.h"

namespace hie::consent {
namespace {

using hie::testing::TestDatabase;

// Owns a fresh database, a pool and the store, for as long as the contract test uses it.
class OwningPgConsentStore : public PgConsentStore {
 public:
  static std::unique_ptr<OwningPgConsentStore> Make() {
    if (hie::testing::EnvOrEmpty("HIE_TEST_PG_DSN").empty()) return nullptr;
    auto db = TestDatabase::Create();
    if (!db.ok()) {
      ADD_FAILURE() << db.status();
      return nullptr;
    }
    auto pool = pg::PgPool::Create({.dsn = (*db)->dsn(), .size = 4});
    if (!pool.ok()) {
      ADD_FAILURE() << pool.status();
      return nullptr;
    }
    auto applied =
        pg::ApplyMigrations(**pool, kSchema, Migrations(), absl::Now() + absl::Seconds(30));
    if (!applied.ok()) {
      ADD_FAILURE() << applied.status();
      return nullptr;
    }
    return std::unique_ptr<OwningPgConsentStore>(
        new OwningPgConsentStore(*std::move(db), *std::move(pool)));
  }
  const std::string& dsn() const { return db_->dsn(); }

 private:
  OwningPgConsentStore(std::unique_ptr<TestDatabase> db, std::unique_ptr<pg::PgPool> pool)
      : PgConsentStore(pool.get()), db_(std::move(db)), pool_(std::move(pool)) {}
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<pg::PgPool> pool_;
};

std::unique_ptr<ConsentStore> MakeStore() {
  if (hie::testing::EnvOrEmpty("HIE_TEST_PG_DSN").empty()) {
    if (hie::testing::ServersRequired()) ADD_FAILURE() << "HIE_TEST_PG_DSN is not set";
    return nullptr;
  }
  return OwningPgConsentStore::Make();
}

INSTANTIATE_TEST_SUITE_P(Pg, ConsentStoreContractTest,
                         ::testing::Values(ConsentStoreFactory(MakeStore)));

TEST(PgConsentStoreTest, ACommitNotifiesListenersWithItsVersion) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto store = OwningPgConsentStore::Make();
  ASSERT_NE(store, nullptr);
  std::atomic<int64_t> last{-1};
  PgChangeListener listener(store->dsn(), [&](int64_t v) { last = v; });
  listener.Start();
  for (int i = 0; i < 100 && !listener.connected(); ++i) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(listener.connected());
  int64_t version = 0;
  ASSERT_TRUE(store
                  ->Transact(absl::Now() + absl::Seconds(5),
                             [&](ConsentTxn& txn) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(version, txn.Version());
                               return absl::OkStatus();
                             })
                  .ok());
  for (int i = 0; i < 100 && last.load() != version; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(last.load(), version);
  listener.Stop();
}

TEST(PgConsentStoreTest, AnUnreadableRowIsReportedByIdAndSkipped) {
  HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
  auto store = OwningPgConsentStore::Make();
  ASSERT_NE(store, nullptr);
  {
    pqxx::connection c(store->dsn());
    pqxx::nontransaction t(c);
    t.exec("UPDATE consent.state SET version = 1");
    t.exec(
        "INSERT INTO consent.directives VALUES ('cd-bad', 'clinic-a', 'MRN1', 1, 0, 1, 'e', "
        "'\\xffffffff'::bytea)");
  }
  auto load = store->ChangesSince(absl::Now() + absl::Seconds(5), 0, true, absl::Now());
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_TRUE(load->directives.empty());
  EXPECT_EQ(load->unreadable_ids, std::vector<std::string>{"cd-bad"});
}

}  // namespace
}  // namespace hie::consent
