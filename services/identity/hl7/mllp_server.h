#pragma once

// The MLLP listener of the identity service: HL7 v2 messages in MLLP frames over mutual TLS,
// and a small MLLP client for tests and benchmarks.
//
// Security: the server requires a client certificate signed by TlsFiles::ca_file (TLS 1.2+);
// connections without one, or with one from another CA, fail the handshake and never reach the
// handler. The caller's organisation is the certificate's subject O (MllpPeer::org); it is
// never taken from the message (MSH-3/4 are the sender's claims only). TLS renegotiation is
// refused, so the identity read after the handshake holds for the whole connection.
//
// Handler contract (MllpHandler):
//   - called once per complete frame, with the frame's payload (the HL7 message bytes, not
//     validated: it may be garbage), in order per connection; different connections call it
//     concurrently from their own threads, so it must be thread-safe;
//   - returns the ACK bytes (unframed; the server adds MLLP framing). The ACK is written only
//     after the handler returns, so the handler must make the data durable before returning:
//     an AA promises the sender it may forget the message;
//   - returns "" for a transient server-side failure (database unreachable, pool exhausted...):
//     no ACK is written and the connection is closed, so the sender resends the message (on a
//     new connection). The store must therefore be idempotent on (peer org, MSH-10);
//   - an exception escaping the handler (of any type) is an internal error, a bug: it is caught
//     and answered with an AR ACK (ERR-3 207, a fixed text; the exception's text is neither
//     sent nor logged) and the connection stays open. An AR tells the sender not to resend, so
//     a transient failure must return "" rather than throw.
//   Use ack.h (BuildAck / BuildAckForRaw / BuildAckForStatus) to make the ACK.
//
// Connections (a thread each, from accept to close) go through two stages:
//   1. Handshake: from accept until the TLS handshake has finished and the client certificate
//      names an organisation (O) and a role (OU). The whole stage has one deadline,
//      handshake_timeout after accept: the socket is non-blocking and every wait is for the
//      time that remains, so nothing the peer sends (a ClientHello trickled a byte at a time)
//      extends it. At most max_handshakes connections are in this stage at once.
//   2. Authenticated: serves messages until closed. At most max_connections connections are
//      authenticated at once, and at most max_per_org of them per certificate organisation.
//   Besides, at most max_per_address connections (both stages together) come from one remote
//   IP address (the exact address; an IPv4 peer reaching a dual-stack socket counts as IPv4).
//
// A connection over a limit is closed at once without any message being served: over
// max_per_address or max_handshakes when it is accepted (before any TLS byte), over max_per_org
// or max_connections right after its handshake (the client sees the connection closed and
// should retry later). Every refusal is counted in Stats() and logged ("mllp_connection_refused"
// with the reason and the peer address, plus peer_org after the handshake); refusals at accept
// cost the peer nothing, so they are logged at most once a second per reason (the field
// "suppressed" counts the ones not logged since the previous line).
//
// What the limits guarantee:
//   - a connection that has not authenticated never holds an authenticated slot, and holds a
//     handshake slot for at most handshake_timeout (plus scheduling delay);
//   - hence when a client is refused for max_handshakes, every slot taken at that moment is
//     free again at most handshake_timeout later: a client that keeps retrying gets a slot
//     within handshake_timeout unless newly accepted connections take each freed slot before
//     it. Peers on one address cannot take every handshake slot while max_per_address <
//     max_handshakes (16 < 32 by default); peers on max_handshakes / max_per_address addresses
//     or more (two by default) can, for as long as they keep reconnecting, and against that
//     only network-level controls help (allow-list or rate-limit member addresses in front of
//     the listener);
//   - one organisation cannot hold more than max_per_org authenticated slots, nor one address
//     more than max_per_address slots of both kinds together, so clinics that behave keep
//     max_connections - max_per_org authenticated slots when one member misbehaves.
//
// Deadlines:
//   - handshake_timeout: the whole TLS handshake, from accept (see above);
//   - idle_timeout: an authenticated connection is closed ("idle_timeout") when no complete
//     frame has arrived within idle_timeout of the end of the handshake or of the previous
//     message's ACK. Only complete frames renew it: bytes of an unfinished frame, or of an
//     unfinished TLS record, do not, so a trickled frame is cut off at the deadline;
//   - write_timeout: the whole write of one ACK.
// Frames may be split across reads or coalesced; many messages per connection; bytes outside
// frames are dropped and logged; a frame larger than max_frame_bytes is answered with an AR ACK
// (error 207) and the connection is closed.
//
// Logging: JSON lines through services/common/logging.h, never message content or PHI: one per
// message (event "hl7_message": control_id, trigger, ack_code, latency_ms, peer_org, conn), one
// per refusal (see above), "mllp_handshake_failed" (reason, peer, conn: handshake_timeout or the
// TLS error), "mllp_peer_rejected" (a certificate without O or OU), "mllp_handler_exception"
// (control_id, peer_org, conn), "mllp_connected" and "mllp_disconnected" (reason, peer,
// peer_org, conn).
//
// Stop(): closes the listener, lets each connection finish the message whose handler is
// running (its ACK is written), closes idle connections and connections still in the
// handshake, and joins every thread. Frames received but not yet started are not processed
// (the sender resends unacknowledged messages). Stop() is idempotent and also run by the
// destructor.

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
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
  // Limits (each >= 1; see the header comment for what is refused when):
  int max_connections = 64;  // authenticated connections at once
  int max_handshakes = 32;   // connections in the TLS handshake at once
  int max_per_address = 16;  // connections (handshake + authenticated) per remote IP address
  int max_per_org = 16;      // authenticated connections per certificate organisation (O)
  // Deadlines (each > 0):
  absl::Duration idle_timeout = absl::Seconds(60);       // for the next complete frame
  absl::Duration handshake_timeout = absl::Seconds(10);  // whole handshake, from accept
  absl::Duration write_timeout = absl::Seconds(30);      // whole write of one ACK
};

