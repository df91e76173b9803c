#include "services/audit/core/signer.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "services/audit/core/canonical.h"

namespace hie::audit {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, size > 0 ? static_cast<size_t>(size) : 0);
}

Bio MemBio(std::string_view pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

std::string KeyIdOf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key, &der);
  if (size <= 0) return "";
  std::string id = HexEncode(Sha256(std::string_view(reinterpret_cast<char*>(der), size)))
                       .substr(0, 16);
  OPENSSL_free(der);
  return id;
}

}  // namespace

CheckpointSigner::CheckpointSigner(EVP_PKEY* key) : key_(key), key_id_(KeyIdOf(key)) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio && PEM_write_bio_PUBKEY(bio.get(), key_) == 1) public_key_pem_ = BioContents(bio.get());
}

CheckpointSigner::~CheckpointSigner() { EVP_PKEY_free(key_); }

absl::StatusOr<std::unique_ptr<CheckpointSigner>> CheckpointSigner::FromPrivateKeyPem(
    std::string_view pem) {
  Bio bio = MemBio(pem);
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("signing key: not an Ed25519 private key in PEM");
  }
  return std::unique_ptr<CheckpointSigner>(new CheckpointSigner(key));
}

absl::StatusOr<std::unique_ptr<CheckpointSigner>> CheckpointSigner::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return absl::InternalError("Ed25519 key generation failed");
  return std::unique_ptr<CheckpointSigner>(new CheckpointSigner(key));
}

std::string CheckpointSigner::PrivateKeyPem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return "";
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> CheckpointSigner::Sign(std::string_view message) const {
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::string signature(64, '\0');
  size_t size = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return absl::InternalError("Ed25519 signing failed");
  }
  signature.resize(size);
  return signature;
}

absl::StatusOr<bool> VerifySignature(std::string_view public_key_pem, std::string_view message,
                                     std::string_view signature) {
  Bio bio = MemBio(public_key_pem);
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr,
           &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("public key: not an Ed25519 public key in PEM");
  }
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return absl::InternalError("Ed25519 verification could not start");
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

absl::StatusOr<std::string> KeyIdOfPublicKey(std::string_view public_key_pem) {
  Bio bio = MemBio(public_key_pem);
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr,
           &EVP_PKEY_free);
  if (!key) return absl::InvalidArgumentError("public key: not a PEM public key");
  return KeyIdOf(key.get());
}

}  // namespace hie::audit
