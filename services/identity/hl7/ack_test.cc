#include "services/identity/hl7/ack.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/identity/hl7/adt.h"
#include "services/identity/hl7/charset.h"

namespace hie::hl7 {
namespace {

AckContext Context() {
  AckContext ctx;
  ctx.control_id = "ACK-1";
  ctx.now = absl::FromUnixSeconds(1700000000);  // 2023-11-14 22:13:20 UTC
  return ctx;
}

Message ParseOrDie(const std::string& text) {
  Hl7Result<Message> parsed = Message::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.error().text;
  return parsed.value();
}

constexpr char kA01[] =
    "MSH|^~\\&|EMR^1.2.3^ISO|CLINIC|HUB|HIE|20240101120000||ADT^A01^ADT_A01|CTRL-9|T|2.4\r"
    "PID|1||M1^^^H^MR||DOE^JANE||19800230\r";

TEST(AckTest, AcceptSwapsSenderAndReceiverAndEchoesTheControlId) {
  std::string ack = BuildAck(ParseOrDie(kA01), AckCode::kAccept, {}, Context());
  EXPECT_EQ(ack,
            "MSH|^~\\&|HUB|HIE|EMR^1.2.3^ISO|CLINIC|20231114221320+0000||ACK^A01^ACK|ACK-1|T|2.4\r"
            "MSA|AA|CTRL-9\r");
  Message parsed = ParseOrDie(ack);
  EXPECT_EQ(parsed.Get("MSA", 2), "CTRL-9");
  EXPECT_EQ(AckCodeOf(ack), "AA");
}

TEST(AckTest, ApplicationErrorNamesTheField) {
  Message original = ParseOrDie(kA01);
  Hl7Result<AdtEvent> event = MapAdt(original);
  ASSERT_FALSE(event.ok());
  ASSERT_EQ(event.error().code, ErrorCode::kDataTypeError);
  std::string ack = BuildAck(original, DefaultAckCode(event.error()), {event.error()}, Context());
  Message parsed = ParseOrDie(ack);
  EXPECT_EQ(parsed.Get("MSA", 1), "AE");
  EXPECT_EQ(parsed.Get("MSA", 2), "CTRL-9");
  const Segment* err = parsed.Find("ERR");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->Get(2, 0, 1), "PID");
  EXPECT_EQ(err->Get(2, 0, 2), "1");
  EXPECT_EQ(err->Get(2, 0, 3), "7");
  EXPECT_EQ(err->Get(3, 0, 1), "102");
  EXPECT_EQ(err->Get(3, 0, 2), "Data type error");
  EXPECT_EQ(err->Get(3, 0, 3), "HL70357");
  EXPECT_EQ(err->Get(4), "E");
  EXPECT_EQ(err->Get(8), "PID-7: birth date is not a valid TS");
  EXPECT_EQ(ack.find("19800230"), std::string::npos);  // no PHI echoed
  EXPECT_EQ(ack.back(), '\r');
  EXPECT_EQ(ack.find('\n'), std::string::npos);
}

TEST(AckTest, UnsupportedEventDefaultsToReject) {
  Message original =
      ParseOrDie("MSH|^~\\&|EMR|CLINIC|HUB|HIE|20240101||ADT^A02|C2|P|2.5.1\rPID|1||M1||DOE\r");
  Hl7Result<AdtEvent> event = MapAdt(original);
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(DefaultAckCode(event.error()), AckCode::kReject);
  std::string ack = BuildAck(original, AckCode::kReject, {event.error()}, Context());
  EXPECT_EQ(AckCodeOf(ack), "AR");
  EXPECT_EQ(ParseOrDie(ack).Get("ERR", 3, 0, 1), "201");
  EXPECT_EQ(ParseOrDie(ack).Get("MSH", 9, 0, 2), "A02");
}

TEST(AckTest, UnparseableInputIsRejectedWithDefaults) {
  Hl7Result<Message> parsed = Message::Parse("this is not HL7");
  ASSERT_FALSE(parsed.ok());
  std::string ack =
      BuildAckForRaw("this is not HL7", AckCode::kReject, {parsed.error()}, Context());
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.Get("MSH", 3), "HIE");
  EXPECT_EQ(reply.Get("MSH", 4), "HIE");
  EXPECT_EQ(reply.Get("MSH", 5), "");
  EXPECT_EQ(reply.Get("MSH", 9), "ACK");
  EXPECT_EQ(reply.Get("MSH", 12), "2.5.1");
  EXPECT_EQ(reply.Get("MSA", 1), "AR");
  EXPECT_EQ(reply.Get("MSA", 2), "");
  EXPECT_EQ(reply.Get("ERR", 3, 0, 1), "100");
}

