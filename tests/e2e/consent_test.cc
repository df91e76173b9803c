// hie-consent as real processes over mutual TLS on loopback, with hie-audit and hie-identity:
//   - a revocation made through one replica is honoured by a second replica process within one
//     second, and the second keeps deciding after a kill -9 of the first;
//   - the consent database unreachable turns decisions into DENY / CONSENT_UNAVAILABLE within
//     about a second, and decisions come back after PostgreSQL restarts;
//   - the audit outbox reaches a hie-audit that starts late, once per event, also across a
//     kill -9 and restart of hie-consent;
//   - a break-glass grant stops covering a record that identity unlinks from the person;
//   - a Python grpcio client (consent_python_client.py) drives the wire contract.

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "hie/audit/v1/audit.grpc.pb.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/service_process.h"

namespace hie::e2e {
namespace {

namespace cv1 = ::hie::consent::v1;
namespace av1 = ::hie::audit::v1;
namespace idv1 = ::hie::identity::v1;
namespace cm = ::hie::common::v1;
using ConsentStub = cv1::ConsentService::Stub;

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

// The gateway acting for `user` of `org` in `role`.
cm::RequestContext Delegated(const std::string& org, cm::Role role, cm::PurposeOfUse purpose,
                             const std::string& user = "u-1") {
  cm::RequestContext c;
  c.set_request_id(NewRequestId());
  c.set_purpose_of_use(purpose);
  c.mutable_actor()->set_org(org);
  c.mutable_actor()->set_user_id(user);
  c.mutable_actor()->set_role(role);
  return c;
}

class ConsentE2eTest : public E2eTest {
 protected:
  // A hie-consent process (not started) on the test's PostgreSQL. Identity and audit are off
  // unless given.
  std::unique_ptr<ServiceProcess> NewConsent(const std::string& name,
                                             std::vector<std::string> extra = {}) {
    TlsFiles client = hie::testing::TestCertFiles("consent-client");
    std::vector<std::string> flags = {
        absl::StrCat("--pg-dsn=", pg_->dsn()), absl::StrCat("--client-cert=", client.cert_file),
        absl::StrCat("--client-key=", client.key_file), "--identity=", "--outbox-period=200ms"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return std::make_unique<ServiceProcess>(sandbox_.get(), name, HIE_CONSENT_BIN, "consent",
                                            flags);
  }

  std::unique_ptr<ServiceProcess> NewAudit() {
    TlsFiles client = hie::testing::TestCertFiles("audit-client");
    return std::make_unique<ServiceProcess>(
        sandbox_.get(), "audit", HIE_AUDIT_BIN, "audit",
        std::vector<std::string>{
            absl::StrCat("--pg-dsn=", pg_->dsn()),
            absl::StrCat("--signing-key=", HIE_TEST_CERTS_DIR, "/audit-signing.key"),
            absl::StrCat("--checkpoint-dir=", sandbox_->Path("checkpoints")),
            absl::StrCat("--client-cert=", client.cert_file),
            absl::StrCat("--client-key=", client.key_file), "--identity="});
  }

  static std::unique_ptr<ConsentStub> Stub(const ServiceProcess& p, const std::string& cert) {
    return cv1::ConsentService::NewStub(p.Channel(cert));
  }

  // A directive on `patient` created by a privacy officer (auditor certificate).
  static cv1::ConsentDirective Create(ConsentStub* officer, const cm::SourceId& patient,
                                      cv1::Effect effect, const std::string& key) {
    cv1::CreateDirectiveRequest r = WithContext(cv1::CreateDirectiveRequest());
    *r.mutable_directive()->mutable_patient() = patient;
    r.mutable_directive()->set_effect(effect);
    *r.mutable_directive()->mutable_effective_period()->mutable_start() =
        Ts(absl::Now() - absl::Hours(1));
    r.set_idempotency_key(key);
    cv1::ConsentDirective out;
    grpc::Status s = officer->CreateDirective(Deadline().get(), r, &out);
    EXPECT_TRUE(s.ok()) << "CreateDirective: " << s.error_message();
    return out;
  }

  static grpc::Status Revoke(ConsentStub* officer, const cv1::ConsentDirective& d,
                             const std::string& key) {
    cv1::RevokeDirectiveRequest r = WithContext(cv1::RevokeDirectiveRequest());
    r.set_directive_id(d.directive_id());
    r.set_reason("withdrawn by the patient");
    r.set_etag(d.etag());
    r.set_idempotency_key(key);
    cv1::ConsentDirective out;
    return officer->RevokeDirective(Deadline().get(), r, &out);
  }

  // Decide as the gateway for a clinician of clinic-b asking for clinic-a's data.
  static absl::StatusOr<cv1::Decision> Decide(
      ConsentStub* gateway, const std::vector<cm::SourceId>& patients,
      cm::PurposeOfUse purpose = cm::PURPOSE_OF_USE_TREATMENT, const std::string& grant = "",
      absl::Duration timeout = absl::Seconds(5)) {
    cv1::DecideRequest r;
    *r.mutable_context() = Delegated("clinic-b", cm::ROLE_CLINICIAN, purpose, "dr-b");
    r.mutable_context()->set_break_glass_id(grant);
    for (const auto& p : patients) *r.add_patients() = p;
    r.set_custodian_org("clinic-a");
    cv1::Decision out;
    grpc::Status s = gateway->Decide(Deadline(timeout).get(), r, &out);
    if (!s.ok()) {
      return absl::UnknownError(absl::StrCat(CodeName(s.error_code()), ": ", s.error_message()));
    }
    return out;
  }

  // Polls Decide every 20 ms until `done` holds; returns how long that took (infinite when it
  // did not happen within `limit`).
  static absl::Duration Until(ConsentStub* gateway, const cm::SourceId& p,
                              const std::function<bool(const cv1::Decision&)>& done,
                              absl::Duration limit) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < limit) {
      absl::StatusOr<cv1::Decision> d =
          Decide(gateway, {p}, cm::PURPOSE_OF_USE_TREATMENT, "", absl::Milliseconds(500));
      if (d.ok() && done(*d)) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::InfiniteDuration();
  }

