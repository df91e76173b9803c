#!/usr/bin/env bash
# Generates a development CA and the certificates of every hub service, demo member
# organisation and client, into DIR (default var/certs). Idempotent: existing files are kept.
#
# Subject convention (read by services/common/tls.h): O = organisation id, OU = role
# (service | member | operator | auditor | admin), CN = holder name. Every certificate carries
# SAN localhost and 127.0.0.1. A key has one usage: a server's certificate is serverAuth only, a
# caller's clientAuth only, so a stolen server key cannot call other services and a client key
# cannot pose as a server. Hence two certificates for a party that is both:
#   <service>            the service's server certificate (identity, gateway, ...)
#   <service>-client     the same service calling another one (CN = the service's name)
#   <member>             a member organisation's systems calling the hub (feeds, queries)
#   <member>-endpoint    the member's MemberEndpoint server, which the gateway calls
#   operator, auditor, admin
#                        HIE staff (clients only); auditor = the privacy officer, admin = the
#                        HIE administrator (the gateway's AdminGateway)
#   audit-signing.key    Ed25519 key hie-audit signs checkpoints with
#
# For development and tests only: keys are unencrypted and the CA key sits beside them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir="${1:-$HIE_VAR/certs}"
mkdir -p "$dir"
cd "$dir"

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/O=hie/OU=ca/CN=HIE Development CA" -keyout ca.key -out ca.pem 2>/dev/null
fi

issue() {  # file org role usage(serverAuth|clientAuth) [cn]
  local name="$1" org="$2" role="$3" usage="$4" cn="${5:-$1}"
  [ -f "$name.pem" ] && return 0
  local ext
  ext="$(mktemp)"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$usage" \
    "subjectAltName=DNS:localhost,DNS:$cn,IP:127.0.0.1" >"$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=$org/OU=$role/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$ext"
  chmod 600 "$name.key"
}

for service in identity locator registry consent audit gateway; do
  issue "$service" hie service serverAuth
  issue "$service-client" hie service clientAuth "$service"
done
for member in clinic-a clinic-b clinic-c clinic-d clinic-e; do
  issue "$member" "$member" member clientAuth
  issue "$member-endpoint" "$member" member serverAuth
done
issue operator hie-operations operator clientAuth
issue auditor hie-privacy auditor clientAuth
issue admin hie-admin admin clientAuth
# The audit service's checkpoint signing key (Ed25519; not a TLS key). A new file rotates the key:
# hie-audit lists the old public keys for verification.
if [ ! -f audit-signing.key ]; then
  openssl genpkey -algorithm ed25519 -out audit-signing.key 2>/dev/null
  chmod 600 audit-signing.key
fi
echo "$dir"
