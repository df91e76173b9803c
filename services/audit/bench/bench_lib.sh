# shellcheck shell=bash
# Sourced by the audit benchmark scripts, after scripts/lib.sh: their shared settings, one set-up
# and one way to start hie-audit for all.
#
# Settings (from the environment): `build` HIE_BENCH_BUILD (build-bench: hie-audit and
# hie-audit-bench), `pg_port` HIE_BENCH_PG_PORT (55472), `port` HIE_BENCH_PORT (7105).
#
# start_bench_run DIR
#   A new run in DIR (wiped first, stopping a cluster left there): everything printed from here
#   on also goes to DIR/bench.log; on exit hie-audit and the cluster are stopped. Prints the date
#   and the machine, makes certificates in DIR/certs and starts a throwaway PostgreSQL cluster on
#   pg_port (scripts/lib.sh start_bench_pg: durable, pg-tuning.conf, huge pages). Sets `dir`
#   (DIR made absolute) and `dsn`.
# start_bench_audit BINARY DIR DSN PORT LOG [FLAG...]
#   hie-audit on 127.0.0.1:PORT (metrics on PORT + 100) as the benchmarks run it: mutual TLS
#   with DIR/certs (scripts/gen-certs.sh), its signing key there, checkpoints archived in
#   DIR/checkpoints, 8 pooled connections, 96 workers, then FLAG...; stderr to LOG. Sets
#   audit_pid; returns once hie-audit logged "ready" (dies if it exits first or takes 60 s).
# stop_bench_audit
#   Stops it (nothing when audit_pid is empty).
# shellcheck disable=SC2034  # read by the scripts that source this file
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
pg_port="${HIE_BENCH_PG_PORT:-55472}"
port="${HIE_BENCH_PORT:-7105}"

start_bench_run() {
  dir="$1"
  if [ -d "$dir" ]; then "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true; rm -rf "$dir"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  exec > >(tee "$dir/bench.log") 2>&1
  audit_pid=""
  trap 'stop_bench_audit; "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true' EXIT
  echo "== $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
  "$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs" >/dev/null
  dsn="$(start_bench_pg "$dir/pg" "$pg_port")" || die "PostgreSQL did not start"
}

start_bench_audit() {
  local bin="$1" dir="$2" dsn="$3" port="$4" log="$5"
  shift 5
  "$bin" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 100))" \
    --tls-ca "$dir/certs/ca.pem" --tls-cert "$dir/certs/audit.pem" \
    --tls-key "$dir/certs/audit.key" --pg-dsn "$dsn" --pg-pool-size 8 --workers 96 \
    --signing-key "$dir/certs/audit-signing.key" --checkpoint-dir "$dir/checkpoints" "$@" \
    2>"$log" &
  audit_pid=$!
  for _ in $(seq 1 600); do
    grep -q '"event":"ready"' "$log" && return 0
    kill -0 "$audit_pid" 2>/dev/null || { cat "$log"; die "hie-audit did not start"; }
    sleep 0.1
  done
  die "hie-audit was not ready after 60 s"
}

stop_bench_audit() {
  if [ -n "${audit_pid:-}" ]; then
    kill "$audit_pid" 2>/dev/null || true
    wait "$audit_pid" 2>/dev/null || true
  fi
  audit_pid=""
}