  static bool IsDeny(const cv1::Decision& d) { return d.effect() == cv1::EFFECT_DENY; }
  static bool IsPermit(const cv1::Decision& d) { return d.effect() == cv1::EFFECT_PERMIT; }
};

TEST_F(ConsentE2eTest, ARevocationIsHonouredByASecondReplicaProcessWithinOneSecond) {
  StartPostgres(/*fast=*/true);
  auto one = NewConsent("consent-1");
  auto two = NewConsent("consent-2");
  ASSERT_TRUE(one->Start().ok());
  ASSERT_TRUE(two->Start().ok());
  auto officer = Stub(*one, "auditor");
  auto gateway_two = Stub(*two, "gateway-client");
  const cm::SourceId p = Sid("clinic-a", "MRN-REV");

  absl::StatusOr<cv1::Decision> before = Decide(gateway_two.get(), {p});
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->effect(), cv1::EFFECT_PERMIT) << "opt-out, no directive";
  cv1::ConsentDirective deny = Create(officer.get(), p, cv1::EFFECT_DENY, "deny-1");
  ASSERT_FALSE(deny.directive_id().empty());
  ASSERT_LE(Until(gateway_two.get(), p, IsDeny, absl::Seconds(5)), absl::Seconds(1))
      << "the DENY reached replica 2";
  absl::StatusOr<cv1::Decision> denied = Decide(gateway_two.get(), {p});
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->basis(), cv1::DECISION_BASIS_DIRECTIVE);
  EXPECT_EQ(denied->directive_id(), deny.directive_id());

  grpc::Status revoked = Revoke(officer.get(), deny, "revoke-1");
  ASSERT_TRUE(revoked.ok()) << revoked.error_message();
  const absl::Duration took = Until(gateway_two.get(), p, IsPermit, absl::Seconds(5));
  std::cout << "revocation seen by replica 2 after " << took << "\n";
  EXPECT_LE(took, absl::Seconds(1));

