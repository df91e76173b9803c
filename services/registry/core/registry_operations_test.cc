#include <gtest/gtest.h>

#include <regex>

#include "absl/strings/str_cat.h"
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
  v1::ListChangesRequest list;
  list.mutable_context()->set_request_id("req-1");
  EXPECT_EQ(ops.Changes(list, Deadline()).status().code(), absl::StatusCode::kUnavailable);
}

// An in-memory store whose feed reports one stored row as unreadable, as PgRegistryStore does
// for a row that does not parse.
class OneUnreadableRowStore : public InMemoryRegistryStore {
 public:
  explicit OneUnreadableRowStore(std::string uuid) : uuid_(std::move(uuid)) {}
  absl::StatusOr<std::vector<EntryChange>> ChangesSince(absl::Time deadline,
                                                        const FeedPosition& after,
                                                        size_t limit) override {
    auto changes = InMemoryRegistryStore::ChangesSince(deadline, after, limit);
    if (!changes.ok()) return changes;
    for (EntryChange& c : *changes) {
      if (c.position.entry_uuid != uuid_) continue;
      c.entry.Clear();
      c.unreadable = true;
    }
    return changes;
  }

 private:
  std::string uuid_;
};

TEST(RegistryOperations, AnUnreadableRowIsAChangeWithItsPositionAndNoEntry) {
  int ids = 0;
  OneUnreadableRowStore store(absl::StrCat("urn:uuid:", 2));  // the first entry (after its set)
  RegistryOperations ops(&store, {.new_id = [&] { return absl::StrCat("urn:uuid:", ++ids); }});
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  *r.add_entries() = ValidEntry("1.2.3.4.6");
  ASSERT_TRUE(ops.Register({"clinic-a", common::v1::ROLE_MEMBER_SYSTEM, ""}, r, Deadline()).ok());
  v1::ListChangesRequest list;
  list.mutable_context()->set_request_id("req-1");
  auto page = ops.Changes(list, Deadline());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->changes_size(), 2);
  EXPECT_EQ(page->changes(0).position().entry_uuid(), "urn:uuid:2");
  EXPECT_TRUE(page->changes(0).unreadable());
  EXPECT_FALSE(page->changes(0).has_entry());
  EXPECT_GT(page->changes(0).position().version(), 0);
  EXPECT_FALSE(page->changes(1).unreadable());
  EXPECT_EQ(page->changes(1).entry().entry_uuid(), "urn:uuid:3");
  EXPECT_EQ(page->next_after().entry_uuid(), "urn:uuid:3");
  // A page ending on the unreadable row resumes past it.
  list.set_page_size(1);
  page = ops.Changes(list, Deadline());
  ASSERT_TRUE(page.ok() && page->changes_size() == 1);
  EXPECT_TRUE(page->changes(0).unreadable());
  EXPECT_EQ(page->next_after().SerializeAsString(),
            page->changes(0).position().SerializeAsString());
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
