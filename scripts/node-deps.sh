#!/usr/bin/env bash
# Installs the Node.js test client's packages (@grpc/grpc-js, @grpc/proto-loader: the second gRPC
# implementation of e2e_gateway_test) from tests/e2e/node/package-lock.json into
# $HIE_BUILD_DIR/e2e-node, without running install scripts. Does nothing when that lock is already
# installed there (no network access).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src="$HIE_ROOT/tests/e2e/node"
dest="$HIE_BUILD_DIR/e2e-node"
command -v npm >/dev/null || die "npm is missing (scripts/install-deps.sh installs it)"
if cmp -s "$src/package-lock.json" "$dest/installed.lock" 2>/dev/null; then
  exit 0
fi
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
log "node test client: npm ci in $dest"
(cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
cp "$src/package-lock.json" "$dest/installed.lock"  # last: only a whole install counts
