// hie-locator as a real process beside hie-identity and hie-registry, over mutual TLS on
// loopback, on a real PostgreSQL:
//   - holdings learnt from identity's WatchEvents and the registry's change feed, counted once,
//     across kill -9 of the locator, of identity and of the registry (each catches up from its
//     stored position);
//   - a patient's removal survives new registrations and publications, and a replay of both
//     feeds from the start (positions wiped) creates no duplicate count and revives no
//     tombstone; a deprecation lowers the count;
//   - a Python grpcio client (locator_python_client.py) drives the wire contract.

#include <gtest/gtest.h>

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "absl/strings/str_cat.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "hie/locator/v1/locator.grpc.pb.h"
#include "hie/registry/v1/registry.grpc.pb.h"
#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/service_process.h"

namespace hie::e2e {
namespace {

namespace lv1 = ::hie::locator::v1;
namespace rv1 = ::hie::registry::v1;
namespace idv1 = ::hie::identity::v1;
namespace cm = ::hie::common::v1;

cm::RequestContext AsClinicA() {
  cm::RequestContext c;
  c.set_request_id(NewRequestId());
  c.set_purpose_of_use(cm::PURPOSE_OF_USE_TREATMENT);
  c.mutable_actor()->set_org("clinic-a");
  c.mutable_actor()->set_role(cm::ROLE_MEMBER_SYSTEM);
  return c;
}

// A document of clinic-a's `local_id`, created at `created` seconds.
rv1::RegisterSubmissionSetRequest Submission(const std::string& local_id,
                                             const std::string& unique_id, int64_t created) {
  rv1::RegisterSubmissionSetRequest r;
  *r.mutable_context() = AsClinicA();
  r.set_idempotency_key("key-" + unique_id);
  r.mutable_submission_set()->set_unique_id("set-" + unique_id);
  rv1::DocumentEntry* e = r.add_entries();
  e->set_unique_id(unique_id);
  *e->mutable_patient() = Sid("clinic-a", local_id);
  for (auto* code : {e->mutable_class_code(), e->mutable_type_code()}) {
    code->set_system("http://loinc.org");
    code->set_code("11502-2");  // laboratory report
  }
  e->mutable_format_code()->set_system("urn:ihe:format");
  e->mutable_format_code()->set_code("urn:ihe:lab:xd-lab:2008");
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
  return r;
}

class LocatorE2eTest : public E2eTest {
 protected:
  void StartHub() {
    StartPostgres(/*fast=*/true);
    identity_ = StartIdentity("identity");
    ASSERT_NE(identity_, nullptr);
    registry_ = std::make_unique<ServiceProcess>(
        sandbox_.get(), "registry", HIE_REGISTRY_BIN, "registry",
        std::vector<std::string>{absl::StrCat("--pg-dsn=", pg_->dsn())});
    ASSERT_TRUE(registry_->Start().ok());
    TlsFiles client = hie::testing::TestCertFiles("locator-client");
    locator_ = std::make_unique<ServiceProcess>(
        sandbox_.get(), "locator", HIE_LOCATOR_BIN, "locator",
        std::vector<std::string>{absl::StrCat("--pg-dsn=", pg_->dsn()),
                                 absl::StrCat("--identity=127.0.0.1:", identity_->grpc_port()),
                                 "--registry=" + registry_->address(),
                                 "--client-cert=" + client.cert_file,
                                 "--client-key=" + client.key_file, "--registry-poll=50ms"});
    ASSERT_TRUE(locator_->Start().ok());
  }

