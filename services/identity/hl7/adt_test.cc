#include "services/identity/hl7/adt.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace hie::hl7 {
namespace {

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(HIE_HL7_TESTDATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

Hl7Result<AdtEvent> MapText(const std::string& text) {
  Hl7Result<Message> parsed = Message::Parse(text);
  if (!parsed.ok()) return parsed.error();
  return MapAdt(parsed.value());
}

Hl7Result<AdtEvent> MapFile(const std::string& name) { return MapText(ReadTestdata(name)); }

// The GHH samples (A01, A04, A08, A28, A31) share one PID; each must map to the same patient.
class GhhRegisterTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GhhRegisterTest, MapsHeaderAndPatient) {
  std::string file = std::string("ADT-") + GetParam() + "-01.hl7";
  Hl7Result<AdtEvent> event = MapFile(file);
  ASSERT_TRUE(event.ok()) << event.error().text;
  const AdtEvent& e = event.value();
  EXPECT_EQ(e.trigger, GetParam());  // from MSH-9.2 (EVN-1 says A01 in every one of them)
  EXPECT_EQ(e.action, AdtAction::kRegisterOrUpdate);
  EXPECT_EQ(e.message_control_id, "MSG00001");
  EXPECT_EQ(e.sending_application, "ADTApp");
  EXPECT_EQ(e.sending_facility, "GHHSFacility");
  EXPECT_EQ(e.receiving_application, "EHRApp");
  EXPECT_EQ(e.receiving_facility, "GHHRFacility");
  EXPECT_EQ(e.message_time, "198908181126+0215");
  EXPECT_EQ(e.version, "2.8");

  const AdtPatient& p = e.patient;
  EXPECT_EQ(p.local_id.id, "PATID1234");
  EXPECT_EQ(p.local_id.type_code, "MR");
  EXPECT_EQ(p.local_id.assigning_authority, "test1");
  ASSERT_EQ(p.identifiers.size(), 2u);
  EXPECT_EQ(p.identifiers[1].id, "123456789");
  EXPECT_EQ(p.identifiers[1].type_code, "SS");
  EXPECT_EQ(p.identifiers[1].assigning_authority, "USSSA");
  EXPECT_EQ(p.family, "EVERYMAN");
  EXPECT_EQ(p.given, "ADAM");
  EXPECT_EQ(p.middle, "A");
  EXPECT_EQ(p.sex, "M");
  EXPECT_EQ(p.birth_date, "1988-08-18");
  EXPECT_EQ(p.birth_date_precision, DatePrecision::kDay);
  EXPECT_EQ(p.address.street, "1000 Hospital Lane");
  EXPECT_EQ(p.address.other_designation, "Ste. 123");
  EXPECT_EQ(p.address.city, "Ann Arbor");  // trailing space trimmed
  EXPECT_EQ(p.address.state, "MI");
  EXPECT_EQ(p.address.zip, "99999");
  EXPECT_EQ(p.address.country, "USA");
  EXPECT_EQ(p.home_phone, "78788788");
  EXPECT_EQ(p.business_phone, "7777");
  EXPECT_EQ(p.email, "");  // XTN-4 here is "5555", not an address
  EXPECT_EQ(p.ssn, "PSSN123121234");
  EXPECT_EQ(p.death_date, "2008-08-25");
  ASSERT_TRUE(p.deceased.has_value());
  EXPECT_TRUE(*p.deceased);
  EXPECT_TRUE(e.merges.empty());
}

INSTANTIATE_TEST_SUITE_P(Samples, GhhRegisterTest,
                         ::testing::Values("A01", "A04", "A08", "A28", "A31"));

TEST(AdtTest, EventTimeFromEvn) {
  Hl7Result<AdtEvent> event = MapFile("ADT-A01-01.hl7");
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event.value().event_time, "20290801070624+0115");
}

TEST(AdtTest, Version23SampleWithBomAndTrailingSpaces) {
  Hl7Result<AdtEvent> event = MapFile("ADT01-23.hl7");
  ASSERT_TRUE(event.ok()) << event.error().text;
  const AdtEvent& e = event.value();
  EXPECT_EQ(e.trigger, "A01");
  EXPECT_EQ(e.version, "2.3");
  EXPECT_EQ(e.message_control_id, "599102");
  EXPECT_EQ(e.patient.local_id.id, "10006579");
  EXPECT_EQ(e.patient.local_id.assigning_authority, "1");
  EXPECT_EQ(e.patient.family, "DUCK");
  EXPECT_EQ(e.patient.given, "DONALD");
  EXPECT_EQ(e.patient.birth_date, "1924-10-10");
  EXPECT_EQ(e.patient.address.street, "111 DUCK ST");
  EXPECT_EQ(e.patient.address.zip, "999990000");
  EXPECT_EQ(e.patient.home_phone, "8885551212");
  EXPECT_EQ(e.patient.ssn, "123121234");
  EXPECT_FALSE(e.patient.deceased.has_value());  // "NO " is not a table 0136 value
}

