#pragma once

// The MLLP listener of the identity service: HL7 v2 messages in MLLP frames over mutual TLS,
// and a small MLLP client for tests and benchmarks.
//
// Security: the server requires a client certificate signed by TlsFiles::ca_file (TLS 1.2+);
// connections without one, or with one from another CA, fail the handshake and never reach the
// handler. The caller's organisation is the certificate's subject O (MllpPeer::org); it is
// never taken from the message (MSH-3/4 are the sender's claims only).
//
// Handler contract (MllpHandler):
//   - called once per complete frame, with the frame's payload (the HL7 message bytes, not
//     validated: it may be garbage), in order per connection; different connections call it
//     concurrently from their own threads, so it must be thread-safe;
//   - returns the ACK bytes (unframed; the server adds MLLP framing). The ACK is written only
//     after the handler returns, so the handler must make the data durable before returning:
//     an AA promises the sender it may forget the message;
//   - an exception escaping the handler is caught and answered with an AR ACK (error 207);
//   - an empty return value closes the connection without an ACK (the sender will resend).
//   Use ack.h (BuildAck / BuildAckForRaw) to make the ACK.
//
// Connections: a thread per connection up to max_connections (further connections are
// accepted and closed at once); many messages per connection; frames may be split across reads
// or coalesced; bytes outside frames are dropped and logged; a frame larger than
// max_frame_bytes is answered with an AR ACK (error 207) and the connection is closed; a
// connection that completes no frame within idle_timeout is closed.
//
// Logging: one JSON line per message (event "hl7_message": control_id, trigger, ack_code,
// latency_ms, peer_org, conn), never message content or PHI.
//
// Stop(): closes the listener, lets each connection finish the message whose handler is
// running (its ACK is written), closes idle connections, and joins every thread. Frames
// received but not yet started are not processed (the sender resends unacknowledged
// messages). Stop() is idempotent and also run by the destructor.

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/tls.h"
#include "services/identity/hl7/mllp_codec.h"

namespace hie::hl7 {

struct MllpPeer {
  std::string org;          // verified certificate subject O: the member organisation
  std::string role;         // subject OU
  std::string common_name;  // subject CN
  std::string address;      // "ip:port" of the TCP peer
  uint64_t connection_id = 0;
};

using MllpHandler = std::function<std::string(const MllpPeer& peer, std::string_view message)>;

struct MllpServerOptions {
  std::string host = "0.0.0.0";  // numeric IPv4 or IPv6 address to bind
  int port = 2575;               // 0 = any free port; MllpServer::port() reports it
  TlsFiles tls;                  // server cert/key and the CA that signs client certificates
  size_t max_frame_bytes = 1 << 20;
  int max_connections = 64;
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(30);
};

class MllpServer {
 public:
  // Binds, listens and starts accepting. INVALID_ARGUMENT for unusable TLS files or options,
  // UNAVAILABLE when the address cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MllpServer>> Start(MllpServerOptions options,
                                                                         MllpHandler handler);
  ~MllpServer();
  MllpServer(const MllpServer&) = delete;
  MllpServer& operator=(const MllpServer&) = delete;

  int port() const { return port_; }
  int active_connections() const { return active_.load(); }
  void Stop();

  struct Impl;  // the TLS context and the per-connection machinery (mllp_server.cc)

 private:
  struct Connection;
  MllpServer(MllpServerOptions options, MllpHandler handler);
  void AcceptLoop();
  void Serve(Connection* connection);
  void ReapFinished(bool all);

  MllpServerOptions options_;
  MllpHandler handler_;
  std::unique_ptr<Impl> impl_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<uint64_t> next_ack_id_{1};
  std::thread accept_thread_;
  std::mutex mu_;  // guards connections_
  std::list<std::unique_ptr<Connection>> connections_;
  std::once_flag stop_once_;
};

// A blocking MLLP-over-TLS client (tests, benchmarks, tools). Not thread-safe.
class MllpClient {
 public:
  // Connects and completes the TLS handshake, presenting tls.cert_file/key_file when set and
  // verifying the server against tls.ca_file and `host`. UNAVAILABLE on failure.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MllpClient>> Connect(
      const std::string& host, int port, const TlsFiles& tls,
      absl::Duration timeout = absl::Seconds(10));
  ~MllpClient();
  MllpClient(const MllpClient&) = delete;
  MllpClient& operator=(const MllpClient&) = delete;

  // Sends one message in an MLLP frame.
  [[nodiscard]] absl::Status Send(std::string_view message);
  // Sends bytes as they are (for framing tests).
  [[nodiscard]] absl::Status SendRaw(std::string_view bytes);
  // The next frame from the server (an ACK). DEADLINE_EXCEEDED after `timeout`, UNAVAILABLE
  // when the connection is closed.
  [[nodiscard]] absl::StatusOr<std::string> ReadAck(absl::Duration timeout = absl::Seconds(10));
  // Send + ReadAck.
  [[nodiscard]] absl::StatusOr<std::string> Call(std::string_view message,
                                                 absl::Duration timeout = absl::Seconds(10));
  // True when the server closed the connection within `timeout` (reads EOF or an error).
  bool WaitForClose(absl::Duration timeout);

 private:
  struct Tls;
  MllpClient();
  std::unique_ptr<Tls> tls_;
  int fd_ = -1;
  MllpFrameDecoder decoder_{16 << 20};
};

}  // namespace hie::hl7
