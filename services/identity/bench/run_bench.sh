#!/usr/bin/env bash
# End-to-end benchmark of the identity service (hie-identity) over gRPC with mutual TLS.
#
#   services/identity/bench/run_bench.sh N
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-identity hie-identity-bench hie-mpi
#
# Trains the matching model's parameters offline (`hie-mpi train`, as a deployment would on a
# sample of its records) on a generated population of another seed (HIE_BENCH_TRAIN_SEED, 7;
# HIE_BENCH_TRAIN_PERSONS, 110000), rescaled to the population about to be loaded, and starts
# hie-identity with them (--model-params). HIE_BENCH_TRAIN_PERSONS=0 keeps the defaults.
# Creates a throwaway PostgreSQL cluster (durable: fsync and synchronous_commit ON, i.e. NOT
# `pg.sh ... fast`) with pg_stat_statements, and certificates, under $HIE_BENCH_DIR
# (default var/identity-bench/run-N, wiped first); starts hie-identity; registers N generated
# records (`hie-identity-bench load`); measures Resolve / SearchPersons latency (`query`);
# snapshots answers for a sample; restarts hie-identity and reads the index rebuild time from its
# `index_rebuilt` log line; checks the same sample gives the same answers; stops everything.
# Everything is logged to $HIE_BENCH_DIR/bench.log (and stdout).
#
# Environment (defaults): HIE_BENCH_BUILD (build-bench), HIE_BENCH_CONCURRENCY (16),
# HIE_BENCH_BATCH (1 = one record per RegisterSourceRecord call; up to 50 = records per
# RegisterSourceRecords call),
# HIE_BENCH_SAMPLES (10000), HIE_BENCH_SNAPSHOT (2000), HIE_BENCH_SEED (42),
# HIE_BENCH_HL7 (20000: further records fed as ADT^A04 over MLLP after the gRPC load; 0 skips),
# HIE_BENCH_MAX_SECONDS (0 = no limit on the load phase), HIE_BENCH_PERF (1 = `perf record` the
# whole machine for 20 s in the middle of the load; needs perf), HIE_BENCH_WORKERS (16),
# HIE_BENCH_PG_POOL (8), HIE_BENCH_PG_CONF (tuned = scripts/pg-tuning.conf, the settings a
# deployment should use, with huge pages unless HIE_BENCH_HUGE_PAGES=0: scripts/lib.sh; default
# = PostgreSQL's own defaults), ports HIE_BENCH_PG_PORT (55462), HIE_BENCH_PORT (7101),
# HIE_BENCH_METRICS_PORT (9501), HIE_BENCH_HL7_PORT (7102).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

n="${1:-}"
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || die "usage: run_bench.sh N (records to register)"
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/identity-bench/run-$n}"
concurrency="${HIE_BENCH_CONCURRENCY:-16}"
batch="${HIE_BENCH_BATCH:-1}"
samples="${HIE_BENCH_SAMPLES:-10000}"
snapshot_samples="${HIE_BENCH_SNAPSHOT:-2000}"
seed="${HIE_BENCH_SEED:-42}"
max_seconds="${HIE_BENCH_MAX_SECONDS:-0}"
workers="${HIE_BENCH_WORKERS:-16}"
pg_pool="${HIE_BENCH_PG_POOL:-8}"
pg_port="${HIE_BENCH_PG_PORT:-55462}"
port="${HIE_BENCH_PORT:-7101}"
metrics_port="${HIE_BENCH_METRICS_PORT:-9501}"
hl7_port="${HIE_BENCH_HL7_PORT:-7102}"
hl7_records="${HIE_BENCH_HL7:-20000}"
pg_conf="${HIE_BENCH_PG_CONF:-tuned}"
[ "$pg_conf" = tuned ] || [ "$pg_conf" = default ] || die "HIE_BENCH_PG_CONF must be tuned or default"
population=$((n + hl7_records))

identity_bin="$build/services/identity/hie-identity"
mpi_bin="$build/mpi/hie-mpi"
train_seed="${HIE_BENCH_TRAIN_SEED:-7}"
train_persons="${HIE_BENCH_TRAIN_PERSONS:-110000}"
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

