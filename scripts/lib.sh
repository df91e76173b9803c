# Shared by the scripts: paths and small helpers. Source it; do not run it.
set -euo pipefail
HIE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HIE_VAR="${HIE_VAR:-$HIE_ROOT/var}"
HIE_BUILD_DIR="${HIE_BUILD_DIR:-$HIE_ROOT/build}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
