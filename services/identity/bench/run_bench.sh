#!/usr/bin/env bash
# End-to-end benchmark of the identity service (hie-identity) over gRPC with mutual TLS.
#
#   services/identity/bench/run_bench.sh N
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-identity hie-identity-bench
#
# Creates a throwaway PostgreSQL cluster (durable: fsync and synchronous_commit ON, i.e. NOT
# `pg.sh ... fast`) with pg_stat_statements, and certificates, under $HIE_BENCH_DIR
# (default var/identity-bench/run-N, wiped first); starts hie-identity; registers N generated
# records (`hie-identity-bench load`); measures Resolve / SearchPersons latency (`query`);
# snapshots answers for a sample; restarts hie-identity and reads the index rebuild time from its
# `index_rebuilt` log line; checks the same sample gives the same answers; stops everything.
# Everything is logged to $HIE_BENCH_DIR/bench.log (and stdout).
#
# Environment (defaults): HIE_BENCH_BUILD (build-bench), HIE_BENCH_CONCURRENCY (16),
# HIE_BENCH_SAMPLES (10000), HIE_BENCH_SNAPSHOT (2000), HIE_BENCH_SEED (42),
# HIE_BENCH_MAX_SECONDS (0 = no limit on the load phase), HIE_BENCH_PERF (1 = `perf record` the
# whole machine for 20 s in the middle of the load; needs perf), HIE_BENCH_WORKERS (16),
# HIE_BENCH_PG_POOL (8), ports HIE_BENCH_PG_PORT (55462), HIE_BENCH_PORT (7101),
# HIE_BENCH_METRICS_PORT (9501).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

n="${1:-}"
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || die "usage: run_bench.sh N (records to register)"
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/identity-bench/run-$n}"
concurrency="${HIE_BENCH_CONCURRENCY:-16}"
samples="${HIE_BENCH_SAMPLES:-10000}"
snapshot_samples="${HIE_BENCH_SNAPSHOT:-2000}"
seed="${HIE_BENCH_SEED:-42}"
max_seconds="${HIE_BENCH_MAX_SECONDS:-0}"
workers="${HIE_BENCH_WORKERS:-16}"
pg_pool="${HIE_BENCH_PG_POOL:-8}"
pg_port="${HIE_BENCH_PG_PORT:-55462}"
port="${HIE_BENCH_PORT:-7101}"
metrics_port="${HIE_BENCH_METRICS_PORT:-9501}"

identity_bin="$build/services/identity/hie-identity"
bench_bin=""
for candidate in "$build/services/identity/bench/hie-identity-bench" "$build/hie-identity-bench"; do
  if [ -x "$candidate" ]; then bench_bin="$candidate"; break; fi
done
[ -x "$identity_bin" ] || die "$identity_bin not built (see the header of this script)"
[ -n "$bench_bin" ] || die "hie-identity-bench not built in $build"
psql_bin="$PG_BIN/psql"

if [ -d "$dir" ]; then "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true; rm -rf "$dir"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
exec > >(tee "$dir/bench.log") 2>&1

identity_pid=""
sampler_pid=""
cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$identity_pid" ]; then kill "$identity_pid" 2>/dev/null || true; wait "$identity_pid" 2>/dev/null || true; fi
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true
}
trap cleanup EXIT