model_flags=()
if [ "$train_persons" -gt 0 ]; then
  section "model parameters: hie-mpi train on $train_persons generated persons (seed $train_seed)"
  [ -x "$mpi_bin" ] || die "$mpi_bin not built (see the header of this script)"
  "$mpi_bin" generate --persons "$train_persons" --seed "$train_seed" --out "$dir/train" >/dev/null
  /usr/bin/time -f "trained in %e s" "$mpi_bin" train --input "$dir/train/records.csv" \
    --out "$dir/model-params.txt" --index-size "$population"
  rm -rf "$dir/train"
  model_flags=(--model-params "$dir/model-params.txt")
else
  echo "model parameters: the engine's defaults (untrained)"
fi

section "postgresql (durable: fsync on, synchronous_commit on)"
"$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs" >/dev/null
dsn="$("$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port")"
"$psql_bin" "$dsn" -qAtc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
if [ "$pg_conf" = tuned ]; then apply_bench_pg_tuning "$dsn" 2>&1; fi  # scripts/lib.sh
"$HIE_ROOT/scripts/pg.sh" stop "$dir/pg"
"$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port" >/dev/null
"$psql_bin" "$dsn" -qAtc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
"$psql_bin" "$dsn" -Atc "SELECT name || '=' || setting FROM pg_settings WHERE name IN
  ('fsync','synchronous_commit','full_page_writes','shared_buffers','wal_level','max_wal_size',
   'checkpoint_timeout','effective_cache_size','huge_pages')
  ORDER BY name"
echo "dsn: $dsn"

start_identity() {  # log file; returns 1 when hie-identity exits during start-up
  "$identity_bin" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics_port" \
    --tls-ca "$dir/certs/ca.pem" --tls-cert "$dir/certs/identity.pem" \
    --tls-key "$dir/certs/identity.key" --pg-dsn "$dsn" --pg-pool-size "$pg_pool" \
    --workers "$workers" --hl7-listen "127.0.0.1:$hl7_port" --startup-timeout 60s \
    "${model_flags[@]}" 2>"$1" &
  identity_pid=$!
  for _ in $(seq 1 3600); do
    if grep -q '"event":"ready"' "$1"; then return 0; fi
    if ! kill -0 "$identity_pid" 2>/dev/null; then
      cat "$1"
      identity_pid=""
      return 1
    fi
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
    --records "${loaded:-$n}" --population "$population"
}

section "start hie-identity (empty database)"
start_identity "$dir/identity-1.log" || die "hie-identity did not start"
grep '"event":"index_rebuilt"' "$dir/identity-1.log"

section "load: $n registrations, $concurrency callers, $batch per call"
(while true; do echo "$(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 30; done) \
  >"$dir/loadavg.log" &
sampler_pid=$!
perf_pid=""
if [ "${HIE_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  ( # Whole machine for 20 s once the load is well under way (half of the expected time).
    sleep "${HIE_BENCH_PERF_DELAY:-60}"
    perf record -F 499 -a -g -o "$dir/perf.data" -- sleep 20 >/dev/null 2>&1
    perf report -i "$dir/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -12 >"$dir/perf-by-process.txt"
    perf report -i "$dir/perf.data" --no-children --pid "$identity_pid" --sort dso,sym --stdio \
      -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -50 >"$dir/perf-hie-identity.txt"
    perf report -i "$dir/perf.data" --no-children --comm postgres --sort sym --stdio -g none \
      2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >"$dir/perf-postgres.txt"
    perf report -i "$dir/perf.data" --no-children --pid "$identity_pid" --sort dso --stdio \
      -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15 >"$dir/perf-hie-identity-dso.txt"
  ) &
  perf_pid=$!
fi
# CPU seconds (user + system) of the given pids, from /proc (10 ms resolution).
cpu_of() {
  local ticks=0 pid t
  for pid in "$@"; do
    t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    ticks=$((ticks + t))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}'
}
postmaster="$(head -1 "$dir/pg/data/postmaster.pid")"
pg_cpu() { cpu_of "$postmaster" $(ps -o pid= --ppid "$postmaster"); }
identity_cpu0="$(cpu_of "$identity_pid")"
postgres_cpu0="$(pg_cpu)"
load_status=0
/usr/bin/time -f "bench client CPU: %U s user + %S s sys over %e s" \
  "$bench_bin" load --target "127.0.0.1:$port" --tls-ca "$dir/certs/ca.pem" \
  --tls-cert "$dir/certs/operator.pem" --tls-key "$dir/certs/operator.key" --seed "$seed" \
  --records "$n" --population "$population" --concurrency "$concurrency" --batch "$batch" \
  --max-seconds "$max_seconds" >"$dir/load.txt" || load_status=$?
