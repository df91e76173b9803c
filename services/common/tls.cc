#include "services/common/tls.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace hie {
namespace {

std::string SubjectEntry(X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return value;
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read file ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeMtlsServerCredentials(
    const TlsFiles& files) {
  absl::StatusOr<std::string> ca = ReadFileToString(files.ca_file);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = ReadFileToString(files.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFileToString(files.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = *std::move(ca);
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeTlsChannelCredentials(
    const TlsFiles& files) {
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> ca = ReadFileToString(files.ca_file);
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *std::move(ca);
  if (!files.cert_file.empty() && !files.key_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFileToString(files.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFileToString(files.key_file);
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

absl::StatusOr<PeerIdentity> PeerIdentityFromCertificatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::InternalError("out of memory reading a certificate");
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return absl::InvalidArgumentError("peer certificate is not valid PEM");
  X509_NAME* subject = X509_get_subject_name(cert);
  PeerIdentity identity{SubjectEntry(subject, NID_organizationName),
                        SubjectEntry(subject, NID_organizationalUnitName),
                        SubjectEntry(subject, NID_commonName)};
  X509_free(cert);
  if (identity.org.empty() || identity.role.empty()) {
    return absl::InvalidArgumentError("peer certificate subject lacks O (org) or OU (role)");
  }
  return identity;
}

absl::StatusOr<PeerIdentity> PeerIdentityOf(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) return absl::UnauthenticatedError("no client certificate");
  std::vector<grpc::string_ref> certs = auth.FindPropertyValues("x509_pem_cert");
  if (certs.empty()) return absl::UnauthenticatedError("no client certificate");
  std::string pem(certs.front().data(), certs.front().size());
  // Parsing a certificate costs far more than the call it authorises; callers reuse a few
  // certificates, so identities are remembered by the certificate's exact bytes.
  static constexpr size_t kMaxRemembered = 1024;
  static auto* const mu = new std::mutex;
  static auto* const remembered = new absl::flat_hash_map<std::string, PeerIdentity>;
  {
    std::lock_guard lock(*mu);
    if (auto it = remembered->find(pem); it != remembered->end()) return it->second;
  }
  absl::StatusOr<PeerIdentity> identity = PeerIdentityFromCertificatePem(pem);
  if (identity.ok()) {
    std::lock_guard lock(*mu);
    if (remembered->size() >= kMaxRemembered) remembered->clear();
    remembered->emplace(std::move(pem), *identity);
  }
  return identity;
}

}  // namespace hie
