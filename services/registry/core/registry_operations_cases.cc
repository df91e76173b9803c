#include "services/registry/core/registry_operations_cases.h"

#include <algorithm>
#include <thread>
#include <tuple>

namespace hie::registry {
namespace {

TEST_P(RegistryOperationsTest, PublishedEntriesAreFound) {
  ASSERT_TRUE(Publish("1.1", 100).ok());
  ASSERT_TRUE(Publish("1.2", 200).ok());
  EXPECT_EQ(Found(FindRequest()), (std::vector<std::string>{"1.2", "1.1"}));
}

TEST_P(RegistryOperationsTest, ARetryWithTheSameKeyIsAnsweredAgainAndWritesNothing) {
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  auto first = ops_->Register(kClinicA, r, Deadline());
  ASSERT_TRUE(first.ok()) << first.status();
  r.mutable_context()->set_request_id("req-2");  // a retry carries a new request id
  auto again = ops_->Register(kClinicA, r, Deadline());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(Found(FindRequest()).size(), 1u);
  r.mutable_entries(0)->set_title("another request");
  EXPECT_EQ(ops_->Register(kClinicA, r, Deadline()).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(RegistryOperationsTest, AReplaceChain) {
  auto v1e = Publish("1.1", 100);
  ASSERT_TRUE(v1e.ok()) << v1e.status();
  auto v2e = Publish("1.2", 200, v1::ASSOCIATION_TYPE_REPLACE, *v1e);
  ASSERT_TRUE(v2e.ok()) << v2e.status();
  auto v3e = Publish("1.3", 300, v1::ASSOCIATION_TYPE_REPLACE, *v2e);
  ASSERT_TRUE(v3e.ok()) << v3e.status();
  EXPECT_EQ(Found(FindRequest()), std::vector<std::string>{"1.3"}) << "only the current version";
  const v1::DocumentEntry first = Stored(*v1e), second = Stored(*v2e), third = Stored(*v3e);
  EXPECT_EQ(first.status(), v1::AVAILABILITY_STATUS_DEPRECATED);
  EXPECT_EQ(first.replaced_by_entry_uuid(), *v2e);
  EXPECT_EQ(second.replaced_by_entry_uuid(), *v3e);
  EXPECT_EQ(third.logical_id(), *v1e);
  EXPECT_EQ(third.version(), 3);
  v1::GetRelatedDocumentsRequest related;
  related.mutable_context()->set_request_id("req-1");
  related.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  related.set_entry_uuid(*v2e);
  auto answer = ops_->Related(related, Deadline());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->associations_size(), 2);
  EXPECT_EQ(answer->entries_size(), 2);
  related.add_types(v1::ASSOCIATION_TYPE_APPEND);
  answer = ops_->Related(related, Deadline());
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->associations_size(), 0);
  EXPECT_EQ(answer->entries_size(), 0);
}

TEST_P(RegistryOperationsTest, EveryRefusalChangesNothing) {
  auto v1e = Publish("1.1", 100);
  ASSERT_TRUE(v1e.ok());
  ASSERT_TRUE(Publish("1.2", 200, v1::ASSOCIATION_TYPE_REPLACE, *v1e).ok());
  auto feed_before = store_->ChangesSince(Deadline(), {}, 100);
  ASSERT_TRUE(feed_before.ok());

  // Onto a deprecated document, by replacement and by addendum.
  EXPECT_EQ(Publish("1.3", 300, v1::ASSOCIATION_TYPE_REPLACE, *v1e).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Publish("1.4", 300, v1::ASSOCIATION_TYPE_APPEND, *v1e).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A unique id again with another hash.
  v1::RegisterSubmissionSetRequest r = ValidSubmission();
  r.set_idempotency_key("k-reuse");
  r.mutable_submission_set()->set_unique_id("set-reuse");
  *r.mutable_entries(0) = ValidEntry("1.1");
  r.mutable_entries(0)->mutable_hash()->set_digest(std::string(32, '\x7f'));
  *r.add_entries() = ValidEntry("1.5");
  EXPECT_EQ(ops_->Register(kClinicA, r, Deadline()).status().code(),
            absl::StatusCode::kAlreadyExists);
  // SHA-1 only; another org's patient; a submission set unique id used before.
  r = ValidSubmission();
  r.mutable_entries(0)->mutable_hash()->set_algorithm(v1::ContentHash::ALGORITHM_SHA1);
  EXPECT_EQ(ops_->Register(kClinicA, r, Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
  r = ValidSubmission();
  EXPECT_EQ(ops_->Register({"clinic-b", common::v1::ROLE_MEMBER_SYSTEM, ""}, r, Deadline())
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  r = ValidSubmission();
  r.set_idempotency_key("k-set-again");
  r.mutable_submission_set()->set_unique_id("set-1.1");
  *r.mutable_entries(0) = ValidEntry("1.6");
  EXPECT_EQ(ops_->Register(kClinicA, r, Deadline()).status().code(),
            absl::StatusCode::kAlreadyExists);

  auto feed_after = store_->ChangesSince(Deadline(), {}, 100);
  ASSERT_TRUE(feed_after.ok());
  ASSERT_EQ(feed_after->size(), feed_before->size());
  for (size_t i = 0; i < feed_after->size(); ++i) {
    EXPECT_EQ(feed_after->at(i).entry.SerializeAsString(),
              feed_before->at(i).entry.SerializeAsString());
  }
}

TEST_P(RegistryOperationsTest, PagesAreStableWhilePublicationsContinue) {
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(Publish("1." + std::to_string(i), 100 * i).ok());
  v1::FindDocumentsRequest r = FindRequest();
  r.set_page_size(2);
  auto page = ops_->Find(r, Deadline());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries_size(), 2);
  EXPECT_EQ(page->entries(0).unique_id(), "1.5");
  ASSERT_FALSE(page->next_page_token().empty());
  ASSERT_TRUE(Publish("1.9", 900).ok());  // newer: belongs before the pages already read
  r.set_page_token(page->next_page_token());
  EXPECT_EQ(Found(r), (std::vector<std::string>{"1.3", "1.2"}));
  page = ops_->Find(r, Deadline());
  r.set_page_token(page->next_page_token());
  page = ops_->Find(r, Deadline());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries_size(), 1);
  EXPECT_TRUE(page->next_page_token().empty()) << "the last page says so";

  v1::FindDocumentsRequest other = r;
  other.mutable_query()->add_class_codes()->set_system("http://loinc.org");
  other.mutable_query()->mutable_class_codes(0)->set_code("11488-4");
  auto refused = ops_->Find(other, Deadline());
  EXPECT_EQ(refused.status().message(), "page_token belongs to another query");
  r.set_page_token("garbage");
  EXPECT_EQ(ops_->Find(r, Deadline()).status().message(), "page_token is not valid");
}

TEST_P(RegistryOperationsTest, TooManyResultsIsAnAnswer) {
  RegistryOperations small(store_.get(), RegistryOptions{.max_scanned = 3});
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(Publish("1." + std::to_string(i), 100 * i).ok());
  v1::FindDocumentsRequest r = FindRequest();
  r.mutable_query()->add_type_codes()->set_system("http://loinc.org");
  r.mutable_query()->mutable_type_codes(0)->set_code("none");
  EXPECT_EQ(small.Find(r, Deadline()).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(RegistryOperationsTest, DeprecateByThePublisherOnce) {
  auto uuid = Publish("1.1", 100);
  ASSERT_TRUE(uuid.ok());
  v1::DeprecateDocumentRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.set_entry_uuid(*uuid);
  r.set_reason("entered in error");
  r.set_idempotency_key("dep-1");
  EXPECT_EQ(ops_->Deprecate({"clinic-b", common::v1::ROLE_MEMBER_SYSTEM, ""}, r, Deadline())
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  auto done = ops_->Deprecate(kClinicA, r, Deadline());
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->status(), v1::AVAILABILITY_STATUS_DEPRECATED);
  EXPECT_EQ(done->deprecate_time().seconds(), 1'750'000'000);
  auto retried = ops_->Deprecate(kClinicA, r, Deadline());
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->SerializeAsString(), done->SerializeAsString());
  r.set_idempotency_key("dep-2");
  EXPECT_EQ(ops_->Deprecate(kClinicA, r, Deadline()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  r.set_entry_uuid("urn:uuid:unknown");
  EXPECT_EQ(ops_->Deprecate(kClinicA, r, Deadline()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Found(FindRequest()).empty());
}

TEST_P(RegistryOperationsTest, OfTwoConcurrentReplacementsOneWins) {
  auto original = Publish("1.1", 100);
  ASSERT_TRUE(original.ok()) << original.status();
  std::vector<absl::StatusCode> codes(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      codes[i] = Publish("2." + std::to_string(i), 200, v1::ASSOCIATION_TYPE_REPLACE, *original)
                     .status()
                     .code();
    });
  }
  for (auto& t : threads) t.join();
  std::sort(codes.begin(), codes.end());
  EXPECT_EQ(codes, (std::vector<absl::StatusCode>{absl::StatusCode::kOk,
                                                  absl::StatusCode::kFailedPrecondition}));
  EXPECT_EQ(Found(FindRequest()).size(), 1u) << "one current version";
}

TEST_P(RegistryOperationsTest, GetDocumentsByLocation) {
  auto defaulted = Publish("1.1", 100);  // registered without a retrieve key
  ASSERT_TRUE(defaulted.ok()) << defaulted.status();
  EXPECT_EQ(Stored(*defaulted).location().retrieve_key(), "1.1") << "the default, stored";
  v1::GetDocumentsRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  v1::DocumentLocation* l = r.add_locations();
  l->set_member_org("clinic-a");
  l->set_repository_unique_id("1.2.3.4");
  l->set_retrieve_key("1.1");
  auto got = ops_->Get(r, Deadline());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->entries_size(), 1);
  EXPECT_EQ(got->entries(0).entry_uuid(), *defaulted);
  r.add_entry_uuids(*defaulted);  // named twice: answered once
  got = ops_->Get(r, Deadline());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->entries_size(), 1);
  l->set_repository_unique_id("1.2.3.5");
  r.clear_entry_uuids();
  got = ops_->Get(r, Deadline());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->entries_size(), 0) << "another repository: absent, not an error";
  l->clear_retrieve_key();
  EXPECT_EQ(ops_->Get(r, Deadline()).status().message(), "locations[0].retrieve_key is required");
}

std::tuple<int64_t, std::string> Key(const v1::ChangePosition& p) {
  return {p.version(), p.entry_uuid()};
}

TEST_P(RegistryOperationsTest, PagingThroughTheFeedSeesEveryChangeOnceInOrder) {
  std::vector<std::string> published;
  for (int i = 1; i <= 4; ++i) {
    auto uuid = Publish("1." + std::to_string(i), 100 * i);
    ASSERT_TRUE(uuid.ok()) << uuid.status();
    published.push_back(*uuid);
  }
  v1::RegisterSubmissionSetRequest two = ValidSubmission();  // two entries in one submission
  two.set_idempotency_key("key-two");
  *two.mutable_entries(0) = ValidEntry("2.1");
  *two.add_entries() = ValidEntry("2.2");
  auto both = ops_->Register(kClinicA, two, Deadline());
  ASSERT_TRUE(both.ok()) << both.status();
  for (const auto& e : both->entries()) published.push_back(e.entry_uuid());

  std::vector<std::string> seen;
  v1::ChangePosition after;  // the zero position
  int pages = 0;
  for (; pages < 10; ++pages) {
    v1::ListChangesResponse page = Changes(2, &after);
    ASSERT_LE(page.changes_size(), 2);
    if (page.changes().empty()) {
      EXPECT_EQ(Key(page.next_after()), Key(after)) << "an empty page resumes where it was";
      break;
    }
    for (const v1::EntryChange& change : page.changes()) {
      EXPECT_GT(Key(change.position()), Key(after)) << "strictly after, in feed order";
      EXPECT_FALSE(change.unreadable());
      EXPECT_EQ(change.entry().entry_uuid(), change.position().entry_uuid());
      EXPECT_EQ(change.entry().status(), v1::AVAILABILITY_STATUS_APPROVED);
      seen.push_back(change.entry().entry_uuid());
      after = change.position();
    }
    EXPECT_EQ(Key(page.next_after()), Key(after)) << "the last change's position";
  }
  EXPECT_EQ(pages, 3) << "6 changes in pages of 2, then an empty page";
  // Feed order is (version, entry_uuid): on PostgreSQL, entries committed before a read are
  // stamped together, not necessarily in the order of publication.
  std::sort(seen.begin(), seen.end());
  std::sort(published.begin(), published.end());
  EXPECT_EQ(seen, published) << "every change exactly once";
  EXPECT_EQ(Changes(0).changes_size(), 6) << "page_size 0 is 500";
}

TEST_P(RegistryOperationsTest, ADeprecationMovesAnEntryToALaterPosition) {
  auto a = Publish("1.1", 100);
  auto b = Publish("1.2", 200);
  ASSERT_TRUE(a.ok() && b.ok());
  const v1::ListChangesResponse before = Changes(10);
  ASSERT_EQ(before.changes_size(), 2);
  v1::DeprecateDocumentRequest r;
  r.mutable_context()->set_request_id("req-1");
  r.set_entry_uuid(*a);
  r.set_reason("entered in error");
  r.set_idempotency_key("dep-1");
  ASSERT_TRUE(ops_->Deprecate(kClinicA, r, Deadline()).ok());

  const v1::ListChangesResponse since = Changes(10, &before.next_after());
  ASSERT_EQ(since.changes_size(), 1) << "the deprecation is a change after the end read";
  EXPECT_EQ(since.changes(0).entry().entry_uuid(), *a);
  EXPECT_EQ(since.changes(0).entry().status(), v1::AVAILABILITY_STATUS_DEPRECATED);
  for (const v1::EntryChange& earlier : before.changes()) {
    EXPECT_GT(Key(since.changes(0).position()), Key(earlier.position()));
  }
  const v1::ListChangesResponse all = Changes(10);
  ASSERT_EQ(all.changes_size(), 2) << "each entry once, at its latest change";
  EXPECT_EQ(all.changes(0).entry().entry_uuid(), *b);
  EXPECT_EQ(all.changes(1).entry().entry_uuid(), *a);
}

TEST_P(RegistryOperationsTest, NextAfterOnAnEmptyPageIsTheRequests) {
  v1::ListChangesResponse page = Changes(5);
  EXPECT_TRUE(page.changes().empty());
  EXPECT_TRUE(page.has_next_after());
  EXPECT_EQ(Key(page.next_after()), Key(v1::ChangePosition{}));
  v1::ChangePosition far;
  far.set_version(1'000'000);
  far.set_entry_uuid(TestUuid(7));
  ASSERT_TRUE(Publish("1.1", 100).ok());
  page = Changes(5, &far);
  EXPECT_TRUE(page.changes().empty());
  EXPECT_EQ(Key(page.next_after()), Key(far));
  v1::ListChangesRequest bad;
  bad.mutable_context()->set_request_id("req-1");
  bad.set_page_size(-1);
  EXPECT_EQ(ops_->Changes(bad, Deadline()).status().message(), "page_size must be 0 to 1000");
}

}  // namespace

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RegistryOperationsTest);

}  // namespace hie::registry