TEST(AckTest, BrokenBodyStillRecoversTheHeader) {
  std::string raw = "MSH|^~\\&|EMR|CLINIC|HUB|HIE|20240101||ADT^A08|C3|P|2.3\r\x01garbage\rPID|1\r";
  Hl7Result<Message> parsed = Message::Parse(raw);
  ASSERT_FALSE(parsed.ok());
  std::string ack = BuildAckForRaw(raw, AckCode::kReject, {parsed.error()}, Context());
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.Get("MSA", 2), "C3");
  EXPECT_EQ(reply.Get("MSH", 5), "EMR");
  EXPECT_EQ(reply.Get("MSH", 3), "HUB");
  EXPECT_EQ(reply.Get("MSH", 12), "2.3");
  EXPECT_EQ(reply.Get("MSH", 9, 0, 2), "A08");
}

TEST(AckTest, CustomDelimitersAreReEncoded) {
  Message original = ParseOrDie("MSH#*@!%#EMR*X|Y#CL#H#F#2024##ADT*A28#C!F!4#P#2.5\rPID#1##M#X");
  std::string ack = BuildAck(original, AckCode::kAccept, {}, Context());
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.delimiters().field, '|');
  EXPECT_EQ(reply.Get("MSH", 5, 0, 1), "EMR");
  EXPECT_EQ(reply.Get("MSH", 5, 0, 2), "X|Y");
  EXPECT_EQ(reply.Get("MSA", 2), "C#4");
}

// The whole status -> ACK mapping (ack.h), one row per absl::StatusCode.
struct StatusCase {
  absl::StatusCode code;
  const char* ack;         // MSA-1, "" for no ACK
  const char* error_code;  // ERR-3.1, "" for no ERR
  bool copies_message;     // ERR-8 is the status message
};

class AckStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(AckStatusTest, MapsTheOutcome) {
  const StatusCase& c = GetParam();
  Message original = ParseOrDie(kA01);
  // Names a field and no value, as the service guarantees for the copied codes.
  absl::Status status(
      c.code, c.code == absl::StatusCode::kOk ? "" : "demographics.name.family is required");
  std::string ack = BuildAckForStatus(original, status, Context());
  if (std::string(c.ack).empty()) {
    EXPECT_EQ(ack, "") << absl::StatusCodeToString(c.code);
    return;
  }
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.Get("MSA", 1), c.ack) << absl::StatusCodeToString(c.code);
  EXPECT_EQ(reply.Get("MSA", 2), "CTRL-9");
  EXPECT_EQ(reply.Get("ERR", 3, 0, 1), c.error_code) << absl::StatusCodeToString(c.code);
  if (std::string(c.error_code).empty()) {
    EXPECT_EQ(reply.Find("ERR"), nullptr);
    return;
  }
  EXPECT_EQ(reply.Get("ERR", 4), "E");
  if (c.copies_message) {
    EXPECT_EQ(reply.Get("ERR", 8), "demographics.name.family is required");
  } else {
    EXPECT_EQ(reply.Get("ERR", 8),
              absl::StrCat("the message was not applied: ", absl::StatusCodeToString(c.code)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, AckStatusTest,
    ::testing::Values(StatusCase{absl::StatusCode::kOk, "AA", "", false},
                      StatusCase{absl::StatusCode::kInvalidArgument, "AE", "102", true},
                      StatusCase{absl::StatusCode::kFailedPrecondition, "AE", "207", true},
                      StatusCase{absl::StatusCode::kAlreadyExists, "AE", "205", false},
                      StatusCase{absl::StatusCode::kNotFound, "AE", "204", false},
                      StatusCase{absl::StatusCode::kOutOfRange, "AE", "102", false},
                      StatusCase{absl::StatusCode::kUnavailable, "", "", false},
                      StatusCase{absl::StatusCode::kAborted, "", "", false},
                      StatusCase{absl::StatusCode::kResourceExhausted, "", "", false},
                      StatusCase{absl::StatusCode::kDeadlineExceeded, "", "", false},
                      StatusCase{absl::StatusCode::kUnknown, "", "", false},
                      StatusCase{absl::StatusCode::kCancelled, "", "", false},
                      StatusCase{absl::StatusCode::kPermissionDenied, "AR", "207", false},
                      StatusCase{absl::StatusCode::kUnauthenticated, "AR", "207", false},
                      StatusCase{absl::StatusCode::kInternal, "AR", "207", false},
                      StatusCase{absl::StatusCode::kDataLoss, "AR", "207", false},
                      StatusCase{absl::StatusCode::kUnimplemented, "AR", "207", false}),
    [](const ::testing::TestParamInfo<StatusCase>& info) {
      return absl::StatusCodeToString(info.param.code);
    });

TEST(AckTest, OnlyFieldNamingMessagesAreCopied) {
  Message original = ParseOrDie(kA01);
  std::string denied =
      BuildAckForStatus(original, absl::PermissionDeniedError("MRN-123 other org"), Context());
  EXPECT_EQ(AckCodeOf(denied), "AR");
  EXPECT_EQ(denied.find("MRN-123"), std::string::npos);
  std::string missing =
      BuildAckForStatus(original, absl::NotFoundError("person MRN-123 not found"), Context());
  EXPECT_EQ(AckCodeOf(missing), "AE");
  EXPECT_EQ(missing.find("MRN-123"), std::string::npos);
}

TEST(AckTest, CopiedStatusMessagesAreEscapedCutAndSanitised) {
  Message original = ParseOrDie(kA01);
  std::string ack = BuildAckForStatus(
      original, absl::InvalidArgumentError("PID-5|family^given \x1B[2J\r\nnext"), Context());
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.segments().size(), 3u);
  EXPECT_EQ(reply.Get("ERR", 8), "PID-5|family^given ?[2J??next");
  EXPECT_TRUE(IsValidUtf8(ack));

  // 199 ASCII bytes then a 2-byte character: the cut at 200 must not split it.
  std::string long_text = std::string(199, 'a') + "\xC3\xBC" + std::string(100, 'b');
  reply =
      ParseOrDie(BuildAckForStatus(original, absl::FailedPreconditionError(long_text), Context()));
  EXPECT_EQ(reply.Get("ERR", 8), std::string(199, 'a'));
  reply = ParseOrDie(
      BuildAckForStatus(original, absl::InvalidArgumentError(std::string(300, 'c')), Context()));
  EXPECT_EQ(reply.Get("ERR", 8).size(), kMaxStatusTextBytes);
  // Invalid UTF-8 in a status message never reaches the ACK.
  ack = BuildAckForStatus(original, absl::InvalidArgumentError("bad \xFF\xFE byte"), Context());
  EXPECT_TRUE(IsValidUtf8(ack));
  EXPECT_EQ(ParseOrDie(ack).Get("ERR", 8), "bad ?? byte");
}

TEST(AckTest, WarningsRideOnTheAcceptance) {
  Message original = ParseOrDie(kA01);
  Hl7Error dropped;
  dropped.segment_id = "PID";
  dropped.segment_index = 1;
  dropped.field = 3;
  dropped.repetition = 2;
  dropped.code = ErrorCode::kTableValueNotFound;
  dropped.severity = Severity::kWarning;
  dropped.text = "PID-3 (repetition 2): identifier type is not known; the identifier was dropped";
  Hl7Error second = dropped;
  second.repetition = 3;
  second.severity = Severity::kError;  // written as W: warnings cannot make an AA an error
  std::string ack = BuildAckForStatus(original, absl::OkStatus(), {dropped, second}, Context());
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.Get("MSA", 1), "AA");
  std::vector<const Segment*> errs = reply.FindAll("ERR");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0]->Get(2, 0, 1), "PID");
  EXPECT_EQ(errs[0]->Get(2, 0, 3), "3");
  EXPECT_EQ(errs[0]->Get(2, 0, 4), "2");
  EXPECT_EQ(errs[0]->Get(3, 0, 1), "103");
  EXPECT_EQ(errs[0]->Get(4), "W");
  EXPECT_EQ(errs[0]->Get(8), dropped.text);
  EXPECT_EQ(errs[1]->Get(2, 0, 4), "3");
  EXPECT_EQ(errs[1]->Get(4), "W");

  // With an error outcome the status's ERR comes first, then the warnings.
  reply = ParseOrDie(BuildAckForStatus(original, absl::InvalidArgumentError("PID-7 is invalid"),
                                       {dropped}, Context()));
  errs = reply.FindAll("ERR");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0]->Get(4), "E");
  EXPECT_EQ(errs[1]->Get(4), "W");
  // No ACK means no warnings either.
  EXPECT_EQ(BuildAckForStatus(original, absl::UnavailableError("pg"), {dropped}, Context()), "");
}