section() { printf '\n### %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

section "machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "commit: $(git -C "$HIE_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "ram: $(free -g | awk '/^Mem:/ {print $2 " GB"}')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "busiest other processes:"
ps -eo pcpu,comm --sort=-pcpu | sed -n '2,6p'
echo "records=$n concurrency=$concurrency samples=$samples seed=$seed workers=$workers pg_pool=$pg_pool"

section "postgresql (durable: fsync on, synchronous_commit on)"
"$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs" >/dev/null
dsn="$("$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port")"
"$psql_bin" "$dsn" -qAtc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
"$HIE_ROOT/scripts/pg.sh" stop "$dir/pg"
"$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port" >/dev/null
"$psql_bin" "$dsn" -qAtc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
"$psql_bin" "$dsn" -Atc "SELECT name || '=' || setting FROM pg_settings WHERE name IN
  ('fsync','synchronous_commit','full_page_writes','shared_buffers','wal_level','max_wal_size')
  ORDER BY name"
echo "dsn: $dsn"

start_identity() {  # log file
  "$identity_bin" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics_port" \
    --tls-ca "$dir/certs/ca.pem" --tls-cert "$dir/certs/identity.pem" \
    --tls-key "$dir/certs/identity.key" --pg-dsn "$dsn" --pg-pool-size "$pg_pool" \
    --workers "$workers" --startup-timeout 60s 2>"$1" &
  identity_pid=$!
  for _ in $(seq 1 3600); do
    if grep -q '"event":"ready"' "$1"; then return 0; fi
    kill -0 "$identity_pid" 2>/dev/null || { cat "$1"; die "hie-identity exited"; }
    sleep 0.5
  done
  die "hie-identity not ready after 30 min"
}
stop_identity() {
  kill -TERM "$identity_pid"
  wait "$identity_pid" || true
  identity_pid=""
}

bench() {
  "$bench_bin" "$@" --target "127.0.0.1:$port" --tls-ca "$dir/certs/ca.pem" \
    --tls-cert "$dir/certs/operator.pem" --tls-key "$dir/certs/operator.key" --seed "$seed" \
    --records "$n"
}

section "start hie-identity (empty database)"
start_identity "$dir/identity-1.log"
grep '"event":"index_rebuilt"' "$dir/identity-1.log"

section "load: $n registrations, $concurrency callers"
(while true; do echo "$(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 30; done) \
  >"$dir/loadavg.log" &
sampler_pid=$!
if [ "${HIE_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  ( # Whole machine for 20 s once the load is well under way (half of the expected time).
    sleep "${HIE_BENCH_PERF_DELAY:-60}"
    perf record -F 499 -a -g -o "$dir/perf.data" -- sleep 20 >/dev/null 2>&1
    perf report -i "$dir/perf.data" --no-children --sort comm --stdio 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -12 >"$dir/perf-by-process.txt"
    for comm in hie-identity postgres; do
      perf report -i "$dir/perf.data" --no-children --comm "$comm" --sort sym --stdio -g none \
        2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >"$dir/perf-$comm.txt"
    done
  ) &
fi
cpu_of() { ps -o times= "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
identity_cpu0="$(cpu_of -p "$identity_pid")"
postmaster="$(head -1 "$dir/pg/data/postmaster.pid")"
pg_cpu() { echo $(( $(cpu_of -p "$postmaster") + $(cpu_of --ppid "$postmaster") )); }
postgres_cpu0="$(pg_cpu)"
load_status=0
/usr/bin/time -f "bench client CPU: %U s user + %S s sys over %e s" \
  "$bench_bin" load --target "127.0.0.1:$port" --tls-ca "$dir/certs/ca.pem" \
  --tls-cert "$dir/certs/operator.pem" --tls-key "$dir/certs/operator.key" --seed "$seed" \
  --records "$n" --concurrency "$concurrency" --max-seconds "$max_seconds" || load_status=$?
echo "hie-identity CPU during the load: $(( $(cpu_of -p "$identity_pid") - identity_cpu0 )) s"
echo "postgres CPU during the load (postmaster and its live children): $(( $(pg_cpu) - postgres_cpu0 )) s"
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=""
echo "load average during the load (every 30 s):"
cat "$dir/loadavg.log"
wait  # perf, if any
for f in perf-by-process.txt perf-hie-identity.txt perf-postgres.txt; do
  if [ -s "$dir/$f" ]; then echo "--- $f"; cat "$dir/$f"; fi
done

section "postgresql after the load"
"$psql_bin" "$dsn" -Atc "SELECT 'database size: ' || pg_size_pretty(pg_database_size('postgres'))"
"$psql_bin" "$dsn" -Atc "SELECT 'wal written: ' || pg_size_pretty(wal_bytes) || ', wal syncs: ' ||
  wal_sync || ', commits: ' || (SELECT xact_commit FROM pg_stat_database WHERE datname='postgres')
  FROM pg_stat_wal"
echo "top statements by total time (calls, total ms, mean ms, rows):"
"$psql_bin" "$dsn" -Atc "SELECT calls || ' | ' || round(total_exec_time) || ' | ' ||
  round(mean_exec_time::numeric, 3) || ' | ' || rows || ' | ' ||
  left(regexp_replace(query, '\s+', ' ', 'g'), 110)
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20"

section "query: $samples samples"
query_status=0
bench query --samples "$samples" --callers 4 || query_status=$?

section "restart: index rebuild and same answers"
bench snapshot --samples "$snapshot_samples" --out "$dir/snapshot-before.txt"
stop_identity
start_identity "$dir/identity-2.log"
grep '"event":"index_rebuilt"' "$dir/identity-2.log"
bench snapshot --samples "$snapshot_samples" --out "$dir/snapshot-after.txt"
if diff -q "$dir/snapshot-before.txt" "$dir/snapshot-after.txt" >/dev/null; then
  echo "same answers after restart: YES ($snapshot_samples resolves + searches identical)"
  same=0
else
  echo "same answers after restart: NO; first differences:"
  diff "$dir/snapshot-before.txt" "$dir/snapshot-after.txt" | head -20
  same=1
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "exit: load=$load_status query=$query_status restart_diff=$same"
[ "$load_status" = 0 ] && [ "$query_status" = 0 ] && [ "$same" = 0 ]
