#include <gtest/gtest.h>

#include <regex>

#include "services/registry/core/registry_operations_cases.h"
#include "services/registry/store/in_memory_registry_store.h"

namespace hie::registry {
namespace {

INSTANTIATE_TEST_SUITE_P(InMemory, RegistryOperationsTest,
                         ::testing::Values(RegistryStoreFactory([] {
                           return std::make_unique<InMemoryRegistryStore>();
                         })));

TEST(RegistryOperations, AStoreThatIsDownAnswersUnavailable) {
  InMemoryRegistryStore store;
  RegistryOperations ops(&store, {});
  store.SetFailure(absl::UnavailableError("down"));
  const Actor clinic_a{"clinic-a", common::v1::ROLE_MEMBER_SYSTEM, ""};
  EXPECT_EQ(ops.Register(clinic_a, ValidSubmission(), Deadline()).status().code(),
            absl::StatusCode::kUnavailable);
  v1::FindDocumentsRequest find;
  find.mutable_context()->set_request_id("req-1");
  find.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  *find.add_patients() = ValidEntry("1").patient();
  EXPECT_EQ(ops.Find(find, Deadline()).status().code(), absl::StatusCode::kUnavailable);
}

TEST(RandomUuid, IsAVersion4Urn) {
  const std::regex shape(
      "urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  const std::string a = RandomUuid(), b = RandomUuid();
  EXPECT_TRUE(std::regex_match(a, shape)) << a;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace hie::registry
