// The MLLP listener over real mutual TLS on loopback, with the test certificates of
// scripts/gen-certs.sh (the hub CA and an independent rogue CA).

#include "services/identity/hl7/mllp_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "services/common/logging.h"
#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/adt.h"
#include "tests/support/test_env.h"

namespace hie::hl7 {
namespace {

using ::hie::testing::TestCertFiles;

std::string Sample(const std::string& name) {
  std::ifstream in(std::string(HIE_HL7_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string TestMessage(int n) {
  return absl::StrCat("MSH|^~\\&|EMR|CLINIC|HUB|HIE|20240101||ADT^A08|C", n, "|P|2.5.1\rPID|1||M",
                      n, "^^^H^MR||DOE^JO\r");
}

// A handler that records what it saw and answers like the identity service will: AA for a
// mapped ADT event, the error's default code otherwise.
class Recorder {
 public:
  MllpHandler Handler() {
    return [this](const MllpPeer& peer, std::string_view message) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        orgs_.push_back(peer.org);
        roles_.push_back(peer.role);
        messages_.push_back(std::string(message));
      }
      AckContext ctx{absl::StrCat("ACK", counter_.fetch_add(1)), absl::Now()};
      Hl7Result<Message> parsed = Message::Parse(message);
      if (!parsed.ok()) {
        return BuildAckForRaw(message, AckCode::kReject, {parsed.error()}, ctx);
      }
      Hl7Result<AdtEvent> event = MapAdt(parsed.value());
      if (!event.ok()) {
        return BuildAck(parsed.value(), DefaultAckCode(event.error()), {event.error()}, ctx);
      }
      return BuildAck(parsed.value(), AckCode::kAccept, {}, ctx);
    };
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  std::vector<std::string> orgs() {
    std::lock_guard<std::mutex> lock(mu_);
    return orgs_;
  }
  std::vector<std::string> roles() {
    std::lock_guard<std::mutex> lock(mu_);
    return roles_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> messages_, orgs_, roles_;
  std::atomic<int> counter_{1};
};

class MllpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(std::string(line));
    });
  }
  void TearDown() override {
    server_.reset();
    SetLogSink(nullptr);
  }

