#!/usr/bin/env bash
# Benchmark of the consent service (hie-consent) over gRPC with mutual TLS on loopback, beside a
# bare gRPC echo (health Check on the same server) in the same run.
#
#   services/consent/bench/run_bench.sh [DIRECTIVES]
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-consent hie-consent-bench
#
# A throwaway PostgreSQL cluster, durable (fsync and synchronous_commit ON) with
# scripts/pg-tuning.conf and huge pages (scripts/lib.sh; HIE_BENCH_HUGE_PAGES=0: none), and
# certificates, under $HIE_BENCH_DIR (default var/consent-bench, wiped first); hie-consent
# (default mode opt-out, identity and audit off: the outbox rows stay undelivered) with
# --workers 32. Then, in order:
#   echo     1 caller and 8 callers
#   load     DIRECTIVES (default 100000) through CreateDirective from 8 callers, over
#            HIE_BENCH_PERSONS (50000) persons of 1 to 3 source ids each
#   decide   HIE_BENCH_DECIDES (20000) Decide calls, 1 caller, then 8 callers
#   batch    BatchDecide for 20 custodians, 1 caller, then 8 callers
#   echo     1 caller and 8 callers again
# Environment: HIE_BENCH_BUILD (build-bench), HIE_BENCH_PG_PORT (55474), HIE_BENCH_PORT (7106).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

directives="${1:-100000}"
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/consent-bench}"
pg_port="${HIE_BENCH_PG_PORT:-55474}"
port="${HIE_BENCH_PORT:-7106}"
persons="${HIE_BENCH_PERSONS:-50000}"
decides="${HIE_BENCH_DECIDES:-20000}"
consent_bin="$build/services/consent/hie-consent"
bench_bin="$build/services/consent/hie-consent-bench"
[ -x "$consent_bin" ] && [ -x "$bench_bin" ] ||
  die "build hie-consent and hie-consent-bench in $build first"
psql_bin="$PG_BIN/psql"

if [ -d "$dir" ]; then "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true; rm -rf "$dir"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
exec > >(tee "$dir/bench.log") 2>&1
consent_pid=""
cleanup() {
  if [ -n "$consent_pid" ]; then kill "$consent_pid" 2>/dev/null || true; wait "$consent_pid" 2>/dev/null || true; fi
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true
}
trap cleanup EXIT

echo "== $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
"$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs" >/dev/null
dsn="$(start_bench_pg "$dir/pg" "$pg_port")" || die "PostgreSQL did not start"

"$consent_bin" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 100))" \
  --tls-ca "$dir/certs/ca.pem" --tls-cert "$dir/certs/consent.pem" \
  --tls-key "$dir/certs/consent.key" --client-cert "$dir/certs/consent-client.pem" \
  --client-key "$dir/certs/consent-client.key" --identity= --audit= \
  --pg-dsn "$dsn" --pg-pool-size 8 --workers 32 2>"$dir/consent.log" &
consent_pid=$!
for _ in $(seq 1 600); do
  grep -q '"event":"ready"' "$dir/consent.log" && break
  kill -0 "$consent_pid" 2>/dev/null || { cat "$dir/consent.log"; die "hie-consent did not start"; }
  sleep 0.1
done

b() { "$bench_bin" "$@" --target="127.0.0.1:$port" --certs="$dir/certs"; }
b echo --calls=20000 --concurrency=1
b echo --calls=50000 --concurrency=8
b load --directives="$directives" --persons="$persons" --concurrency=8 --seed=1
"$psql_bin" "$dsn" -Atc "SELECT 'directives stored: ' || count(*) || ', persons with one: ' ||
  count(DISTINCT split_part(local_id, '-', 1)) FROM consent.directives"
b decide --calls="$decides" --concurrency=1 --persons="$persons"
b decide --calls="$((decides * 2))" --concurrency=8 --persons="$persons"
b batch --calls="$((decides / 4))" --concurrency=1 --persons="$persons" --custodians=20
b batch --calls="$((decides / 2))" --concurrency=8 --persons="$persons" --custodians=20
b echo --calls=20000 --concurrency=1
b echo --calls=50000 --concurrency=8
grep -c '"event":"health_changed"' "$dir/consent.log" | sed 's/^/health changes during the run: /'
