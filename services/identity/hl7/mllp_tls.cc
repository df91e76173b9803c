#include "services/identity/hl7/mllp_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace hie::hl7::mllp_tls {
namespace {

// Milliseconds for poll() until `deadline`, rounded up so that a wait never ends early.
int PollMillis(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

enum class Retry { kAgain, kTimeout, kFailed };

// After an SSL call returned `result` <= 0: waits until the socket is ready for what OpenSSL
// wants (kAgain), or the deadline passes (kTimeout); kFailed for a real error, whose details
// are left in OpenSSL's error queue.
Retry WaitToRetry(SSL* ssl, int fd, int result, absl::Time deadline) {
  int error = SSL_get_error(ssl, result);
  short events;  // NOLINT(runtime/int): poll's type
  if (error == SSL_ERROR_WANT_READ) {
    events = POLLIN;
  } else if (error == SSL_ERROR_WANT_WRITE) {
    events = POLLOUT;
  } else {
    return Retry::kFailed;
  }
  while (true) {
    int ms = PollMillis(deadline);
    if (ms == 0) return Retry::kTimeout;
    pollfd pfd{fd, events, 0};
    int ready = poll(&pfd, 1, ms);
    // Ready, or an error or hang-up that the next SSL call reports.
    if (ready > 0 || (ready < 0 && errno != EINTR)) return Retry::kAgain;
  }
}

}  // namespace

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_);
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  timespec zero{0, 0};
  while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

std::string OpenSslError() {
  unsigned long code = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  if (code == 0) return "no OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

absl::StatusOr<SslCtxPtr> MakeServerContext(const TlsFiles& files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), files.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("server certificate/key unusable: ", OpenSslError()));
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("CA file unusable: ", OpenSslError()));
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca_file.c_str());
  if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // The peer's identity is read once, after the handshake; no renegotiation may change it.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  return ctx;
}

absl::Status Handshake(SSL* ssl, int fd, absl::Time deadline, int (*step)(SSL*)) {
  while (true) {
    ERR_clear_error();
    int result = step(ssl);
    if (result == 1) return absl::OkStatus();
    switch (WaitToRetry(ssl, fd, result, deadline)) {
      case Retry::kAgain:
        break;
      case Retry::kTimeout:
        ERR_clear_error();
        return absl::DeadlineExceededError("TLS handshake did not finish in time");
      case Retry::kFailed:
        return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", OpenSslError()));
    }
  }
}

absl::Status WriteAll(SSL* ssl, int fd, std::string_view bytes, absl::Time deadline) {
  ScopedSigpipeBlock no_sigpipe;
  while (!bytes.empty()) {
    ERR_clear_error();
    // On WANT_WRITE the same call is repeated with the same arguments, as OpenSSL requires.
    int n = SSL_write(ssl, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    switch (WaitToRetry(ssl, fd, n, deadline)) {
      case Retry::kAgain:
        break;
      case Retry::kTimeout:
        ERR_clear_error();
        return absl::DeadlineExceededError("TLS write did not finish in time");
      case Retry::kFailed:
        return absl::UnavailableError(absl::StrCat("TLS write failed: ", OpenSslError()));
    }
  }
  return absl::OkStatus();
}

ReadResult ReadSome(SSL* ssl, int fd, absl::Time deadline, std::string* out) {
  char buf[16384];
  while (true) {
    ERR_clear_error();
    int n = SSL_read(ssl, buf, sizeof(buf));
    if (n > 0) {
      out->assign(buf, static_cast<size_t>(n));
      return ReadResult::kData;
    }
    Retry retry = WaitToRetry(ssl, fd, n, deadline);
    if (retry == Retry::kAgain) continue;
    ERR_clear_error();
    return retry == Retry::kTimeout ? ReadResult::kTimeout : ReadResult::kClosed;
  }
}

absl::StatusOr<PeerIdentity> PeerOf(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return absl::UnauthenticatedError("no client certificate");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  X509_free(cert);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int): OpenSSL's type
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return PeerIdentityFromCertificatePem(pem);
}

}  // namespace hie::hl7::mllp_tls
