#!/usr/bin/env bash
# Configures and builds everything into build/ (override with HIE_BUILD_DIR).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
jobs="${HIE_JOBS:-$(nproc)}"
start=$(date +%s)
cmake -S "$HIE_ROOT" -B "$HIE_BUILD_DIR" -DCMAKE_BUILD_TYPE="${HIE_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$HIE_BUILD_DIR" -j "$jobs"
log "build: done in $(( $(date +%s) - start ))s"
