#include "services/identity/hl7/worst_case.h"

#include <time.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"

namespace hie::hl7 {
namespace {

constexpr size_t kMaxBytes = 1 << 20;  // the MLLP frame limit and ParseLimits' default

std::string Header(std::string_view trigger, std::string_view charset = "") {
  std::string msh = absl::StrCat("MSH|^~\\&|EMR|CLINIC|HUB|HIE|20240101120000||ADT^",
                                 std::string(trigger), "|CTRL1|P|2.5.1");
  if (!charset.empty()) absl::StrAppend(&msh, "||||||", std::string(charset));
  return absl::StrCat(msh, "\rEVN|", std::string(trigger), "|20240101115900\r");
}

// `unit` repeated as often as fits in `budget` bytes (at least once).
std::string Fill(std::string_view unit, size_t budget) {
  size_t n = std::max<size_t>(1, budget / unit.size());
  std::string out;
  out.reserve(n * unit.size());
  for (size_t i = 0; i < n; ++i) out.append(unit);
  return out;
}

// A message of `head` + filler + `tail` that is just under 1 MiB.
std::string Around(const std::string& head, std::string_view unit, const std::string& tail) {
  return head + Fill(unit, kMaxBytes - head.size() - tail.size() - 16) + tail;
}

WorstCase Case(std::string name, std::string message, std::string expected_ack,
               int expected_error = 0, ParseLimits limits = {}) {
  WorstCase c;
  c.name = std::move(name);
  c.message = std::move(message);
  c.limits = limits;
  c.expected_ack = std::move(expected_ack);
  c.expected_error = expected_error;
  return c;
}

// Repetitions, components and subcomponents by the megabyte (PID-3, PID-5).
void AddRepetitionCases(const std::string& a04, const std::string& name,
                        std::vector<WorstCase>* cases) {
  // The review's case: 30,000 PID-3 repetitions (the cap raised to let them in).
  {
    std::string pid3;
    for (int i = 0; i < 30000; ++i) {
      absl::StrAppend(&pid3, i == 0 ? "" : "~", "ID", i, "^^^AUTH^MR");
    }
    ParseLimits raised;
    raised.max_repetitions_per_field = 30000;
    cases->push_back(Case("pid3_30000_repetitions_cap_raised",
                          absl::StrCat(a04, "PID|1||", pid3, name, "\r"), "AA", 0, raised));
    cases->push_back(Case("pid3_30000_repetitions_default_cap",
                          absl::StrCat(a04, "PID|1||", pid3, name, "\r"), "AR", 207));
  }
  // Just under the default cap, each repetition long enough to fill 1 MiB.
  {
    std::string authority(900, 'A');
    std::string pid3;
    for (int i = 0; i < 1000; ++i) {
      absl::StrAppend(&pid3, i == 0 ? "" : "~", "ID", i, "^^^", authority, "&1.2.3&ISO^MR");
    }
    cases->push_back(
        Case("pid3_1000_long_repetitions", absl::StrCat(a04, "PID|1||", pid3, name, "\r"), "AA"));
  }
  cases->push_back(Case("pid3_1mib_of_repetition_separators",
                        Around(a04 + "PID|1||M1^^^H^MR", "~", name + "\r"), "AR", 207));
  cases->push_back(Case("pid5_1mib_of_components",
                        Around(a04 + "PID|1||M1^^^H^MR||DOE^JANE", "^", "||19800102|F\r"), "AA"));
  cases->push_back(Case("pid3_1mib_of_subcomponents",
                        Around(a04 + "PID|1||M1^^^H", "&", "^MR" + name + "\r"), "AA"));
}

// Escapes and character sets: a megabyte of each kind of escape or of 8-bit text (PID-5).
void AddEscapeCases(const std::string& a04, std::vector<WorstCase>* cases) {
  cases->push_back(Case("pid5_1mib_of_delimiter_escapes",
                        Around(a04 + "PID|1||M1^^^H^MR||", "\\F\\", "^JANE||19800102|F\r"), "AA"));
  cases->push_back(Case("pid5_1mib_of_short_hex_escapes",
                        Around(a04 + "PID|1||M1^^^H^MR||", "\\X41\\", "^JANE||19800102|F\r"),
                        "AA"));
  cases->push_back(Case("pid5_one_hex_escape_of_1mib",
                        Around(a04 + "PID|1||M1^^^H^MR||\\X", "41", "\\^JANE||19800102|F\r"),
                        "AA"));
  cases->push_back(Case(
      "pid5_1mib_of_utf8_hex_escapes",
      Around(Header("A04", "UNICODE UTF-8") + "PID|1||M1^^^H^MR||", "\\XC3BC\\", "^J||1980|F\r"),
      "AA"));
  cases->push_back(
      Case("pid5_1mib_of_charset_switches",
           Around(a04 + "PID|1||M1^^^H^MR||", "\\C2D41\\\xFC\\C2842\\", "^J||1980|F\r"), "AA"));
  cases->push_back(Case("pid5_1mib_of_formatting_escapes",
                        Around(a04 + "PID|1||M1^^^H^MR||", "A\\.br\\\\H\\", "^J||1980|F\r"), "AA"));
  cases->push_back(Case("pid5_1mib_of_escape_characters",
                        Around(a04 + "PID|1||M1^^^H^MR||", "\\", "^J||1980|F\r"), "AA"));
  cases->push_back(
      Case("pid5_1mib_of_latin1",
           Around(Header("A04", "8859/1") + "PID|1||M1^^^H^MR||", "\xFC", "^J||1980|F\r"), "AA"));
  cases->push_back(Case("pid5_1mib_then_one_invalid_byte",
                        Around(a04 + "PID|1||M1^^^H^MR||", "a", "\xFF^J||1980|F\r"), "AE", 102));
}

// Many repetitions of many components (PID-13), and thousands of segments.
void AddSegmentCases(const std::string& a04, const std::string& name,
                     std::vector<WorstCase>* cases) {
  {
    std::string phones;
    std::string components = Fill("^", 900);
    for (int i = 0; i < 1000; ++i) {
      absl::StrAppend(&phones, i == 0 ? "" : "~", "^PRN^PH^x", i, "@example.org^1^555^123456",
                      components);
    }
    cases->push_back(Case("pid13_1000_repetitions_of_components",
                          absl::StrCat(a04, "PID|1||M1^^^H^MR", name, "|||||", phones, "\r"),
                          "AA"));
  }
  {
    std::string pid = "PID|1||M1^^^H^MR" + name + "\r";
    std::string filler(190, 'x');
    std::string body;
    for (size_t i = 0; i < 4997; ++i) absl::StrAppend(&body, "NTE|", i, "|", filler, "\r");
    cases->push_back(Case("5000_segments", a04 + pid + body, "AA"));
  }
  {
    // Each segment costs a Segment and its indexes: 100,000 of them stay within the test's CPU
    // bound under AddressSanitizer with room to spare.
    ParseLimits raised;
    raised.max_segments = 100004;
    cases->push_back(Case("100000_bare_segments_cap_raised",
                          a04 + "PID|1||M1^^^H^MR" + name + "\r" + Fill("ZXX\r", 100000 * 4), "AA",
                          0, raised));
  }
}

// A40 merges of many PID/MRG groups, tiny or full.
void AddMergeCases(std::vector<WorstCase>* cases) {
  {
    // An A40 group costs a whole AdtPatient (about 0.7 KB) however small it is on the wire, so
    // max_segments is what bounds the event: 2,499 groups by default, 10,000 here.
    std::string a40 = Header("A40");
    std::string groups = Fill("PID|||1||A\rMRG|2\r", 2499 * 17);
    cases->push_back(Case("a40_2499_tiny_groups", a40 + groups, "AA"));
    ParseLimits raised;
    raised.max_segments = 20002;
    cases->push_back(Case("a40_10000_groups_cap_raised",
                          a40 + Fill("PID|||1||A\rMRG|2\r", 10000 * 17), "AA", 0, raised));
  }
  {
    std::string a40 = Header("A40");
    std::string group =
        "PID|1||SURV^^^H^MR~SSN^^^SSA^SS||FAMILY^GIVEN^M||19800102|F|||1 MAIN ST^^CITY^ST^12345"
        "||^PRN^PH^^1^555^1234567|||||123456789" +
        std::string(40, '|') + "\rPD1|" + std::string(40, 'x') + "\rMRG|PRIOR^^^H^MR||ACCT\r";
    std::string groups;
    while (groups.size() + group.size() + a40.size() < kMaxBytes - 64 &&
           (groups.size() / group.size() + 1) * 3 < 5000 - 2) {
      groups += group;
    }
    cases->push_back(Case("a40_1666_groups", a40 + groups, "AA"));
  }
}

// 500 fields in every segment, a 1 MiB MSH-10 echoed in the ACK, and line-ending abuse.
void AddFieldAndLineCases(const std::string& a04, const std::string& name,
                          std::vector<WorstCase>* cases) {
  {
    // At the limit: 500 fields (PID has 8 before the filler).
    std::string pid = "PID|1||M1^^^H^MR" + name + Fill("|", 492) + "\r";
    std::string seg = "ZXX" + Fill("|x", 2 * 500) + "\r";
    std::string body;
    while (body.size() + seg.size() + a04.size() + pid.size() < kMaxBytes - 64) body += seg;
    cases->push_back(Case("500_fields_per_segment", a04 + pid + body, "AA"));
  }
  cases->push_back(Case("msh10_of_1mib_echoed_in_the_ack",
                        Around("MSH|^~\\&|EMR|CLINIC|HUB|HIE|20240101120000||ADT^A04|", "C",
                               "|P|2.5.1\rPID|1||M1^^^H^MR" + name + "\r"),
                        "AA"));
  cases->push_back(
      Case("1mib_of_blank_lines", Around(a04 + "PID|1||M1^^^H^MR" + name + "\r", "\n", ""), "AA"));
  cases->push_back(Case("1mib_of_crlf_segments",
                        Around(a04 + "PID|1||M1^^^H^MR" + name + "\r\n", "NTE|1\r\n", ""), "AR",
                        207));
}

}  // namespace

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string HandleForWorstCase(std::string_view bytes, const ParseLimits& limits) {
  AckContext ctx{"WC1", absl::FromUnixSeconds(1700000000)};
  Hl7Result<Message> parsed = Message::Parse(bytes, limits);
  if (!parsed.ok()) return BuildAckForRaw(bytes, AckCode::kReject, {parsed.error()}, ctx);
  Hl7Result<AdtEvent> event = MapAdt(parsed.value());
  if (!event.ok()) {
    return BuildAck(parsed.value(), DefaultAckCode(event.error()), {event.error()}, ctx);
  }
  return BuildAckForStatus(parsed.value(), absl::OkStatus(), ctx);
}

std::vector<WorstCase> WorstCases() {
  std::vector<WorstCase> cases;
  const std::string a04 = Header("A04");
  const std::string name = "||DOE^JANE||19800102|F";
  AddRepetitionCases(a04, name, &cases);
  AddEscapeCases(a04, &cases);
  AddSegmentCases(a04, name, &cases);
  AddMergeCases(&cases);
  AddFieldAndLineCases(a04, name, &cases);
  return cases;
}

}  // namespace hie::hl7
