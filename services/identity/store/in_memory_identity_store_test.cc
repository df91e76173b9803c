// The store contract suite on the in-memory implementation, bare and wrapped in the decorators
// the identity rules put around a transaction (write_behind_txn.h, observing_txn.h): a decorator
// that broke the contract would fail here.

#include "services/identity/store/in_memory_identity_store.h"

#include "services/common/status_macros.h"
#include "services/identity/store/identity_store_contract.h"
#include "services/identity/store/observing_txn.h"
#include "services/identity/store/write_behind_txn.h"

namespace hie::identity {
namespace {

// Every transaction observed (ObservingTxn): IdentityManager::Write runs every write so, and a
// registration puts its WriteBehindTxn over that (the WriteBehind(Observed) instance below).
class ObservedStore : public IdentityStore {
 public:
  explicit ObservedStore(std::unique_ptr<IdentityStore> inner) : inner_(std::move(inner)) {}
  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& lock_keys,
                        const TxnFn& fn) override {
    return inner_->Transact(deadline, lock_keys, [&](IdentityTxn& txn) {
      ChangeSet changes;
      ObservingTxn observed(txn, &changes);
      return fn(observed);
    });
  }
  absl::Status Read(absl::Time deadline, const TxnFn& fn) override {
    return inner_->Read(deadline, fn);
  }
  absl::Status ScanActiveRecords(absl::Time deadline,
                                 const std::function<void(const v1::SourceRecord&)>& fn) override {
    return inner_->ScanActiveRecords(deadline, fn);
  }

