// The HL7 ADT feed applied to the identity rules (in-memory store, real matching engine).

#include "services/identity/api/hl7_feed.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "hie/mpi/nicknames.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/hl7/ack.h"
#include "services/identity/store/in_memory_identity_store.h"

namespace hie::identity {
namespace {

class FixedClock : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1'800'000'000); }
};

std::string Adt(const std::string& event, const std::string& control_id,
                const std::string& pid, const std::string& extra = "") {
  return "MSH|^~\\&|EMR|CLINIC|HIE|HIE|20261122101500||ADT^" + event + "|" + control_id +
         "|P|2.5.1\rEVN|" + event + "|20261122101500\r" + pid + "\r" + extra;
}

const char kAlicePid[] =
    "PID|1||MRN1^^^CLINIC^MR~512449087^^^SSA^SS||Vandermeer^Alice^J||19840312|F|||"
    "12 Birch Lane^^Springfield^IL^62704||217-555-0143";

class Hl7FeedTest : public ::testing::Test {
 protected:
  Hl7FeedTest()
      : matcher_(hie::mpi::Model::DefaultParams(), nullptr),
        manager_(&store_, &matcher_, &clock_),
        feed_(&manager_, &clock_) {
    member_.org = "clinic-a";
    member_.role = "member";
    member_.common_name = "clinic-a";
  }

  std::string Send(const std::string& message) {
    std::string ack = feed_.Handle(member_, message);
    return hl7::AckCodeOf(ack);
  }

  std::optional<v1::SourceRecord> Record(const std::string& local_id) {
    CallContext call;
    v1::GetSourceRecordRequest request;
    request.mutable_source_id()->set_org("clinic-a");
    request.mutable_source_id()->set_local_id(local_id);
    auto record = manager_.GetSourceRecord(call, request);
    if (!record.ok()) return std::nullopt;
    return *record;
  }

