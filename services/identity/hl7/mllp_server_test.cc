// The MLLP listener over real mutual TLS on loopback, with the test certificates of
// scripts/gen-certs.sh (the hub CA and an independent rogue CA), and raw TCP peers that trickle
// bytes from several 127.0.0.0/8 addresses to exercise the deadlines and limits. About 870
// lines: the peers and certificates are shared by every case.

#include "services/identity/hl7/mllp_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
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

// Waits up to `timeout` for `condition`.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(5)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A TCP connection to 127.0.0.1:port from `source` (any 127.0.0.0/8 address: Linux answers
// the whole block on lo), so that tests can play several remote addresses. -1 on failure.
int ConnectFrom(const std::string& source, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A peer that never finishes its TLS handshake: it sends a TLS record announcing a 512-byte
// ClientHello one byte every 100 ms (the whole record would take 51 s), and notes when the
// server closes the connection.
class Trickler {
 public:
  explicit Trickler(int port, const std::string& source = "127.0.0.1")
      : fd_(ConnectFrom(source, port)), opened_(absl::Now()) {
    if (fd_ >= 0) thread_ = std::thread([this] { Run(); });
  }
  ~Trickler() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_at_.has_value();
  }
  // True when the server closed the connection within `timeout` from now.
  bool WaitForClose(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [this] { return closed_at_.has_value(); });
  }
  // From connect() to the close (or until now while open).
  absl::Duration open_for() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_at_.value_or(absl::Now()) - opened_;
  }

 private:
  void Run() {
    // Record header (handshake, TLS 1.0 record version, 512 bytes), then the ClientHello
    // header (type 1, 508 bytes, version 3.3) and zeros.
    static constexpr unsigned char kHello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01,
                                               0x00, 0x01, 0xfc, 0x03, 0x03};
    size_t sent = 0;
    while (!stop_.load()) {
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, 100) > 0) {
        char buf[512];
        ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          break;
        }
        continue;  // an alert, perhaps; the close follows
      }
      char byte = sent < sizeof(kHello) ? static_cast<char>(kHello[sent]) : '\0';
      if (send(fd_, &byte, 1, MSG_NOSIGNAL) != 1) break;
      ++sent;
    }
    if (stop_.load()) return;
    std::lock_guard<std::mutex> lock(mu_);
    closed_at_ = absl::Now();
    cv_.notify_all();
  }

  const int fd_;
  const absl::Time opened_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<absl::Time> closed_at_;
  std::thread thread_;
};

