// Prints throughput figures for the HL7 path (not a test; no assertions on time).
//
//   hl7_bench <testdata dir> [<cert dir> [connections] [messages per connection]]
//   hl7_bench --worst-case [rounds]
//
// 1. Parse + MapAdt + BuildAck over the sample files, single thread.
// 2. With a cert dir (scripts/gen-certs.sh output: identity.pem, clinic-a.pem, ca.pem), MLLP
//    round trips over mutual TLS on loopback: N connections, each sending M messages and
//    waiting for each ACK (a handler that parses, maps and acknowledges).
// --worst-case: the thread CPU time of parse + map + ACK for each hostile message of
//    worst_case.h (up to 1 MiB each; the target is <= 100 ms at the default ParseLimits): the
//    first (cold) run, then the median and maximum of `rounds` more (default 5). Exits 1 when an
//    answer differs from the expected one.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"
#include "services/identity/hl7/message.h"
#include "services/identity/hl7/mllp_server.h"
#include "services/identity/hl7/worst_case.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string Handle(std::string_view bytes) {
  hie::hl7::AckContext ctx{"B1", absl::Now()};
  hie::hl7::Hl7Result<hie::hl7::Message> parsed = hie::hl7::Message::Parse(bytes);
  if (!parsed.ok()) {
    return hie::hl7::BuildAckForRaw(bytes, hie::hl7::AckCode::kReject, {parsed.error()}, ctx);
  }
  hie::hl7::Hl7Result<hie::hl7::AdtEvent> event = hie::hl7::MapAdt(parsed.value());
  if (!event.ok()) {
    return hie::hl7::BuildAck(parsed.value(), hie::hl7::DefaultAckCode(event.error()),
                              {event.error()}, ctx);
  }
  return hie::hl7::BuildAck(parsed.value(), hie::hl7::AckCode::kAccept, {}, ctx);
}

bool DefaultLimits(const hie::hl7::ParseLimits& l) {
  hie::hl7::ParseLimits d;
  return l.max_message_bytes == d.max_message_bytes && l.max_segments == d.max_segments &&
         l.max_fields_per_segment == d.max_fields_per_segment &&
         l.max_repetitions_per_field == d.max_repetitions_per_field;
}

int WorstCase(int rounds) {
  int wrong = 0;
  double worst_default = 0;
  double worst_raised = 0;
  std::printf("%-36s %8s %4s %8s %10s %8s %s\n", "case", "bytes", "ack", "first ms", "median ms",
              "max ms", "limits");
  for (const hie::hl7::WorstCase& c : hie::hl7::WorstCases()) {
    std::vector<double> ms;
    std::string code;
    for (int round = 0; round <= rounds; ++round) {  // round 0: cold (fresh memory)
      double t0 = hie::hl7::ThreadCpuSeconds();
      std::string ack = hie::hl7::HandleForWorstCase(c.message, c.limits);
      ms.push_back((hie::hl7::ThreadCpuSeconds() - t0) * 1e3);
      code = hie::hl7::AckCodeOf(ack);
    }
    double first = ms.front();
    ms.erase(ms.begin());
    std::sort(ms.begin(), ms.end());
    bool defaults = DefaultLimits(c.limits);
    double& worst = defaults ? worst_default : worst_raised;
    worst = std::max({worst, first, ms.back()});
    bool as_expected = code == c.expected_ack;
    if (!as_expected) ++wrong;
    std::printf("%-36s %8zu %4s %8.1f %10.1f %8.1f %s%s\n", c.name.c_str(), c.message.size(),
                code.c_str(), first, ms[ms.size() / 2], ms.back(), defaults ? "default" : "raised",
                as_expected ? "" : absl::StrCat("  (expected ", c.expected_ack, ")").c_str());
  }
  std::printf(
      "worst, default limits: %.1f ms of thread CPU for one message (target <= 100 ms)\n"
      "worst, raised limits:  %.1f ms\n",
      worst_default, worst_raised);
  return wrong == 0 ? 0 : 1;
}

