#include "services/identity/hl7/mllp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "services/common/logging.h"
#include "services/identity/hl7/ack.h"
#include "services/identity/hl7/message.h"
#include "services/identity/hl7/mllp_tls.h"

namespace hie::hl7 {
namespace {

using mllp_tls::Handshake;
using mllp_tls::OpenSslError;
using mllp_tls::PeerOf;
using mllp_tls::ReadResult;
using mllp_tls::ReadSome;
using mllp_tls::ScopedSigpipeBlock;
using mllp_tls::SslCtxPtr;
using mllp_tls::SslPtr;
using mllp_tls::WriteAll;

void SetSocketTimeouts(int fd, absl::Duration recv, absl::Duration send) {
  timeval rcv = absl::ToTimeval(recv);
  timeval snd = absl::ToTimeval(send);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
}

bool SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// The peer's IP address: the key of max_per_address. An IPv4 peer of a dual-stack socket
// (::ffff:a.b.c.d) is reported as a.b.c.d.
std::string PeerHost(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    }
  }
  return host;
}

// "ip:port" ("[ip6]:port").
std::string PeerAddress(const sockaddr_storage& addr) {
  std::string host = PeerHost(addr);
  int port = 0;
  if (addr.ss_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// Decrements a count in a map of counts, dropping it at zero.
void Release(std::map<std::string, int>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it != counts.end() && --it->second <= 0) counts.erase(it);
}

int CountOf(const std::map<std::string, int>& counts, const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

// What the per-message log line needs from a request and its ACK (ids and codes, no PHI).
struct MessageSummary {
  std::string control_id;
  std::string trigger;
};

MessageSummary Summarise(std::string_view message) {
  MessageSummary summary;
  Hl7Result<Message> parsed = Message::Parse(message);
  if (parsed.ok()) {
    summary.control_id = parsed.value().Get("MSH", 10);
    summary.trigger = parsed.value().Get("MSH", 9, 0, 2);
  }
  return summary;
}

}  // namespace

struct MllpServer::Impl {
  SslCtxPtr ctx;
  // Refusals at accept cost a peer nothing, so their lines are limited to one a second per
  // reason (accept thread only).
  struct RefusalLog {
    absl::Time last = absl::InfinitePast();
    uint64_t suppressed = 0;
  };
  RefusalLog per_address_log;
  RefusalLog handshakes_log;
};

struct MllpServer::Connection {
  int fd = -1;          // non-blocking; closed by ReapFinished after the thread is joined
  std::string ip;       // the key of max_per_address
  std::string address;  // "ip:port", for logs
  absl::Time accepted;
  uint64_t id = 0;
  SslPtr ssl;  // made and used by the thread
  std::thread thread;
  std::atomic<bool> done{false};
};

MllpServer::MllpServer(MllpServerOptions options, MllpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)), impl_(new Impl) {}

absl::StatusOr<std::unique_ptr<MllpServer>> MllpServer::Start(MllpServerOptions options,
                                                              MllpHandler handler) {
  if (!handler) return absl::InvalidArgumentError("MLLP handler is empty");
  if (options.max_connections < 1 || options.max_handshakes < 1 || options.max_per_address < 1 ||
      options.max_per_org < 1 || options.max_frame_bytes < 16 || options.port < 0 ||
      options.port > 65535 || options.idle_timeout <= absl::ZeroDuration() ||
      options.handshake_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("MLLP server options out of range");
  }
  std::unique_ptr<MllpServer> server(new MllpServer(std::move(options), std::move(handler)));
  absl::StatusOr<SslCtxPtr> ctx = mllp_tls::MakeServerContext(server->options_.tls);
  if (!ctx.ok()) return ctx.status();
  server->impl_->ctx = *std::move(ctx);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string port = absl::StrCat(server->options_.port);
  if (getaddrinfo(server->options_.host.c_str(), port.c_str(), &hints, &result) != 0 ||
      result == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("MLLP listen address is not numeric: ", server->options_.host));
  }
  int fd = socket(result->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, result->ai_addr, result->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    std::string reason = std::strerror(errno);
    freeaddrinfo(result);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", server->options_.host, ":", port, ": ", reason));
  }
  freeaddrinfo(result);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  server->port_ = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  server->listen_fd_ = fd;
  if (pipe2(server->wake_pipe_, O_CLOEXEC) != 0) {
    close(fd);
    server->listen_fd_ = -1;
    return absl::InternalError("pipe2 failed");
  }
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  Log(LogLevel::kInfo, "mllp_listening",
      {{"host", server->options_.host}, {"port", server->port_}});
  return server;
}

