#include "services/identity/hl7/ack.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "services/identity/hl7/adt.h"

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

TEST(AckTest, StatusOutcomes) {
  Message original = ParseOrDie(kA01);
  EXPECT_EQ(AckCodeOf(BuildAckForStatus(original, absl::OkStatus(), Context())), "AA");
  EXPECT_EQ(BuildAckForStatus(original, absl::UnavailableError("pg down"), Context()), "");
  EXPECT_EQ(BuildAckForStatus(original, absl::AbortedError("serialization"), Context()), "");
  EXPECT_EQ(BuildAckForStatus(original, absl::UnknownError("commit?"), Context()), "");
  std::string denied =
      BuildAckForStatus(original, absl::PermissionDeniedError("MRN-123 other org"), Context());
  EXPECT_EQ(AckCodeOf(denied), "AR");
  EXPECT_EQ(denied.find("MRN-123"), std::string::npos);  // status messages are not copied
  Message invalid =
      ParseOrDie(BuildAckForStatus(original, absl::InvalidArgumentError("x"), Context()));
  EXPECT_EQ(invalid.Get("MSA", 1), "AE");
  EXPECT_EQ(invalid.Get("MSA", 2), "CTRL-9");
  EXPECT_EQ(invalid.Get("ERR", 3, 0, 1), "207");
  EXPECT_EQ(invalid.Get("ERR", 8), "the message was not applied: INVALID_ARGUMENT");
}

TEST(AckTest, AckCodeOfRejectsNonAcks) {
  EXPECT_EQ(AckCodeOf("garbage"), "");
  EXPECT_EQ(AckCodeOf(kA01), "");
}

}  // namespace
}  // namespace hie::hl7