TEST(AdtTest, A04Version23WithoutEvn) {
  Hl7Result<AdtEvent> event = MapFile("ADT04-251.hl7");
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().trigger, "A04");
  EXPECT_EQ(event.value().event_time, "");
  EXPECT_EQ(event.value().patient.local_id.id, "MRN12345");
  EXPECT_EQ(event.value().patient.local_id.assigning_authority, "");
  EXPECT_EQ(event.value().patient.sex, "F");
  EXPECT_EQ(event.value().patient.ssn, "");
}

TEST(AdtTest, A40SingleMerge) {
  Hl7Result<AdtEvent> event = MapFile("ADT-A40-01.hl7");
  ASSERT_TRUE(event.ok()) << event.error().text;
  const AdtEvent& e = event.value();
  EXPECT_EQ(e.action, AdtAction::kMerge);
  ASSERT_EQ(e.merges.size(), 1u);
  EXPECT_EQ(e.merges[0].surviving.local_id.id, "12345");
  EXPECT_EQ(e.merges[0].surviving.local_id.assigning_authority, "BCBS");
  EXPECT_EQ(e.merges[0].prior.id, "56789");
  EXPECT_EQ(e.merges[0].prior.assigning_authority, "BCBS");
  EXPECT_EQ(e.merges[0].prior.type_code, "MR");
  EXPECT_EQ(e.patient.home_phone, "(111)111-1111");
  EXPECT_EQ(e.patient.birth_date, "2018-02-05");
}

TEST(AdtTest, A40TwoGroups) {
  Hl7Result<AdtEvent> event = MapFile("ADT-A40-02.hl7");
  ASSERT_TRUE(event.ok()) << event.error().text;
  const AdtEvent& e = event.value();
  ASSERT_EQ(e.merges.size(), 2u);
  EXPECT_EQ(e.merges[0].surviving.local_id.id, "12345");
  EXPECT_EQ(e.merges[0].prior.id, "56789");
  EXPECT_EQ(e.merges[1].surviving.local_id.id, "145");
  EXPECT_EQ(e.merges[1].surviving.address.street, "123 Street");
  EXPECT_EQ(e.merges[1].prior.id, "569");
  EXPECT_EQ(e.message_control_id, "8919-40");
}

constexpr char kHeader[] = "MSH|^~\\&|APP|FAC|HUB|HIE|20240101120000||ADT^";

std::string Synthetic(const std::string& trigger, const std::string& rest) {
  return std::string(kHeader) + trigger + "|C1|P|2.5.1\r" + rest;
}

TEST(AdtTest, A37UnlinkNeedsTwoPatients) {
  Hl7Result<AdtEvent> event = MapText(Synthetic("A37",
                                                "EVN|A37\rPID|1||A1^^^H^MR||ONE^PAT\rPV1|1\r"
                                                "PID|2||B2^^^H^MR||TWO^PAT\rPV1|1\r"));
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().action, AdtAction::kUnlink);
  EXPECT_EQ(event.value().patient.local_id.id, "A1");
  ASSERT_TRUE(event.value().unlink_other.has_value());
  EXPECT_EQ(event.value().unlink_other->local_id.id, "B2");

  event = MapText(Synthetic("A37", "PID|1||A1^^^H^MR||ONE^PAT\r"));
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code, ErrorCode::kSegmentSequenceError);
}

TEST(AdtTest, PhoneFromAreaAndLocalNumberAndEmail) {
  Hl7Result<AdtEvent> event = MapText(
      Synthetic("A28",
                "PID|1||X1||DOE^JO||1980|U|||||^PRN^PH^^1^555^1234567^89~^NET^Internet^jo@x.org|"
                "^WPN^PH^^^555^7654321\r"));
  ASSERT_TRUE(event.ok()) << event.error().text;
  const AdtPatient& p = event.value().patient;
  EXPECT_EQ(p.home_phone, "5551234567x89");
  EXPECT_EQ(p.business_phone, "5557654321");
  EXPECT_EQ(p.email, "jo@x.org");
  EXPECT_EQ(p.birth_date, "1980");
  EXPECT_EQ(p.birth_date_precision, DatePrecision::kYear);
  EXPECT_EQ(p.local_id.id, "X1");  // no MR-typed identifier: the first one
}