  // Replica 1 dies; replica 2 still decides on a confirmed view (fresh, so not
  // CONSENT_UNAVAILABLE), and sees a new directive of its own.
  one->Kill9();
  for (absl::Time until = absl::Now() + absl::Milliseconds(1500); absl::Now() < until;) {
    absl::StatusOr<cv1::Decision> d = Decide(gateway_two.get(), {p});
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_EQ(d->effect(), cv1::EFFECT_PERMIT);
    ASSERT_EQ(d->basis(), cv1::DECISION_BASIS_DEFAULT_POLICY);
    absl::SleepFor(absl::Milliseconds(100));
  }
  auto officer_two = Stub(*two, "auditor");
  Create(officer_two.get(), p, cv1::EFFECT_DENY, "deny-2");
  absl::StatusOr<cv1::Decision> after = Decide(gateway_two.get(), {p});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->effect(), cv1::EFFECT_DENY);
}

TEST_F(ConsentE2eTest, TheDatabaseUnreachableGivesConsentUnavailableAndDecisionsComeBack) {
  // fsync and synchronous commit on: the crash below must not lose the schema's migrations
  // (a fast cluster's asynchronous commits may still be unwritten when it is killed).
  StartPostgres(/*fast=*/false);
  auto consent = NewConsent("consent");
  ASSERT_TRUE(consent->Start().ok());
  auto gateway = Stub(*consent, "gateway-client");
  const cm::SourceId p = Sid("clinic-a", "MRN-PG");
  absl::StatusOr<cv1::Decision> before = Decide(gateway.get(), {p});
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->basis(), cv1::DECISION_BASIS_DEFAULT_POLICY);

  const absl::Time crash = absl::Now();
  ASSERT_TRUE(pg_->Crash().ok());
  auto unavailable = [](const cv1::Decision& d) {
    return d.basis() == cv1::DECISION_BASIS_CONSENT_UNAVAILABLE;
  };
  ASSERT_LT(Until(gateway.get(), p, unavailable, absl::Seconds(5)), absl::Seconds(5));
  const absl::Duration took = absl::Now() - crash;
  std::cout << "CONSENT_UNAVAILABLE " << took << " after the crash began\n";
  EXPECT_LE(took, absl::Milliseconds(1500));
  absl::StatusOr<cv1::Decision> down = Decide(gateway.get(), {p});
  ASSERT_TRUE(down.ok()) << "a DENY is an answer, not an error: " << down.status();
  EXPECT_EQ(down->effect(), cv1::EFFECT_DENY);
  EXPECT_EQ(down->basis(), cv1::DECISION_BASIS_CONSENT_UNAVAILABLE);
  EXPECT_EQ(down->cache_ttl().seconds() + down->cache_ttl().nanos(), 0);

  ASSERT_TRUE(pg_->Start().ok());
  const absl::Time restarted = absl::Now();
  auto back = [](const cv1::Decision& d) {
    return d.effect() == cv1::EFFECT_PERMIT && d.basis() == cv1::DECISION_BASIS_DEFAULT_POLICY;
  };
  EXPECT_LT(Until(gateway.get(), p, back, absl::Seconds(20)), absl::Seconds(20));
  std::cout << "decisions back " << absl::Now() - restarted << " after the restart\n";
  EXPECT_TRUE(consent->WaitServing(absl::Seconds(5)).ok());
  // Writes work again too (the pool dropped its broken connections).
  auto officer = Stub(*consent, "auditor");
  cv1::ConsentDirective deny = Create(officer.get(), p, cv1::EFFECT_DENY, "after-restart");
  EXPECT_LE(Until(gateway.get(), p, IsDeny, absl::Seconds(2)), absl::Seconds(1));
}

// The CONSENT_CHANGE events about `patient` in the audit log, by event id (fails on an id seen
// twice).
std::map<std::string, av1::AuditEvent> ConsentEvents(const ServiceProcess& audit,
                                                     const cm::SourceId& patient) {
  auto stub = av1::AuditLog::NewStub(audit.Channel("auditor"));
  av1::SearchEventsRequest request = WithContext(av1::SearchEventsRequest());
  request.add_types(av1::EVENT_TYPE_CONSENT_CHANGE);
  *request.add_patients() = patient;
  *request.mutable_event_time()->mutable_start() = Ts(absl::Now() - absl::Hours(1));
  request.set_page_size(1000);
  std::map<std::string, av1::AuditEvent> out;
  av1::SearchEventsResponse response;
  grpc::Status status = stub->SearchEvents(Deadline().get(), request, &response);
  if (!status.ok()) return out;  // audit not up yet
  for (const auto& e : response.events()) {
    EXPECT_TRUE(out.emplace(e.event_id(), e).second) << "event " << e.event_id() << " twice";
  }
  return out;
}

