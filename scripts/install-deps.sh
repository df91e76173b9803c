#!/usr/bin/env bash
# Installs the Debian 12 packages the hub needs to build, test and run. Idempotent: when every
# package is already installed it does nothing (no network access).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
  build-essential cmake pkg-config ca-certificates openssl procps
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libpqxx-dev libpq-dev libhiredis-dev prometheus-cpp-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the linker: lld links our programs in about a quarter of ld.bfd's time (CMakeLists.txt)
  lld
  # the fuzz pass of scripts/test.sh: clang, libFuzzer and sanitizer runtimes, llvm-symbolizer
  clang-14 libclang-rt-14-dev llvm-14
  # an independent gRPC implementation for the end-to-end tests (tests/e2e)
  python3-grpcio
  # checkpoint signatures (Ed25519) checked by that independent client (tests/e2e/audit_*)
  python3-cryptography
  # Node.js for the grpc-js client of e2e_gateway_test (its packages: scripts/node-deps.sh)
  nodejs
  postgresql redis-server
  # deploy tests (tests/deploy): YAML for scripts/kube_play.py; Podman (runc: crun fails on these
  # machines' hybrid cgroups), its network stack and pause-image init, debootstrap for the base
  # image (scripts/images.sh, scripts/kube-play.sh)
  python3-yaml podman runc netavark aardvark-dns catatonit iptables debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm: Debian's package, unless a Node.js distribution that bundles it is installed already.
if ! command -v npm >/dev/null; then
  missing+=(npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  log "dependencies: all ${#PACKAGES[@]} packages present"
  exit 0
fi
log "dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -q
as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian postgresql package starts a cluster on 5432 where a service manager exists; the
# hub runs its own private clusters under var/ and does not use it.
