// The store contract suite on the in-memory implementation.

#include "services/audit/store/in_memory_audit_store.h"

#include "services/audit/store/audit_store_contract.h"

namespace hie::audit {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, AuditStoreContractTest, ::testing::Values(AuditStoreFactory([] {
                           return std::make_unique<InMemoryAuditStore>();
                         })));

}  // namespace
}  // namespace hie::audit