  FixedClock clock_;
  InMemoryIdentityStore store_;
  MpiMatcher matcher_;
  IdentityManager manager_;
  Hl7Feed feed_;
  hl7::MllpPeer member_;
};

TEST_F(Hl7FeedTest, RegistersUnderTheCertificatesOrgAndMapsTheDemographics) {
  ASSERT_EQ(Send(Adt("A04", "C1", kAlicePid)), "AA");
  std::optional<v1::SourceRecord> record = Record("MRN1");
  ASSERT_TRUE(record.has_value()) << "org comes from the certificate, not MSH-4 (CLINIC)";
  const auto& d = record->demographics();
  EXPECT_EQ(d.name().family(), "Vandermeer");
  EXPECT_EQ(d.name().given(), "Alice");
  EXPECT_EQ(d.name().middle(), "J");
  EXPECT_EQ(d.birth_date(), "1984-03-12");
  EXPECT_EQ(d.sex(), hie::common::v1::SEX_FEMALE);
  ASSERT_EQ(d.addresses_size(), 1);
  EXPECT_EQ(d.addresses(0).postal_code(), "62704");
  bool has_ssn = false;
  for (const auto& id : d.identifiers()) {
    // Sent as nine digits; the hub keeps SSNs in one form.
    has_ssn |= id.system() == "urn:oid:2.16.840.1.113883.4.1" && id.value() == "512-44-9087";
  }
  EXPECT_TRUE(has_ssn);
}

TEST_F(Hl7FeedTest, AResentMessageIsAppliedOnce) {
  ASSERT_EQ(Send(Adt("A04", "C1", kAlicePid)), "AA");
  ASSERT_EQ(Send(Adt("A04", "C1", kAlicePid)), "AA");
  EXPECT_EQ(Record("MRN1")->version(), 1);
  ASSERT_EQ(Send(Adt("A08", "C2", kAlicePid)), "AA");
  EXPECT_EQ(Record("MRN1")->version(), 2) << "a new control id is a new update";
}

TEST_F(Hl7FeedTest, A40SupersedesThePriorRecord) {
  ASSERT_EQ(Send(Adt("A04", "C1", kAlicePid)), "AA");
  ASSERT_EQ(Send(Adt("A04", "C2", "PID|1||MRN2^^^CLINIC^MR||Vandermeer^Alice||19840312|F")),
            "AA");
  ASSERT_EQ(Send(Adt("A40", "C3", kAlicePid, "MRG|MRN2^^^CLINIC^MR\r")), "AA");
  EXPECT_EQ(Record("MRN2")->state(), v1::RECORD_STATE_SUPERSEDED);
  EXPECT_EQ(Record("MRN2")->superseded_by().local_id(), "MRN1");
  // A prior id never seen before has nothing to supersede: still accepted.
  EXPECT_EQ(Send(Adt("A40", "C4", kAlicePid, "MRG|MRN9^^^CLINIC^MR\r")), "AA");
}

TEST_F(Hl7FeedTest, BadMessagesAreRejectedWithAnErrorNamingTheField) {
  std::string no_name = Adt("A04", "C1", "PID|1||MRN1^^^CLINIC^MR||||19840312|F");
  std::string ack = feed_.Handle(member_, no_name);
  EXPECT_EQ(hl7::AckCodeOf(ack), "AE");
  EXPECT_NE(ack.find("ERR|"), std::string::npos);
  EXPECT_NE(ack.find("PID"), std::string::npos);
  EXPECT_FALSE(Record("MRN1").has_value());

  std::string bad_date = Adt("A04", "C2", "PID|1||MRN1^^^CLINIC^MR||Doe^Jane||19841332|F");
  EXPECT_EQ(Send(bad_date), "AE");
  EXPECT_EQ(Send("this is not HL7"), "AR");
  EXPECT_EQ(Send("MSH|^~\\&|LAB|X|HIE|HIE|20261122||ORU^R01|C3|P|2.5.1\rOBX|1|ST|x||y\r"), "AR");
  EXPECT_FALSE(Record("MRN1").has_value());
}

TEST_F(Hl7FeedTest, OnlyMembersMayFeed) {
  hl7::MllpPeer operator_peer = member_;
  operator_peer.role = "operator";
  EXPECT_EQ(hl7::AckCodeOf(feed_.Handle(operator_peer, Adt("A04", "C1", kAlicePid))), "AR");
  EXPECT_FALSE(Record("MRN1").has_value());
}

TEST_F(Hl7FeedTest, RealSampleMessagesAreAccepted) {
  for (const char* name : {"ADT-A01-01.hl7", "ADT-A04-01.hl7", "ADT-A08-01.hl7",
                           "ADT-A28-01.hl7", "ADT-A31-01.hl7", "ADT-A40-01.hl7"}) {
    std::ifstream in(std::string(HIE_HL7_TESTDATA_DIR) + "/" + name, std::ios::binary);
    ASSERT_TRUE(in) << name;
    std::stringstream contents;
    contents << in.rdbuf();
    EXPECT_EQ(Send(contents.str()), "AA") << name;
  }
}

// ---------------------------------------------------------------------------------------------
// The outside review of 2026-12-04

// One Latin-1 A04 was answered AA, stored as raw bytes, and then broke every read of the record
// and the next start. It is now decoded by MSH-18; undeclared non-UTF-8 bytes are refused AE.
TEST_F(Hl7FeedTest, Latin1NamesAreDecodedByMsh18AndUndeclaredOnesRefused) {
  const std::string latin1_pid = "PID|1||MRN7^^^CLINIC^MR||M\xFCller^J\xF6rg||19700101|M";
  std::string declared =
      "MSH|^~\\&|EMR|CLINIC|HIE|HIE|20261122101500||ADT^A04|L1|P|2.5.1|||||"
      "|8859/1\rEVN|A04|20261122101500\r" +
      latin1_pid + "\r";
  ASSERT_EQ(Send(declared), "AA");
  std::optional<v1::SourceRecord> record = Record("MRN7");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->demographics().name().family(), "M\xC3\xBCller");
  EXPECT_EQ(record->demographics().name().given(), "J\xC3\xB6rg");
  EXPECT_TRUE(record->SerializeAsString().size() > 0);
  v1::SourceRecord reparsed;
  EXPECT_TRUE(reparsed.ParseFromString(record->SerializeAsString())) << "stored text is UTF-8";

  std::string undeclared =
      Adt("A04", "L2", "PID|1||MRN8^^^CLINIC^MR||M\xFCller^J\xF6rg||19700101|M");
  std::string ack = feed_.Handle(member_, undeclared);
  EXPECT_EQ(hl7::AckCodeOf(ack), "AE");
  EXPECT_NE(ack.find("PID^1^5"), std::string::npos) << ack;
  EXPECT_FALSE(Record("MRN8").has_value());
  // An escape in a name never reaches the store (nor a terminal).
  EXPECT_EQ(Send(Adt("A04", "L3", "PID|1||MRN9^^^CLINIC^MR||Evil\x1b[2J^Eve||19700101|F")), "AE");
  EXPECT_FALSE(Record("MRN9").has_value());
}

