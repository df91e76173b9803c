#!/usr/bin/env bash
# Verify with and without huge pages on a log run_bench.sh left behind: for each argument (off
# or on), PostgreSQL restarted with that `huge_pages`, a new hie-audit, then five
# `hie-audit-bench verify` in a row (the first on new scan connections).
#
#   services/audit/bench/run_bench.sh 9700000     # leaves $HIE_BENCH_DIR (var/audit-bench)
#   services/audit/bench/verify_ab.sh off on off on
#
# "on" needs huge pages reserved (run_bench.sh does it: scripts/lib.sh). Environment as
# run_bench.sh: HIE_BENCH_BUILD, HIE_BENCH_DIR, HIE_BENCH_PG_PORT, HIE_BENCH_PORT.
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

dir="${HIE_BENCH_DIR:-$HIE_VAR/audit-bench}"
[ -d "$dir/pg" ] || die "no log in $dir: run run_bench.sh first"
[ $# -gt 0 ] || die "usage: verify_ab.sh off|on..."
dsn="host=127.0.0.1 port=$pg_port user=postgres dbname=postgres"
audit_pid=""
cleanup() {
  stop_bench_audit
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for setting in "$@"; do
  [ "$setting" = on ] || [ "$setting" = off ] || die "off or on, not $setting"
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" >/dev/null 2>&1 || true
  "$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port" >/dev/null
  "$PG_BIN/psql" "$dsn" -qAtc "ALTER SYSTEM SET huge_pages = $setting"
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" >/dev/null
  "$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port" >/dev/null
  echo "== huge_pages=$setting, $(grep -E '^HugePages_Rsvd' /proc/meminfo | tr -s ' '), $(date -u +%T)"
  start_bench_audit "$build/services/audit/hie-audit" "$dir" "$dsn" "$port" "$dir/audit-ab.log"
  for _ in 1 2 3 4 5; do
    "$build/services/audit/hie-audit-bench" verify --target="127.0.0.1:$port" --certs="$dir/certs"
  done
  stop_bench_audit
done