// Counters for metrics. Gauges are the state when Stats() was called; the rest are totals
// since Start().
struct MllpServerStats {
  int handshakes = 0;     // gauge: connections in the TLS handshake
  int authenticated = 0;  // gauge: authenticated connections
  // Connections closed without serving a message, by reason ("reason" in the log line):
  uint64_t refused_max_per_address = 0;  // at accept
  uint64_t refused_max_handshakes = 0;   // at accept
  uint64_t refused_max_per_org = 0;      // after the handshake
  uint64_t refused_max_connections = 0;  // after the handshake
  uint64_t handshake_timeouts = 0;       // handshake not finished within handshake_timeout
  uint64_t handshake_failures = 0;       // TLS failed, or the certificate lacks O or OU
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
  // Open connections: in the handshake or authenticated. Thread-safe.
  int active_connections() const;
  // Thread-safe.
  MllpServerStats Stats() const;
  void Stop();

  struct Impl;  // the TLS context and the refusal-log limiter (mllp_server.cc)

 private:
  struct Connection;
  MllpServer(MllpServerOptions options, MllpHandler handler);
  void AcceptLoop();
  // Starts a thread for a connection just accepted, or closes it (max_per_address,
  // max_handshakes). Accept thread only.
  void Admit(int fd, const std::string& ip, const std::string& address);
  // The connection's thread: handshake, admission as authenticated, messages, release.
  void Serve(Connection* connection);
  // Stage 1 of Serve: the TLS handshake (its outcome in *handshake) and the identity in the
  // client certificate; logs why either failed. The connection's thread only.
  absl::StatusOr<PeerIdentity> Authenticate(Connection* connection, absl::Status* handshake);
  // Stage 2 of Serve: leaves the handshake stage in stats_ (counting a failure or timeout) and
  // counts the connection as authenticated unless it failed or is over max_per_org or
  // max_connections (logged). True when admitted: the caller then releases its slots. Takes mu_.
  bool AdmitAuthenticated(const Connection& connection, const absl::Status& handshake,
                          const absl::StatusOr<PeerIdentity>& identity);
  // Reads frames and answers each until the peer closes, the idle deadline passes, a write
  // fails or Stop(); logs the connection and its close.
  void ServeMessages(Connection* connection, const MllpPeer& peer);
  // Calls the handler for one frame, writes its ACK and logs the message. False when the
  // connection must close (no ACK, or the write failed), with *close_reason set.
  bool ServeFrame(const Connection& connection, const MllpPeer& peer, std::string_view frame,
                  std::string* close_reason);
  // The handler's ACK for `frame`, or, when the handler throws, an AR 207 with a fixed text and
  // *threw set.
  std::string CallHandler(const MllpPeer& peer, std::string_view frame, bool* threw);
  // Answers a frame over max_frame_bytes with an AR 207 (best effort) and logs it.
  void RefuseOversizedFrame(const Connection& connection, const MllpPeer& peer);
  void ReapFinished(bool all);

  MllpServerOptions options_;
  MllpHandler handler_;
  std::unique_ptr<Impl> impl_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<uint64_t> next_ack_id_{1};
  std::thread accept_thread_;
  mutable std::mutex mu_;  // guards connections_, the counts below and stats_
  std::list<std::unique_ptr<Connection>> connections_;
  std::map<std::string, int> per_address_;  // open connections by remote IP
  std::map<std::string, int> per_org_;      // authenticated connections by organisation
  MllpServerStats stats_;                   // gauges and refusal totals
  std::once_flag stop_once_;
};

// A blocking MLLP-over-TLS client (tests, benchmarks, tools). Not thread-safe.
class MllpClient {
 public:
  // Connects and completes the TLS handshake within `timeout`, presenting tls.cert_file/key_file
  // when set and verifying the server against tls.ca_file and `host`. UNAVAILABLE on failure
  // (DEADLINE_EXCEEDED when the handshake did not finish in time). `timeout` also bounds each
  // Send/SendRaw.
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
  absl::Duration io_timeout_;
  MllpFrameDecoder decoder_{16 << 20};
};

}  // namespace hie::hl7
