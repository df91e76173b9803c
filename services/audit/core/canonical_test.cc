#include "services/audit/core/canonical.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "services/audit/core/chain_verifier.h"
#include "services/audit/core/signer.h"

namespace hie::audit {
namespace {

v1::AuditEvent FullEvent() {
  v1::AuditEvent e;
  e.set_event_id("ev-1");
  e.set_sequence(7);
  e.mutable_event_time()->set_seconds(1'700'000'000);
  e.mutable_event_time()->set_nanos(5);
  e.mutable_record_time()->set_seconds(1'700'000'001);
  e.set_type(v1::EVENT_TYPE_DISCLOSURE);
  e.set_action("gateway.RetrieveDocument");
  e.set_outcome(v1::OUTCOME_SUCCESS);
  e.set_status_code("OK");
  e.mutable_actor()->set_org("clinic-a");
  e.mutable_actor()->set_user_id("jsmith");
  e.mutable_actor()->set_role(hie::common::v1::ROLE_CLINICIAN);
  e.set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  e.set_request_id("req-1");
  e.set_client_request_id("creq-1");
  auto* p = e.add_patients();
  p->set_org("clinic-b");
  p->set_local_id("MRN-1");
  e.set_person_id("P-1");
  e.set_custodian_org("clinic-b");
  e.set_recipient_org("clinic-a");
  auto* o = e.add_objects();
  o->set_kind("document");
  o->set_id("doc-1");
  e.set_decision_id("dec-1");
  e.set_directive_id("cd-1");
  e.set_break_glass_id("bg-1");
  e.set_source_service("gateway");
  e.set_caller_subject("O=clinic-a,OU=member,CN=emr-1");
  e.set_network_address("ipv4:10.0.0.7:53211");
  (*e.mutable_details())["zeta"] = "1";
  (*e.mutable_details())["alpha"] = "2";
  return e;
}

TEST(CanonicalTest, DecodeGivesBackEveryField) {
  v1::AuditEvent e = FullEvent();
  absl::StatusOr<v1::AuditEvent> back = DecodeEvent(EncodeEvent(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*back, e)) << back->DebugString();
}

TEST(CanonicalTest, EncodingIgnoresHashesAndMapOrderAndStartsWithItsVersion) {
  v1::AuditEvent a = FullEvent();
  v1::AuditEvent b = FullEvent();
  b.set_hash("x");
  b.set_previous_hash("y");
  b.mutable_details()->clear();
  (*b.mutable_details())["alpha"] = "2";
  (*b.mutable_details())["zeta"] = "1";
  EXPECT_EQ(EncodeEvent(a), EncodeEvent(b));
  std::string encoding = EncodeEvent(a);
  EXPECT_EQ(encoding.substr(0, 16), std::string("HIE-AUDIT-EVENT\0", 16));
  EXPECT_EQ(encoding[16], 1);
  EXPECT_EQ(EncodedSequence(encoding), 7);
}

TEST(CanonicalTest, EveryFieldChangesTheEncoding) {
  const std::string base = EncodeEvent(FullEvent());
  std::vector<std::function<void(v1::AuditEvent&)>> edits = {
      [](auto& e) { e.set_event_id("ev-2"); },
      [](auto& e) { e.set_sequence(8); },
      [](auto& e) { e.mutable_event_time()->set_nanos(6); },
      [](auto& e) { e.mutable_record_time()->set_nanos(1); },
      [](auto& e) { e.set_type(v1::EVENT_TYPE_QUERY); },
      [](auto& e) { e.set_action("x"); },
      [](auto& e) { e.set_outcome(v1::OUTCOME_DENIED); },
      [](auto& e) { e.set_status_code(""); },
      [](auto& e) { e.mutable_actor()->set_org("clinic-c"); },
      [](auto& e) { e.mutable_actor()->set_user_id("other"); },
      [](auto& e) { e.mutable_actor()->set_role(hie::common::v1::ROLE_PATIENT); },
      [](auto& e) { e.set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_PAYMENT); },
      [](auto& e) { e.set_request_id("r"); },
      [](auto& e) { e.set_client_request_id("c"); },
      [](auto& e) { e.mutable_patients(0)->set_local_id("MRN-2"); },
      [](auto& e) { e.add_patients()->set_org("x"); },
      [](auto& e) { e.set_person_id("P-2"); },
      [](auto& e) { e.set_custodian_org("x"); },
      [](auto& e) { e.set_recipient_org("x"); },
      [](auto& e) { e.mutable_objects(0)->set_id("doc-2"); },
      [](auto& e) { e.set_decision_id("x"); },
      [](auto& e) { e.set_directive_id("x"); },
      [](auto& e) { e.set_break_glass_id("x"); },
      [](auto& e) { e.set_source_service("x"); },
      [](auto& e) { e.set_caller_subject("x"); },
      [](auto& e) { e.set_network_address("x"); },
      [](auto& e) { (*e.mutable_details())["alpha"] = "3"; },
      // Moving bytes between adjacent fields must change it too (length prefixes).
      [](auto& e) {
        e.set_request_id("req-1c");
        e.set_client_request_id("req-1");
      },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    v1::AuditEvent e = FullEvent();
    edits[i](e);
    EXPECT_NE(EncodeEvent(e), base) << "edit " << i;
  }
}

TEST(CanonicalTest, MalformedBytesAreRefusedNotTrusted) {
  std::string good = EncodeEvent(FullEvent());
  EXPECT_FALSE(DecodeEvent("").ok());
  EXPECT_FALSE(DecodeEvent(good.substr(0, good.size() - 1)).ok());
  EXPECT_FALSE(DecodeEvent(good + "x").ok());
  std::string huge_count = good;
  // The patients count sits after a fixed prefix; any absurd count must be refused, not
  // allocated: overwrite every 4-byte window with 0xffffffff in turn.
  for (size_t i = 17; i + 4 <= good.size(); ++i) {
    std::string bad = good;
    bad.replace(i, 4, "\xff\xff\xff\xff");
    absl::StatusOr<v1::AuditEvent> decoded = DecodeEvent(bad);
    (void)decoded;  // must not crash or allocate gigabytes
  }
}

TEST(CanonicalTest, NonCanonicalDetailsOrderIsRefused) {
  v1::AuditEvent e;
  e.set_event_id("x");
  (*e.mutable_details())["a"] = "1";
  (*e.mutable_details())["b"] = "2";
  std::string good = EncodeEvent(e);
  ASSERT_TRUE(DecodeEvent(good).ok());
  // Swap the two (key, value) pairs at the end: "a","1","b","2" -> "b","2","a","1".
  const std::string a = std::string(
      "\0\0\0\1a\0\0\0\1"
      "1",
      10);
  const std::string b = std::string(
      "\0\0\0\1b\0\0\0\1"
      "2",
      10);
  std::string swapped = good.substr(0, good.size() - 20) + b + a;
  ASSERT_EQ(swapped.size(), good.size());
  EXPECT_FALSE(DecodeEvent(swapped).ok());
}

TEST(CanonicalTest, FingerprintIgnoresWhatTheServiceAssigns) {
  v1::AuditEvent a = FullEvent();
  v1::AuditEvent b = FullEvent();
  b.set_sequence(99);
  b.mutable_record_time()->set_seconds(5);
  EXPECT_EQ(ContentFingerprint(a), ContentFingerprint(b));
  b.set_action("other");
  EXPECT_NE(ContentFingerprint(a), ContentFingerprint(b));
}

TEST(CanonicalTest, KnownSha256) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("ab", "c"), Sha256("abc"));
}

TEST(SignerTest, SignsAndVerifiesAndRefusesOtherKeysAndMessages) {
  auto signer = CheckpointSigner::Generate();
  ASSERT_TRUE(signer.ok());
  auto other = CheckpointSigner::Generate();
  ASSERT_TRUE(other.ok());
  auto sig = (*signer)->Sign("message");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(*VerifySignature((*signer)->public_key_pem(), "message", *sig));
  EXPECT_FALSE(*VerifySignature((*signer)->public_key_pem(), "messagf", *sig));
  EXPECT_FALSE(*VerifySignature((*other)->public_key_pem(), "message", *sig));
  EXPECT_EQ((*signer)->key_id().size(), 16u);
  EXPECT_EQ(*KeyIdOfPublicKey((*signer)->public_key_pem()), (*signer)->key_id());
  auto reloaded = CheckpointSigner::FromPrivateKeyPem((*signer)->PrivateKeyPem());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ((*reloaded)->key_id(), (*signer)->key_id());
  EXPECT_FALSE(CheckpointSigner::FromPrivateKeyPem("not a key").ok());
  EXPECT_FALSE(VerifySignature("not a key", "m", *sig).ok());
}

}  // namespace
}  // namespace hie::audit
