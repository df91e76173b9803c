// The whole hub as real processes on loopback with mutual TLS, driven through hie-gateway the way
// member clinics use it: hie-identity, -locator, -registry, -consent, -audit and -gateway on one
// PostgreSQL, and five hie-member processes (clinic-a ... clinic-e) that feed their patients and
// publish their documents through the gateway at start. One person, "Ann", is a patient of all
// five (the same demographics, so identity links the records); "Bob" only of clinic-b.
// clinic-d hangs (answers start, never finish) and clinic-e black-holes every data call.
//
//   - a federated query from clinic-a: clinic-b and clinic-c answer live, clinic-d and clinic-e
//     are TIMEOUT within the deadline (their published entries still answer from the registry);
//     then their breakers skip them at once (CIRCUIT_OPEN) and the query is fast;
//   - a document retrieved through the gateway, byte for byte, after a DISCLOSURE record;
//   - discovery by demographics: a person singled out with certainty answers as her record does,
//     a stranger releases nothing;
//   - a certificate of clinic-a cannot publish for clinic-b nor read clinic-b's patient; an
//     operator certificate cannot query or retrieve;
//   - consent recorded, and revoked, by the patient's clinic through the gateway (another
//     clinic cannot revoke it); a denial means the member is never contacted (its own log shows
//     no request); a clinician's break-glass grant opens the records for that clinician only;
//   - no audit record, no data: with hie-audit down the query releases nothing;
//   - a merge then an unmerge of two persons leaves the query's answer as before;
//   - staff through the gateway's OperatorGateway and AdminGateway, each with its certificate's
//     role: an operator finds Ann's person (Resolve, SearchPersons), merges Bob's into it (Bob's
//     note joins Ann's outside records) and unmerges (the answer as before), a merge without a
//     reason named INVALID_ARGUMENT; the operator cannot read the audit log and a member
//     certificate cannot use the operator API; the privacy officer finds the federated query's
//     QUERY event for Ann's record (and the search itself recorded as theirs) and verifies the
//     log; the admin verifies it and lists the five members in order but cannot search events;
//     with hiectl the admin suspends a member (not queried, its calls refused) and reactivates
//     it; an operator may not;
//   - Node's @grpc/grpc-js (node/gateway_client.js) checks the wire contract, the staff APIs
//     included.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "hie/gateway/v1/gateway.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "hie/locator/v1/locator.grpc.pb.h"
#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/service_process.h"

namespace hie::e2e {
namespace {

namespace gv1 = ::hie::gateway::v1;
namespace rv1 = ::hie::registry::v1;
namespace cm = ::hie::common::v1;

const std::vector<std::string> kOrgs = {"clinic-a", "clinic-b", "clinic-c", "clinic-d", "clinic-e"};

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out).ok());
  return out;
}

// One document line of a member's documents.jsonl (its content written beside it).
std::string DocumentLine(const std::string& dir, const std::string& local_id,
                         const std::string& key, int year, const std::string& content) {
  rv1::DocumentEntry e;
  e.set_unique_id("urn:e2e:" + key);
  e.mutable_patient()->set_local_id(local_id);
  for (auto* code : {e.mutable_class_code(), e.mutable_type_code()}) {
    code->set_system("http://loinc.org");
    code->set_code("11488-4");  // consult note
  }
  e.mutable_format_code()->set_system("urn:oid:1.3.6.1.4.1.19376.1.2.3");
  e.mutable_format_code()->set_code("urn:ihe:pcc:xphr:2007");
  e.set_mime_type("text/plain");
  auto* n = e.add_confidentiality_codes();
  n->set_system("http://terminology.hl7.org/CodeSystem/v3-Confidentiality");
  n->set_code("N");
  e.mutable_creation_time()->set_seconds(
      absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(year, 3, 4), absl::UTCTimeZone())));
  e.mutable_location()->set_retrieve_key(key);
  std::ofstream(dir + "/content/" + key) << content;
  return Json(e);
}

class GatewayE2eTest : public E2eTest {
 protected:
  static std::string Content(const std::string& key) {
    return absl::StrCat("Consult note ", key, ": all well.\n");
  }

  // Every member's data folder: Ann (MadeUpPatient(1)) everywhere, Bob (2) at clinic-b.
  void WriteMemberData() {
    for (const std::string& org : kOrgs) {
      const std::string dir = sandbox_->Path("data-" + org);
      ASSERT_EQ(RunCommand({"mkdir", "-p", dir + "/content"}).value_or(1), 0);
      const std::string ann = org.substr(7) + "-ann";  // "a-ann"...
      std::ofstream patients(dir + "/patients.jsonl");
      patients << "{\"localId\":\"" << ann
               << "\",\"demographics\":" << Json(DemographicsOf(MadeUpPatient(1))) << "}\n";
      std::ofstream docs(dir + "/documents.jsonl");
      docs << DocumentLine(dir, ann, org + "-note-1", 2021, Content(org + "-note-1")) << "\n";
      if (org == "clinic-b") {
        patients << "{\"localId\":\"b-bob\",\"demographics\":"
                 << Json(DemographicsOf(MadeUpPatient(2))) << "}\n";
        docs << DocumentLine(dir, ann, "clinic-b-note-2", 2023, Content("clinic-b-note-2")) << "\n";
        docs << DocumentLine(dir, "b-bob", "clinic-b-bob-1", 2022, Content("clinic-b-bob-1"))
             << "\n";
      }
    }
  }

