// The character set of HL7 v2 feeds, end to end (the outside review's first defect): a member
// sends ISO-8859-1 bytes.
//   - With MSH-18 "8859/1" the message is answered AA and the name reads back over gRPC as
//     UTF-8 ("Müller", "Jörg"), and can be searched for.
//   - The same bytes without MSH-18 (so UTF-8 or ASCII is assumed, and they are not valid
//     UTF-8) are answered AE with an ERR naming PID-5, and nothing is stored.
//   - The service restarts (SIGTERM, and SIGKILL) with such a record stored, and serves it.

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/identity/hl7/ack.h"
#include "tests/e2e/e2e_harness.h"

namespace hie::e2e {
namespace {

namespace v1 = ::hie::identity::v1;

constexpr char kFamilyLatin1[] =
    "M\xFC"
    "ller";  // Müller in ISO-8859-1
constexpr char kGivenLatin1[] =
    "J\xF6"
    "rg";  // Jörg
constexpr char kFamilyUtf8[] =
    "M\xC3\xBC"
    "ller";
constexpr char kGivenUtf8[] =
    "J\xC3\xB6"
    "rg";

class Hl7CharsetTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartPostgres(/*fast=*/true);
  }
};

// Printable form of bytes for messages (non-ASCII as \xHH).
std::string Escaped(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else if (c == '\r') {
      out += "\\r";
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

TEST_F(Hl7CharsetTest, Latin1NamesAreDecodedWhenDeclaredAndRefusedWhenNot) {
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);
  Patient patient = MadeUpPatient(31);
  patient.family = kFamilyLatin1;
  patient.given = kGivenLatin1;

  auto client = identity->ConnectMllp("clinic-a");
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string declared =
      AdtMessage("A04", "CS-1", {PidSegment("L1", patient)}, /*charset=*/"8859/1");
  absl::StatusOr<std::string> ack = (*client)->Call(declared, absl::Seconds(20));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(hl7::AckCodeOf(*ack), "AA") << "MSH-18 8859/1 message: " << Escaped(*ack);

  auto stub = identity->Stub("operator");
  auto get = [&](const std::string& mrn, v1::SourceRecord* record) {
    v1::GetSourceRecordRequest request = WithContext(v1::GetSourceRecordRequest());
    *request.mutable_source_id() = Sid("clinic-a", mrn);
    return stub->GetSourceRecord(Deadline().get(), request, record);
  };
  v1::SourceRecord record;
  grpc::Status status = get("L1", &record);
  EXPECT_TRUE(status.ok()) << CodeName(status.error_code()) << " " << status.error_message();
  if (status.ok()) {
    EXPECT_EQ(record.demographics().name().family(), kFamilyUtf8)
        << "stored as " << Escaped(record.demographics().name().family());
    EXPECT_EQ(record.demographics().name().given(), kGivenUtf8)
        << "stored as " << Escaped(record.demographics().name().given());
  }

  // Undeclared: the same bytes without MSH-18 are not valid UTF-8.
  const std::string undeclared = AdtMessage("A04", "CS-2", {PidSegment("L2", patient)});
  ack = (*client)->Call(undeclared, absl::Seconds(20));
  if (!ack.ok()) {  // the connection may have been closed after an earlier failure
    auto again = identity->ConnectMllp("clinic-a");
    ASSERT_TRUE(again.ok()) << again.status();
    client = std::move(again);
    ack = (*client)->Call(undeclared, absl::Seconds(20));
  }
  ASSERT_TRUE(ack.ok()) << "no ACK for the undeclared Latin-1 message: " << ack.status();
  EXPECT_EQ(hl7::AckCodeOf(*ack), "AE") << Escaped(*ack);
  bool names_pid5 = false;
  for (const std::string& err : ErrSegments(*ack)) {
    std::vector<std::string> fields = absl::StrSplit(err, '|');
    if (fields.size() < 3) continue;
    std::vector<std::string> location = absl::StrSplit(fields[2], '^');
    names_pid5 |= location.size() >= 3 && location[0] == "PID" && location[2] == "5";
  }
  EXPECT_TRUE(names_pid5) << "the AE's ERR-2 does not name PID-5: " << Escaped(*ack);
  v1::SourceRecord refused;
  EXPECT_EQ(get("L2", &refused).error_code(), grpc::StatusCode::NOT_FOUND)
      << "the refused message stored a record";

  // Restarts with the decoded record stored: the service comes up and serves it.
  for (bool crash : {false, true}) {
    if (crash) {
      identity->Kill9();
    } else {
      identity->Terminate();
    }
    absl::Status restarted = identity->Start();
    ASSERT_TRUE(restarted.ok()) << (crash ? "after SIGKILL: " : "after SIGTERM: ") << restarted;
    stub = identity->Stub("operator");
    status = get("L1", &record);
    EXPECT_TRUE(status.ok()) << CodeName(status.error_code()) << " " << status.error_message();
    if (status.ok()) {
      EXPECT_EQ(record.demographics().name().family(), kFamilyUtf8);
    }
  }

  v1::SearchPersonsRequest search = WithContext(v1::SearchPersonsRequest());
  search.mutable_query()->mutable_name()->set_family(kFamilyUtf8);
  search.mutable_query()->mutable_name()->set_given(kGivenUtf8);
  search.mutable_query()->set_birth_date(patient.birth_date);
  v1::SearchPersonsResponse found;
  status = stub->SearchPersons(Deadline().get(), search, &found);
  ASSERT_TRUE(status.ok()) << CodeName(status.error_code()) << " " << status.error_message();
  ASSERT_GE(found.matches_size(), 1) << "the decoded name is not found by a UTF-8 search";
  EXPECT_EQ(found.matches(0).candidate().person_id(), record.person_id());

  // A message the service can still take after the restarts.
  auto after = identity->ConnectMllp("clinic-a");
  ASSERT_TRUE(after.ok()) << after.status();
  ack = (*after)->Call(AdtMessage("A04", "CS-3", {PidSegment("L3", MadeUpPatient(32))}),
                       absl::Seconds(20));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(hl7::AckCodeOf(*ack), "AA") << Escaped(*ack);
}

}  // namespace
}  // namespace hie::e2e