 private:
  std::unique_ptr<IdentityStore> inner_;
};

INSTANTIATE_TEST_SUITE_P(InMemory, IdentityStoreContractTest,
                         ::testing::Values(IdentityStoreFactory([] {
                           return std::make_unique<InMemoryIdentityStore>();
                         })));

INSTANTIATE_TEST_SUITE_P(WriteBehind, IdentityStoreContractTest,
                         ::testing::Values(IdentityStoreFactory([] {
                           return std::make_unique<WriteBehindStore>(
                               std::make_unique<InMemoryIdentityStore>());
                         })));

INSTANTIATE_TEST_SUITE_P(WriteBehindOverObserved, IdentityStoreContractTest,
                         ::testing::Values(IdentityStoreFactory([] {
                           return std::make_unique<WriteBehindStore>(
                               std::make_unique<ObservedStore>(
                                   std::make_unique<InMemoryIdentityStore>()));
                         })));

// The mode registration uses (kHeld, after Prefetch): the writes stay in the layer until Flush,
// reads are answered from what it holds, and a link that named a held event gets the event's
// real id when both are written.
TEST(WriteBehindTxnTest, HeldWritesReachTheStoreAtFlushWithRealEventIds) {
  InMemoryIdentityStore store;
  SourceId id;
  id.set_org("clinic-a");
  id.set_local_id("1");
  absl::Status status = store.Transact(absl::InfiniteFuture(), {}, [&](IdentityTxn& txn) {
    WriteBehindTxn held(txn, WriteBehindTxn::EventWrites::kHeld);
    HIE_RETURN_IF_ERROR(held.Prefetch({id}, {"register:k1"}));
    v1::SourceRecord record;
    *record.mutable_source_id() = id;
    record.mutable_demographics()->mutable_name()->set_family("Okafor");
    EXPECT_EQ(*held.PutRecordVersion(record, true), 1);
    v1::IdentityEvent event;
    event.set_type(v1::IDENTITY_EVENT_TYPE_RECORD_LINKED);
    *event.add_source_ids() = id;
    event.set_to_person_id("P1");
    EXPECT_EQ(*held.AppendEvent(&event), 0) << "held: no sequence yet";
    v1::Person person;
    person.set_person_id("P1");
    person.set_state(v1::PERSON_STATE_ACTIVE);
    HIE_RETURN_IF_ERROR(held.PutPerson(person));
    v1::Link link;
    *link.mutable_source_id() = id;
    link.set_person_id("P1");
    link.set_event_id(event.event_id());  // provisional
    HIE_RETURN_IF_ERROR(held.PutLink(link));
    HIE_RETURN_IF_ERROR(held.PutIdempotent("register:k1", {"f", "r"}));

    EXPECT_FALSE(txn.GetRecord(id)->has_value()) << "nothing written before Flush";
    EXPECT_FALSE(txn.GetIdempotent("register:k1")->has_value());
    EXPECT_EQ((*held.GetRecord(id, 0))->person_id(), "P1") << "answered from what is held";
    EXPECT_EQ((*held.GetLink(id))->person_id(), "P1");

    HIE_RETURN_IF_ERROR(held.Flush());
    auto events = txn.EventsSince(0, 10, {});
    EXPECT_EQ(events->size(), 1u);
    EXPECT_GT((*events)[0].sequence(), 0);
    EXPECT_EQ((*txn.GetLink(id))->event_id(), (*events)[0].event_id());
    EXPECT_EQ((*txn.GetRecord(id))->version(), 1);
    EXPECT_EQ((*txn.GetPerson("P1"))->state(), v1::PERSON_STATE_ACTIVE);
    EXPECT_TRUE(txn.GetIdempotent("register:k1")->has_value());
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
}

// A person's links are answered from the store and what is held, without writing what is held
// (a registration's person check reads them between the batch's registrations).
TEST(WriteBehindTxnTest, LinksOfOverlaysHeldLinksWithoutWriting) {
  InMemoryIdentityStore store;
  auto source = [](const std::string& local_id) {
    SourceId id;
    id.set_org("clinic-a");
    id.set_local_id(local_id);
    return id;
  };
  auto link_of = [](const SourceId& id, const std::string& person_id) {
    v1::Link link;
    *link.mutable_source_id() = id;
    link.set_person_id(person_id);
    return link;
  };
  // Stored: records 2 and 3 of P1.
  ASSERT_TRUE(store
                  .Transact(absl::InfiniteFuture(), {},
                            [&](IdentityTxn& txn) {
                              HIE_RETURN_IF_ERROR(txn.PutLink(link_of(source("2"), "P1")));
                              return txn.PutLink(link_of(source("3"), "P1"));
                            })
                  .ok());
  absl::Status status = store.Transact(absl::InfiniteFuture(), {}, [&](IdentityTxn& txn) {
    WriteBehindTxn held(txn, WriteBehindTxn::EventWrites::kHeld);
    HIE_RETURN_IF_ERROR(held.PutLink(link_of(source("1"), "P1")));  // joins P1
    HIE_RETURN_IF_ERROR(held.PutLink(link_of(source("3"), "P2")));  // leaves P1 for P2
    auto ids = [](const absl::StatusOr<std::vector<v1::Link>>& links) {
      std::vector<std::string> out;
      for (const v1::Link& l : *links) out.push_back(l.source_id().local_id());
      return out;
    };
    EXPECT_EQ(ids(held.LinksOf("P1")), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(ids(held.LinksOf("P2")), (std::vector<std::string>{"3"}));
    auto both = held.LinksOfPersons({"P2", "P1"});
    EXPECT_EQ(ids((*both)[0]), (std::vector<std::string>{"3"}));
    EXPECT_EQ(ids((*both)[1]), (std::vector<std::string>{"1", "2"}));
    EXPECT_FALSE(txn.GetLink(source("1"))->has_value()) << "nothing written by the reads";
    EXPECT_EQ((*txn.GetLink(source("3")))->person_id(), "P1");

    HIE_RETURN_IF_ERROR(held.Flush());
    EXPECT_EQ(ids(txn.LinksOf("P1")), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(ids(txn.LinksOf("P2")), (std::vector<std::string>{"3"}));
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace hie::identity
