#include "services/locator/store/locator_store_contract.h"

#include <set>
#include <string>
#include <vector>

#include "services/common/status_macros.h"

namespace hie::locator {
namespace {

// A listed holding of (org, local) last active at `activity` seconds.
Holding Make(const std::string& org, const std::string& local, int64_t activity) {
  Holding h;
  h.location.mutable_source_id()->set_org(org);
  h.location.mutable_source_id()->set_local_id(local);
  h.location.mutable_last_activity_time()->set_seconds(activity);
  h.location.mutable_first_seen_time()->set_seconds(activity);
  h.location.set_identity_record(true);
  h.registry_documents = 2;
  h.reported_documents = 1;
  h.listed = true;
  return h;
}

std::vector<std::string> Locals(const std::vector<Holding>& hs) {
  std::vector<std::string> out;
  for (const Holding& h : hs) out.push_back(h.location.source_id().local_id());
  return out;
}

TEST_P(LocatorStoreContractTest, HoldingsRoundTripWhole) {
  Holding h = Make("clinic-a", "MRN-1", 1'700'000'000);
  h.admin_asserted = true;
  h.location.mutable_removal()->set_reason_code(v1::REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS);
  h.removed_at_identity = 42;
  h.removed_at_registry = {7, "urn:uuid:e 1"};
  auto* c = h.location.add_data_categories();
  c->set_system("urn:hie:data-category");
  c->set_code("lab-results");
  ASSERT_TRUE(Txn([&](LocatorTxn& t) { return t.PutHoldings({h}); }).ok());
  auto got = store_->Get(Deadline(), {{"clinic-a", "MRN-1"}, {"clinic-a", "unknown"}});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].location.SerializeAsString(), h.location.SerializeAsString());
  EXPECT_EQ((*got)[0].registry_documents, 2);
  EXPECT_EQ((*got)[0].reported_documents, 1);
  EXPECT_TRUE((*got)[0].admin_asserted);
  EXPECT_TRUE((*got)[0].listed);
  EXPECT_EQ((*got)[0].removed_at_identity, 42);
  EXPECT_EQ((*got)[0].removed_at_registry, std::make_pair(int64_t{7}, std::string("urn:uuid:e 1")));
}

TEST_P(LocatorStoreContractTest, GetFindsIdsWithQuotesBackslashesAndBracesOnceEach) {
  const std::string nasty = R"(q"\{a,b}'NULL)";
  ASSERT_TRUE(Txn([&](LocatorTxn& t) {
                return t.PutHoldings({Make("o,{x}", nasty, 1), Make("o", "NULL", 2)});
              }).ok());
  auto got = store_->Get(Deadline(), {{"o,{x}", nasty}, {"o,{x}", nasty}, {"o", "NULL"}});
  ASSERT_TRUE(got.ok()) << got.status();
  std::multiset<std::string> locals;
  for (const Holding& h : *got) locals.insert(h.location.source_id().local_id());
  EXPECT_EQ(locals, (std::multiset<std::string>{nasty, "NULL"}));
}

TEST_P(LocatorStoreContractTest, ATransactionSeesItsWritesAndAFailedOneLeavesNothing) {
  ASSERT_TRUE(Txn([&](LocatorTxn& t) { return t.PutHoldings({Make("o", "1", 10)}); }).ok());
  absl::Status failed = Txn([&](LocatorTxn& t) -> absl::Status {
    Holding changed = Make("o", "1", 99);
    HIE_RETURN_IF_ERROR(t.PutHoldings({changed, Make("o", "2", 20)}));
    HIE_RETURN_IF_ERROR(t.PutDocumentMarks({{"urn:uuid:e1", true}}));
    HIE_RETURN_IF_ERROR(t.PutFeedPosition("registry", "5"));
    HIE_ASSIGN_OR_RETURN(LockedHoldings locked, t.LockHoldings({{"o", "1"}, {"o", "2"}}));
    EXPECT_EQ(locked.holdings.size(), 2u);
    EXPECT_TRUE(locked.unreadable.empty());
    EXPECT_EQ(locked.holdings[HoldingKey("o", "1")].location.last_activity_time().seconds(), 99);
    HIE_ASSIGN_OR_RETURN(auto marks, t.DocumentMarks({"urn:uuid:e1"}));
    EXPECT_TRUE(marks["urn:uuid:e1"]);
    HIE_ASSIGN_OR_RETURN(std::string position, t.LockFeedPosition("registry"));
    EXPECT_EQ(position, "5");
    return absl::AbortedError("rolled back");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  auto got = store_->Get(Deadline(), {{"o", "1"}, {"o", "2"}});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].location.last_activity_time().seconds(), 10);
  EXPECT_EQ(*store_->FeedPosition(Deadline(), "registry"), "");
  ASSERT_TRUE(Txn([&](LocatorTxn& t) -> absl::Status {
                HIE_ASSIGN_OR_RETURN(auto marks, t.DocumentMarks({"urn:uuid:e1"}));
                EXPECT_TRUE(marks.empty());
                return absl::OkStatus();
              }).ok());
}

TEST_P(LocatorStoreContractTest, DocumentMarksAndFeedPositionsAreReplaced) {
  ASSERT_TRUE(
      Txn([&](LocatorTxn& t) -> absl::Status {
        HIE_RETURN_IF_ERROR(t.PutDocumentMarks({{"urn:uuid:a", true}, {"urn:uuid:b", true}}));
        return t.PutFeedPosition("identity", "7");
      }).ok());
  ASSERT_TRUE(Txn([&](LocatorTxn& t) -> absl::Status {
                HIE_RETURN_IF_ERROR(t.PutDocumentMarks({{"urn:uuid:a", false}}));
                return t.PutFeedPosition("identity", "9");
              }).ok());
  EXPECT_EQ(*store_->FeedPosition(Deadline(), "identity"), "9");
  EXPECT_EQ(*store_->FeedPosition(Deadline(), "registry"), "");
  ASSERT_TRUE(
      Txn([&](LocatorTxn& t) -> absl::Status {
        HIE_ASSIGN_OR_RETURN(auto m, t.DocumentMarks({"urn:uuid:a", "urn:uuid:b", "x"}));
        EXPECT_EQ(m, (std::map<std::string, bool>{{"urn:uuid:a", false}, {"urn:uuid:b", true}}));
        return absl::OkStatus();
      }).ok());
}

TEST_P(LocatorStoreContractTest, IdempotencyRecordsAreKeptOnce) {
  ASSERT_TRUE(Txn([&](LocatorTxn& t) { return t.PutIdempotent("k", {"f", "r"}); }).ok());
  ASSERT_TRUE(Txn([&](LocatorTxn& t) -> absl::Status {
                HIE_ASSIGN_OR_RETURN(auto got, t.GetIdempotent("k"));
                EXPECT_TRUE(got.has_value());
                if (got) {
                  EXPECT_EQ(got->response, "r");
                }
                HIE_ASSIGN_OR_RETURN(auto none, t.GetIdempotent("other"));
                EXPECT_FALSE(none.has_value());
                return absl::OkStatus();
              }).ok());
  EXPECT_FALSE(Txn([&](LocatorTxn& t) { return t.PutIdempotent("k", {"g", "s"}); }).ok());
}

TEST_P(LocatorStoreContractTest, ListOrdersByActivityFiltersAndPages) {
  Holding removed = Make("o", "gone", 50);
  removed.listed = false;
  removed.location.mutable_removal()->set_reason_code(v1::REMOVAL_REASON_PATIENT_REQUEST);
  Holding unlisted = Make("o", "quiet", 60);
  unlisted.listed = false;
  ASSERT_TRUE(Txn([&](LocatorTxn& t) {
                return t.PutHoldings({Make("o", "a", 10), Make("o", "b", 30), Make("o", "c", 30),
                                      Make("o", "d", 20), Make("other", "x", 40), removed,
                                      unlisted});
              }).ok());
  auto all = store_->List(Deadline(), {.org = "o"});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Locals(*all), (std::vector<std::string>{"c", "b", "d", "a"}));
  auto with_removed = store_->List(Deadline(), {.org = "o", .include_removed = true});
  EXPECT_EQ(Locals(*with_removed), (std::vector<std::string>{"gone", "c", "b", "d", "a"}));
  auto ranged = store_->List(Deadline(), {.org = "o",
                                          .active_from = absl::FromUnixSeconds(20),
                                          .active_before = absl::FromUnixSeconds(30)});
  EXPECT_EQ(Locals(*ranged), (std::vector<std::string>{"d"}));
  auto page = store_->List(
      Deadline(), {.org = "o", .after = std::make_pair(int64_t{30'000'000'000}, "c"), .limit = 2});
  EXPECT_EQ(Locals(*page), (std::vector<std::string>{"b", "d"}));
}

}  // namespace
}  // namespace hie::locator