  void Register(const std::string& local_id, const std::string& key) {
    idv1::RegisterSourceRecordRequest request = WithContext(idv1::RegisterSourceRecordRequest());
    *request.mutable_source_id() = Sid("clinic-a", local_id);
    *request.mutable_demographics() = DemographicsOf(MadeUpPatient(local_id.size() * 7 + 3));
    request.set_idempotency_key(key);
    idv1::RegisterSourceRecordResponse response;
    grpc::Status status =
        identity_->Stub()->RegisterSourceRecord(Deadline().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::string Publish(const std::string& local_id, const std::string& unique_id, int64_t created) {
    auto stub = rv1::DocumentRegistry::NewStub(registry_->Channel("gateway-client"));
    rv1::RegisterSubmissionSetResponse out;
    grpc::Status s = stub->RegisterSubmissionSet(Deadline().get(),
                                                 Submission(local_id, unique_id, created), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? out.entries(0).entry_uuid() : "";
  }

  // local id -> document count, of clinic-a's listed holdings among `locals`.
  std::map<std::string, int64_t> Located(const std::vector<std::string>& locals) {
    auto stub = lv1::RecordLocator::NewStub(locator_->Channel("gateway-client"));
    lv1::LocateRequest request;
    *request.mutable_context() = AsClinicA();
    for (const auto& l : locals) *request.add_source_ids() = Sid("clinic-a", l);
    lv1::LocateResponse response;
    grpc::Status s = stub->Locate(Deadline().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::map<std::string, int64_t> out;
    for (const auto& l : response.locations()) {
      out[l.source_id().local_id()] = l.document_count();
    }
    return out;
  }

  // Waits (20 s at most) until Located(locals) is `want`.
  void ExpectLocated(const std::vector<std::string>& locals,
                     const std::map<std::string, int64_t>& want) {
    std::map<std::string, int64_t> got;
    for (absl::Time until = absl::Now() + absl::Seconds(20); absl::Now() < until;) {
      got = Located(locals);
      if (got == want) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_EQ(got, want);
  }

  IdentityProcess* identity_ = nullptr;
  std::unique_ptr<ServiceProcess> registry_;
  std::unique_ptr<ServiceProcess> locator_;
};

const std::vector<std::string> kAll = {"A1", "A2", "A3", "A4", "A5"};

TEST_F(LocatorE2eTest, BothFeedsAreFollowedOnceAcrossRestartsOfEverySide) {
  StartHub();
  Register("A1", "r1");
  Register("A2", "r2");
  Publish("A1", "1.1", 1000);
  Publish("A1", "1.2", 2000);
  Publish("A3", "3.1", 3000);  // documents without an identity record
  ExpectLocated(kAll, {{"A1", 2}, {"A2", 0}, {"A3", 1}});

  locator_->Kill9();
  Register("A4", "r4");
  Publish("A1", "1.3", 4000);
  ASSERT_TRUE(locator_->Start().ok());
  ExpectLocated(kAll, {{"A1", 3}, {"A2", 0}, {"A3", 1}, {"A4", 0}});

  registry_->Kill9();
  identity_->Kill9();
  ASSERT_TRUE(identity_->Start().ok());
  ASSERT_TRUE(registry_->Start().ok());
  Register("A5", "r5");
  Publish("A1", "1.4", 5000);
  ExpectLocated(kAll, {{"A1", 4}, {"A2", 0}, {"A3", 1}, {"A4", 0}, {"A5", 0}});
}

TEST_F(LocatorE2eTest, ARemovalSurvivesNewActivityAndAReplayOfBothFeeds) {
  StartHub();
  Register("A1", "r1");
  Register("A2", "r2");
  const std::string withdrawn = Publish("A1", "1.1", 1000);
  Publish("A1", "1.2", 2000);
  Publish("A2", "2.1", 2000);
  ExpectLocated(kAll, {{"A1", 2}, {"A2", 1}});

  auto op = lv1::RecordLocator::NewStub(locator_->Channel("operator"));
  lv1::DeleteLocationRequest remove;
  remove.mutable_context()->set_request_id(NewRequestId());
  *remove.mutable_source_id() = Sid("clinic-a", "A2");
  remove.set_reason_code(lv1::REMOVAL_REASON_PATIENT_REQUEST);
  remove.set_reason("privacy ticket 7");
  remove.set_idempotency_key("remove-a2");
  lv1::DeleteLocationResponse removed;
  ASSERT_TRUE(op->DeleteLocation(Deadline().get(), remove, &removed).ok());
  Register("A2", "r2-again");  // a new version: RECORD_UPDATED
  Publish("A2", "2.2", 3000);
  auto registry = rv1::DocumentRegistry::NewStub(registry_->Channel("gateway-client"));
  rv1::DeprecateDocumentRequest deprecate;
  *deprecate.mutable_context() = AsClinicA();
  deprecate.set_entry_uuid(withdrawn);
  deprecate.set_reason("entered in error");
  deprecate.set_idempotency_key("deprecate-1");
  rv1::DocumentEntry deprecated;
  ASSERT_TRUE(registry->DeprecateDocument(Deadline().get(), deprecate, &deprecated).ok());
  ExpectLocated(kAll, {{"A1", 1}});

  // Both feeds replayed from the start: nothing counted twice, the tombstone holds.
  locator_->Kill9();
  {
    pqxx::connection c(pg_->dsn());
    pqxx::nontransaction t(c);
    t.exec("DELETE FROM locator.feed_positions");
  }
  ASSERT_TRUE(locator_->Start().ok());
  // Markers, one per feed: once both are applied, each replay is through (feeds apply in order).
  Register("A5", "r5");
  Publish("A1", "1.3", 4000);
  ExpectLocated(kAll, {{"A1", 2}, {"A5", 0}});
  EXPECT_EQ(Located(kAll), (std::map<std::string, int64_t>{{"A1", 2}, {"A5", 0}}));
}

TEST_F(LocatorE2eTest, PythonClientDrivesTheWireContract) {
  std::string python;
  if (std::string missing = MissingPythonGrpc(&python); !missing.empty()) {
    if (hie::testing::ServersRequired()) FAIL() << "not installed: " << missing;
    GTEST_SKIP() << "not installed: " << missing;
  }
  StartPostgres(/*fast=*/true);
  locator_ = std::make_unique<ServiceProcess>(
      sandbox_.get(), "locator", HIE_LOCATOR_BIN, "locator",
      std::vector<std::string>{absl::StrCat("--pg-dsn=", pg_->dsn())});
  ASSERT_TRUE(locator_->Start().ok());
  std::string out;
  absl::StatusOr<int> code =
      RunCommand({python, "-B", HIE_E2E_LOCATOR_PYTHON_CLIENT, "--target", locator_->address(),
                  "--certs", HIE_TEST_CERTS_DIR, "--proto-dir",
                  std::string(HIE_SOURCE_DIR) + "/proto", "--work-dir", sandbox_->Path("python")},
                 &out, absl::Seconds(150));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << out;
}

}  // namespace
}  // namespace hie::e2e
