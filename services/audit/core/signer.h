#pragma once

// Ed25519 keys for signing audit checkpoints (OpenSSL). The key id is the first 16 hex digits of
// SHA-256 over the public key's DER SubjectPublicKeyInfo, so anyone holding the public key can
// recompute it. Thread-safe (const methods only after construction).

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace hie::audit {

inline constexpr char kEd25519[] = "ED25519";

class CheckpointSigner {
 public:
  // From a PEM private key (PKCS#8, as `openssl genpkey -algorithm ed25519` writes).
  // INVALID_ARGUMENT when it is not an Ed25519 private key.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CheckpointSigner>> FromPrivateKeyPem(
      std::string_view pem);
  // A fresh random key (tests, and `hie-audit --generate-signing-key`).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CheckpointSigner>> Generate();
  ~CheckpointSigner();

  const std::string& key_id() const { return key_id_; }
  const std::string& public_key_pem() const { return public_key_pem_; }
  std::string PrivateKeyPem() const;
  // The 64-byte Ed25519 signature of `message`.
  [[nodiscard]] absl::StatusOr<std::string> Sign(std::string_view message) const;

 private:
  explicit CheckpointSigner(EVP_PKEY* key);
  EVP_PKEY* key_;
  std::string key_id_;
  std::string public_key_pem_;
};

// Whether `signature` is a valid Ed25519 signature of `message` under the PEM public key.
// INVALID_ARGUMENT when the key cannot be read.
[[nodiscard]] absl::StatusOr<bool> VerifySignature(std::string_view public_key_pem,
                                                   std::string_view message,
                                                   std::string_view signature);

// The key id (see above) of a PEM public key.
[[nodiscard]] absl::StatusOr<std::string> KeyIdOfPublicKey(std::string_view public_key_pem);

}  // namespace hie::audit