TEST(AdtTest, SsnFromSsTypedIdentifierAndMrPreferred) {
  Hl7Result<AdtEvent> event = MapText(
      Synthetic("A31", "PID|1||111^^^SSA^SS~222^^^H^AN~333^^^&1.2.3&ISO^MR||DOE^^^||198002\r"));
  ASSERT_TRUE(event.ok()) << event.error().text;
  const AdtPatient& p = event.value().patient;
  EXPECT_EQ(p.local_id.id, "333");
  EXPECT_EQ(p.local_id.assigning_authority, "1.2.3");  // HD universal id when no namespace
  EXPECT_EQ(p.ssn, "111");
  EXPECT_EQ(p.identifiers.size(), 3u);
  EXPECT_EQ(p.birth_date, "1980-02");
  EXPECT_EQ(p.birth_date_precision, DatePrecision::kMonth);
  EXPECT_EQ(p.given, "");
}

struct ErrorCase {
  const char* name;
  std::string message;
  ErrorCode code;
  const char* segment;
  int field;
  const char* text_prefix;
};

class AdtErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(AdtErrorTest, NamesTheFieldNotTheValue) {
  Hl7Result<AdtEvent> event = MapText(GetParam().message);
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code, GetParam().code) << event.error().text;
  EXPECT_EQ(event.error().segment_id, GetParam().segment);
  EXPECT_EQ(event.error().field, GetParam().field);
  EXPECT_EQ(event.error().text.rfind(GetParam().text_prefix, 0), 0u) << event.error().text;
  EXPECT_EQ(event.error().text.find("SECRET"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AdtErrorTest,
    ::testing::Values(
        ErrorCase{"no_type", "MSH|^~\\&|A|B|C|D|1|||C1|P|2.5\rPID|1||X||Y\r",
                  ErrorCode::kRequiredFieldMissing, "MSH", 9, "MSH-9"},
        ErrorCase{"no_control_id", "MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\rPID|1||X||Y\r",
                  ErrorCode::kRequiredFieldMissing, "MSH", 10, "MSH-10"},
        ErrorCase{"no_trigger", "MSH|^~\\&|A|B|C|D|1||ADT|C1|P|2.5\rPID|1||X||Y\r",
                  ErrorCode::kRequiredFieldMissing, "MSH", 9, "MSH-9"},
        ErrorCase{"unsupported_event", Synthetic("A02", "PID|1||X||Y\r"),
                  ErrorCode::kUnsupportedEventCode, "MSH", 9, "MSH-9"},
        ErrorCase{"not_adt", "MSH|^~\\&|A|B|C|D|1||ORU^R01|C1|P|2.5\rPID|1||X||Y\r",
                  ErrorCode::kUnsupportedMessageType, "MSH", 9, "MSH-9"},
        ErrorCase{"no_pid", Synthetic("A01", "EVN|A01\r"), ErrorCode::kSegmentSequenceError, "PID",
                  0, "PID"},
        ErrorCase{"no_pid3", Synthetic("A01", "PID|1||^^^H^MR||SECRET\r"),
                  ErrorCode::kRequiredFieldMissing, "PID", 3, "PID-3"},
        ErrorCase{"no_name", Synthetic("A08", "PID|1||SECRET||^^M\r"),
                  ErrorCode::kRequiredFieldMissing, "PID", 5, "PID-5"},
        ErrorCase{"bad_birth_date", Synthetic("A04", "PID|1||X||Y||SECRET\r"),
                  ErrorCode::kDataTypeError, "PID", 7, "PID-7: birth date is not a valid TS"},
        ErrorCase{"feb_30", Synthetic("A04", "PID|1||X||Y||19800230\r"), ErrorCode::kDataTypeError,
                  "PID", 7, "PID-7"},
        ErrorCase{"bad_death_date",
                  Synthetic("A04", "PID|1||X||Y||1980" + std::string(22, '|') + "2x\r"),
                  ErrorCode::kDataTypeError, "PID", 29, "PID-29"},
        ErrorCase{"merge_without_mrg", Synthetic("A40", "PID|1||X||Y\r"),
                  ErrorCode::kSegmentSequenceError, "MRG", 0, "MRG"},
        ErrorCase{"merge_empty_mrg1", Synthetic("A40", "PID|1||X||Y\rMRG|^^^H\r"),
                  ErrorCode::kRequiredFieldMissing, "MRG", 1, "MRG-1"},
        ErrorCase{"second_group_bad", Synthetic("A40", "PID|1||X||Y\rMRG|M1\rPID|2||||Z\rMRG|M2\r"),
                  ErrorCode::kRequiredFieldMissing, "PID", 3, "PID-3"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(AdtTest, ErrorLocatesTheOccurrence) {
  Hl7Result<AdtEvent> event =
      MapText(Synthetic("A40", "PID|1||X||Y\rMRG|M1\rPID|2||||Z\rMRG|M2\r"));
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().segment_index, 2);
}

TEST(AdtTest, NonAdtSamplesAreUnsupportedMessageTypes) {
  for (const char* file : {"ORU-R01-01.hl7", "SIU-S12-01.hl7"}) {
    Hl7Result<AdtEvent> event = MapFile(file);
    ASSERT_FALSE(event.ok()) << file;
    EXPECT_EQ(event.error().code, ErrorCode::kUnsupportedMessageType) << file;
  }
  Hl7Result<AdtEvent> a02 = MapFile("ADT-A02-01.hl7");
  ASSERT_FALSE(a02.ok());
  EXPECT_EQ(a02.error().code, ErrorCode::kUnsupportedEventCode);
}

// Every shared sample maps to an event (supported ADT triggers) or to error 200/201.
TEST(AdtTest, AllSharedSamplesMapOrAreUnsupported) {
  std::filesystem::path dir = HIE_HL7_SHARED_SAMPLES_DIR;
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is not present";
  const std::set<std::string> supported = {"A01", "A04", "A08", "A28", "A31", "A37", "A40"};
  int mapped = 0;
  int unsupported = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".hl7") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    Hl7Result<Message> parsed = Message::Parse(bytes.str());
    ASSERT_TRUE(parsed.ok()) << entry.path();
    std::string type = parsed.value().Get("MSH", 9, 0, 1);
    std::string trigger = parsed.value().Get("MSH", 9, 0, 2);
    Hl7Result<AdtEvent> event = MapAdt(parsed.value());
    if (type == "ADT" && supported.count(trigger) > 0) {
      ASSERT_TRUE(event.ok()) << entry.path() << ": " << event.error().text;
      EXPECT_FALSE(event.value().patient.local_id.id.empty()) << entry.path();
      ++mapped;
    } else {
      ASSERT_FALSE(event.ok()) << entry.path();
      EXPECT_EQ(event.error().code, type == "ADT" ? ErrorCode::kUnsupportedEventCode
                                                  : ErrorCode::kUnsupportedMessageType)
          << entry.path();
      ++unsupported;
    }
  }
  EXPECT_EQ(mapped + unsupported, 139);
  EXPECT_GE(mapped, 15);
}

struct TsCase {
  const char* ts;
  const char* date;  // nullptr = invalid
  DatePrecision precision;
};

class TsTest : public ::testing::TestWithParam<TsCase> {};

TEST_P(TsTest, Normalises) {
  std::optional<NormalisedDate> date = NormaliseTsDate(GetParam().ts);
  if (GetParam().date == nullptr) {
    EXPECT_FALSE(date.has_value()) << GetParam().ts;
    return;
  }
  ASSERT_TRUE(date.has_value()) << GetParam().ts;
  EXPECT_EQ(date->date, GetParam().date);
  EXPECT_EQ(date->precision, GetParam().precision);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TsTest,
    ::testing::Values(TsCase{"1988", "1988", DatePrecision::kYear},
                      TsCase{"198808", "1988-08", DatePrecision::kMonth},
                      TsCase{"19880818", "1988-08-18", DatePrecision::kDay},
                      TsCase{"198808181126+0215", "1988-08-18", DatePrecision::kDay},
                      TsCase{"20210817151943.4+0200", "2021-08-17", DatePrecision::kDay},
                      TsCase{"20000229", "2000-02-29", DatePrecision::kDay},
                      TsCase{"19000229", nullptr, DatePrecision::kNone},
                      TsCase{"19881318", nullptr, DatePrecision::kNone},
                      TsCase{"19880800", nullptr, DatePrecision::kNone},
                      TsCase{"1988081", nullptr, DatePrecision::kNone},
                      TsCase{"198", nullptr, DatePrecision::kNone},
                      TsCase{"0000", nullptr, DatePrecision::kNone},
                      TsCase{"1988-08-18", nullptr, DatePrecision::kNone},
                      TsCase{"1988081825", nullptr, DatePrecision::kNone},
                      TsCase{"19880818+02", nullptr, DatePrecision::kNone},
                      TsCase{"1988.5", nullptr, DatePrecision::kNone},
                      TsCase{"", nullptr, DatePrecision::kNone},
                      TsCase{"abc", nullptr, DatePrecision::kNone}));

}  // namespace
}  // namespace hie::hl7