MllpServer::~MllpServer() { Stop(); }

int MllpServer::active_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_.handshakes + stats_.authenticated;
}

MllpServerStats MllpServer::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void MllpServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int ready = poll(fds, 2, 1000);
    ReapFinished(/*all=*/false);
    if (ready <= 0 || (fds[1].revents & POLLIN) != 0) continue;
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        Log(LogLevel::kError, "mllp_accept_failed", {{"reason", std::strerror(errno)}});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // do not spin
      }
      continue;
    }
    Admit(fd, PeerHost(addr), PeerAddress(addr));
  }
}

void MllpServer::Admit(int fd, const std::string& ip, const std::string& address) {
  const char* refusal = nullptr;
  Impl::RefusalLog* refusal_log = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (CountOf(per_address_, ip) >= options_.max_per_address) {
      refusal = "max_per_address";
      refusal_log = &impl_->per_address_log;
      ++stats_.refused_max_per_address;
    } else if (stats_.handshakes >= options_.max_handshakes) {
      refusal = "max_handshakes";
      refusal_log = &impl_->handshakes_log;
      ++stats_.refused_max_handshakes;
    } else {
      auto connection = std::make_unique<Connection>();
      connection->fd = fd;
      connection->ip = ip;
      connection->address = address;
      connection->accepted = absl::Now();
      connection->id = next_connection_id_.fetch_add(1);
      Connection* raw = connection.get();
      try {
        raw->thread = std::thread([this, raw] {
          Serve(raw);
          raw->done.store(true);
        });
      } catch (const std::system_error&) {
        Log(LogLevel::kError, "mllp_accept_failed",
            {{"reason", "thread_create_failed"}, {"peer", address}});
        close(fd);
        return;
      }
      // Counted before the thread can release them: it takes mu_ first.
      ++stats_.handshakes;
      ++per_address_[ip];
      connections_.push_back(std::move(connection));
      return;
    }
  }
  close(fd);
  absl::Time now = absl::Now();
  if (now - refusal_log->last < absl::Seconds(1)) {
    ++refusal_log->suppressed;
    return;
  }
  Log(LogLevel::kWarning, "mllp_connection_refused",
      {{"reason", refusal}, {"peer", address}, {"suppressed", refusal_log->suppressed}});
  refusal_log->last = now;
  refusal_log->suppressed = 0;
}

void MllpServer::ReapFinished(bool all) {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all || (*it)->done.load()) {
        finished.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (std::unique_ptr<Connection>& connection : finished) {
    if (connection->thread.joinable()) connection->thread.join();
    close(connection->fd);  // closed only after the thread is joined: Stop() may shutdown() it
  }
}

void MllpServer::Serve(Connection* connection) {
  ScopedSigpipeBlock no_sigpipe;
  const int fd = connection->fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  // Stage 1: the handshake, by one deadline counted from accept.
  absl::Status handshake;
  absl::StatusOr<PeerIdentity> identity = Authenticate(connection, &handshake);

  // Stage 2: admission as an authenticated connection.
  bool admitted = AdmitAuthenticated(*connection, handshake, identity);
  if (admitted) {
    ServeMessages(connection, MllpPeer{identity->org, identity->role, identity->common_name,
                                       connection->address, connection->id});
  }
  {
    // Released before the peer can see the close, so that it may reconnect at once.
    std::lock_guard<std::mutex> lock(mu_);
    if (admitted) {
      --stats_.authenticated;
      Release(per_org_, identity->org);
    }
    Release(per_address_, connection->ip);
  }
  if (handshake.ok()) {
    ERR_clear_error();
    SSL_shutdown(connection->ssl.get());  // close_notify, best effort (the socket is non-blocking)
    ERR_clear_error();
  }
  shutdown(fd, SHUT_RDWR);
}