  void StartServer(MllpHandler handler, MllpServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.tls = TestCertFiles("identity");
    absl::StatusOr<std::unique_ptr<MllpServer>> server =
        MllpServer::Start(std::move(options), std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  absl::StatusOr<std::unique_ptr<MllpClient>> ConnectAs(const TlsFiles& files) {
    return MllpClient::Connect("127.0.0.1", server_->port(), files, absl::Seconds(5));
  }

  std::vector<std::string> LogLines() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  // Waits up to 5 s for a log line containing `text`.
  bool WaitForLog(std::string_view text) {
    for (int i = 0; i < 500; ++i) {
      for (const std::string& line : LogLines()) {
        if (line.find(text) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  Recorder recorder_;
  std::unique_ptr<MllpServer> server_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(MllpServerTest, RoundTripWithClientCertificate) {
  StartServer(recorder_.Handler());
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(client.ok()) << client.status();

  std::string a01 = Sample("ADT-A01-01.hl7");
  absl::StatusOr<std::string> ack = (*client)->Call(a01);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(AckCodeOf(*ack), "AA");
  Hl7Result<Message> reply = Message::Parse(*ack);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply.value().Get("MSA", 2), "MSG00001");
  EXPECT_EQ(reply.value().Get("MSH", 9, 0, 2), "A01");

  // Many messages on one connection, answered in order; a bad one gets AE naming the field.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::string> next = (*client)->Call(TestMessage(i));
    ASSERT_TRUE(next.ok()) << next.status();
    Hl7Result<Message> parsed = Message::Parse(*next);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value().Get("MSA", 2), absl::StrCat("C", i));
  }
  absl::StatusOr<std::string> bad =
      (*client)->Call("MSH|^~\\&|EMR|CL|HUB|HIE|2024||ADT^A04|BAD1|P|2.5\rPID|1||||DOE\r");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(AckCodeOf(*bad), "AE");
  EXPECT_NE(bad->find("PID-3"), std::string::npos);

  ASSERT_EQ(recorder_.messages().size(), 22u);
  EXPECT_EQ(recorder_.messages()[0], a01);     // the payload exactly as sent (BOM, LF and all)
  EXPECT_EQ(recorder_.orgs()[0], "clinic-a");  // from the certificate, not MSH-4
  EXPECT_EQ(recorder_.roles()[0], "member");

  // One log line per message with ids and codes only. The line follows the ACK write, so the
  // last one may land just after the client has its ACK.
  auto count_message_lines = [this] {
    int n = 0;
    for (const std::string& line : LogLines())
      n += line.find("\"hl7_message\"") != std::string::npos;
    return n;
  };
  for (int i = 0; i < 200 && count_message_lines() < 22; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int message_lines = 0;
  for (const std::string& line : LogLines()) {
    EXPECT_EQ(line.find("EVERYMAN"), std::string::npos) << line;  // PHI never logged
    EXPECT_EQ(line.find("19880818"), std::string::npos) << line;
    if (line.find("\"hl7_message\"") == std::string::npos) continue;
    ++message_lines;
    EXPECT_NE(line.find("\"peer_org\":\"clinic-a\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"latency_ms\""), std::string::npos) << line;
  }
  EXPECT_EQ(message_lines, 22);
  bool first_logged = false;
  for (const std::string& line : LogLines()) {
    if (line.find("\"control_id\":\"MSG00001\"") != std::string::npos &&
        line.find("\"ack_code\":\"AA\"") != std::string::npos &&
        line.find("\"trigger\":\"A01\"") != std::string::npos) {
      first_logged = true;
    }
  }
  EXPECT_TRUE(first_logged);
}

TEST_F(MllpServerTest, ClientWithoutCertificateIsRefused) {
  StartServer(recorder_.Handler());
  TlsFiles no_cert = TestCertFiles("clinic-a");
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(no_cert);
  if (client.ok()) {  // TLS 1.3: the client may finish first; the server then drops it
    EXPECT_FALSE((*client)->Call(TestMessage(1), absl::Seconds(5)).ok());
  }
  EXPECT_TRUE(WaitForLog("\"mllp_handshake_failed\""));
  EXPECT_TRUE(recorder_.messages().empty());
}

TEST_F(MllpServerTest, CertificateFromAnotherCaIsRefused) {
  StartServer(recorder_.Handler());
  TlsFiles rogue = TestCertFiles("clinic-a", /*rogue_ca=*/true);
  rogue.ca_file = TestCertFiles("clinic-a").ca_file;  // trusts the server; presents a rogue cert
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(rogue);
  if (client.ok()) {
    EXPECT_FALSE((*client)->Call(TestMessage(1), absl::Seconds(5)).ok());
  }
  EXPECT_TRUE(WaitForLog("\"mllp_handshake_failed\""));
  EXPECT_TRUE(recorder_.messages().empty());

  // And the client refuses a server its CA did not sign.
  TlsFiles wrong_trust = TestCertFiles("clinic-a", /*rogue_ca=*/true);
  EXPECT_FALSE(ConnectAs(wrong_trust).ok());
}

TEST_F(MllpServerTest, SplitCoalescedFramesAndJunkBetweenThem) {
  StartServer(recorder_.Handler());
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-b"));
  ASSERT_TRUE(client.ok()) << client.status();
  MllpClient& c = **client;

  std::string frame = MllpEncode(TestMessage(1));
  for (size_t i = 0; i < frame.size(); i += 7) {  // split across many TLS records and reads
    ASSERT_TRUE(c.SendRaw(frame.substr(i, 7)).ok());
    if (i % 28 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  absl::StatusOr<std::string> ack = c.ReadAck();
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_NE(ack->find("MSA|AA|C1"), std::string::npos);

  // Three frames and junk in one write: three ACKs in order.
  ASSERT_TRUE(c.SendRaw("junk\r\n" + MllpEncode(TestMessage(2)) + MllpEncode(TestMessage(3)) +
                        "??" + MllpEncode(TestMessage(4)))
                  .ok());
  for (int i = 2; i <= 4; ++i) {
    absl::StatusOr<std::string> next = c.ReadAck();
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_NE(next->find(absl::StrCat("MSA|AA|C", i)), std::string::npos) << *next;
  }
  ASSERT_EQ(recorder_.messages().size(), 4u);
  EXPECT_EQ(recorder_.orgs()[3], "clinic-b");
  bool junk_logged = false;
  for (const std::string& line : LogLines()) {
    if (line.find("mllp_bytes_outside_frame") != std::string::npos) junk_logged = true;
  }
  EXPECT_TRUE(junk_logged);
}

TEST_F(MllpServerTest, OversizedFrameIsRejectedAndTheConnectionClosed) {
  MllpServerOptions options;
  options.max_frame_bytes = 1024;
  StartServer(recorder_.Handler(), options);
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Call(TestMessage(1)).ok());  // a normal one first

  std::string big = TestMessage(2) + "NTE|1||" + std::string(4096, 'x') + "\r";
  absl::StatusOr<std::string> ack = (*client)->Call(big);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(AckCodeOf(*ack), "AR");
  Hl7Result<Message> reply = Message::Parse(*ack);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply.value().Get("ERR", 3, 0, 1), "207");
  EXPECT_TRUE((*client)->WaitForClose(absl::Seconds(5)));
  EXPECT_TRUE(WaitForLog("\"frame_too_large\""));
  EXPECT_EQ(recorder_.messages().size(), 1u);  // the oversized one never reached the handler
}

TEST_F(MllpServerTest, HandlerExceptionIsAnsweredWithAr) {
  StartServer([](const MllpPeer&, std::string_view) -> std::string {
    throw std::runtime_error("database down");
  });
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(client.ok());
  absl::StatusOr<std::string> ack = (*client)->Call(TestMessage(7));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(AckCodeOf(*ack), "AR");
  EXPECT_NE(ack->find("MSA|AR|C7"), std::string::npos);
}

TEST_F(MllpServerTest, ConcurrentConnections) {
  StartServer(recorder_.Handler());
  constexpr int kClients = 4;
  constexpr int kPerClient = 25;
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-c"));
      if (!client.ok()) return;
      for (int i = 0; i < kPerClient; ++i) {
        int n = t * 1000 + i;
        absl::StatusOr<std::string> ack = (*client)->Call(TestMessage(n));
        if (ack.ok() && ack->find(absl::StrCat("MSA|AA|C", n, "\r")) != std::string::npos) {
          accepted.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), kClients * kPerClient);
  EXPECT_EQ(recorder_.messages().size(), static_cast<size_t>(kClients * kPerClient));
}

TEST_F(MllpServerTest, ConnectionCapRefusesExtraConnections) {
  MllpServerOptions options;
  options.max_connections = 1;
  StartServer(recorder_.Handler(), options);
  absl::StatusOr<std::unique_ptr<MllpClient>> first = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Call(TestMessage(1)).ok());
  absl::StatusOr<std::unique_ptr<MllpClient>> second = ConnectAs(TestCertFiles("clinic-a"));
  if (second.ok()) {
    EXPECT_FALSE((*second)->Call(TestMessage(2), absl::Seconds(3)).ok());
  }
  EXPECT_TRUE((*first)->Call(TestMessage(3)).ok());  // the first is unaffected
}

TEST_F(MllpServerTest, IdleConnectionIsClosed) {
  MllpServerOptions options;
  options.idle_timeout = absl::Milliseconds(300);
  StartServer(recorder_.Handler(), options);
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Call(TestMessage(1)).ok());
  EXPECT_TRUE((*client)->WaitForClose(absl::Seconds(5)));
  EXPECT_TRUE(WaitForLog("\"idle_timeout\""));
}

TEST_F(MllpServerTest, StopFinishesTheInFlightMessageAndClosesIdleConnections) {
  std::mutex mu;
  std::condition_variable cv;
  bool in_handler = false;
  bool release = false;
  StartServer([&](const MllpPeer& peer, std::string_view message) {
    {
      std::unique_lock<std::mutex> lock(mu);
      in_handler = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
    Hl7Result<Message> parsed = Message::Parse(message);
    return BuildAck(parsed.value(), AckCode::kAccept, {}, AckContext{"S1", absl::Now()});
  });
  absl::StatusOr<std::unique_ptr<MllpClient>> busy = ConnectAs(TestCertFiles("clinic-a"));
  absl::StatusOr<std::unique_ptr<MllpClient>> idle = ConnectAs(TestCertFiles("clinic-b"));
  ASSERT_TRUE(busy.ok() && idle.ok());
  ASSERT_TRUE((*busy)->Send(TestMessage(42)).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return in_handler; }));
  }
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server_->Stop();
    stopped.store(true);
  });
  EXPECT_TRUE((*idle)->WaitForClose(absl::Seconds(5)));  // idle connection closed promptly
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(stopped.load());  // Stop waits for the handler
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  absl::StatusOr<std::string> ack = (*busy)->ReadAck(absl::Seconds(5));
  ASSERT_TRUE(ack.ok()) << ack.status();  // the in-flight message was acknowledged
  EXPECT_NE(ack->find("MSA|AA|C42"), std::string::npos);
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_TRUE((*busy)->WaitForClose(absl::Seconds(5)));
  EXPECT_FALSE(ConnectAs(TestCertFiles("clinic-a")).ok());  // listener closed
  server_->Stop();                                          // idempotent
}

TEST(MllpServerStartTest, BadOptionsAreErrors) {
  MllpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.tls = TestCertFiles("identity");
  auto handler = [](const MllpPeer&, std::string_view) { return std::string(); };
  EXPECT_FALSE(MllpServer::Start(options, nullptr).ok());
  MllpServerOptions missing = options;
  missing.tls.cert_file = "/nonexistent.pem";
  EXPECT_EQ(MllpServer::Start(missing, handler).status().code(),
            absl::StatusCode::kInvalidArgument);
  MllpServerOptions bad_host = options;
  bad_host.host = "not-an-address";
  EXPECT_FALSE(MllpServer::Start(bad_host, handler).ok());
  absl::StatusOr<std::unique_ptr<MllpServer>> first = MllpServer::Start(options, handler);
  ASSERT_TRUE(first.ok());
  MllpServerOptions taken = options;
  taken.port = (*first)->port();
  EXPECT_EQ(MllpServer::Start(taken, handler).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hie::hl7
