// hie-audit as a real process beside hie-identity, over mutual TLS on loopback:
//   - identity changes reach the audit log through WatchEvents, once each, across a kill -9 of
//     the audit service and of the identity service;
//   - every acknowledged Record survives a kill -9 of the audit service in the middle of 16
//     concurrent callers (PostgreSQL with fsync on), and the chain verifies afterwards;
//   - a Python grpcio client recomputes the chain from the documented encoding.

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "hie/audit/v1/audit.grpc.pb.h"
#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/service_process.h"

namespace hie::e2e {
namespace {

namespace av1 = ::hie::audit::v1;
namespace idv1 = ::hie::identity::v1;

class AuditE2eTest : public E2eTest {
 protected:
  ServiceProcess* StartAudit(const std::string& identity_address) {
    TlsFiles client = hie::testing::TestCertFiles("audit-client");
    std::vector<std::string> flags = {
        absl::StrCat("--pg-dsn=", pg_->dsn()),
        absl::StrCat("--signing-key=", HIE_TEST_CERTS_DIR, "/audit-signing.key"),
        absl::StrCat("--checkpoint-dir=", sandbox_->Path("checkpoints")),
        absl::StrCat("--client-cert=", client.cert_file),
        absl::StrCat("--client-key=", client.key_file),
        "--workers=32"};
    if (!identity_address.empty()) flags.push_back("--identity=" + identity_address);
    audit_ =
        std::make_unique<ServiceProcess>(sandbox_.get(), "audit", HIE_AUDIT_BIN, "audit", flags);
    absl::Status started = audit_->Start();
    EXPECT_TRUE(started.ok()) << started;
    return started.ok() ? audit_.get() : nullptr;
  }