absl::StatusOr<PeerIdentity> MllpServer::Authenticate(Connection* connection,
                                                      absl::Status* handshake) {
  const int fd = connection->fd;
  connection->ssl.reset(SSL_new(impl_->ctx.get()));
  SSL* ssl = connection->ssl.get();
  *handshake = absl::InternalError("SSL_new failed");
  if (ssl != nullptr && SSL_set_fd(ssl, fd) == 1) {
    *handshake = Handshake(ssl, fd, connection->accepted + options_.handshake_timeout, SSL_accept);
  }
  if (!handshake->ok()) {
    std::string reason = stopping_.load() ? "server_stopping"
                         : handshake->code() == absl::StatusCode::kDeadlineExceeded
                             ? "handshake_timeout"
                             : std::string(handshake->message());
    Log(LogLevel::kWarning, "mllp_handshake_failed",
        {{"peer", connection->address}, {"conn", connection->id}, {"reason", reason}});
    return *handshake;
  }
  absl::StatusOr<PeerIdentity> identity = PeerOf(ssl);
  if (!identity.ok()) {
    Log(LogLevel::kWarning, "mllp_peer_rejected",
        {{"peer", connection->address},
         {"conn", connection->id},
         {"reason", identity.status().message()}});
  }
  return identity;
}

bool MllpServer::AdmitAuthenticated(const Connection& connection, const absl::Status& handshake,
                                    const absl::StatusOr<PeerIdentity>& identity) {
  const char* refusal = nullptr;
  bool admitted = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --stats_.handshakes;
    if (!identity.ok()) {
      if (handshake.code() == absl::StatusCode::kDeadlineExceeded) {
        ++stats_.handshake_timeouts;
      } else if (!stopping_.load()) {
        ++stats_.handshake_failures;
      }
    } else if (CountOf(per_org_, identity->org) >= options_.max_per_org) {
      refusal = "max_per_org";
      ++stats_.refused_max_per_org;
    } else if (stats_.authenticated >= options_.max_connections) {
      refusal = "max_connections";
      ++stats_.refused_max_connections;
    } else {
      ++stats_.authenticated;
      ++per_org_[identity->org];
      admitted = true;
    }
  }
  if (refusal != nullptr) {
    Log(LogLevel::kWarning, "mllp_connection_refused",
        {{"reason", refusal},
         {"peer", connection.address},
         {"peer_org", identity->org},
         {"conn", connection.id}});
  }
  return admitted;
}

void MllpServer::ServeMessages(Connection* connection, const MllpPeer& peer) {
  const int fd = connection->fd;
  SSL* ssl = connection->ssl.get();
  Log(LogLevel::kInfo, "mllp_connected",
      {{"peer", peer.address}, {"peer_org", peer.org}, {"conn", peer.connection_id}});
  MllpFrameDecoder decoder(options_.max_frame_bytes);
  // Renewed only when a message has been answered: the bytes of an unfinished frame (or TLS
  // record) never move it.
  absl::Time deadline = absl::Now() + options_.idle_timeout;
  std::string chunk;
  std::string frame;
  std::string close_reason = "peer_closed";
  bool open = true;
  while (open && !stopping_.load()) {
    if (decoder.Next(&frame)) {
      if (!ServeFrame(*connection, peer, frame, &close_reason)) break;
      deadline = absl::Now() + options_.idle_timeout;
      continue;
    }
    if (decoder.oversized()) {
      RefuseOversizedFrame(*connection, peer);
      close_reason = "frame_too_large";
      break;
    }
    if (absl::Now() >= deadline) {
      close_reason = "idle_timeout";
      break;
    }
    switch (ReadSome(ssl, fd, deadline, &chunk)) {
      case ReadResult::kData:
        decoder.Feed(chunk);
        if (size_t dropped = decoder.TakeDiscardedBytes(); dropped > 0 && !decoder.oversized()) {
          Log(LogLevel::kWarning, "mllp_bytes_outside_frame",
              {{"conn", peer.connection_id},
               {"peer_org", peer.org},
               {"bytes", static_cast<uint64_t>(dropped)}});
        }
        break;
      case ReadResult::kTimeout:
        break;  // the deadline check above decides
      case ReadResult::kClosed:
        open = false;
        break;
    }
  }
  if (stopping_.load()) close_reason = "server_stopping";
  Log(LogLevel::kInfo, "mllp_disconnected",
      {{"peer", peer.address},
       {"peer_org", peer.org},
       {"conn", peer.connection_id},
       {"reason", close_reason}});
}