TEST_F(ConsentE2eTest, TheOutboxReachesAuditOnceAfterAuditComesBackAndAcrossAKill9) {
  StartPostgres(/*fast=*/true);
  std::unique_ptr<ServiceProcess> audit = NewAudit();  // its port reserved, not running yet
  auto consent = NewConsent("consent", {"--audit=" + audit->address()});
  ASSERT_TRUE(consent->Start().ok());
  auto officer = Stub(*consent, "auditor");
  const cm::SourceId p = Sid("clinic-a", "MRN-OUTBOX");
  cv1::ConsentDirective deny = Create(officer.get(), p, cv1::EFFECT_DENY, "outbox-1");
  cv1::ConsentDirective permit = Create(officer.get(), p, cv1::EFFECT_PERMIT, "outbox-2");
  ASSERT_TRUE(Revoke(officer.get(), deny, "outbox-3").ok());
  absl::SleepFor(absl::Seconds(1));  // several delivery attempts fail meanwhile

  ASSERT_TRUE(audit->Start().ok());
  std::map<std::string, av1::AuditEvent> events;
  for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    events = ConsentEvents(*audit, p);
    if (events.size() >= 3) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(events.size(), 3u) << "two creations and a revocation";
  std::multiset<std::string> actions;
  for (const auto& [id, e] : events) {
    actions.insert(absl::StrCat(e.action(), " ", e.directive_id()));
    EXPECT_EQ(e.source_service(), "consent");
  }
  EXPECT_EQ(actions,
            (std::multiset<std::string>{"consent.CreateDirective " + deny.directive_id(),
                                        "consent.CreateDirective " + permit.directive_id(),
                                        "consent.RevokeDirective " + deny.directive_id()}));

  consent->Kill9();
  ASSERT_TRUE(consent->Start().ok());
  absl::SleepFor(absl::Seconds(2));  // ten delivery periods
  std::map<std::string, av1::AuditEvent> after = ConsentEvents(*audit, p);
  EXPECT_EQ(after.size(), 3u) << "no event recorded again after the restart";
  for (const auto& [id, e] : events) EXPECT_TRUE(after.contains(id)) << id;
}