  void Register(IdentityProcess* identity, int n) {
    auto stub = identity->Stub();
    idv1::RegisterSourceRecordRequest request = WithContext(idv1::RegisterSourceRecordRequest());
    *request.mutable_source_id() = Sid("clinic-a", absl::StrCat("A", n));
    *request.mutable_demographics() = DemographicsOf(MadeUpPatient(n));
    request.set_idempotency_key(absl::StrCat("register-", n));
    idv1::RegisterSourceRecordResponse response;
    grpc::Status status = stub->RegisterSourceRecord(Deadline().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Every identity history sequence, read from WatchEvents.
  std::set<int64_t> IdentitySequences(IdentityProcess* identity) {
    auto stub = identity->Stub();
    idv1::WatchEventsRequest request = WithContext(idv1::WatchEventsRequest());
    auto ctx = Deadline(absl::Milliseconds(1500));
    auto reader = stub->WatchEvents(ctx.get(), request);
    std::set<int64_t> out;
    idv1::IdentityEvent event;
    while (reader->Read(&event)) out.insert(event.sequence());
    return out;
  }

  // The identity sequences the audit log holds; fails on an event recorded twice.
  std::set<int64_t> AuditedIdentitySequences() {
    auto stub = av1::AuditLog::NewStub(audit_->Channel("auditor"));
    av1::SearchEventsRequest request = WithContext(av1::SearchEventsRequest());
    request.add_types(av1::EVENT_TYPE_IDENTITY_CHANGE);
    request.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(absl::Now()) -
                                                               3600);
    request.set_page_size(1000);
    std::set<int64_t> out;
    do {
      av1::SearchEventsResponse response;
      grpc::Status status = stub->SearchEvents(Deadline().get(), request, &response);
      if (!status.ok()) {
        ADD_FAILURE() << "search: " << status.error_message();
        return out;
      }
      for (const auto& e : response.events()) {
        int64_t sequence = std::stoll(e.details().at("identity_sequence"));
        EXPECT_TRUE(out.insert(sequence).second) << "identity event " << sequence << " twice";
        EXPECT_EQ(e.event_id(), absl::StrCat("identity-", sequence));
      }
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  // Waits until the audit log holds exactly identity's history.
  void ExpectAuditedHistory(IdentityProcess* identity) {
    std::set<int64_t> want = IdentitySequences(identity);
    ASSERT_FALSE(want.empty());
    std::set<int64_t> got;
    for (absl::Time until = absl::Now() + absl::Seconds(20); absl::Now() < until;) {
      got = AuditedIdentitySequences();
      if (got == want) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    EXPECT_EQ(got, want);
  }

  av1::VerifyResult Verify() {
    auto stub = av1::AuditLog::NewStub(audit_->Channel("auditor"));
    av1::VerifyRequest request = WithContext(av1::VerifyRequest());
    av1::VerifyResult result;
    grpc::Status status = stub->Verify(Deadline(absl::Seconds(60)).get(), request, &result);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return result;
  }

  std::unique_ptr<ServiceProcess> audit_;
};

TEST_F(AuditE2eTest, IdentityChangesAreRecordedOnceAcrossRestartsOfEitherService) {
  StartPostgres(/*fast=*/true);
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);
  for (int i = 1; i <= 4; ++i) Register(identity, i);
  ASSERT_NE(StartAudit(absl::StrCat("127.0.0.1:", identity->grpc_port())), nullptr);
  ExpectAuditedHistory(identity);

  audit_->Kill9();
  for (int i = 5; i <= 8; ++i) Register(identity, i);
  ASSERT_TRUE(audit_->Start().ok());
  ExpectAuditedHistory(identity);

  identity->Kill9();
  ASSERT_TRUE(identity->Start().ok());
  for (int i = 9; i <= 12; ++i) Register(identity, i);
  ExpectAuditedHistory(identity);
  EXPECT_EQ(Verify().status(), av1::VerifyResult::STATUS_VALID);
}

TEST_F(AuditE2eTest, EveryAcknowledgedEventSurvivesAKill9) {
  StartPostgres(/*fast=*/false);  // fsync on: acknowledged means on disk
  ASSERT_NE(StartAudit(""), nullptr);
  const std::string run = NewRequestId();
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop = false;
  std::vector<std::thread> callers;
  for (int t = 0; t < 16; ++t) {
    callers.emplace_back([&, t] {
      auto stub = av1::AuditLog::NewStub(audit_->Channel("gateway-client"));
      for (int i = 0; !stop; ++i) {
        av1::RecordRequest request = WithContext(av1::RecordRequest());
        av1::AuditEvent* e = request.mutable_event();
        e->set_event_id(absl::StrCat(run, "-", t, "-", i));
        e->mutable_event_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
        e->set_type(av1::EVENT_TYPE_QUERY);
        e->set_action("gateway.FindOutsideRecords");
        e->set_outcome(av1::OUTCOME_SUCCESS);
        e->mutable_actor()->set_org("clinic-a");
        e->mutable_actor()->set_user_id(run);
        av1::RecordResponse response;
        if (stub->Record(Deadline(absl::Seconds(2)).get(), request, &response).ok()) {
          std::lock_guard lock(mu);
          acknowledged.push_back(e->event_id());
        } else {
          absl::SleepFor(absl::Milliseconds(20));
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(1500));
  audit_->Kill9();
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  for (auto& c : callers) c.join();
  ASSERT_GT(acknowledged.size(), 50u);
  ASSERT_TRUE(audit_->Start().ok());

  auto stub = av1::AuditLog::NewStub(audit_->Channel("auditor"));
  av1::SearchEventsRequest request = WithContext(av1::SearchEventsRequest());
  request.set_actor_user_id(run);
  request.mutable_event_time()->mutable_start()->set_seconds(absl::ToUnixSeconds(absl::Now()) -
                                                             3600);
  request.set_page_size(1000);
  std::set<std::string> stored;
  do {
    av1::SearchEventsResponse response;
    ASSERT_TRUE(stub->SearchEvents(Deadline().get(), request, &response).ok());
    for (const auto& e : response.events()) stored.insert(e.event_id());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  size_t lost = 0;
  for (const auto& id : acknowledged) lost += stored.count(id) == 0;
  EXPECT_EQ(lost, 0u) << "of " << acknowledged.size() << " acknowledged events";
  av1::VerifyResult result = Verify();
  EXPECT_EQ(result.status(), av1::VerifyResult::STATUS_VALID) << result.detail();
  EXPECT_GE(result.events_checked(), static_cast<int64_t>(acknowledged.size()));
}

// The wire contract from a second gRPC implementation (audit_python_client.py), which also
// recomputes the chain from the documented encoding and checks a checkpoint's signature.
TEST_F(AuditE2eTest, PythonClientRecomputesTheChainAndChecksASignature) {
  std::string python;
  if (std::string missing = MissingPythonGrpc(&python); !missing.empty()) {
    if (hie::testing::ServersRequired()) FAIL() << "not installed: " << missing;
    GTEST_SKIP() << "not installed: " << missing;
  }
  StartPostgres(/*fast=*/true);
  ASSERT_NE(StartAudit(""), nullptr);
  std::string out;
  absl::StatusOr<int> code =
      RunCommand({python, "-B", HIE_E2E_AUDIT_PYTHON_CLIENT, "--target", audit_->address(),
                  "--certs", HIE_TEST_CERTS_DIR, "--proto-dir",
                  std::string(HIE_SOURCE_DIR) + "/proto", "--work-dir", sandbox_->Path("python")},
                 &out, absl::Seconds(150));
  std::cout << out;
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << "audit_python_client.py failed (its output is above)";
}

}  // namespace
}  // namespace hie::e2e
