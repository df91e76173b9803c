#include "services/identity/hl7/adt.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/charset.h"

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

// Maps every .hl7 file of `dir`: a supported ADT trigger must map (with a local id and every
// string valid UTF-8 without control characters), anything else must be error 200/201.
void ExpectAllMapOrAreUnsupported(const std::filesystem::path& dir, int* mapped, int* unsupported) {
  const std::set<std::string> supported = {"A01", "A04", "A08", "A28", "A31", "A37", "A40"};
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
      EXPECT_TRUE(event.value().effective_time.has_value()) << entry.path();
      ForEachText(event.value(), [&](const std::string& name, const std::string& value) {
        EXPECT_TRUE(IsValidUtf8(value) && !HasControlCharacter(value)) << entry.path() << name;
      });
      ++*mapped;
    } else {
      ASSERT_FALSE(event.ok()) << entry.path();
      EXPECT_EQ(event.error().code, type == "ADT" ? ErrorCode::kUnsupportedEventCode
                                                  : ErrorCode::kUnsupportedMessageType)
          << entry.path();
      ++*unsupported;
    }
  }
}

// The samples in the repository (testdata/README.md): 14 map, 6 are unsupported.
TEST(AdtTest, AllRepositorySamplesMapOrAreUnsupported) {
  int mapped = 0;
  int unsupported = 0;
  ExpectAllMapOrAreUnsupported(HIE_HL7_TESTDATA_DIR, &mapped, &unsupported);
  EXPECT_EQ(mapped, 14);
  EXPECT_EQ(unsupported, 6);
}

// Optional extra: the whole shared data set (139 messages) when this machine has it.
TEST(AdtTest, AllSharedSamplesMapOrAreUnsupported) {
  std::filesystem::path dir = HIE_HL7_SHARED_SAMPLES_DIR;
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "optional: the shared HL7 sample set " << dir
                 << " is not on this machine; the repository's samples were checked by "
                    "AllRepositorySamplesMapOrAreUnsupported";
  }
  int mapped = 0;
  int unsupported = 0;
  ExpectAllMapOrAreUnsupported(dir, &mapped, &unsupported);
  EXPECT_EQ(mapped + unsupported, 139);
  EXPECT_GE(mapped, 15);
}

// --- Character sets (the review's Latin-1 A04 and its relatives) -----------------------------

std::string WithCharset(const std::string& msh18, const std::string& rest,
                        const std::string& trigger = "A04") {
  return std::string(kHeader) + trigger + "|C1|P|2.5.1||||||" + msh18 + "\r" + rest;
}

TEST(AdtCharsetTest, Latin1NameIsTranscodedToUtf8) {
  Hl7Result<AdtEvent> event =
      MapText(WithCharset("8859/1",
                          "PID|1||M1^^^H^MR||M\xFCller^J\xF6rg||19800102|M|||"
                          "Stra\xDF"
                          "e 1^^K\xF6ln\r"));
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().patient.family, "M\xC3\xBCller");
  EXPECT_EQ(event.value().patient.given, "J\xC3\xB6rg");
  EXPECT_EQ(event.value().patient.address.street,
            "Stra\xC3\x9F"
            "e 1");
  EXPECT_EQ(event.value().patient.address.city, "K\xC3\xB6ln");
}

TEST(AdtCharsetTest, HexEscapesAreBytesOfTheDeclaredCharset) {
  Hl7Result<AdtEvent> latin1 =
      MapText(WithCharset("8859/1", "PID|1||M1^^^H^MR||M\\XFC\\ller^J\\XF6\\rg\r"));
  ASSERT_TRUE(latin1.ok()) << latin1.error().text;
  EXPECT_EQ(latin1.value().patient.family, "M\xC3\xBCller");
  EXPECT_EQ(latin1.value().patient.given, "J\xC3\xB6rg");
  Hl7Result<AdtEvent> utf8 =
      MapText(WithCharset("UNICODE UTF-8", "PID|1||M1^^^H^MR||M\\XC3BC\\ller^J\r"));
  ASSERT_TRUE(utf8.ok()) << utf8.error().text;
  EXPECT_EQ(utf8.value().patient.family, "M\xC3\xBCller");
  Hl7Result<AdtEvent> latin9 = MapText(WithCharset("8859/15", "PID|1||M1^^^H^MR||\xA6tef^J\r"));
  ASSERT_TRUE(latin9.ok()) << latin9.error().text;
  EXPECT_EQ(latin9.value().patient.family, "\xC5\xA0tef");
  Hl7Result<AdtEvent> switched =
      MapText(WithCharset("ASCII", "PID|1||M1^^^H^MR||M\\C2D41\\\xFC\\C2842\\ller^J\r"));
  ASSERT_TRUE(switched.ok()) << switched.error().text;
  EXPECT_EQ(switched.value().patient.family, "M\xC3\xBCller");
}