// The .hl7 files of `dir`, their total size in *total_bytes.
std::vector<std::string> LoadSamples(const char* dir, size_t* total_bytes) {
  std::vector<std::string> samples;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".hl7") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    samples.push_back(bytes.str());
    *total_bytes += samples.back().size();
  }
  return samples;
}

// 1. Parse + MapAdt + BuildAck over `samples`, single thread.
void BenchParse(const std::vector<std::string>& samples, size_t total_bytes) {
  constexpr int kRounds = 2000;
  size_t ack_bytes = 0;
  Clock::time_point start = Clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (const std::string& sample : samples) ack_bytes += Handle(sample).size();
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double messages = static_cast<double>(kRounds) * static_cast<double>(samples.size());
  std::printf("parse+map+ack: %zu samples x %d rounds: %.0f msg/s, %.1f MB/s (%zu ack bytes)\n",
              samples.size(), kRounds, messages / seconds,
              static_cast<double>(total_bytes) * kRounds / seconds / 1e6, ack_bytes);
}

// 2. MLLP round trips over mutual TLS on loopback. Returns the exit code: 1 when the server did
// not start or a message failed.
int BenchMllp(const std::vector<std::string>& samples, const std::string& certs, int connections,
              int per_connection) {
  hie::SetMinLogLevel(hie::LogLevel::kWarning);  // no per-message lines in the figures
  hie::hl7::MllpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.tls = {certs + "/ca.pem", certs + "/identity.pem", certs + "/identity.key"};
  absl::StatusOr<std::unique_ptr<hie::hl7::MllpServer>> server = hie::hl7::MllpServer::Start(
      options, [](const hie::hl7::MllpPeer&, std::string_view bytes) { return Handle(bytes); });
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  hie::TlsFiles client_files{certs + "/ca.pem", certs + "/clinic-a.pem", certs + "/clinic-a.key"};
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::vector<double> latencies_us;
  std::mutex mu;
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      absl::StatusOr<std::unique_ptr<hie::hl7::MllpClient>> client =
          hie::hl7::MllpClient::Connect("127.0.0.1", (*server)->port(), client_files);
      if (!client.ok()) {
        failed.fetch_add(per_connection);
        return;
      }
      std::vector<double> local;
      for (int i = 0; i < per_connection; ++i) {
        const std::string& sample = samples[static_cast<size_t>(c + i) % samples.size()];
        Clock::time_point t0 = Clock::now();
        absl::StatusOr<std::string> ack = (*client)->Call(sample);
        local.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        (ack.ok() ? acked : failed).fetch_add(1);
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_us.insert(latencies_us.end(), local.begin(), local.end());
    });
  }
  for (std::thread& thread : threads) thread.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    return latencies_us[static_cast<size_t>(p * static_cast<double>(latencies_us.size() - 1))];
  };
  std::printf(
      "mllp over mTLS: %d connections x %d messages: %.0f msg/s, latency p50 %.0f us, "
      "p99 %.0f us, %d acked, %d failed (connection setup included)\n",
      connections, per_connection, acked.load() / seconds, pct(0.5), pct(0.99), acked.load(),
      failed.load());
  (*server)->Stop();
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--worst-case") {
    return WorstCase(argc > 2 ? std::max(1, std::atoi(argv[2])) : 5);
  }
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s <testdata dir> [<cert dir> [conns] [msgs]]\n"
                 "       %s --worst-case [rounds]\n",
                 argv[0], argv[0]);
    return 2;
  }
  size_t total_bytes = 0;
  std::vector<std::string> samples = LoadSamples(argv[1], &total_bytes);
  if (samples.empty()) {
    std::fprintf(stderr, "no .hl7 files in %s\n", argv[1]);
    return 1;
  }
  BenchParse(samples, total_bytes);
  if (argc < 3) return 0;
  int connections = argc > 3 ? std::max(1, std::atoi(argv[3])) : 4;
  int per_connection = argc > 4 ? std::max(1, std::atoi(argv[4])) : 500;
  return BenchMllp(samples, argv[2], connections, per_connection);
}
