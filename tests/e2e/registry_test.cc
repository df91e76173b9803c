// hie-registry as a real process over mutual TLS on loopback, on a real PostgreSQL:
//   - publications acknowledged before a kill -9 are all there after the restart, their replace
//     chains intact, and a publication retried after the restart (same idempotency key) is
//     answered as before, not registered twice;
//   - two gateways replacing one document at once over the wire: one wins, the other is
//     FAILED_PRECONDITION;
//   - the change feed over mutual TLS: the locator's certificate pages through every
//     publication and deprecation; the gateway's and an operator's are PERMISSION_DENIED;
//   - a Python grpcio client (registry_python_client.py) drives the wire contract.

#include <gtest/gtest.h>

#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "hie/registry/v1/registry.grpc.pb.h"
#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/service_process.h"

namespace hie::e2e {
namespace {

namespace rv1 = ::hie::registry::v1;
namespace cm = ::hie::common::v1;

cm::RequestContext AsClinicA() {
  cm::RequestContext c;
  c.set_request_id(NewRequestId());
  c.set_purpose_of_use(cm::PURPOSE_OF_USE_TREATMENT);
  c.mutable_actor()->set_org("clinic-a");
  c.mutable_actor()->set_role(cm::ROLE_MEMBER_SYSTEM);
  return c;
}

cm::SourceId Patient() {
  cm::SourceId p;
  p.set_org("clinic-a");
  p.set_local_id("MRN-E2E");
  return p;
}

rv1::RegisterSubmissionSetRequest Submission(const std::string& unique_id, int64_t created,
                                             const std::string& replaces = "") {
  rv1::RegisterSubmissionSetRequest r;
  *r.mutable_context() = AsClinicA();
  r.set_idempotency_key("key-" + unique_id);
  r.mutable_submission_set()->set_unique_id("set-" + unique_id);
  rv1::DocumentEntry* e = r.add_entries();
  e->set_unique_id(unique_id);
  *e->mutable_patient() = Patient();
  for (auto* code : {e->mutable_class_code(), e->mutable_type_code()}) {
    code->set_system("http://loinc.org");
    code->set_code("11488-4");
  }
  e->mutable_format_code()->set_system("urn:ihe:format");
  e->mutable_format_code()->set_code("urn:ihe:pcc:xphr:2007");
  e->set_mime_type("text/xml");
  auto* n = e->add_confidentiality_codes();
  n->set_system("http://terminology.hl7.org/CodeSystem/v3-Confidentiality");
  n->set_code("N");
  e->mutable_creation_time()->set_seconds(created);
  e->mutable_hash()->set_algorithm(rv1::ContentHash::ALGORITHM_SHA256);
  e->mutable_hash()->set_digest(std::string(32, static_cast<char>(created % 251)));
  e->set_size_bytes(100);
  e->mutable_location()->set_member_org("clinic-a");
  e->mutable_location()->set_repository_unique_id("1.2.3");
  if (!replaces.empty()) {
    auto* a = r.add_associations();
    a->set_type(rv1::ASSOCIATION_TYPE_REPLACE);
    a->set_source(unique_id);
    a->set_target_entry_uuid(replaces);
  }
  return r;
}

class RegistryE2eTest : public E2eTest {
 protected:
  std::unique_ptr<ServiceProcess> NewRegistry() {
    return std::make_unique<ServiceProcess>(
        sandbox_.get(), "registry", HIE_REGISTRY_BIN, "registry",
        std::vector<std::string>{absl::StrCat("--pg-dsn=", pg_->dsn())});
  }
  static std::unique_ptr<rv1::DocumentRegistry::Stub> Gateway(const ServiceProcess& p) {
    return rv1::DocumentRegistry::NewStub(p.Channel("gateway-client"));
  }
  static std::vector<std::string> Current(rv1::DocumentRegistry::Stub& stub) {
    rv1::FindDocumentsRequest find;
    *find.mutable_context() = AsClinicA();
    *find.add_patients() = Patient();
    find.set_page_size(1000);
    rv1::FindDocumentsResponse found;
    grpc::Status s = stub.FindDocuments(Deadline().get(), find, &found);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const auto& e : found.entries()) out.push_back(e.unique_id());
    return out;
  }
};

TEST_F(RegistryE2eTest, AcknowledgedPublicationsSurviveAKill9) {
  StartPostgres(/*fast=*/false);  // fsync on: acknowledged means on disk
  auto registry = NewRegistry();
  ASSERT_TRUE(registry->Start().ok());
  auto stub = Gateway(*registry);
  std::string previous;
  std::vector<rv1::RegisterSubmissionSetResponse> answers;
  for (int i = 1; i <= 20; ++i) {  // a chain of 20 versions of one document
    rv1::RegisterSubmissionSetResponse out;
    grpc::Status s = stub->RegisterSubmissionSet(
        Deadline().get(), Submission(absl::StrCat("9.", i), 1000 + i, previous), &out);
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
    previous = out.entries(0).entry_uuid();
    answers.push_back(out);
  }
  registry->Kill9();
  ASSERT_TRUE(registry->Start().ok());
  stub = Gateway(*registry);
  EXPECT_EQ(Current(*stub), std::vector<std::string>{"9.20"}) << "one current version";
  rv1::RegisterSubmissionSetResponse again;
  const auto last = Submission("9.20", 1020, answers[18].entries(0).entry_uuid());
  ASSERT_TRUE(stub->RegisterSubmissionSet(Deadline().get(), last, &again).ok());
  EXPECT_EQ(again.entries(0).entry_uuid(), previous) << "a retry is answered as before";
  EXPECT_EQ(again.entries(0).version(), 20);
  rv1::GetRelatedDocumentsRequest related;
  *related.mutable_context() = AsClinicA();
  related.set_entry_uuid(answers[9].entries(0).entry_uuid());
  rv1::GetRelatedDocumentsResponse chain;
  ASSERT_TRUE(stub->GetRelatedDocuments(Deadline().get(), related, &chain).ok());
  EXPECT_EQ(chain.associations_size(), 2) << "replaces version 9, replaced by version 11";
}

TEST_F(RegistryE2eTest, OfTwoConcurrentReplacementsOverTheWireOneWins) {
  StartPostgres(/*fast=*/true);
  auto registry = NewRegistry();
  ASSERT_TRUE(registry->Start().ok());
  rv1::RegisterSubmissionSetResponse original;
  ASSERT_TRUE(Gateway(*registry)
                  ->RegisterSubmissionSet(Deadline().get(), Submission("8.1", 100), &original)
                  .ok());
  const std::string target = original.entries(0).entry_uuid();
  std::vector<grpc::StatusCode> codes(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      auto stub = Gateway(*registry);
      rv1::RegisterSubmissionSetResponse out;
      codes[i] = stub->RegisterSubmissionSet(Deadline().get(),
                                             Submission(absl::StrCat("8.2.", i), 200, target), &out)
                     .error_code();
    });
  }
  for (auto& t : threads) t.join();
  std::sort(codes.begin(), codes.end());
  EXPECT_EQ(codes, (std::vector<grpc::StatusCode>{grpc::StatusCode::OK,
                                                  grpc::StatusCode::FAILED_PRECONDITION}));
  EXPECT_EQ(Current(*Gateway(*registry)).size(), 1u);
}