// MSH-3..6 and MSH-10 in another character set: the ACK is still UTF-8 (decoded values, and
// MSH-18 says so) or ASCII with '?' for what cannot be decoded.
TEST(AckTest, HeaderInOtherCharsetsGivesAValidUtf8Ack) {
  Message latin1 = ParseOrDie(
      "MSH|^~\\&|EMR|KLINIK K\xD6LN|HUB|HIE|20240101||ADT^A04|C\xFC"
      "1|P|2.5||||||8859/1\r"
      "PID|1||M1||DOE\r");
  std::string ack = BuildAck(latin1, AckCode::kAccept, {}, Context());
  EXPECT_TRUE(IsValidUtf8(ack));
  Message reply = ParseOrDie(ack);
  EXPECT_EQ(reply.charset(), Charset::kUtf8);
  EXPECT_EQ(reply.Get("MSH", 18), "UNICODE UTF-8");
  EXPECT_EQ(reply.Find("MSH")->GetText(6).value(), "KLINIK K\xC3\x96LN");
  EXPECT_EQ(reply.Get("MSA", 2),
            "C\xC3\xBC"
            "1");

  // Undeclared Latin-1, a control character and an unsupported MSH-18: '?' and plain ASCII.
  for (const char* raw : {"MSH|^~\\&|EMR|K\xD6LN|HUB|HIE|20240101||ADT^A04|C\xFC"
                          "1|P|2.5\rPID|1||M1||DOE\r",
                          "MSH|^~\\&|EMR|K\xD6LN|HUB|HIE|20240101||ADT^A04|C\xFC"
                          "1|P|2.5||||||8859/7\r",
                          "MSH|^~\\&|EMR|K\xD6LN|HUB|HIE|20240101||ADT^A04|C\xFC"
                          "1|P|2.5||||||ASCII\r"}) {
    ack = BuildAckForRaw(raw, AckCode::kError, {}, Context());
    EXPECT_TRUE(IsValidUtf8(ack)) << raw;
    reply = ParseOrDie(ack);
    EXPECT_EQ(reply.Get("MSH", 18), "") << raw;
    EXPECT_EQ(reply.Get("MSH", 6), "K?LN") << raw;
    EXPECT_EQ(reply.Get("MSA", 2), "C?1") << raw;
  }
  ack = BuildAck(ParseOrDie("MSH|^~\\&|EMR|A\x1B[2J|HUB|HIE|20240101||ADT^A04|C\\X07\\1|P|2.5\r"),
                 AckCode::kAccept, {}, Context());
  EXPECT_EQ(ack.find('\x1B'), std::string::npos);
  EXPECT_EQ(ParseOrDie(ack).Get("MSH", 6), "A?[2J");
  EXPECT_EQ(ParseOrDie(ack).Get("MSA", 2), "C?1");
}

TEST(AckTest, AckCodeOfRejectsNonAcks) {
  EXPECT_EQ(AckCodeOf("garbage"), "");
  EXPECT_EQ(AckCodeOf(kA01), "");
}

}  // namespace
}  // namespace hie::hl7
