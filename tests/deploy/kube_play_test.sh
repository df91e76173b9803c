#!/usr/bin/env bash
# deploy_kube_play_test: the hub as containers, from this build. Builds the seven runtime images
# from the binaries of HIE_BUILD_DIR (scripts/images.sh: podman build of deploy/Containerfile;
# nothing is compiled; the debootstrapped base is cached in $HIE_VAR/images), then runs the Helm
# chart's rendered Deployments under `podman play kube` against their own PostgreSQL and Redis and
# asks one federated query through the gateway that the member containers must answer
# (scripts/kube-play.sh, which tears everything down and prints PASS or FAIL).
#
# Exit status: 0 passed, 1 failed, 77 skipped: podman is not installed (scripts/install-deps.sh
# installs it) and HIE_TEST_REQUIRE_SERVERS is not 1 (scripts/test.sh sets it: there, a missing
# container engine is a failure).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${HIE_BUILD_DIR:?set HIE_BUILD_DIR to the build whose binaries go into the images}"

if ! command -v podman >/dev/null; then
  if [ "${HIE_TEST_REQUIRE_SERVERS:-0}" = 1 ]; then
    echo "FAIL: podman is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  echo "SKIP: no container engine (podman); scripts/install-deps.sh installs it" >&2
  exit 77
fi
"$root/scripts/images.sh"
"$root/scripts/kube-play.sh"
