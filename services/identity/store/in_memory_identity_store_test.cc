// The store contract suite on the in-memory implementation, bare and wrapped in the decorators
// the identity rules put around a transaction (write_behind_txn.h, observing_txn.h): a decorator
// that broke the contract would fail here.

#include "services/identity/store/in_memory_identity_store.h"

#include "services/identity/store/identity_store_contract.h"
#include "services/identity/store/observing_txn.h"
#include "services/identity/store/write_behind_txn.h"

namespace hie::identity {
namespace {

// Every transaction observed (ObservingTxn), as IdentityManager::Write runs writes.
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

INSTANTIATE_TEST_SUITE_P(ObservedWriteBehind, IdentityStoreContractTest,
                         ::testing::Values(IdentityStoreFactory([] {
                           return std::make_unique<ObservedStore>(
                               std::make_unique<WriteBehindStore>(
                                   std::make_unique<InMemoryIdentityStore>()));
                         })));

}  // namespace
}  // namespace hie::identity