cat "$dir/load.txt"
# With --max-seconds the load may stop early: later phases use the records actually attempted.
loaded="$(sed -n 's/^== load: \([0-9]*\) of .*/\1/p' "$dir/load.txt")"
[ -n "$loaded" ] && [ "$loaded" -gt 0 ] || loaded="$n"
echo "hie-identity CPU during the load: $(awk -v a="$(cpu_of "$identity_pid")" -v b="$identity_cpu0" 'BEGIN {printf "%.1f", a - b}') s"
echo "postgres CPU during the load (postmaster and its live children): $(awk -v a="$(pg_cpu)" -v b="$postgres_cpu0" 'BEGIN {printf "%.1f", a - b}') s"
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=""
echo "load average during the load (every 30 s):"
cat "$dir/loadavg.log"
if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
for f in perf-by-process.txt perf-hie-identity-dso.txt perf-hie-identity.txt perf-postgres.txt; do
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

section "query: $samples samples over the $loaded records loaded"
query_status=0
identity_cpu_q0="$(cpu_of "$identity_pid")"
bench query --samples "$samples" --callers 4 || query_status=$?
# Resolve and SearchPersons, `samples` each, with 1 caller and with 4: 4 x samples calls.
awk -v a="$(cpu_of "$identity_pid")" -v b="$identity_cpu_q0" -v calls="$((4 * samples))" \
  'BEGIN {printf "hie-identity CPU during the queries: %.1f s for %d calls, %.3f ms per call\n",
          a - b, calls, (a - b) * 1000 / calls}'

hl7_status=0
if [ "$hl7_records" -gt 0 ]; then
  section "hl7: records $n..$((population - 1)) as ADT^A04 over MLLP, 4 connections"
  "$bench_bin" hl7 --hl7-target "127.0.0.1:$hl7_port" --cert-dir "$dir/certs" --seed "$seed" \
    --records "$hl7_records" --offset "$n" --population "$population" --concurrency 4 \
    || hl7_status=$?
fi

# Resident memory of hie-identity (the sizing figure of docs/operations.md), from /proc.
memory_of() {
  awk '/^VmRSS/ {rss = $2} /^VmHWM/ {hwm = $2}
       END {printf "VmRSS %.0f MB, peak (VmHWM) %.0f MB", rss / 1024, hwm / 1024}' \
    "/proc/$1/status" 2>/dev/null || echo "unknown"
}
echo "hie-identity memory after the load and queries: $(memory_of "$identity_pid")"

section "restart: index rebuild and same answers"
bench snapshot --samples "$snapshot_samples" --out "$dir/snapshot-before.txt"
stop_identity
if start_identity "$dir/identity-2.log"; then
  grep '"event":"index_rebuilt"' "$dir/identity-2.log"
  echo "hie-identity memory after the index rebuild: $(memory_of "$identity_pid")"
  bench snapshot --samples "$snapshot_samples" --out "$dir/snapshot-after.txt"
  if diff -q "$dir/snapshot-before.txt" "$dir/snapshot-after.txt" >/dev/null; then
    echo "same answers after restart: YES ($snapshot_samples resolves + searches identical)"
    same=0
  else
    echo "same answers after restart: NO; first differences:"
    diff "$dir/snapshot-before.txt" "$dir/snapshot-after.txt" | head -20
    same=1
  fi
else
  # hie-identity could not restart (see its log above). Time the same rebuild code in-process
  # with a finite deadline and compare its answers with the snapshot instead.
  echo "hie-identity FAILED TO RESTART; in-process rebuild (same code, finite deadline) instead:"
  same=0
  bench rebuild --pg-dsn "$dsn" --samples "$snapshot_samples" \
    --compare "$dir/snapshot-before.txt" --out "$dir/snapshot-after.txt" || same=$?
  same=$(( same == 0 ? 2 : same ))  # 2: answers same, but the service itself did not restart
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "exit: load=$load_status query=$query_status hl7=$hl7_status restart_diff=$same"
[ "$load_status" = 0 ] && [ "$query_status" = 0 ] && [ "$hl7_status" = 0 ] && [ "$same" = 0 ]
