#!/usr/bin/env bash
# Benchmark of the record locator (hie-locator) over gRPC with mutual TLS on loopback, beside a
# bare gRPC echo (health Check) on the same machine in the same run.
#
#   services/locator/bench/run_bench.sh [HOLDINGS]
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-locator hie-locator-bench
#
# A throwaway PostgreSQL cluster, durable (fsync and synchronous_commit ON) with
# scripts/pg-tuning.conf and huge pages (scripts/lib.sh; HIE_BENCH_HUGE_PAGES=0: none), and
# certificates, under $HIE_BENCH_DIR (default var/locator-bench, wiped first). Then, in order:
#   load     HOLDINGS holdings (default 3,000,000) straight through the store, then ANALYZE
#   echo     1 caller and 8 callers
#   locate   20,000 Locate of a person with 5 source ids, 1 caller, after the load (first
#            touches), then again after pg_prewarm; 40,000 with 8 callers
#   report   20,000 ReportActivity, 8 callers
#   echo     1 caller again
# Environment: HIE_BENCH_BUILD (build-bench), HIE_BENCH_PG_PORT (55493), HIE_BENCH_PORT (7114).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

holdings="${1:-3000000}"
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/locator-bench}"
pg_port="${HIE_BENCH_PG_PORT:-55493}"
port="${HIE_BENCH_PORT:-7114}"
locator_bin="$build/services/locator/hie-locator"
bench_bin="$build/services/locator/hie-locator-bench"
[ -x "$locator_bin" ] && [ -x "$bench_bin" ] ||
  die "build hie-locator and hie-locator-bench in $build first"

if [ -d "$dir" ]; then "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true; rm -rf "$dir"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
exec > >(tee "$dir/bench.log") 2>&1
locator_pid=""
cleanup() {
  if [ -n "$locator_pid" ]; then
    kill "$locator_pid" 2>/dev/null || true
    wait "$locator_pid" 2>/dev/null || true
  fi
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true
}
trap cleanup EXIT

echo "== $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
"$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs" >/dev/null
dsn="$(start_bench_pg "$dir/pg" "$pg_port")" || die "PostgreSQL did not start"

"$locator_bin" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 100))" \
  --tls-ca "$dir/certs/ca.pem" --tls-cert "$dir/certs/locator.pem" \
  --tls-key "$dir/certs/locator.key" --pg-dsn "$dsn" --pg-pool-size 8 \
  2>"$dir/locator.log" &
locator_pid=$!
for _ in $(seq 1 600); do
  grep -q '"event":"ready"' "$dir/locator.log" && break
  kill -0 "$locator_pid" 2>/dev/null || { cat "$dir/locator.log"; die "hie-locator did not start"; }
  sleep 0.1
done

b() { "$bench_bin" "$@" --target="127.0.0.1:$port" --certs="$dir/certs"; }
"$bench_bin" load --pg-dsn="$dsn" --holdings="$holdings"
"$PG_BIN/psql" "$dsn" -qAtc "VACUUM ANALYZE locator.holdings"
"$PG_BIN/psql" "$dsn" -Atc "SELECT 'holdings stored: ' || count(*) || ', ' ||
  pg_size_pretty(pg_total_relation_size('locator.holdings')) FROM locator.holdings"
b echo --calls=20000 --concurrency=1
b echo --calls=40000 --concurrency=8
b locate --queries=20000 --concurrency=1 --ids=5 --holdings="$holdings"
# The load (COPY) and VACUUM pass through small ring buffers: the holdings sit in the OS cache
# but not in PostgreSQL's shared buffers, so the run above mostly measures first touches. A
# running locator keeps its working set there (the 3M-holding table is under 1 GB of the 4 GB);
# pg_prewarm loads it, and the same run is measured again.
"$PG_BIN/psql" "$dsn" -qAtc "CREATE EXTENSION IF NOT EXISTS pg_prewarm;
  SELECT 'prewarmed pages: ' || pg_prewarm('locator.holdings') + pg_prewarm('locator.holdings_pkey')"
b locate --queries=20000 --concurrency=1 --ids=5 --holdings="$holdings"
b locate --queries=40000 --concurrency=8 --ids=5 --holdings="$holdings"
b report --reports=20000 --concurrency=8 --holdings="$holdings"
b echo --calls=20000 --concurrency=1