bool MllpServer::ServeFrame(const Connection& connection, const MllpPeer& peer,
                            std::string_view frame, std::string* close_reason) {
  absl::Time start = absl::Now();
  bool threw = false;
  std::string ack = CallHandler(peer, frame, &threw);
  MessageSummary summary = Summarise(frame);
  if (threw) {
    Log(LogLevel::kError, "mllp_handler_exception",
        {{"control_id", summary.control_id}, {"peer_org", peer.org}, {"conn", peer.connection_id}});
  }
  std::string ack_code = AckCodeOf(ack);
  absl::Status written = ack.empty()
                             ? absl::CancelledError("handler returned no ACK")
                             : WriteAll(connection.ssl.get(), connection.fd, MllpEncode(ack),
                                        absl::Now() + options_.write_timeout);
  Log(LogLevel::kInfo, "hl7_message",
      {{"control_id", summary.control_id},
       {"trigger", summary.trigger},
       {"ack_code", ack_code},
       {"latency_ms", absl::ToDoubleMilliseconds(absl::Now() - start)},
       {"peer_org", peer.org},
       {"conn", peer.connection_id},
       {"bytes", static_cast<uint64_t>(frame.size())},
       {"ack_sent", written.ok()}});
  if (!written.ok()) {
    *close_reason = ack.empty() ? "no_ack" : "write_failed";
    return false;
  }
  return true;
}

std::string MllpServer::CallHandler(const MllpPeer& peer, std::string_view frame, bool* threw) {
  try {
    return handler_(peer, frame);
  } catch (...) {  // an internal error: answered AR 207, the text neither sent nor logged
    *threw = true;
  }
  Hl7Error error;
  error.code = ErrorCode::kApplicationInternalError;
  error.text = "the message could not be processed";
  AckContext ctx{absl::StrCat("MLLP", next_ack_id_.fetch_add(1)), absl::Now()};
  return BuildAckForRaw(frame, AckCode::kReject, {error}, ctx);
}

void MllpServer::RefuseOversizedFrame(const Connection& connection, const MllpPeer& peer) {
  Hl7Error error;
  error.code = ErrorCode::kApplicationInternalError;
  error.text =
      absl::StrCat("message exceeds the frame limit of ", options_.max_frame_bytes, " bytes");
  AckContext ctx{absl::StrCat("MLLP", next_ack_id_.fetch_add(1)), absl::Now()};
  std::string ack = BuildAckForRaw("", AckCode::kReject, {error}, ctx);
  (void)WriteAll(connection.ssl.get(), connection.fd, MllpEncode(ack),
                 absl::Now() + options_.write_timeout);
  Log(LogLevel::kWarning, "hl7_message",
      {{"control_id", ""},
       {"trigger", ""},
       {"ack_code", "AR"},
       {"peer_org", peer.org},
       {"conn", peer.connection_id},
       {"reason", "frame_too_large"}});
}