class BreakGlassE2eTest : public ConsentE2eTest {
 protected:
  std::string Register(idv1::IdentityService::Stub* identity, const cm::SourceId& id, int n) {
    idv1::RegisterSourceRecordRequest r = WithContext(idv1::RegisterSourceRecordRequest());
    *r.mutable_source_id() = id;
    *r.mutable_demographics() = DemographicsOf(MadeUpPatient(n));
    r.set_idempotency_key("register-" + SidString(id));
    idv1::RegisterSourceRecordResponse out;
    grpc::Status s = identity->RegisterSourceRecord(Deadline().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.person_id();
  }

  // Links `id` to `person` unless it is already there.
  void EnsureLinked(idv1::IdentityService::Stub* identity, const cm::SourceId& id,
                    const std::string& person, const std::string& current) {
    if (current == person) return;
    idv1::LinkRecordRequest r = WithContext(idv1::LinkRecordRequest());
    *r.mutable_source_id() = id;
    r.set_person_id(person);
    r.set_reason("e2e: the same patient");
    r.set_idempotency_key("link-" + SidString(id));
    idv1::LinkRecordResponse out;
    grpc::Status s = identity->LinkRecord(Deadline().get(), r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  cv1::BreakGlassGrant BreakGlass(ConsentStub* gateway, const std::vector<cm::SourceId>& ids) {
    cv1::BreakGlassRequest r;
    *r.mutable_context() =
        Delegated("clinic-b", cm::ROLE_CLINICIAN, cm::PURPOSE_OF_USE_EMERGENCY, "dr-b");
    for (const auto& id : ids) *r.add_patients() = id;
    r.set_reason("unresponsive in the emergency department");
    r.set_reason_code(cv1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
    r.set_idempotency_key("glass-1");
    cv1::BreakGlassGrant out;
    grpc::Status s = gateway->BreakGlass(Deadline().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
};

TEST_F(BreakGlassE2eTest, AGrantStopsCoveringARecordThatIdentityUnlinks) {
  StartPostgres(/*fast=*/true);
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);
  auto operator_stub = identity->Stub("operator");
  const cm::SourceId a = Sid("clinic-a", "MRN-BG"), c = Sid("clinic-c", "MRN-BG");
  const std::string person = Register(operator_stub.get(), a, 42);
  const std::string c_person = Register(operator_stub.get(), c, 42);
  ASSERT_FALSE(person.empty());
  EnsureLinked(operator_stub.get(), c, person, c_person);

  auto consent = NewConsent(
      "consent",
      {absl::StrCat("--identity=127.0.0.1:", identity->grpc_port()), "--default-mode=opt-in"});
  ASSERT_TRUE(consent->Start().ok());
  auto gateway = Stub(*consent, "gateway-client");
  cv1::BreakGlassGrant grant = BreakGlass(gateway.get(), {a, c});
  ASSERT_FALSE(grant.grant_id().empty());
  absl::StatusOr<cv1::Decision> applied =
      Decide(gateway.get(), {a, c}, cm::PURPOSE_OF_USE_EMERGENCY, grant.grant_id());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->effect(), cv1::EFFECT_PERMIT);
  EXPECT_EQ(applied->basis(), cv1::DECISION_BASIS_BREAK_GLASS);
  EXPECT_EQ(applied->break_glass_check(), cv1::BREAK_GLASS_CHECK_APPLIED);
  EXPECT_EQ(applied->break_glass_id(), grant.grant_id());

  idv1::UnlinkRecordRequest unlink = WithContext(idv1::UnlinkRecordRequest());
  *unlink.mutable_source_id() = c;
  unlink.set_reason("e2e: not the same patient");
  unlink.set_idempotency_key("unlink-1");
  idv1::UnlinkRecordResponse unlinked;
  ASSERT_TRUE(operator_stub->UnlinkRecord(Deadline().get(), unlink, &unlinked).ok());
  ASSERT_NE(unlinked.new_person().person_id(), person);

  // The record that left, and the one that stayed: the grant's records are two persons now, so
  // it covers neither.
  for (const cm::SourceId& id : {c, a}) {
    absl::StatusOr<cv1::Decision> d =
        Decide(gateway.get(), {id}, cm::PURPOSE_OF_USE_EMERGENCY, grant.grant_id());
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_NE(d->effect(), cv1::EFFECT_PERMIT) << SidString(id);
    EXPECT_EQ(d->basis(), cv1::DECISION_BASIS_BREAK_GLASS) << SidString(id);
    EXPECT_EQ(d->break_glass_check(), cv1::BREAK_GLASS_CHECK_NOT_COVERED) << SidString(id);
  }
}

// The wire contract from a second gRPC implementation (consent_python_client.py).
TEST_F(ConsentE2eTest, PythonClientDrivesDirectivesAndDecisions) {
  std::string python;
  if (std::string missing = MissingPythonGrpc(&python); !missing.empty()) {
    if (hie::testing::ServersRequired()) FAIL() << "not installed: " << missing;
    GTEST_SKIP() << "not installed: " << missing;
  }
  StartPostgres(/*fast=*/true);
  auto consent = NewConsent("consent");
  ASSERT_TRUE(consent->Start().ok());
  std::string out;
  absl::StatusOr<int> code =
      RunCommand({python, "-B", HIE_E2E_CONSENT_PYTHON_CLIENT, "--target", consent->address(),
                  "--certs", HIE_TEST_CERTS_DIR, "--proto-dir",
                  std::string(HIE_SOURCE_DIR) + "/proto", "--work-dir", sandbox_->Path("python")},
                 &out, absl::Seconds(150));
  std::cout << out;
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << "consent_python_client.py failed (its output is above)";
}

}  // namespace
}  // namespace hie::e2e
