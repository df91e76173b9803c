#!/usr/bin/env bash
# Benchmark of the document registry (hie-registry) over gRPC with mutual TLS on loopback,
# beside a bare gRPC echo (health Check) on the same machine in the same run.
#
#   services/registry/bench/run_bench.sh [BACKGROUND] [BULK]
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-registry hie-registry-bench
#
# A throwaway PostgreSQL cluster, durable (fsync and synchronous_commit ON) with
# scripts/pg-tuning.conf and huge pages (scripts/lib.sh; HIE_BENCH_HUGE_PAGES=0: none), and
# certificates, under $HIE_BENCH_DIR (default var/registry-bench, wiped first). Then, in order:
#   echo     1 caller and 8 callers
#   publish  100,000 entries of 100 "hot" patients (1,000 each), sets of 10, 8 callers
#   publish  BACKGROUND more entries (default 200,000) over 100,000 patients, sets of 10
#   publish  100,000 more over 100,000 patients with a change-feed reader running meanwhile as
#            the locator's does (so the registry stamps the feed: a deployment's load)
#   load     BULK more entries (default 0; 9,700,000 makes 10M) over 1,000,000 patients,
#            straight through the store (a bulk import), then VACUUM ANALYZE and a CHECKPOINT
#            (the import leaves nearly all of shared_buffers dirty, and a query reading a page
#            not in them would first write one out: a state of the minute after a bulk import,
#            which a CHECKPOINT ends as the checkpointer would; docs/benchmarks.md measures both)
#   find     2,000 FindDocuments of one hot patient: first page of 100, then of 1,000; 1 caller
#   find     4,000 of 100 entries, 8 callers
#   echo     1 caller again
# Environment: HIE_BENCH_BUILD (build-bench), HIE_BENCH_PG_PORT (55492), HIE_BENCH_PORT (7113).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

background="${1:-200000}"
bulk="${2:-0}"
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/registry-bench}"
pg_port="${HIE_BENCH_PG_PORT:-55492}"
port="${HIE_BENCH_PORT:-7113}"
registry_bin="$build/services/registry/hie-registry"
bench_bin="$build/services/registry/hie-registry-bench"
[ -x "$registry_bin" ] && [ -x "$bench_bin" ] ||
  die "build hie-registry and hie-registry-bench in $build first"

if [ -d "$dir" ]; then "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true; rm -rf "$dir"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
exec > >(tee "$dir/bench.log") 2>&1
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true
}
trap cleanup EXIT

echo "== $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
"$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs" >/dev/null
dsn="$(start_bench_pg "$dir/pg" "$pg_port")" || die "PostgreSQL did not start"

"$registry_bin" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 100))" \
  --tls-ca "$dir/certs/ca.pem" --tls-cert "$dir/certs/registry.pem" \
  --tls-key "$dir/certs/registry.key" --pg-dsn "$dsn" --pg-pool-size 8 \
  2>"$dir/registry.log" &
registry_pid=$!
for _ in $(seq 1 600); do
  grep -q '"event":"ready"' "$dir/registry.log" && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$dir/registry.log"; die "hie-registry did not start"; }
  sleep 0.1
done

b() { "$bench_bin" "$@" --target="127.0.0.1:$port" --certs="$dir/certs"; }
b echo --calls=20000 --concurrency=1
b echo --calls=40000 --concurrency=8
b publish --entries=100000 --set=10 --concurrency=8 --patients=100 --run=hot
if [ "$background" -gt 0 ]; then
  b publish --entries="$background" --set=10 --concurrency=8 --patients=100000 --run=bg
fi
b publish --entries=100000 --set=10 --concurrency=8 --patients=100000 --run=follow --follow=true
if [ "$bulk" -gt 0 ]; then
  "$bench_bin" load --pg-dsn="$dsn" --entries="$bulk" --patients=1000000 --run=bulk
  "$PG_BIN/psql" "$dsn" -qAtc "VACUUM ANALYZE registry.entries"
  "$PG_BIN/psql" "$dsn" -qAtc "CHECKPOINT"
fi
"$PG_BIN/psql" "$dsn" -Atc "SELECT 'entries stored: ' || count(*) || ', ' ||
  pg_size_pretty(pg_total_relation_size('registry.entries')) FROM registry.entries"
b find --queries=2000 --concurrency=1 --patients=100 --run=hot --page=100
b find --queries=1000 --concurrency=1 --patients=100 --run=hot --page=1000
b find --queries=4000 --concurrency=8 --patients=100 --run=hot --page=100
b echo --calls=20000 --concurrency=1
