// RetrieveDocument's flow with fakes for the hub's services, the member's stream and the
// client: nothing released before consent and a durable audit record, the header and content
// checked against the registry, a refused document never streamed.

#include "services/gateway/core/retrieval.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "services/gateway/core/fake_hub_for_tests.h"

namespace hie::gateway {
namespace {

using member::v1::RetrieveDocumentResponse;
using registry::v1::DocumentEntry;
using testing::Entry;
using testing::FakeHub;

std::string Sha256Of(const std::string& bytes) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

// The member's document "b-doc-1": a header then its content in 3-byte chunks.
class FakeMember : public MemberRetrieval {
 public:
  absl::Status Retrieve(const std::string& endpoint,
                        const member::v1::RetrieveDocumentRequest& request, absl::Time,
                        const std::function<bool(RetrieveDocumentResponse)>& on_message) override {
    ++calls;
    this->endpoint = endpoint;
    this->request = request;
    if (!status.ok()) return status;
    RetrieveDocumentResponse header;
    header.mutable_header()->set_unique_id("b-doc-1");
    header.mutable_header()->set_size_bytes(content.size() + size_skew);
    header.mutable_header()->mutable_hash()->set_algorithm(
        registry::v1::ContentHash::ALGORITHM_SHA256);
    header.mutable_header()->mutable_hash()->set_digest(Sha256Of(content));
    header.mutable_header()->mutable_class_code()->set_code(class_code);
    if (!on_message(header)) return absl::OkStatus();
    const std::string sent = content + tampering;
    for (size_t i = 0; i < sent.size(); i += 3) {
      RetrieveDocumentResponse chunk;
      chunk.set_chunk(sent.substr(i, 3));
      if (!on_message(chunk)) return absl::OkStatus();
    }
    return absl::OkStatus();
  }
  std::string content = "hello, outside world";
  std::string tampering;
  int64_t size_skew = 0;
  std::string class_code = "note";
  absl::Status status;
  int calls = 0;
  std::string endpoint;
  member::v1::RetrieveDocumentRequest request;
};

class FakeSink : public RetrievalSink {
 public:
  bool Write(RetrieveDocumentResponse m) override {
    audited_before.push_back(hub->audited.size());
    written.push_back(std::move(m));
    return written.size() < accept;
  }
  std::string Content() const {
    std::string out;
    for (const auto& m : written) out += m.chunk();
    return out;
  }
  FakeHub* hub;
  std::vector<RetrieveDocumentResponse> written;
  std::vector<size_t> audited_before;
  size_t accept = 1000;
};

class RetrievalTest : public ::testing::Test {
 protected:
  RetrievalTest() {
    hub_.directory["clinic-b"] = DirectoryEntry{"clinic-b", "Clinic B", v1::MEMBER_STATE_ACTIVE};
    hub_.verdicts["clinic-b"] = Verdict{true, {}, "dec-b"};
    DocumentEntry e = Entry("clinic-b", "b-1", "b-doc-1", 200, "urn:uuid:b1");
    e.set_size_bytes(member_.content.size());
    e.mutable_hash()->set_algorithm(registry::v1::ContentHash::ALGORITHM_SHA256);
    e.mutable_hash()->set_digest(Sha256Of(member_.content));
    hub_.registry = {e};
    sink_.hub = &hub_;
    options_.new_event_id = [this] { return absl::StrCat("ev-", ++events_); };
    context_.set_request_id("gw-1");
    context_.set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
    context_.mutable_actor()->set_org("clinic-a");
    context_.mutable_actor()->set_user_id("dr-a");
    context_.mutable_actor()->set_role(common::v1::ROLE_CLINICIAN);
    request_.set_local_id("a-1");
    request_.set_member_org("clinic-b");
    request_.set_retrieve_key("b-doc-1");
  }

  absl::Status Run() {
    return RunRetrieval(context_, request_, absl::Now() + absl::Seconds(5), hub_, member_, sink_,
                        options_);
  }