void MllpServer::Stop() {
  std::call_once(stop_once_, [this] {
    stopping_.store(true);
    if (wake_pipe_[1] >= 0) {
      char byte = 1;
      (void)!write(wake_pipe_[1], &byte, 1);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    listen_fd_ = -1;
    {
      // Wake connections waiting to read (idle, or in the handshake); one running its handler
      // finishes and writes its ACK.
      std::lock_guard<std::mutex> lock(mu_);
      for (std::unique_ptr<Connection>& connection : connections_) {
        shutdown(connection->fd, SHUT_RD);
      }
    }
    ReapFinished(/*all=*/true);
    for (int& fd : wake_pipe_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    Log(LogLevel::kInfo, "mllp_stopped", {{"port", port_}});
  });
}

// ---------------------------------------------------------------------------------------------

struct MllpClient::Tls {
  SslCtxPtr ctx;
  SslPtr ssl;
};

MllpClient::MllpClient() : tls_(new Tls) {}

MllpClient::~MllpClient() {
  if (tls_->ssl) {
    ScopedSigpipeBlock no_sigpipe;
    SSL_shutdown(tls_->ssl.get());
  }
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::unique_ptr<MllpClient>> MllpClient::Connect(const std::string& host, int port,
                                                                const TlsFiles& tls,
                                                                absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::unique_ptr<MllpClient> client(new MllpClient());
  client->io_timeout_ = timeout;
  client->tls_->ctx.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = client->tls_->ctx.get();
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("CA file unusable: ", OpenSslError()));
  }
  if (!tls.cert_file.empty() && !tls.key_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("client certificate/key unusable: ", OpenSslError()));
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), absl::StrCat(port).c_str(), &hints, &result) != 0 ||
      result == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host));
  }
  int fd = socket(result->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) SetSocketTimeouts(fd, timeout, timeout);  // bounds connect()
  if (fd < 0 || connect(fd, result->ai_addr, result->ai_addrlen) != 0 || !SetNonBlocking(fd)) {
    std::string reason = std::strerror(errno);
    freeaddrinfo(result);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", host, ":", port, ": ", reason));
  }
  freeaddrinfo(result);
  client->fd_ = fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  client->tls_->ssl.reset(SSL_new(ctx));
  SSL* ssl = client->tls_->ssl.get();
  SSL_set_fd(ssl, fd);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  in6_addr ip;
  if (inet_pton(AF_INET, host.c_str(), &ip) == 1 || inet_pton(AF_INET6, host.c_str(), &ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl, host.c_str());
  }
  ScopedSigpipeBlock no_sigpipe;
  if (absl::Status shaken = Handshake(ssl, fd, deadline, SSL_connect); !shaken.ok()) {
    client->tls_->ssl.reset();  // no close_notify for a handshake that did not finish
    return shaken;
  }
  return client;
}

absl::Status MllpClient::SendRaw(std::string_view bytes) {
  return WriteAll(tls_->ssl.get(), fd_, bytes, absl::Now() + io_timeout_);
}

absl::Status MllpClient::Send(std::string_view message) { return SendRaw(MllpEncode(message)); }

absl::StatusOr<std::string> MllpClient::ReadAck(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string frame;
  std::string chunk;
  ScopedSigpipeBlock no_sigpipe;
  while (!decoder_.Next(&frame)) {
    switch (ReadSome(tls_->ssl.get(), fd_, deadline, &chunk)) {
      case ReadResult::kData:
        decoder_.Feed(chunk);
        break;
      case ReadResult::kTimeout:
        return absl::DeadlineExceededError("no ACK in time");
      case ReadResult::kClosed:
        return absl::UnavailableError("connection closed by the server");
    }
  }
  return frame;
}

absl::StatusOr<std::string> MllpClient::Call(std::string_view message, absl::Duration timeout) {
  if (absl::Status sent = Send(message); !sent.ok()) return sent;
  return ReadAck(timeout);
}

bool MllpClient::WaitForClose(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string chunk;
  ScopedSigpipeBlock no_sigpipe;
  while (true) {
    switch (ReadSome(tls_->ssl.get(), fd_, deadline, &chunk)) {
      case ReadResult::kData:
        decoder_.Feed(chunk);
        break;
      case ReadResult::kTimeout:
        return false;
      case ReadResult::kClosed:
        return true;
    }
  }
}

}  // namespace hie::hl7