// EVN-2 orders updates: an A08 the sender made before the stored version goes into history
// only, so an older update cannot overwrite a newer one.
TEST_F(Hl7FeedTest, AnOlderUpdateDoesNotOverwriteANewerOne) {
  auto adt_at = [](const std::string& control_id, const std::string& evn2,
                   const std::string& family) {
    return "MSH|^~\\&|EMR|CLINIC|HIE|HIE|20261122101500||ADT^A08|" + control_id +
           "|P|2.5.1\rEVN|A08|" + evn2 + "\rPID|1||MRN1^^^CLINIC^MR||" + family +
           "^Alice||19840312|F\r";
  };
  ASSERT_EQ(Send(adt_at("T1", "20261122120000", "Newer")), "AA");
  ASSERT_EQ(Send(adt_at("T2", "20261122090000", "Older")), "AA");
  std::optional<v1::SourceRecord> record = Record("MRN1");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->demographics().name().family(), "Newer");
  EXPECT_EQ(record->source_event_time().seconds(),
            absl::ToUnixSeconds(
                absl::FromCivil(absl::CivilSecond(2026, 11, 22, 12, 0, 0), absl::UTCTimeZone())));
  // A present but invalid EVN-2 is the message's fault.
  EXPECT_EQ(Send(adt_at("T3", "2026112225", "Bad")), "AE");
}

// An identifier the hub cannot use is dropped with a warning in an AA, never a refusal: the
// patient is registered.
TEST_F(Hl7FeedTest, AnUnusableIdentifierIsDroppedWithAWarningInTheAck) {
  std::string ack = feed_.Handle(
      member_, Adt("A04", "W1", "PID|1||MRN5^^^CLINIC^MR||Doe^Jane||19800101|F|||||||||||1234"));
  EXPECT_EQ(hl7::AckCodeOf(ack), "AA") << ack;
  EXPECT_NE(ack.find("ERR|"), std::string::npos) << ack;
  EXPECT_NE(ack.find("PID^1^19"), std::string::npos) << "the warning names PID-19: " << ack;
  EXPECT_NE(ack.find("|W|"), std::string::npos) << "severity W: " << ack;
  ASSERT_TRUE(Record("MRN5").has_value());
  EXPECT_EQ(Record("MRN5")->demographics().identifiers_size(), 1) << "the MRN only";
}

// A warning names where the identifier was sent: its PID-3 repetition as counted in the message
// (an empty repetition counts), an SSN typed "SS" in PID-3 there rather than PID-19, and the
// PID segment of its own A40 group.
TEST_F(Hl7FeedTest, AWarningIsLocatedAtTheRepetitionAndSegmentTheIdentifierCameFrom) {
  std::string ack = feed_.Handle(
      member_, Adt("A04", "W2", "PID|1||~MRN6^^^CLINIC^MR~12^^^SSA^SS||Doe^Jane||19800101|F"));
  EXPECT_EQ(hl7::AckCodeOf(ack), "AA") << ack;
  EXPECT_NE(ack.find("ERR||PID^1^3^3|"), std::string::npos) << "PID-3, third repetition: " << ack;

  ASSERT_EQ(Send(Adt("A04", "W3", "PID|1||MRN7^^^CLINIC^MR||Doe^John||19700101|M")), "AA");
  ack = feed_.Handle(member_, Adt("A40", "W4", "PID|1||MRN6^^^CLINIC^MR||Doe^Jane||19800101|F",
                                  "MRG|MRN8^^^CLINIC^MR\r"
                                  "PID|2||MRN7^^^CLINIC^MR||Doe^John||19700101|M|||||||||||12\r"
                                  "MRG|MRN9^^^CLINIC^MR\r"));
  EXPECT_EQ(hl7::AckCodeOf(ack), "AA") << ack;
  EXPECT_NE(ack.find("ERR||PID^2^19|"), std::string::npos) << "the second PID's PID-19: " << ack;
  EXPECT_EQ(ack.find("PID^1^19"), std::string::npos) << ack;
}

// A store that cannot be reached: the sender must resend, so no ACK at all (never AE, which a
// sender drops).
class DownStore : public InMemoryIdentityStore {
 public:
  absl::Status Transact(absl::Time deadline, const std::vector<std::string>& keys,
                        const TxnFn& fn) override {
    if (down) return absl::UnavailableError("database unavailable (25006)");
    return InMemoryIdentityStore::Transact(deadline, keys, fn);
  }
  bool down = true;
};

TEST_F(Hl7FeedTest, ATransientDatabaseFailureGetsNoAckSoTheSenderResends) {
  DownStore store;
  IdentityManager manager(&store, &matcher_, &clock_);
  Hl7Feed feed(&manager, &clock_);
  EXPECT_EQ(feed.Handle(member_, Adt("A04", "D1", kAlicePid)), "");
  store.down = false;
  EXPECT_EQ(hl7::AckCodeOf(feed.Handle(member_, Adt("A04", "D1", kAlicePid))), "AA");
}

}  // namespace
}  // namespace hie::identity