TEST(AdtCharsetTest, FormattingEscapesAreNotKept) {
  Hl7Result<AdtEvent> event = MapText(
      Synthetic("A04", "PID|1||M1^^^H^MR||\\H\\DOE\\N\\^JO\\Zlocal\\||||||1 MAIN\\.br\\APT 2\r"));
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().patient.family, "DOE");
  EXPECT_EQ(event.value().patient.given, "JO");
  EXPECT_EQ(event.value().patient.address.street, "1 MAIN APT 2");
}

struct CharsetErrorCase {
  const char* name;
  std::string message;
  ErrorCode code;
  const char* segment;
  int segment_index;
  int field;
  int repetition;
  int component;
  const char* text;  // the whole error text
};

class AdtCharsetErrorTest : public ::testing::TestWithParam<CharsetErrorCase> {};

TEST_P(AdtCharsetErrorTest, IsLocatedAndAnsweredAe) {
  const CharsetErrorCase& c = GetParam();
  Hl7Result<AdtEvent> event = MapText(c.message);
  ASSERT_FALSE(event.ok());
  const Hl7Error& e = event.error();
  EXPECT_EQ(e.code, c.code) << e.text;
  EXPECT_EQ(e.segment_id, c.segment);
  EXPECT_EQ(e.segment_index, c.segment_index);
  EXPECT_EQ(e.field, c.field);
  EXPECT_EQ(e.repetition, c.repetition);
  EXPECT_EQ(e.component, c.component);
  EXPECT_EQ(e.text, c.text);
  EXPECT_EQ(e.text.find("SECRET"), std::string::npos);
  EXPECT_EQ(DefaultAckCode(e), AckCode::kError);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AdtCharsetErrorTest,
    ::testing::Values(
        CharsetErrorCase{"latin1_undeclared", Synthetic("A04", "PID|1||M1||SECRET\xFC^J\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds bytes that are not UTF-8 and MSH-18 declares no "
                         "character set"},
        CharsetErrorCase{"latin1_declared_ascii",
                         WithCharset("ASCII", "PID|1||M1||DOE^SECRET\xFC\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 2,
                         "PID-5.2: the value holds a byte outside 7-bit ASCII (MSH-18 declares "
                         "ASCII)"},
        CharsetErrorCase{"latin1_c1", WithCharset("8859/1", "PID|1||M1||DOE^SECRET\x85\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 2,
                         "PID-5.2: the value holds a C1 control byte, not valid ISO-8859-1 text "
                         "(MSH-18 8859/1)"},
        CharsetErrorCase{"utf8_overlong",
                         WithCharset("UNICODE UTF-8", "PID|1||M1||SECRET\xC0\xAF\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds bytes that are not valid UTF-8 (MSH-18 UNICODE "
                         "UTF-8)"},
        CharsetErrorCase{"utf8_surrogate",
                         WithCharset("UNICODE UTF-8", "PID|1||M1||DOE||||||SECRET\xED\xA0\x80\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 11, 1, 1,
                         "PID-11: the value holds bytes that are not valid UTF-8 (MSH-18 UNICODE "
                         "UTF-8)"},
        CharsetErrorCase{"utf8_truncated",
                         WithCharset("UNICODE UTF-8", "PID|1||M1~M2^^^SECRET\xE2\x82^MR||DOE\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 3, 2, 4,
                         "PID-3.4 (repetition 2): the value holds bytes that are not valid UTF-8 "
                         "(MSH-18 UNICODE UTF-8)"},
        CharsetErrorCase{"hex_invalid_for_utf8",
                         WithCharset("UNICODE UTF-8", "PID|1||M1||SECRET\\XFC\\\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds bytes that are not valid UTF-8 (MSH-18 UNICODE "
                         "UTF-8)"},
        CharsetErrorCase{"hex_malformed", Synthetic("A04", "PID|1||M1||SECRET\\XF\\\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds a malformed \\X escape (it needs an even number "
                         "of hex digits)"},
        CharsetErrorCase{"escape_in_name", Synthetic("A04", "PID|1||M1||SECRET\x1B[31m^J\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds a control character"},
        CharsetErrorCase{"escape_via_hex", Synthetic("A04", "PID|1||M1||DOE^SECRET\\X1B\\\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 2,
                         "PID-5.2: the value holds a control character"},
        CharsetErrorCase{"nul_in_id", Synthetic("A04", std::string("PID|1||SEC\0RET||DOE\r", 20)),
                         ErrorCode::kDataTypeError, "PID", 1, 3, 1, 1,
                         "PID-3: the value holds a control character"},
        CharsetErrorCase{"del_in_city", Synthetic("A04", "PID|1||M1||DOE||||||^^SECRET\x7F\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 11, 1, 3,
                         "PID-11.3: the value holds a control character"},
        CharsetErrorCase{"tab_in_phone", Synthetic("A04", "PID|1||M1||DOE||||||||~SEC\tRET\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 13, 2, 1,
                         "PID-13 (repetition 2): the value holds a control character"},
        CharsetErrorCase{"charset_escape_unsupported",
                         Synthetic("A04", "PID|1||M1||\\C2D42\\SECRET\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds an unsupported \\C character set escape (only "
                         "\\C2842\\ and \\C2D41\\)"},
        CharsetErrorCase{"multibyte_escape", Synthetic("A04", "PID|1||M1||\\M2442\\SECRET\r"),
                         ErrorCode::kDataTypeError, "PID", 1, 5, 1, 1,
                         "PID-5: the value holds a multi-byte character set escape (\\M), which is "
                         "not supported"},
        CharsetErrorCase{"second_pid_of_a37",
                         Synthetic("A37", "PID|1||A1||ONE\rPID|2||B2||SECRET\x1B\r"),
                         ErrorCode::kDataTypeError, "PID", 2, 5, 1, 1,
                         "PID-5: the value holds a control character"},
        CharsetErrorCase{"mrg_of_a40", Synthetic("A40", "PID|1||A1||ONE\rMRG|B2^^^SECRET\xFF\r"),
                         ErrorCode::kDataTypeError, "MRG", 1, 1, 1, 4,
                         "MRG-1.4: the value holds bytes that are not UTF-8 and MSH-18 declares no "
                         "character set"},
        CharsetErrorCase{"control_id",
                         "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|C\x1B"
                         "1|P|2.5\rPID|1||M1||DOE\r",
                         ErrorCode::kDataTypeError, "MSH", 1, 10, 1, 1,
                         "MSH-10: the value holds a control character"},
        CharsetErrorCase{"sending_facility",
                         "MSH|^~\\&|A|B\xFF|C|D|20240101||ADT^A04|C1|P|2.5\rPID|1||M1||DOE\r",
                         ErrorCode::kDataTypeError, "MSH", 1, 4, 1, 1,
                         "MSH-4: the value holds bytes that are not UTF-8 and MSH-18 declares no "
                         "character set"},
        CharsetErrorCase{"unsupported_msh18", WithCharset("8859/2", "PID|1||M1||SECRET\r"),
                         ErrorCode::kTableValueNotFound, "MSH", 1, 18, 1, 0,
                         "MSH-18: the character set is not supported (table 0211 values "
                         "supported: ASCII, 8859/1, 8859/15, UNICODE UTF-8)"},
        CharsetErrorCase{"utf16_msh18", WithCharset("UNICODE UTF-16", "PID|1||M1||SECRET\r"),
                         ErrorCode::kTableValueNotFound, "MSH", 1, 18, 1, 0,
                         "MSH-18: the character set is not supported (table 0211 values "
                         "supported: ASCII, 8859/1, 8859/15, UNICODE UTF-8)"}),
    [](const ::testing::TestParamInfo<CharsetErrorCase>& info) { return info.param.name; });

// --- Event time ---------------------------------------------------------------------------

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

std::string WithTimes(const std::string& msh7, const std::string& evn) {
  return "MSH|^~\\&|A|B|C|D|" + msh7 + "||ADT^A08|C1|P|2.5.1\r" + evn +
         "PID|1||M1^^^H^MR||DOE^JO\r";
}

TEST(AdtTimeTest, EffectiveTimeIsEvn2ElseMsh7) {
  Hl7Result<AdtEvent> event = MapText(WithTimes("20240101120000", "EVN|A08|20231231230000\r"));
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().effective_time, Utc(2023, 12, 31, 23));
  EXPECT_EQ(event.value().event_time, "20231231230000");
  EXPECT_EQ(event.value().message_time, "20240101120000");

  event = MapText(WithTimes("20240101120000+0100", "EVN|A08\r"));  // no EVN-2
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().effective_time, Utc(2024, 1, 1, 11));

  event = MapText(WithTimes("20240101120000", ""));  // no EVN at all
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().effective_time, Utc(2024, 1, 1, 12));

  event = MapText(WithTimes("", "EVN|A08\r"));  // neither
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_FALSE(event.value().effective_time.has_value());

  event = MapText(WithTimes("", "EVN|A08|20240229^S\r"));  // v2.3 TS with degree of precision
  ASSERT_TRUE(event.ok()) << event.error().text;
  EXPECT_EQ(event.value().effective_time, Utc(2024, 2, 29));
}

TEST(AdtTimeTest, GhhSampleUsesEvn2WithItsOffset) {
  Hl7Result<AdtEvent> event = MapFile("ADT-A01-01.hl7");
  ASSERT_TRUE(event.ok());
  // EVN-2 20290801070624+0115 is 05:51:24 UTC.
  EXPECT_EQ(event.value().effective_time, Utc(2029, 8, 1, 5, 51, 24));
}

TEST(AdtTimeTest, InvalidTimesAreDataTypeErrors) {
  Hl7Result<AdtEvent> event = MapText(WithTimes("20240101120000", "EVN|A08|20241301\r"));
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code, ErrorCode::kDataTypeError);
  EXPECT_EQ(event.error().segment_id, "EVN");
  EXPECT_EQ(event.error().field, 2);
  EXPECT_EQ(event.error().text, "EVN-2: recorded date/time is not a valid TS");
  EXPECT_EQ(DefaultAckCode(event.error()), AckCode::kError);

  // A bad MSH-7 is refused even when EVN-2 is good.
  event = MapText(WithTimes("2024-01-01", "EVN|A08|20231231\r"));
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code, ErrorCode::kDataTypeError);
  EXPECT_EQ(event.error().segment_id, "MSH");
  EXPECT_EQ(event.error().field, 7);
  EXPECT_EQ(event.error().text, "MSH-7: date/time of message is not a valid TS");
}

struct TimeCase {
  const char* ts;
  std::optional<absl::Time> time;
};

class TsTimeTest : public ::testing::TestWithParam<TimeCase> {};

TEST_P(TsTimeTest, Parses) { EXPECT_EQ(ParseTsTime(GetParam().ts), GetParam().time); }

INSTANTIATE_TEST_SUITE_P(
    Cases, TsTimeTest,
    ::testing::Values(
        TimeCase{"2024", Utc(2024, 1, 1)}, TimeCase{"202402", Utc(2024, 2, 1)},
        TimeCase{"20240229", Utc(2024, 2, 29)}, TimeCase{"2024022913", Utc(2024, 2, 29, 13)},
        TimeCase{"202402291305", Utc(2024, 2, 29, 13, 5)},
        TimeCase{"20240229130559", Utc(2024, 2, 29, 13, 5, 59)},
        TimeCase{"20240229130559.1", Utc(2024, 2, 29, 13, 5, 59) + absl::Milliseconds(100)},
        TimeCase{"20240229130559.1234", Utc(2024, 2, 29, 13, 5, 59) + absl::Microseconds(123400)},
        TimeCase{"20240229130559.0001+0000", Utc(2024, 2, 29, 13, 5, 59) + absl::Microseconds(100)},
        TimeCase{"20240101000000+0530", Utc(2023, 12, 31, 18, 30)},
        TimeCase{"20231231230000-0200", Utc(2024, 1, 1, 1)},
        TimeCase{"2024+0100", Utc(2023, 12, 31, 23)},  // an offset applies at any precision
        TimeCase{"20240101-1400", Utc(2024, 1, 1, 14)},
        TimeCase{"198908181126+0215", Utc(1989, 8, 18, 9, 11)},
        TimeCase{"20230229", std::nullopt},              // not a leap year
        TimeCase{"20240101240000", std::nullopt},        // hour 24
        TimeCase{"20240101235960", std::nullopt},        // second 60
        TimeCase{"20240101120000.", std::nullopt},       // empty fraction
        TimeCase{"20240101120000.12345", std::nullopt},  // five fraction digits
        TimeCase{"202401011200.5", std::nullopt},        // a fraction needs the seconds
        TimeCase{"20240101+1500", std::nullopt},         // offset beyond 14 h
        TimeCase{"20240101+0160", std::nullopt}, TimeCase{"20240101+01", std::nullopt},
        TimeCase{"20240101Z", std::nullopt}, TimeCase{"2024-01-01", std::nullopt},
        TimeCase{"0000", std::nullopt}, TimeCase{"202", std::nullopt}, TimeCase{"", std::nullopt}));

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