  void StartHub() {
    StartPostgres(/*fast=*/true);
    identity_ = StartIdentity("identity");
    ASSERT_NE(identity_, nullptr);
    const std::string identity = absl::StrCat("--identity=127.0.0.1:", identity_->grpc_port());
    const std::string pg = absl::StrCat("--pg-dsn=", pg_->dsn());
    auto client = [](const std::string& name) {
      TlsFiles f = hie::testing::TestCertFiles(name + "-client");
      return std::vector<std::string>{"--client-cert=" + f.cert_file, "--client-key=" + f.key_file};
    };
    auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    audit_ = std::make_unique<ServiceProcess>(
        sandbox_.get(), "audit", HIE_AUDIT_BIN, "audit",
        with({pg, absl::StrCat("--signing-key=", HIE_TEST_CERTS_DIR, "/audit-signing.key"),
              "--checkpoint-dir=" + sandbox_->Path("checkpoints"), "--identity="},
             client("audit")));
    ASSERT_TRUE(audit_->Start().ok());
    consent_ =
        std::make_unique<ServiceProcess>(sandbox_.get(), "consent", HIE_CONSENT_BIN, "consent",
                                         with({pg, identity, "--audit=" + audit_->address(),
                                               "--default-mode=opt-out", "--outbox-period=200ms"},
                                              client("consent")));
    ASSERT_TRUE(consent_->Start().ok());
    registry_ = std::make_unique<ServiceProcess>(sandbox_.get(), "registry", HIE_REGISTRY_BIN,
                                                 "registry", std::vector<std::string>{pg});
    ASSERT_TRUE(registry_->Start().ok());
    locator_ = std::make_unique<ServiceProcess>(
        sandbox_.get(), "locator", HIE_LOCATOR_BIN, "locator",
        with({pg, identity, "--registry=" + registry_->address(), "--registry-poll=50ms"},
             client("locator")));
    ASSERT_TRUE(locator_->Start().ok());

    // Ports are chosen when a process is made: the gateway first (the members' --hub), then
    // the members (the gateway's directory), then the directory file, then the starts.
    WriteMemberData();
    gateway_ = std::make_unique<ServiceProcess>(
        sandbox_.get(), "gateway", HIE_GATEWAY_BIN, "gateway",
        with({"--members=" + sandbox_->Path("members.csv"), pg, identity,
              "--locator=" + locator_->address(), "--registry=" + registry_->address(),
              "--consent=" + consent_->address(), "--audit=" + audit_->address(),
              "--breaker-failures=2", "--breaker-open=60s"},
             client("gateway")));
    std::string directory;
    for (const std::string& org : kOrgs) {
      TlsFiles own = hie::testing::TestCertFiles(org);
      members_[org] = std::make_unique<ServiceProcess>(
          sandbox_.get(), org, HIE_MEMBER_BIN, org + "-endpoint",
          std::vector<std::string>{
              "--org=" + org, "--data-dir=" + sandbox_->Path("data-" + org),
              "--hub=" + gateway_->address(), "--client-cert=" + own.cert_file,
              "--client-key=" + own.key_file,
              std::string("--fault-hang=") + (org == "clinic-d" ? "true" : "false"),
              std::string("--fault-black-hole=") + (org == "clinic-e" ? "true" : "false")});
      absl::StrAppend(&directory, org, ",", members_[org]->address(), ",active,1000,Clinic ",
                      org.substr(7), "\n");
    }
    std::ofstream(sandbox_->Path("members.csv")) << directory;
    ASSERT_TRUE(gateway_->Start().ok());
    ASSERT_FALSE(HasFailure());
  }

