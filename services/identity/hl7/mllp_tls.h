#pragma once

// TLS over non-blocking sockets with deadlines, for the MLLP listener and client
// (mllp_server.cc). Internal to hie_hl7: not part of its public API.
//
// Every function here runs on a non-blocking socket: an SSL call that cannot go on returns
// WANT_READ/WANT_WRITE, and the function waits with poll() for the time left until its
// deadline. A socket timeout (SO_RCVTIMEO) would restart with every byte received, so a peer
// trickling bytes could hold a connection forever; a deadline cannot be extended that way.
//
// Errors: OpenSSL's error queue of the calling thread is cleared before each SSL call; when a
// function fails, the queue is left empty and the details, if any, are in its Status.
//
// Thread-safety: one SSL object (and its socket) is used by one thread at a time; the functions
// keep no state of their own. An SSL_CTX from MakeServerContext may be shared by threads.

#include <openssl/ssl.h>
#include <signal.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/tls.h"

namespace hie::hl7::mllp_tls {

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslDeleter>;

// Blocks SIGPIPE in the current thread while alive, so a write to a closed peer fails with
// EPIPE instead of killing the process; a SIGPIPE raised meanwhile is consumed.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
};

// The oldest error in the calling thread's OpenSSL queue as text ("no OpenSSL error" when it is
// empty); clears the queue.
std::string OpenSslError();

// A server context for mutual TLS: TLS 1.2+, the certificate chain and key of `files`, client
// certificates required and verified against files.ca_file, no renegotiation (the peer's
// identity is read once, after the handshake), no session cache nor tickets. INVALID_ARGUMENT
// for an unusable certificate, key or CA file.
[[nodiscard]] absl::StatusOr<SslCtxPtr> MakeServerContext(const TlsFiles& files);

// Runs `step` (SSL_accept or SSL_connect) on `ssl`, whose socket is `fd`, until the handshake is
// done, by `deadline`. DEADLINE_EXCEEDED when it did not finish in time, UNAVAILABLE when it
// failed.
[[nodiscard]] absl::Status Handshake(SSL* ssl, int fd, absl::Time deadline, int (*step)(SSL*));

// Writes all of `bytes` by `deadline` (SIGPIPE blocked meanwhile). DEADLINE_EXCEEDED when the
// write did not finish in time, UNAVAILABLE when it failed; part of `bytes` may have been sent.
[[nodiscard]] absl::Status WriteAll(SSL* ssl, int fd, std::string_view bytes, absl::Time deadline);

enum class ReadResult { kData, kTimeout, kClosed };

// Reads what arrives by `deadline` into *out, replacing its contents (kData; at most 16 KiB),
// even when only part of a TLS record comes in meanwhile (kTimeout then, *out unchanged).
// kClosed when the peer closed the connection or it failed.
ReadResult ReadSome(SSL* ssl, int fd, absl::Time deadline, std::string* out);

// The identity in the peer's certificate once the handshake is done (under MakeServerContext
// the handshake has verified it): UNAUTHENTICATED without one, else what
// PeerIdentityFromCertificatePem returns.
absl::StatusOr<PeerIdentity> PeerOf(SSL* ssl);

}  // namespace hie::hl7::mllp_tls