// A TCP relay on 127.0.0.1 in front of the server, for one client connection. Bytes pass at
// once both ways until Trickle(); from then on the client's bytes reach the server one every
// 100 ms (a TLS record arriving a byte at a time). When the server closes, so does the relay.
class TrickleProxy {
 public:
  explicit TrickleProxy(int server_port) : server_port_(server_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        listen(listen_fd_, 1) == 0 &&
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
      thread_ = std::thread([this] { Run(); });
    }
  }
  ~TrickleProxy() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  void Trickle() { trickle_.store(true); }

 private:
  void Run() {
    int client = -1;
    while (!stop_.load() && client < 0) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 10) > 0) client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    }
    if (client < 0) return;
    int server = ConnectFrom("127.0.0.1", server_port_);
    std::string pending;  // from the client, not yet passed on
    absl::Time next_byte = absl::InfinitePast();
    char buf[16384];
    while (!stop_.load() && server >= 0) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      poll(fds, 2, 10);
      if (fds[1].revents != 0) {
        ssize_t n = recv(server, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;  // server closed
        if (n > 0) send(client, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      }
      if (fds[0].revents != 0) {
        ssize_t n = recv(client, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;  // client closed
        if (n > 0) pending.append(buf, static_cast<size_t>(n));
      }
      if (pending.empty()) continue;
      if (!trickle_.load()) {
        send(server, pending.data(), pending.size(), MSG_NOSIGNAL);
        pending.clear();
      } else if (absl::Now() >= next_byte) {
        send(server, pending.data(), 1, MSG_NOSIGNAL);
        pending.erase(0, 1);
        next_byte = absl::Now() + absl::Milliseconds(100);
      }
    }
    shutdown(client, SHUT_RDWR);
    close(client);
    if (server >= 0) close(server);
  }

  const int server_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> trickle_{false};
  std::thread thread_;
};

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

  // Log lines containing every one of `texts`.
  int CountLogLines(std::initializer_list<std::string_view> texts) {
    int n = 0;
    for (const std::string& line : LogLines()) {
      bool all = true;
      for (std::string_view text : texts) all = all && line.find(text) != std::string::npos;
      n += all;
    }
    return n;
  }

  // Waits up to 5 s for a log line containing every one of `texts`.
  bool WaitForLog(std::initializer_list<std::string_view> texts) {
    return WaitUntil([&] { return CountLogLines(texts) > 0; });
  }
  bool WaitForLog(std::string_view text) { return WaitForLog({text}); }

  // Connects as `files` and sends TestMessage(n) until it is acknowledged (AA), retrying on
  // refusals for up to `timeout`. The client, or nullptr.
  std::unique_ptr<MllpClient> ConnectAndSendRetrying(const TlsFiles& files, int n,
                                                     absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(files);
      if (client.ok()) {
        absl::StatusOr<std::string> ack = (*client)->Call(TestMessage(n), absl::Seconds(3));
        if (ack.ok() && AckCodeOf(*ack) == "AA") return *std::move(client);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return nullptr;
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

// An exception from the handler is an internal error (a bug): AR with ERR-3 207, whatever
// was thrown, and the connection goes on.
TEST_F(MllpServerTest, HandlerExceptionIsAnsweredWithAr207) {
  MllpHandler answer = recorder_.Handler();
  StartServer([&answer](const MllpPeer& peer, std::string_view message) -> std::string {
    if (message.find("|C7|") != std::string_view::npos) {
      throw std::logic_error("exception text: MRN M7");  // neither sent nor logged
    }
    if (message.find("|C8|") != std::string_view::npos) throw 42;  // not a std::exception
    return answer(peer, message);
  });
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(client.ok()) << client.status();
  for (int n : {7, 8}) {
    absl::StatusOr<std::string> ack = (*client)->Call(TestMessage(n));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_NE(ack->find(absl::StrCat("MSA|AR|C", n, "\r")), std::string::npos) << *ack;
    Hl7Result<Message> reply = Message::Parse(*ack);
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply.value().Get("ERR", 3, 0, 1), "207");
    EXPECT_EQ(ack->find("exception text"), std::string::npos);
  }
  absl::StatusOr<std::string> next = (*client)->Call(TestMessage(9));  // same connection
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(next->find("MSA|AA|C9\r"), std::string::npos);
  EXPECT_TRUE(WaitForLog({"\"mllp_handler_exception\"", "\"control_id\":\"C8\""}));
  for (const std::string& line : LogLines()) {
    EXPECT_EQ(line.find("exception text"), std::string::npos) << line;
  }
}

// A transient server-side failure (the database is down): the handler returns "", no ACK is
// sent, the connection is closed, and the sender's resend on a new connection is answered.
TEST_F(MllpServerTest, TransientFailureGetsNoAckAndTheResendIsAnswered) {
  std::atomic<int> calls{0};
  MllpHandler answer = recorder_.Handler();
  StartServer([&](const MllpPeer& peer, std::string_view message) -> std::string {
    if (calls.fetch_add(1) == 0) return "";  // the database is down
    return answer(peer, message);
  });
  absl::StatusOr<std::unique_ptr<MllpClient>> first = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> no_ack = (*first)->Call(TestMessage(5), absl::Seconds(5));
  ASSERT_FALSE(no_ack.ok());
  EXPECT_EQ(no_ack.status().code(), absl::StatusCode::kUnavailable) << no_ack.status();  // closed
  EXPECT_TRUE(WaitForLog({"\"mllp_disconnected\"", "\"reason\":\"no_ack\""}));

  absl::StatusOr<std::unique_ptr<MllpClient>> second = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<std::string> ack = (*second)->Call(TestMessage(5));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_NE(ack->find("MSA|AA|C5\r"), std::string::npos);
  EXPECT_EQ(calls.load(), 2);
  ASSERT_EQ(recorder_.messages().size(), 1u);
  EXPECT_EQ(recorder_.messages()[0], TestMessage(5));
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

// max_connections counts authenticated connections: one more is refused right after its
// handshake, and a slot is free again once a connection closes.
TEST_F(MllpServerTest, ConnectionCapRefusesExtraConnections) {
  MllpServerOptions options;
  options.max_connections = 2;
  StartServer(recorder_.Handler(), options);
  absl::StatusOr<std::unique_ptr<MllpClient>> first = ConnectAs(TestCertFiles("clinic-a"));
  absl::StatusOr<std::unique_ptr<MllpClient>> second = ConnectAs(TestCertFiles("clinic-b"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->Call(TestMessage(1)).ok());
  ASSERT_TRUE((*second)->Call(TestMessage(2)).ok());
  EXPECT_EQ(server_->Stats().authenticated, 2);

  absl::StatusOr<std::unique_ptr<MllpClient>> third = ConnectAs(TestCertFiles("clinic-c"));
  if (third.ok()) {  // TLS 1.3: the client may finish its handshake before the refusal
    EXPECT_FALSE((*third)->Call(TestMessage(3), absl::Seconds(3)).ok());
  }
  EXPECT_TRUE(WaitForLog({"\"mllp_connection_refused\"", "\"reason\":\"max_connections\"",
                          "\"peer_org\":\"clinic-c\""}));
  EXPECT_EQ(server_->Stats().refused_max_connections, 1u);
  EXPECT_TRUE((*first)->Call(TestMessage(4)).ok());  // the others are unaffected
  EXPECT_TRUE((*second)->Call(TestMessage(5)).ok());

  first->reset();
  EXPECT_NE(ConnectAndSendRetrying(TestCertFiles("clinic-c"), 6, absl::Seconds(5)), nullptr);
  EXPECT_EQ(recorder_.messages().size(), 5u);  // C3 never reached the handler
}

// One deadline for the whole handshake, from accept: a peer trickling a ClientHello a byte
// every 100 ms (each byte well within any per-read timeout) is closed at handshake_timeout.
TEST_F(MllpServerTest, TricklingCannotExtendTheHandshakeDeadline) {
  MllpServerOptions options;
  options.handshake_timeout = absl::Seconds(1);
  StartServer(recorder_.Handler(), options);
  Trickler trickler(server_->port());
  ASSERT_TRUE(trickler.connected());
  EXPECT_TRUE(trickler.WaitForClose(absl::Seconds(4)));
  EXPECT_GE(trickler.open_for(), absl::Milliseconds(950));
  EXPECT_LE(trickler.open_for(), absl::Milliseconds(2500));
  EXPECT_TRUE(WaitForLog({"\"mllp_handshake_failed\"", "\"reason\":\"handshake_timeout\""}));
  EXPECT_TRUE(WaitUntil([&] { return server_->Stats().handshake_timeouts == 1; }));
  EXPECT_EQ(server_->Stats().handshakes, 0);
}

// Connections in the handshake have their own bound (max_handshakes) and never hold an
// authenticated slot; each holds its handshake slot for at most handshake_timeout, so a
// member refused while tricklers fill every handshake slot gets in by retrying.
TEST_F(MllpServerTest, TricklersFillingTheHandshakeSlotsCannotLockMembersOut) {
  MllpServerOptions options;
  options.max_handshakes = 2;
  options.max_connections = 1;
  options.handshake_timeout = absl::Milliseconds(1500);
  StartServer(recorder_.Handler(), options);
  absl::Time start = absl::Now();
  Trickler t1(server_->port()), t2(server_->port());
  ASSERT_TRUE(t1.connected() && t2.connected());
  EXPECT_TRUE(WaitUntil([&] { return server_->Stats().handshakes == 2; }));
  Trickler t3(server_->port()), t4(server_->port());  // over max_handshakes: closed at once
  EXPECT_TRUE(t3.WaitForClose(absl::Seconds(1)));
  EXPECT_TRUE(t4.WaitForClose(absl::Seconds(1)));
  EXPECT_FALSE(t1.closed() || t2.closed());
  EXPECT_EQ(server_->Stats().refused_max_handshakes, 2u);
  EXPECT_TRUE(WaitForLog({"\"mllp_connection_refused\"", "\"reason\":\"max_handshakes\""}));

  std::unique_ptr<MllpClient> member = ConnectAndSendRetrying(
      TestCertFiles("clinic-a"), 1, options.handshake_timeout + absl::Seconds(3));
  ASSERT_NE(member, nullptr) << "the member was locked out";
  EXPECT_LE(absl::Now() - start, options.handshake_timeout + absl::Seconds(3));
  EXPECT_TRUE(t1.closed() && t2.closed());  // at their handshake deadline
  EXPECT_EQ(server_->Stats().handshake_timeouts, 2u);
  EXPECT_EQ(server_->Stats().authenticated, 1);
  EXPECT_EQ(server_->active_connections(), 1);

  // The single authenticated slot is taken: another member is refused after its handshake.
  absl::StatusOr<std::unique_ptr<MllpClient>> other = ConnectAs(TestCertFiles("clinic-b"));
  if (other.ok()) {
    EXPECT_FALSE((*other)->Call(TestMessage(2), absl::Seconds(3)).ok());
  }
  EXPECT_TRUE(WaitForLog({"\"reason\":\"max_connections\"", "\"peer_org\":\"clinic-b\""}));
  absl::StatusOr<std::string> ack = member->Call(TestMessage(3));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_NE(ack->find("MSA|AA|C3\r"), std::string::npos);
}

// max_per_address: connections (handshake and authenticated) from one IP address are bounded;
// other addresses are not affected.
TEST_F(MllpServerTest, ConnectionsPerAddressAreLimited) {
  MllpServerOptions options;
  options.max_per_address = 2;
  options.handshake_timeout = absl::Seconds(5);  // the tricklers outlast the test
  StartServer(recorder_.Handler(), options);
  Trickler a1(server_->port(), "127.0.0.2"), a2(server_->port(), "127.0.0.2");
  ASSERT_TRUE(a1.connected() && a2.connected());
  Trickler a3(server_->port(), "127.0.0.2");
  EXPECT_TRUE(a3.WaitForClose(absl::Seconds(1)));  // closed at once
  EXPECT_TRUE(WaitForLog(
      {"\"mllp_connection_refused\"", "\"reason\":\"max_per_address\"", "\"peer\":\"127.0.0.2:"}));
  Trickler b1(server_->port(), "127.0.0.3");
  EXPECT_FALSE(b1.WaitForClose(absl::Milliseconds(300)));  // another address
  EXPECT_FALSE(a1.closed() || a2.closed());
  EXPECT_EQ(server_->Stats().handshakes, 3);

  // A burst of refusals is counted in full but logged at most once a second per reason.
  for (int i = 0; i < 20; ++i) {
    int fd = ConnectFrom("127.0.0.2", server_->port());
    ASSERT_GE(fd, 0);
    close(fd);
  }
  EXPECT_TRUE(WaitUntil([&] { return server_->Stats().refused_max_per_address == 21; }));
  EXPECT_LE(CountLogLines({"\"reason\":\"max_per_address\""}), 5);

  // Members on 127.0.0.1 are served; authenticated connections count against the address too.
  absl::StatusOr<std::unique_ptr<MllpClient>> c1 = ConnectAs(TestCertFiles("clinic-a"));
  absl::StatusOr<std::unique_ptr<MllpClient>> c2 = ConnectAs(TestCertFiles("clinic-b"));
  ASSERT_TRUE(c1.ok() && c2.ok());
  EXPECT_TRUE((*c1)->Call(TestMessage(1)).ok());
  EXPECT_TRUE((*c2)->Call(TestMessage(2)).ok());
  absl::StatusOr<std::unique_ptr<MllpClient>> c3 = ConnectAs(TestCertFiles("clinic-c"));
  EXPECT_FALSE(c3.ok());  // refused at accept, before any TLS byte
  EXPECT_EQ(server_->Stats().refused_max_per_address, 22u);
  c1->reset();  // a closed connection frees its place
  EXPECT_NE(ConnectAndSendRetrying(TestCertFiles("clinic-c"), 3, absl::Seconds(5)), nullptr);
  EXPECT_FALSE(a1.closed() || a2.closed() || b1.closed());
}

// max_per_org: authenticated connections per certificate organisation are bounded; other
// organisations are not affected.
TEST_F(MllpServerTest, ConnectionsPerOrganisationAreLimited) {
  MllpServerOptions options;
  options.max_per_org = 1;
  StartServer(recorder_.Handler(), options);
  absl::StatusOr<std::unique_ptr<MllpClient>> a1 = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(a1.ok()) << a1.status();
  ASSERT_TRUE((*a1)->Call(TestMessage(1)).ok());

  absl::StatusOr<std::unique_ptr<MllpClient>> a2 = ConnectAs(TestCertFiles("clinic-a"));
  if (a2.ok()) {
    EXPECT_FALSE((*a2)->Call(TestMessage(2), absl::Seconds(3)).ok());
  }
  EXPECT_TRUE(WaitForLog({"\"mllp_connection_refused\"", "\"reason\":\"max_per_org\"",
                          "\"peer_org\":\"clinic-a\"", "\"peer\":\"127.0.0.1:"}));
  EXPECT_EQ(server_->Stats().refused_max_per_org, 1u);

  absl::StatusOr<std::unique_ptr<MllpClient>> b = ConnectAs(TestCertFiles("clinic-b"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE((*b)->Call(TestMessage(3)).ok());
  EXPECT_TRUE((*a1)->Call(TestMessage(4)).ok());  // the first is unaffected

  a1->reset();
  EXPECT_NE(ConnectAndSendRetrying(TestCertFiles("clinic-a"), 5, absl::Seconds(5)), nullptr);
  EXPECT_EQ(recorder_.messages().size(), 4u);  // C2 never reached the handler
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

// The idle deadline is renewed by complete frames only: a frame trickled in small pieces
// (each its own TLS record) does not keep the connection open.
TEST_F(MllpServerTest, OnlyCompleteFramesRenewTheIdleDeadline) {
  MllpServerOptions options;
  options.idle_timeout = absl::Milliseconds(1500);
  StartServer(recorder_.Handler(), options);
  absl::StatusOr<std::unique_ptr<MllpClient>> client = ConnectAs(TestCertFiles("clinic-a"));
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 8; ++i) {  // 2.1 s of messages 300 ms apart: longer than idle_timeout
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE((*client)->Call(TestMessage(i)).ok()) << i;
  }
  absl::Time last_ack = absl::Now();
  std::string frame = MllpEncode(TestMessage(99));
  bool closed = false;
  for (size_t i = 0; i < frame.size() && !closed; ++i) {
    if (!(*client)->SendRaw(frame.substr(i, 1)).ok()) break;
    closed = (*client)->WaitForClose(absl::Milliseconds(100));
  }
  EXPECT_TRUE(closed || (*client)->WaitForClose(absl::Seconds(1)));
  EXPECT_LE(absl::Now() - last_ack, options.idle_timeout + absl::Milliseconds(1500));
  EXPECT_TRUE(WaitForLog({"\"mllp_disconnected\"", "\"reason\":\"idle_timeout\""}));
  EXPECT_EQ(recorder_.messages().size(), 8u);
}

// Nor does one TLS record trickled a byte every 100 ms: the server never waits inside a
// record beyond the idle deadline.
TEST_F(MllpServerTest, ATrickledTlsRecordDoesNotExtendTheIdleDeadline) {
  MllpServerOptions options;
  options.idle_timeout = absl::Seconds(1);
  StartServer(recorder_.Handler(), options);
  TrickleProxy proxy(server_->port());
  ASSERT_GT(proxy.port(), 0);
  absl::StatusOr<std::unique_ptr<MllpClient>> client =
      MllpClient::Connect("127.0.0.1", proxy.port(), TestCertFiles("clinic-a"), absl::Seconds(5));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Call(TestMessage(1)).ok());
  absl::Time last_ack = absl::Now();
  proxy.Trickle();
  ASSERT_TRUE((*client)->Send(TestMessage(2)).ok());  // one record of ~120 bytes: 12 s to arrive
  EXPECT_TRUE((*client)->WaitForClose(absl::Seconds(4)));
  EXPECT_LE(absl::Now() - last_ack, options.idle_timeout + absl::Milliseconds(1500));
  EXPECT_TRUE(WaitForLog({"\"mllp_disconnected\"", "\"reason\":\"idle_timeout\""}));
  EXPECT_EQ(recorder_.messages().size(), 1u);
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

TEST_F(MllpServerTest, StopClosesConnectionsStillInTheHandshake) {
  StartServer(recorder_.Handler());  // handshake_timeout 10 s
  Trickler trickler(server_->port());
  ASSERT_TRUE(trickler.connected());
  ASSERT_TRUE(WaitUntil([&] { return server_->Stats().handshakes == 1; }));
  absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_LE(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(trickler.WaitForClose(absl::Seconds(2)));
  EXPECT_EQ(server_->Stats().handshakes, 0);
  EXPECT_EQ(server_->Stats().handshake_timeouts + server_->Stats().handshake_failures, 0u);
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
  for (int MllpServerOptions::*limit :
       {&MllpServerOptions::max_connections, &MllpServerOptions::max_handshakes,
        &MllpServerOptions::max_per_address, &MllpServerOptions::max_per_org}) {
    MllpServerOptions bad = options;
    bad.*limit = 0;
    EXPECT_EQ(MllpServer::Start(bad, handler).status().code(), absl::StatusCode::kInvalidArgument);
  }
  for (absl::Duration MllpServerOptions::*timeout :
       {&MllpServerOptions::idle_timeout, &MllpServerOptions::handshake_timeout,
        &MllpServerOptions::write_timeout}) {
    MllpServerOptions bad = options;
    bad.*timeout = absl::ZeroDuration();
    EXPECT_EQ(MllpServer::Start(bad, handler).status().code(), absl::StatusCode::kInvalidArgument);
  }
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