TEST_F(RegistryE2eTest, TheLocatorPagesTheChangeFeedAndOthersMayNot) {
  StartPostgres(/*fast=*/true);
  auto registry = NewRegistry();
  ASSERT_TRUE(registry->Start().ok());
  std::set<std::string> published;
  std::string previous;
  for (int i = 1; i <= 5; ++i) {  // 7.1 .. 7.5, each replacing the one before
    rv1::RegisterSubmissionSetResponse out;
    grpc::Status s = Gateway(*registry)->RegisterSubmissionSet(
        Deadline().get(), Submission(absl::StrCat("7.", i), 100 + i, previous), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    previous = out.entries(0).entry_uuid();
    published.insert(previous);
  }
  auto locator = rv1::DocumentRegistry::NewStub(registry->Channel("locator-client"));
  rv1::ListChangesRequest list;
  list.mutable_context()->set_request_id(NewRequestId());
  list.set_page_size(2);
  std::set<std::string> seen;
  int changes = 0, pages = 0;
  for (; pages < 10; ++pages) {
    rv1::ListChangesResponse page;
    grpc::Status s = locator->ListChanges(Deadline().get(), list, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_LE(page.changes_size(), 2);
    if (page.changes().empty()) {
      EXPECT_EQ(page.next_after().SerializeAsString(), list.after().SerializeAsString());
      break;
    }
    for (const auto& change : page.changes()) {
      ++changes;
      seen.insert(change.entry().entry_uuid());
      EXPECT_EQ(change.entry().status() == rv1::AVAILABILITY_STATUS_APPROVED,
                change.entry().entry_uuid() == previous)
          << "the entry as it is now: only the last version is current";
    }
    *list.mutable_after() = page.next_after();
  }
  EXPECT_EQ(pages, 3) << "5 changes in pages of 2, then an empty page";
  EXPECT_EQ(changes, 5) << "each entry once, at its latest change";
  EXPECT_EQ(seen, published);

  for (const char* cert : {"gateway-client", "operator", "clinic-a"}) {
    SCOPED_TRACE(cert);
    auto stub = rv1::DocumentRegistry::NewStub(registry->Channel(cert));
    rv1::ListChangesRequest r;
    *r.mutable_context() = AsClinicA();
    if (std::string(cert) != "gateway-client") r.mutable_context()->clear_actor();
    rv1::ListChangesResponse out;
    EXPECT_EQ(stub->ListChanges(Deadline().get(), r, &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_F(RegistryE2eTest, PythonClientDrivesTheWireContract) {
  std::string python;
  if (std::string missing = MissingPythonGrpc(&python); !missing.empty()) {
    if (hie::testing::ServersRequired()) FAIL() << "not installed: " << missing;
    GTEST_SKIP() << "not installed: " << missing;
  }
  StartPostgres(/*fast=*/true);
  auto registry = NewRegistry();
  ASSERT_TRUE(registry->Start().ok());
  std::string out;
  absl::StatusOr<int> code =
      RunCommand({python, "-B", HIE_E2E_REGISTRY_PYTHON_CLIENT, "--target", registry->address(),
                  "--certs", HIE_TEST_CERTS_DIR, "--proto-dir",
                  std::string(HIE_SOURCE_DIR) + "/proto", "--work-dir", sandbox_->Path("python")},
                 &out, absl::Seconds(150));
  std::cout << out;
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << "registry_python_client.py failed (its output is above)";
}

}  // namespace
}  // namespace hie::e2e
