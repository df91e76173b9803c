#pragma once

// Mutual TLS for servers and clients from PEM files, and the caller's identity from its
// certificate.
//
// Certificate subject convention (scripts/gen-certs.sh issues certificates this way):
//   O  = organisation id     ("clinic-a", "hie-operations", "hie")
//   OU = role                ("member", "operator", "auditor", "admin", "service")
//   CN = a name for the holder ("clinic-a-emr", "identity", "operator")
// The organisation of a caller is taken from its verified certificate only, never from a
// request field.

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/common/peer_identity.h"

namespace hie {

struct TlsFiles {
  std::string ca_file;    // PEM bundle of CAs that sign peers' certificates
  std::string cert_file;  // our certificate chain (PEM); empty = present no certificate
  std::string key_file;   // our private key (PEM)
};

// Server credentials that require every client to present a certificate signed by
// `files.ca_file`; connections without one fail the TLS handshake.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeMtlsServerCredentials(
    const TlsFiles& files);

// Client credentials trusting `files.ca_file`, presenting cert/key when both are set.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeTlsChannelCredentials(
    const TlsFiles& files);

// Parses the subject of a PEM certificate. INVALID_ARGUMENT when it is not a certificate or
// lacks O or OU.
[[nodiscard]] absl::StatusOr<PeerIdentity> PeerIdentityFromCertificatePem(std::string_view pem);

// The verified peer certificate of a call. UNAUTHENTICATED when the call has none.
[[nodiscard]] absl::StatusOr<PeerIdentity> PeerIdentityOf(const grpc::AuthContext& auth);

[[nodiscard]] absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace hie