  FakeHub hub_;
  FakeMember member_;
  FakeSink sink_;
  RetrievalOptions options_;
  int events_ = 0;
  common::v1::RequestContext context_;
  v1::RetrieveDocumentRequest request_;
};

TEST_F(RetrievalTest, StreamsTheContentAfterADurableDisclosureRecord) {
  ASSERT_TRUE(Run().ok());
  ASSERT_GE(sink_.written.size(), 2u);
  EXPECT_TRUE(sink_.written[0].has_header());
  EXPECT_EQ(sink_.Content(), member_.content);
  EXPECT_EQ(sink_.audited_before[0], 1u);  // the disclosure was on record before the header
  ASSERT_EQ(hub_.audited.size(), 1u);
  const audit::v1::AuditEvent& e = hub_.audited[0];
  EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_DISCLOSURE);
  EXPECT_EQ(e.custodian_org(), "clinic-b");
  EXPECT_EQ(e.decision_id(), "dec-b");
  ASSERT_EQ(e.objects_size(), 1);
  EXPECT_EQ(e.objects(0).id(), "urn:uuid:b1");
  // The member is asked for the person's records there only.
  EXPECT_EQ(member_.endpoint, "clinic-b:443");
  ASSERT_EQ(member_.request.local_patient_ids_size(), 1);
  EXPECT_EQ(member_.request.local_patient_ids(0), "b-1");
}

TEST_F(RetrievalTest, ConsentDenialMeansTheMemberIsNeverCalled) {
  hub_.verdicts["clinic-b"].permit = false;
  EXPECT_EQ(Run().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(member_.calls, 0);
  EXPECT_TRUE(sink_.written.empty());
}

TEST_F(RetrievalTest, ARedactedCategoryIsRefusedFromTheRegistryOrTheHeader) {
  hub_.verdicts["clinic-b"].obligations.emplace_back();
  hub_.registry[0].mutable_class_code()->set_code("mental-health");
  EXPECT_EQ(Run().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(member_.calls, 0);
  // Never published: the member's header names the category; nothing released.
  hub_.registry.clear();
  member_.class_code = "mental-health";
  EXPECT_EQ(Run().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(member_.calls, 1);
  EXPECT_TRUE(sink_.written.empty());
  EXPECT_TRUE(hub_.audited.empty());
}

TEST_F(RetrievalTest, NoAuditRecordMeansNoContent) {
  hub_.audit_failures = 1;
  EXPECT_EQ(Run().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(sink_.written.empty());
}

TEST_F(RetrievalTest, ContentThatDiffersFromTheHeaderEndsInDataLoss) {
  member_.tampering = "!";  // one byte more than the header says
  EXPECT_EQ(Run().code(), absl::StatusCode::kDataLoss);
  sink_.written.clear();
  member_.tampering.clear();
  hub_.registry.clear();  // header only
  member_.size_skew = 1;  // the header says one byte more than is sent
  EXPECT_EQ(Run().code(), absl::StatusCode::kDataLoss);
}

TEST_F(RetrievalTest, AHeaderThatDisagreesWithTheRegistryReleasesNothing) {
  hub_.registry[0].set_size_bytes(999);
  EXPECT_EQ(Run().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(sink_.written.empty());
  EXPECT_TRUE(hub_.audited.empty());
}

TEST_F(RetrievalTest, UnknownPatientOrNoRecordAtTheMemberIsNotFound) {
  request_.set_local_id("a-404");
  EXPECT_EQ(Run().code(), absl::StatusCode::kNotFound);
  request_.set_local_id("a-1");
  request_.set_member_org("clinic-z");
  EXPECT_EQ(Run().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(member_.calls, 0);
}

TEST_F(RetrievalTest, TheMembersRefusalStandsAndAClientThatLeavesStopsTheStream) {
  member_.status = absl::NotFoundError("no such document");
  EXPECT_EQ(Run().code(), absl::StatusCode::kNotFound);
  member_.status = absl::OkStatus();
  sink_.accept = 2;  // the header and one chunk
  EXPECT_EQ(Run().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sink_.written.size(), 2u);
}

TEST(ValidateRetrieveDocumentTest, NamesTheField) {
  v1::RetrieveDocumentRequest r;
  r.set_local_id("a-1");
  r.set_member_org("clinic-b");
  auto s = ValidateRetrieveDocument(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("retrieve_key"), std::string::npos);
  r.set_retrieve_key("k");
  EXPECT_TRUE(ValidateRetrieveDocument(r).ok());
}

}  // namespace
}  // namespace hie::gateway
