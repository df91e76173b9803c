#include "services/gateway/core/member_writes.h"

#include <gtest/gtest.h>

namespace hie::gateway {
namespace {

const PeerIdentity kClinicA{"clinic-a", "member", "clinic-a-emr"};

common::v1::ClientContext SystemContext() {
  common::v1::ClientContext c;
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_OPERATIONS);
  c.set_user_role(common::v1::ROLE_MEMBER_SYSTEM);
  c.set_request_id("client-7");
  return c;
}

common::v1::RequestContext Context() {
  auto c = MemberWriteContext(kClinicA, SystemContext(), "gw-1", absl::Now());
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(MemberWriteContextTest, ActorIsTheCertificatesOrgAndASystemActsAsItsName) {
  common::v1::RequestContext c = Context();
  EXPECT_EQ(c.actor().org(), "clinic-a");
  EXPECT_EQ(c.actor().user_id(), "clinic-a-emr");
  EXPECT_EQ(c.actor().role(), common::v1::ROLE_MEMBER_SYSTEM);
  EXPECT_EQ(c.request_id(), "gw-1");
  EXPECT_EQ(c.client_request_id(), "client-7");
}

TEST(MemberWriteContextTest, RefusesOtherCertificatesRolesAndPurposes) {
  for (const char* role : {"operator", "auditor", "service"}) {
    PeerIdentity peer{"clinic-a", role, "x"};
    EXPECT_EQ(MemberWriteContext(peer, SystemContext(), "gw-1", absl::Now()).status().code(),
              absl::StatusCode::kPermissionDenied)
        << role;
  }
  common::v1::ClientContext c = SystemContext();
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_PUBLIC_HEALTH);
  EXPECT_EQ(MemberWriteContext(kClinicA, c, "gw-1", absl::Now()).status().code(),
            absl::StatusCode::kPermissionDenied);
  c = SystemContext();
  c.set_user_role(common::v1::ROLE_HIE_OPERATOR);
  EXPECT_EQ(MemberWriteContext(kClinicA, c, "gw-1", absl::Now()).status().code(),
            absl::StatusCode::kPermissionDenied);
  c = SystemContext();
  c.clear_purpose_of_use();
  auto s = MemberWriteContext(kClinicA, c, "gw-1", absl::Now()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("context.purpose_of_use"), std::string::npos);
  c = SystemContext();
  c.set_user_role(common::v1::ROLE_CLINICIAN);  // a person must be named
  s = MemberWriteContext(kClinicA, c, "gw-1", absl::Now()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("context.user_id"), std::string::npos);
}

TEST(MemberWritesTest, FeedRegistersTheCallersOwnRecordAndAnswersNothingAboutMatching) {
  v1::FeedPatientRequest r;
  r.set_local_id("mrn-1");
  r.set_idempotency_key("k1");
  r.mutable_demographics()->set_birth_date("1980-01-02");
  auto registration = RegistrationOf(Context(), r);
  ASSERT_TRUE(registration.ok()) << registration.status();
  EXPECT_EQ(registration->source_id().org(), "clinic-a");
  EXPECT_EQ(registration->source_id().local_id(), "mrn-1");
  EXPECT_EQ(registration->idempotency_key(), "k1");
  EXPECT_EQ(registration->demographics().birth_date(), "1980-01-02");

  identity::v1::RegisterSourceRecordResponse answer;
  answer.mutable_record()->mutable_source_id()->set_local_id("mrn-1");
  answer.mutable_record()->set_version(3);
  answer.set_person_id("p-secret");
  answer.set_created(false);
  v1::FeedPatientResponse fed = FeedAnswerOf(answer);
  EXPECT_EQ(fed.local_id(), "mrn-1");
  EXPECT_EQ(fed.version(), 3);
  EXPECT_EQ(fed.DebugString().find("p-secret"), std::string::npos);

  r.clear_idempotency_key();
  EXPECT_EQ(RegistrationOf(Context(), r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MemberWritesTest, PublicationFillsTheCallersOrgAndRefusesAnother) {
  v1::PublishDocumentsRequest r;
  r.set_idempotency_key("k1");
  r.add_entries()->mutable_patient()->set_local_id("mrn-1");
  auto publication = PublicationOf(Context(), r);
  ASSERT_TRUE(publication.ok()) << publication.status();
  EXPECT_EQ(publication->entries(0).patient().org(), "clinic-a");
  EXPECT_EQ(publication->entries(0).location().member_org(), "clinic-a");

  r.add_entries()->mutable_patient()->set_org("clinic-b");
  auto refused = PublicationOf(Context(), r).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("entries[1].patient.org"), std::string::npos);
  r.mutable_entries(1)->mutable_patient()->clear_org();
  r.mutable_entries(1)->mutable_location()->set_member_org("clinic-b");
  refused = PublicationOf(Context(), r).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("entries[1].location.member_org"), std::string::npos);
}

TEST(MemberWritesTest, LocalMergeNamesTwoOfTheCallersRecords) {
  v1::MergeLocalPatientsRequest r;
  r.set_survivor_local_id("mrn-1");
  r.set_superseded_local_id("mrn-2");
  r.set_idempotency_key("k1");
  auto merge = LocalMergeOf(Context(), r);
  ASSERT_TRUE(merge.ok()) << merge.status();
  EXPECT_EQ(merge->survivor().org(), "clinic-a");
  EXPECT_EQ(merge->superseded().org(), "clinic-a");
  r.set_superseded_local_id("mrn-1");
  EXPECT_EQ(LocalMergeOf(Context(), r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MemberWritesTest, DeprecationNeedsAnEntryAndAKey) {
  v1::DeprecateDocumentRequest r;
  r.set_entry_uuid("urn:uuid:1");
  r.set_reason("entered in error");
  EXPECT_EQ(DeprecationOf(Context(), r).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_idempotency_key("k1");
  auto d = DeprecationOf(Context(), r);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->context().actor().org(), "clinic-a");
}

}  // namespace
}  // namespace hie::gateway