  // Starts the members and waits until each
  // has fed the hub and the locator knows Ann's documents at every member.
  void StartMembersAndWaitForFeeds() {
    for (const std::string& org : kOrgs) ASSERT_TRUE(members_[org]->Start().ok()) << org;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    for (const std::string& org : kOrgs) {
      while (LogLines(members_[org]->log_path(), "hub_feed_done") == 0) {
        ASSERT_LT(absl::Now(), deadline) << org << " did not finish its feed";
        absl::SleepFor(absl::Milliseconds(100));
      }
      EXPECT_EQ(LogLines(members_[org]->log_path(), "hub_feed_failed"), 0) << org;
    }
    auto locator = hie::locator::v1::RecordLocator::NewStub(locator_->Channel("gateway-client"));
    for (;;) {
      hie::locator::v1::LocateRequest request;
      request.mutable_context()->set_request_id(NewRequestId());
      request.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_TREATMENT);
      request.mutable_context()->mutable_actor()->set_org("clinic-a");
      request.mutable_context()->mutable_actor()->set_role(cm::ROLE_MEMBER_SYSTEM);
      for (const std::string& org : kOrgs) *request.add_source_ids() = Sid(org, Ann(org));
      hie::locator::v1::LocateResponse response;
      std::set<std::string> with_documents;
      if (locator->Locate(Deadline().get(), request, &response).ok()) {
        for (const auto& l : response.locations()) {
          if (l.document_count() > 0) with_documents.insert(l.source_id().org());
        }
      }
      if (with_documents.size() == kOrgs.size()) break;
      ASSERT_LT(absl::Now(), deadline) << "the locator did not learn every member's documents";
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  static std::string Ann(const std::string& org) { return org.substr(7) + "-ann"; }

  static int LogLines(const std::string& path, const std::string& needle) {
    std::ifstream in(path);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
    return n;
  }

  std::unique_ptr<gv1::MemberGateway::Stub> Gateway(const std::string& cert) {
    return gv1::MemberGateway::NewStub(gateway_->Channel(cert));
  }
  std::unique_ptr<gv1::OperatorGateway::Stub> OperatorApi(const std::string& cert) {
    return gv1::OperatorGateway::NewStub(gateway_->Channel(cert));
  }
  std::unique_ptr<gv1::AdminGateway::Stub> AdminApi(const std::string& cert) {
    return gv1::AdminGateway::NewStub(gateway_->Channel(cert));
  }

  // The ClientContext of HIE staff (core/staff_access.h): SYSTEM_ADMINISTRATION, the user from
  // the certificate.
  static cm::ClientContext Staff() {
    cm::ClientContext c;
    c.set_purpose_of_use(cm::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
    c.set_request_id(NewRequestId());
    return c;
  }

  static cm::ClientContext Clinician() {
    cm::ClientContext c;
    c.set_purpose_of_use(cm::PURPOSE_OF_USE_TREATMENT);
    c.set_user_id("dr-ada");
    c.set_user_role(cm::ROLE_CLINICIAN);
    c.set_request_id(NewRequestId());
    return c;
  }

  struct Answer {
    grpc::Status status;
    std::map<std::string, gv1::MemberResult> members;
    gv1::QuerySummary summary;
    absl::Duration elapsed;
    // (org, unique id) of every entry released.
    std::set<std::pair<std::string, std::string>> documents() const {
      std::set<std::pair<std::string, std::string>> out;
      for (const auto& [org, r] : members) {
        for (const auto& e : r.entries()) out.insert({org, e.unique_id()});
      }
      return out;
    }
  };

  Answer Find(const std::string& cert, const std::string& local_id,
              absl::Duration deadline = absl::Seconds(1),
              const cm::ClientContext& context = Clinician()) {
    gv1::FindOutsideRecordsRequest request;
    *request.mutable_context() = context;
    request.set_local_id(local_id);
    return Ask(cert, request, deadline);
  }

  Answer Ask(const std::string& cert, const gv1::FindOutsideRecordsRequest& request,
             absl::Duration deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    Answer out;
    const absl::Time start = absl::Now();
    auto stub = Gateway(cert);
    auto reader = stub->FindOutsideRecords(&ctx, request);
    gv1::FindOutsideRecordsResponse m;
    while (reader->Read(&m)) {
      if (m.has_member_result()) out.members[m.member_result().member_org()] = m.member_result();
      if (m.has_summary()) out.summary = m.summary();
    }
    out.status = reader->Finish();
    out.elapsed = absl::Now() - start;
    return out;
  }

  struct Retrieved {
    grpc::Status status;
    std::string content;
    int headers = 0;
  };
  Retrieved Retrieve(const std::string& cert, const std::string& member_org,
                     const std::string& key) {
    gv1::RetrieveDocumentRequest request;
    *request.mutable_context() = Clinician();
    request.set_local_id("a-ann");
    request.set_member_org(member_org);
    request.set_retrieve_key(key);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stub = Gateway(cert);
    auto reader = stub->RetrieveDocument(&ctx, request);
    Retrieved out;
    hie::member::v1::RetrieveDocumentResponse m;
    while (reader->Read(&m)) {
      out.headers += m.has_header();
      out.content += m.chunk();
    }
    out.status = reader->Finish();
    return out;
  }

  IdentityProcess* identity_ = nullptr;
  std::unique_ptr<ServiceProcess> audit_, consent_, registry_, locator_, gateway_;
  std::map<std::string, std::unique_ptr<ServiceProcess>> members_;
};

TEST_F(GatewayE2eTest, FederatesAcrossMemberProcessesWithinTheDeadline) {
  StartHub();
  ASSERT_FALSE(HasFailure());
  StartMembersAndWaitForFeeds();
  ASSERT_FALSE(HasFailure());

  // Results from several members; the hung and the black-holed one reported, within 1 s.
  Answer a = Find("clinic-a", "a-ann");
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_LT(a.elapsed, absl::Milliseconds(1500));
  EXPECT_EQ(a.members.count("clinic-a"), 0u);  // the caller's own org is not queried
  EXPECT_EQ(a.members["clinic-b"].status(), gv1::MEMBER_STATUS_OK);
  EXPECT_EQ(a.members["clinic-b"].entries_size(), 2);  // Ann's two notes, not Bob's
  EXPECT_EQ(a.members["clinic-c"].status(), gv1::MEMBER_STATUS_OK);
  EXPECT_EQ(a.members["clinic-d"].status(), gv1::MEMBER_STATUS_TIMEOUT);
  EXPECT_EQ(a.members["clinic-e"].status(), gv1::MEMBER_STATUS_TIMEOUT);
  // A dead member's published entries still answer, from the registry.
  ASSERT_EQ(a.members["clinic-d"].entries_size(), 1);
  EXPECT_EQ(a.members["clinic-d"].entry_sources(0), gv1::ENTRY_SOURCE_REGISTRY);
  EXPECT_EQ(a.members["clinic-b"].entry_sources(0), gv1::ENTRY_SOURCE_REGISTRY_AND_MEMBER);
  EXPECT_TRUE(a.summary.partial());
  EXPECT_EQ(a.summary.members_total(), 4);
  EXPECT_EQ(a.summary.members_size(), 4);
  for (const auto& [org, r] : a.members) {
    for (const auto& e : r.entries()) EXPECT_TRUE(e.patient().local_id().empty()) << org;
  }

  // The breakers (2 failures) then skip the dead members at once.
  Find("clinic-a", "a-ann");
  Answer fast = Find("clinic-a", "a-ann");
  ASSERT_TRUE(fast.status.ok()) << fast.status.error_message();
  EXPECT_EQ(fast.members["clinic-d"].status(), gv1::MEMBER_STATUS_CIRCUIT_OPEN);
  EXPECT_EQ(fast.members["clinic-e"].status(), gv1::MEMBER_STATUS_CIRCUIT_OPEN);
  EXPECT_EQ(fast.members["clinic-b"].status(), gv1::MEMBER_STATUS_OK);
  EXPECT_LT(fast.elapsed, absl::Milliseconds(500));
  EXPECT_EQ(fast.documents(), a.documents());

  // A document, byte for byte, through the gateway.
  Retrieved doc = Retrieve("clinic-a", "clinic-b", "clinic-b-note-2");
  ASSERT_TRUE(doc.status.ok()) << doc.status.error_message();
  EXPECT_EQ(doc.headers, 1);
  EXPECT_EQ(doc.content, Content("clinic-b-note-2"));
  // Bob's document is not Ann's: NOT_FOUND, as for an unknown one.
  EXPECT_EQ(Retrieve("clinic-a", "clinic-b", "clinic-b-bob-1").status.error_code(),
            grpc::StatusCode::NOT_FOUND);

  // The same through hiectl, as a clinic's staff would use it.
  const TlsFiles files = hie::testing::TestCertFiles("clinic-a");
  const std::vector<std::string> as_clinic_a = {"--target=" + gateway_->address(),
                                                "--tls-ca=" + files.ca_file,
                                                "--tls-cert=" + files.cert_file,
                                                "--tls-key=" + files.key_file,
                                                "--user=dr-ada",
                                                "--local-id=a-ann"};
  std::vector<std::string> argv = {HIE_HIECTL_BIN, "outside-records", "--timeout=2s"};
  argv.insert(argv.end(), as_clinic_a.begin(), as_clinic_a.end());
  std::string out;
  ASSERT_EQ(RunCommand(argv, &out).value_or(-1), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("clinic-b (Clinic b): ok, 2 entries"));
  EXPECT_THAT(out, ::testing::HasSubstr("clinic-b-note-2"));  // the key to retrieve it with
  EXPECT_THAT(out, ::testing::HasSubstr("circuit-open"));
  EXPECT_THAT(out, ::testing::HasSubstr("PARTIAL"));
  argv = {HIE_HIECTL_BIN, "retrieve", "--member-org=clinic-b", "--key=clinic-b-note-2",
          "--out=" + sandbox_->Path("note.txt")};
  argv.insert(argv.end(), as_clinic_a.begin(), as_clinic_a.end());
  out.clear();
  ASSERT_EQ(RunCommand(argv, &out).value_or(-1), 0) << out;
  std::ifstream written(sandbox_->Path("note.txt"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(written), {}), Content("clinic-b-note-2"));

  // An operator certificate reads no documents.
  Answer op = Find("operator", "a-ann");
  EXPECT_EQ(op.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(op.members.empty());
  Retrieved op_doc = Retrieve("operator", "clinic-b", "clinic-b-note-2");
  EXPECT_EQ(op_doc.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(op_doc.content.empty());

  // clinic-a's certificate cannot publish for clinic-b, nor ask about clinic-b's patient (its
  // local id is read as clinic-a's own: unknown).
  gv1::PublishDocumentsRequest publish;
  publish.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_OPERATIONS);
  publish.mutable_context()->set_user_role(cm::ROLE_MEMBER_SYSTEM);
  publish.set_idempotency_key("as-b");
  *publish.add_entries()->mutable_patient() = Sid("clinic-b", "b-ann");
  rv1::RegisterSubmissionSetResponse published;
  grpc::Status s = Gateway("clinic-a")->PublishDocuments(Deadline().get(), publish, &published);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(Find("clinic-a", "b-ann").status.error_code(), grpc::StatusCode::NOT_FOUND);
  gv1::FeedPatientRequest feed;
  feed.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_OPERATIONS);
  feed.mutable_context()->set_user_role(cm::ROLE_MEMBER_SYSTEM);
  feed.set_local_id("x-1");
  feed.set_idempotency_key("x-1");
  gv1::FeedPatientResponse fed;
  s = Gateway("operator")->FeedPatient(Deadline().get(), feed, &fed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();

  // Discovery by demographics (XCPD): Ann's demographics single her out with certainty, so the
  // answer is the one her record gives; a person nobody fed releases nothing.
  gv1::FindOutsideRecordsRequest walk_in;
  *walk_in.mutable_context() = Clinician();
  *walk_in.mutable_demographics() = DemographicsOf(MadeUpPatient(1));
  const Answer by_record = Find("clinic-a", "a-ann", absl::Seconds(2));
  const Answer discovered = Ask("clinic-a", walk_in, absl::Seconds(2));
  ASSERT_TRUE(discovered.status.ok()) << discovered.status.error_message();
  EXPECT_EQ(discovered.members.at("clinic-b").status(), gv1::MEMBER_STATUS_OK);
  EXPECT_EQ(discovered.documents(), by_record.documents());
  *walk_in.mutable_demographics() = DemographicsOf(MadeUpPatient(77));
  const Answer stranger = Ask("clinic-a", walk_in, absl::Seconds(2));
  EXPECT_EQ(stranger.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(stranger.members.empty());
}

TEST_F(GatewayE2eTest, ConsentAuditAndMergesGovernWhatIsReleased) {
  StartHub();
  ASSERT_FALSE(HasFailure());
  StartMembersAndWaitForFeeds();
  ASSERT_FALSE(HasFailure());
  const Answer before = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();
  ASSERT_EQ(before.members.at("clinic-c").status(), gv1::MEMBER_STATUS_OK);

  // The patient refuses clinic-a access to clinic-c's records; clinic-a's registrar records
  // the choice through the gateway: clinic-c is reported denied and never contacted.
  namespace cv1 = ::hie::consent::v1;
  gv1::CreateConsentDirectiveRequest deny;
  deny.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_OPERATIONS);
  deny.mutable_context()->set_user_id("registrar-1");
  deny.mutable_context()->set_user_role(cm::ROLE_ADMINISTRATIVE_STAFF);
  deny.mutable_directive()->mutable_patient()->set_local_id("a-ann");
  deny.mutable_directive()->set_effect(cv1::EFFECT_DENY);
  deny.mutable_directive()->add_actor_orgs("clinic-a");
  deny.mutable_directive()->add_custodian_orgs("clinic-c");
  deny.mutable_directive()->mutable_effective_period()->mutable_start()->set_seconds(
      absl::ToUnixSeconds(absl::Now() - absl::Minutes(1)));
  deny.set_idempotency_key(NewRequestId());
  cv1::ConsentDirective directive;
  grpc::Status s = Gateway("clinic-a")->CreateConsentDirective(Deadline().get(), deny, &directive);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(directive.patient().org(), "clinic-a");
  // clinic-b cannot see or revoke clinic-a's patient's directive.
  gv1::RevokeConsentDirectiveRequest revoke;
  *revoke.mutable_context() = deny.context();
  revoke.set_directive_id(directive.directive_id());
  revoke.set_reason("e2e: the patient withdrew the refusal");
  revoke.set_idempotency_key(NewRequestId());
  cv1::ConsentDirective revoked;
  s = Gateway("clinic-b")->RevokeConsentDirective(Deadline().get(), revoke, &revoked);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  // The first query reached it, and its log shows that (a service writes its info lines within
  // 50 ms: services/common/logging.h).
  int c_calls = 0;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(5);
       (c_calls = LogLines(members_["clinic-c"]->log_path(), "FindDocuments")) == 0 &&
       absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GT(c_calls, 0);
  Answer denied = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(denied.status.ok()) << denied.status.error_message();
  EXPECT_EQ(denied.members["clinic-c"].status(), gv1::MEMBER_STATUS_DENIED_BY_CONSENT);
  EXPECT_EQ(denied.members["clinic-c"].entries_size(), 0);
  EXPECT_EQ(denied.members["clinic-b"].status(), gv1::MEMBER_STATUS_OK);
  absl::SleepFor(absl::Milliseconds(300));  // a late log line would show here
  EXPECT_EQ(LogLines(members_["clinic-c"]->log_path(), "FindDocuments"), c_calls);
  EXPECT_EQ(Retrieve("clinic-a", "clinic-c", "clinic-c-note-1").status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // In an emergency a clinic-a clinician breaks the glass: the grant opens clinic-c's records
  // for that clinician alone, on the record.
  gv1::BreakGlassRequest glass;
  glass.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_EMERGENCY);
  glass.mutable_context()->set_user_id("dr-ada");
  glass.mutable_context()->set_user_role(cm::ROLE_CLINICIAN);
  glass.set_local_id("a-ann");
  glass.set_reason("e2e: unconscious, allergies unknown");
  glass.set_reason_code(cv1::BREAK_GLASS_REASON_PATIENT_UNABLE_TO_CONSENT);
  glass.set_idempotency_key(NewRequestId());
  gv1::BreakGlassResponse grant;
  s = Gateway("clinic-a")->BreakGlass(Deadline().get(), glass, &grant);
  ASSERT_TRUE(s.ok()) << s.error_message();
  cm::ClientContext emergency = Clinician();
  emergency.set_purpose_of_use(cm::PURPOSE_OF_USE_EMERGENCY);
  emergency.set_break_glass_id(grant.grant_id());
  Answer glass_broken;
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    glass_broken = Find("clinic-a", "a-ann", absl::Seconds(2), emergency);
    if (glass_broken.members["clinic-c"].status() == gv1::MEMBER_STATUS_OK) break;
    absl::SleepFor(absl::Milliseconds(200));  // consent's decision view catches up
  }
  ASSERT_TRUE(glass_broken.status.ok()) << glass_broken.status.error_message();
  EXPECT_EQ(glass_broken.members["clinic-c"].status(), gv1::MEMBER_STATUS_OK)
      << glass_broken.members["clinic-c"].detail();
  cm::ClientContext someone_else = emergency;
  someone_else.set_user_id("dr-bob");  // the grant is dr-ada's
  Answer not_theirs = Find("clinic-a", "a-ann", absl::Seconds(2), someone_else);
  EXPECT_NE(not_theirs.members["clinic-c"].status(), gv1::MEMBER_STATUS_OK);
  EXPECT_EQ(not_theirs.members["clinic-c"].entries_size(), 0);
  // The same with hiectl: dr-bob breaks the glass for himself, then queries with his grant.
  const TlsFiles a_tls = hie::testing::TestCertFiles("clinic-a");
  const std::vector<std::string> as_a = {"--target=" + gateway_->address(),
                                         "--tls-ca=" + a_tls.ca_file,
                                         "--tls-cert=" + a_tls.cert_file,
                                         "--tls-key=" + a_tls.key_file,
                                         "--local-id=a-ann",
                                         "--user=dr-bob"};
  std::vector<std::string> argv = {HIE_HIECTL_BIN, "break-glass", "--json",
                                   "--reason=e2e: collapsed in clinic",
                                   "--reason-code=life-threatening"};
  argv.insert(argv.end(), as_a.begin(), as_a.end());
  std::string out;
  ASSERT_EQ(RunCommand(argv, &out).value_or(-1), 0) << out;
  const size_t at = out.find("\"grant_id\":\"");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string bob_grant = out.substr(at + 12, out.find('"', at + 12) - (at + 12));
  argv = {HIE_HIECTL_BIN, "outside-records", "--timeout=2s", "--purpose=emergency",
          "--break-glass-id=" + bob_grant};
  argv.insert(argv.end(), as_a.begin(), as_a.end());
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    out.clear();
    (void)RunCommand(argv, &out);
    if (out.find("clinic-c (Clinic c): ok") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(200));  // consent's decision view catches up
  }
  EXPECT_THAT(out, ::testing::HasSubstr("clinic-c (Clinic c): ok")) << out;
  // clinic-a's registrar keeps Ann's directives with hiectl: records one, sees both, revokes it.
  const std::vector<std::string> registrar = {
      "--target=" + gateway_->address(), "--tls-ca=" + a_tls.ca_file,
      "--tls-cert=" + a_tls.cert_file, "--tls-key=" + a_tls.key_file, "--user=registrar-1"};
  argv = {HIE_HIECTL_BIN,  "patient-consent",     "create", "--json", "--local-id=a-ann",
          "--effect=deny", "--actor-org=clinic-z"};
  argv.insert(argv.end(), registrar.begin(), registrar.end());
  out.clear();
  ASSERT_EQ(RunCommand(argv, &out).value_or(-1), 0) << out;
  const size_t id_at = out.find("\"directive_id\":\"");
  ASSERT_NE(id_at, std::string::npos) << out;
  const std::string kept = out.substr(id_at + 16, out.find('"', id_at + 16) - (id_at + 16));
  argv = {HIE_HIECTL_BIN, "patient-consent", "list", "--local-id=a-ann"};
  argv.insert(argv.end(), registrar.begin(), registrar.end());
  out.clear();
  ASSERT_EQ(RunCommand(argv, &out).value_or(-1), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr(kept));
  EXPECT_THAT(out, ::testing::HasSubstr(directive.directive_id()));  // the refusal above
  argv = {HIE_HIECTL_BIN, "patient-consent", "revoke", kept, "--json", "--reason=e2e: withdrawn"};
  argv.insert(argv.end(), registrar.begin(), registrar.end());
  out.clear();
  ASSERT_EQ(RunCommand(argv, &out).value_or(-1), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("DIRECTIVE_STATE_REVOKED")) << out;

  // No audit record, no data: hie-audit down, nothing is released.
  audit_->Kill9();
  Answer unaudited = Find("clinic-a", "a-ann", absl::Seconds(2));
  EXPECT_EQ(unaudited.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(unaudited.members.empty());
  Retrieved doc = Retrieve("clinic-a", "clinic-b", "clinic-b-note-2");
  EXPECT_FALSE(doc.status.ok());
  EXPECT_TRUE(doc.content.empty());
  ASSERT_TRUE(audit_->Start().ok());
  Answer audited;  // the gateway reconnects within about a second
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    audited = Find("clinic-a", "a-ann", absl::Seconds(2));
    if (audited.status.ok()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(audited.status.ok()) << audited.status.error_message();
  EXPECT_EQ(audited.documents(), denied.documents());

  // An operator merges Ann's person with Bob's: Bob's note is now among Ann's outside records.
  // The unmerge restores the answer exactly.
  auto identity = identity_->Stub("operator");
  auto person_of = [&](const std::string& org, const std::string& local_id) {
    hie::identity::v1::ResolveRequest r = WithContext(hie::identity::v1::ResolveRequest());
    *r.mutable_source_id() = Sid(org, local_id);
    hie::identity::v1::ResolveResponse out;
    grpc::Status st = identity->Resolve(Deadline().get(), r, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out.person_id();
  };
  const std::string ann = person_of("clinic-a", "a-ann");
  const std::string bob = person_of("clinic-b", "b-bob");
  ASSERT_NE(ann, bob);
  hie::identity::v1::MergePersonsRequest merge =
      WithContext(hie::identity::v1::MergePersonsRequest());
  merge.set_survivor_person_id(ann);
  merge.set_merged_person_id(bob);
  merge.set_reason("e2e: same person?");
  merge.set_force(true);  // their identifiers differ: a guard the operator overrides
  merge.set_idempotency_key(NewRequestId());
  hie::identity::v1::MergePersonsResponse merged;
  s = identity->MergePersons(Deadline().get(), merge, &merged);
  ASSERT_TRUE(s.ok()) << s.error_message();
  Answer with_bob = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(with_bob.status.ok()) << with_bob.status.error_message();
  EXPECT_EQ(with_bob.documents().count({"clinic-b", "urn:e2e:clinic-b-bob-1"}), 1u);

  hie::identity::v1::UnmergePersonsRequest unmerge =
      WithContext(hie::identity::v1::UnmergePersonsRequest());
  unmerge.set_merge_event_id(merged.merge_event_id());
  unmerge.set_reason("e2e: not the same person");
  unmerge.set_idempotency_key(NewRequestId());
  hie::identity::v1::UnmergePersonsResponse unmerged;
  s = identity->UnmergePersons(Deadline().get(), unmerge, &unmerged);
  ASSERT_TRUE(s.ok()) << s.error_message();
  Answer after = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.documents(), denied.documents());
  // The live members answer as before (the dead ones' breakers have opened meanwhile).
  for (const std::string org : {"clinic-b", "clinic-c"}) {
    EXPECT_EQ(after.members[org].status(), denied.members[org].status()) << org;
  }

  // clinic-a revokes the refusal at the patient's request: clinic-c answers again.
  revoke.set_idempotency_key(NewRequestId());
  s = Gateway("clinic-a")->RevokeConsentDirective(Deadline().get(), revoke, &revoked);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(revoked.state(), cv1::DIRECTIVE_STATE_REVOKED);
  Answer permitted;
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    permitted = Find("clinic-a", "a-ann", absl::Seconds(2));
    if (permitted.members["clinic-c"].status() == gv1::MEMBER_STATUS_OK) break;
    absl::SleepFor(absl::Milliseconds(200));  // consent's decision view catches up
  }
  EXPECT_EQ(permitted.members["clinic-c"].status(), gv1::MEMBER_STATUS_OK);
}

// HIE staff work through the gateway's OperatorGateway and AdminGateway, each as the role its
// certificate gives it (core/staff_access.h): the services act for the staff member the
// gateway names.
TEST_F(GatewayE2eTest, StaffWorkGoesThroughTheGatewayWithTheirRoles) {
  namespace iv1 = ::hie::identity::v1;
  namespace av1 = ::hie::audit::v1;
  StartHub();
  ASSERT_FALSE(HasFailure());
  StartMembersAndWaitForFeeds();
  ASSERT_FALSE(HasFailure());
  const std::pair<std::string, std::string> bobs_note = {"clinic-b", "urn:e2e:clinic-b-bob-1"};

  // A clinician's federated query for Ann (its request id comes back in the QUERY record).
  const cm::ClientContext clinician = Clinician();
  const Answer before = Find("clinic-a", "a-ann", absl::Seconds(2), clinician);
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();
  ASSERT_EQ(before.members.at("clinic-b").status(), gv1::MEMBER_STATUS_OK);
  ASSERT_EQ(before.documents().count(bobs_note), 0u);

  // The operator finds Ann's person by one of her records, and by her demographics.
  auto op = OperatorApi("operator");
  auto resolve = [&](const std::string& org, const std::string& local_id) {
    gv1::ResolveRequest r;
    *r.mutable_context() = Staff();
    *r.mutable_source_id() = Sid(org, local_id);
    iv1::ResolveResponse out;
    grpc::Status st = op->Resolve(Deadline().get(), r, &out);
    EXPECT_TRUE(st.ok()) << org << "/" << local_id << ": " << CodeName(st.error_code()) << " "
                         << st.error_message();
    return out;
  };
  const iv1::ResolveResponse ann = resolve("clinic-a", "a-ann");
  ASSERT_FALSE(ann.person_id().empty());
  std::set<std::string> ann_records;
  for (const auto& x : ann.cross_references()) ann_records.insert(SidString(x.source_id()));
  std::set<std::string> every_ann;
  for (const std::string& org : kOrgs) every_ann.insert(org + "/" + Ann(org));
  EXPECT_EQ(ann_records, every_ann);
  const std::string bob = resolve("clinic-b", "b-bob").person_id();
  ASSERT_FALSE(bob.empty());
  ASSERT_NE(ann.person_id(), bob);
  gv1::SearchPersonsRequest search;
  *search.mutable_context() = Staff();
  *search.mutable_query() = DemographicsOf(MadeUpPatient(1));
  iv1::SearchPersonsResponse found;
  grpc::Status s = op->SearchPersons(Deadline().get(), search, &found);
  ASSERT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message();
  ASSERT_GT(found.matches_size(), 0);
  EXPECT_EQ(found.matches(0).candidate().person_id(), ann.person_id());
  std::set<std::string> found_records;
  for (const auto& id : found.matches(0).source_ids()) found_records.insert(SidString(id));
  EXPECT_EQ(found_records.count("clinic-a/a-ann"), 1u);

  // A merge needs a reason; with one, Bob's note is among Ann's outside records.
  gv1::MergePersonsRequest merge;
  *merge.mutable_context() = Staff();
  merge.set_survivor_person_id(ann.person_id());
  merge.set_merged_person_id(bob);
  merge.set_force(true);  // their identifiers differ: a guard the operator overrides
  merge.set_idempotency_key(NewRequestId());
  iv1::MergePersonsResponse merged;
  s = op->MergePersons(Deadline().get(), merge, &merged);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << CodeName(s.error_code());
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("reason"));
  EXPECT_EQ(resolve("clinic-b", "b-bob").person_id(), bob);  // nothing merged
  *merge.mutable_context() = Staff();
  merge.set_reason("e2e: same person?");
  merge.set_idempotency_key(NewRequestId());
  s = op->MergePersons(Deadline().get(), merge, &merged);
  ASSERT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message();
  ASSERT_FALSE(merged.merge_event_id().empty());
  EXPECT_EQ(resolve("clinic-b", "b-bob").person_id(), ann.person_id());
  Answer with_bob = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(with_bob.status.ok()) << with_bob.status.error_message();
  EXPECT_EQ(with_bob.documents().count(bobs_note), 1u);

  // The unmerge restores the answer.
  gv1::UnmergePersonsRequest unmerge;
  *unmerge.mutable_context() = Staff();
  unmerge.set_merge_event_id(merged.merge_event_id());
  unmerge.set_reason("e2e: not the same person");
  unmerge.set_idempotency_key(NewRequestId());
  iv1::UnmergePersonsResponse unmerged;
  s = op->UnmergePersons(Deadline().get(), unmerge, &unmerged);
  ASSERT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message();
  EXPECT_NE(resolve("clinic-b", "b-bob").person_id(), ann.person_id());
  Answer after = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.documents(), before.documents());

  // Audit events concerning clinic-a's Ann record in the last hour, every page, as `cert`.
  auto search_events = [&](const std::string& cert, std::vector<av1::EventType> types,
                           std::vector<av1::AuditEvent>* events) {
    gv1::SearchAuditEventsRequest r;
    *r.mutable_context() = Staff();
    *r.add_patients() = Sid("clinic-a", "a-ann");
    for (av1::EventType t : types) r.add_types(t);
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    r.mutable_event_time()->mutable_start()->set_seconds(now - 3600);
    r.mutable_event_time()->mutable_end()->set_seconds(now + 1);
    auto admin = AdminApi(cert);
    for (int pages = 0; pages < 100; ++pages) {
      av1::SearchEventsResponse page;
      grpc::Status st = admin->SearchAuditEvents(Deadline().get(), r, &page);
      events->insert(events->end(), page.events().begin(), page.events().end());
      if (!st.ok() || page.next_page_token().empty()) return st;
      r.set_page_token(page.next_page_token());
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "more than 100 pages");
  };

  // The operator cannot read the audit log, nor a member certificate use the operator API.
  std::vector<av1::AuditEvent> events;
  s = search_events("operator", {}, &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << CodeName(s.error_code());
  EXPECT_TRUE(events.empty());
  gv1::ResolveRequest as_member;
  *as_member.mutable_context() = Staff();
  *as_member.mutable_source_id() = Sid("clinic-a", "a-ann");
  iv1::ResolveResponse member_answer;
  s = OperatorApi("clinic-a")->Resolve(Deadline().get(), as_member, &member_answer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << CodeName(s.error_code());
  EXPECT_TRUE(member_answer.person_id().empty());

  // The privacy officer finds the clinician's query of Ann's records...
  events.clear();
  s = search_events("auditor", {}, &events);
  ASSERT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message();
  int queries = 0;
  for (const av1::AuditEvent& e : events) {
    if (e.type() == av1::EVENT_TYPE_QUERY && e.client_request_id() == clinician.request_id()) {
      ++queries;
      EXPECT_EQ(e.action(), "gateway.FindOutsideRecords");
      EXPECT_EQ(e.actor().org(), "clinic-a");
      EXPECT_EQ(e.actor().user_id(), "dr-ada");
    }
  }
  EXPECT_EQ(queries, 1) << events.size() << " events";
  // ... and that search is on the record as theirs (hie-audit acting for the officer the
  // gateway named; the refused searches above left no such record).
  std::vector<av1::AuditEvent> accesses;
  s = search_events("auditor", {av1::EVENT_TYPE_AUDIT_ACCESS}, &accesses);
  ASSERT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message();
  EXPECT_FALSE(accesses.empty());
  for (const av1::AuditEvent& e : accesses) {
    EXPECT_EQ(e.type(), av1::EVENT_TYPE_AUDIT_ACCESS);
    EXPECT_EQ(e.actor().user_id(), "auditor") << e.action();
    EXPECT_EQ(e.actor().role(), cm::ROLE_PRIVACY_OFFICER) << e.action();
    EXPECT_THAT(e.caller_subject(), ::testing::HasSubstr("CN=gateway"));
  }

  // The officer and the admin verify the log.
  for (const std::string cert : {"auditor", "admin"}) {
    gv1::VerifyAuditLogRequest verify;
    *verify.mutable_context() = Staff();
    av1::VerifyResult result;
    s = AdminApi(cert)->VerifyAuditLog(Deadline().get(), verify, &result);
    ASSERT_TRUE(s.ok()) << cert << ": " << CodeName(s.error_code()) << " " << s.error_message();
    EXPECT_EQ(result.status(), av1::VerifyResult::STATUS_VALID) << cert << ": " << result.detail();
    EXPECT_GT(result.events_checked(), 0) << cert;
  }

  // The admin lists the members, by org, with their breakers (clinic-d and clinic-e have
  // failed twice by now: open), but reads no audit events.
  auto admin = AdminApi("admin");
  gv1::ListMembersRequest list;
  *list.mutable_context() = Staff();
  gv1::ListMembersResponse listed;
  s = admin->ListMembers(Deadline().get(), list, &listed);
  ASSERT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message();
  std::vector<std::string> orgs;
  for (const gv1::Member& m : listed.members()) {
    orgs.push_back(m.org());
    EXPECT_EQ(m.state(), gv1::MEMBER_STATE_ACTIVE) << m.org();
    EXPECT_EQ(m.endpoint(), members_[m.org()]->address()) << m.org();
    const bool dead = m.org() == "clinic-d" || m.org() == "clinic-e";
    EXPECT_EQ(m.circuit_state(), dead ? gv1::CIRCUIT_STATE_OPEN : gv1::CIRCUIT_STATE_CLOSED)
        << m.org();
  }
  EXPECT_EQ(orgs, kOrgs);
  EXPECT_TRUE(listed.next_page_token().empty());
  events.clear();
  s = search_events("admin", {}, &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << CodeName(s.error_code());
  EXPECT_TRUE(events.empty());

  // The admin suspends clinic-c with hiectl, through the gateway: at once it is not queried
  // (its registry entries still answer) and its own calls are refused; reactivated, it answers.
  auto hiectl = [&](std::vector<std::string> args, const std::string& cert = "admin") {
    const TlsFiles tls = hie::testing::TestCertFiles(cert);
    std::vector<std::string> argv = {HIE_HIECTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--target=" + gateway_->address(), "--tls-ca=" + tls.ca_file,
                             "--tls-cert=" + tls.cert_file, "--tls-key=" + tls.key_file});
    std::string out;
    const int code = RunCommand(argv, &out).value_or(-1);
    return std::make_pair(code, out);
  };
  auto [code, out] = hiectl({"members", "set-state", "clinic-c", "--state=suspended",
                             "--reason=e2e: suspended for an audit"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("suspended"));
  const Answer without_c = Find("clinic-a", "a-ann", absl::Seconds(2));
  ASSERT_TRUE(without_c.status.ok()) << without_c.status.error_message();
  EXPECT_EQ(without_c.members.at("clinic-c").status(), gv1::MEMBER_STATUS_UNAVAILABLE);
  EXPECT_EQ(without_c.members.at("clinic-c").detail(), "MEMBER_SUSPENDED");
  EXPECT_EQ(Find("clinic-c", "c-ann").status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::tie(code, out) =
      hiectl({"members", "set-state", "clinic-c", "--state=active", "--reason=e2e: audit over"});
  ASSERT_EQ(code, 0) << out;
  std::tie(code, out) = hiectl({"members", "list"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("clinic-c"));
  const Answer with_c = Find("clinic-a", "a-ann", absl::Seconds(2));
  EXPECT_EQ(with_c.members.at("clinic-c").status(), gv1::MEMBER_STATUS_OK);
  std::tie(code, out) =
      hiectl({"members", "set-state", "clinic-c", "--state=suspended", "--reason=r"}, "operator");
  EXPECT_EQ(code, 1) << out;  // the gateway refused: an operator does not keep the directory
  std::tie(code, out) = hiectl({"members", "show", "clinic-c", "--json"}, "operator");
  ASSERT_EQ(code, 0) << out;  // but may read it
  EXPECT_THAT(out, ::testing::HasSubstr("\"MEMBER_STATE_ACTIVE\""));
  EXPECT_THAT(out, ::testing::HasSubstr("\"version\":\"3\""));  // created, suspended, reactivated
}

// The same hub driven from Node's @grpc/grpc-js (node/gateway_client.js) with the repository's
// .proto files: a second gRPC implementation checks the wire contract.
TEST_F(GatewayE2eTest, NodeClientChecksTheContract) {
  const std::string node = FindProgram("node");
  const std::string modules = HIE_E2E_NODE_MODULES;
  if (node.empty() || access((modules + "/@grpc/grpc-js").c_str(), R_OK) != 0) {
    const std::string why = "node or " + modules + "/@grpc/grpc-js missing (scripts/node-deps.sh)";
    if (hie::testing::ServersRequired()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  StartHub();
  ASSERT_FALSE(HasFailure());
  StartMembersAndWaitForFeeds();
  ASSERT_FALSE(HasFailure());
  // The gateway's first connections to the members (TLS handshakes on a loaded machine) can
  // take longer than the Node client's 2 s deadline: warm them up; the contract is checked next.
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    Answer warm = Find("clinic-a", "a-ann", absl::Seconds(2));
    if (warm.status.ok() && warm.members["clinic-b"].status() == gv1::MEMBER_STATUS_OK) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::string out;
  absl::StatusOr<int> exit_code =
      RunCommand({node, HIE_E2E_NODE_CLIENT, "--target", gateway_->address(), "--certs",
                  HIE_TEST_CERTS_DIR, "--proto-dir", HIE_PROTO_DIR, "--modules", modules},
                 &out, absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << out;
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
  std::cout << out;  // each check, for the test log
}

}  // namespace
}  // namespace hie::e2e
