#!/usr/bin/env bash
# Appends through two or more builds of hie-audit, alternated on one PostgreSQL cluster (an A/B
# of a change to the append path, side by side on the same machine and log):
#
#   services/audit/bench/append_ab.sh base=/tmp/base-build new=build-bench base new new base
#
# NAME=ROOT arguments name build roots (ROOT/services/audit/hie-audit); the others are the
# rounds, in order. Each round starts that build's hie-audit, sends 10,000 single-event calls to
# warm up, then with the client of HIE_BENCH_BUILD (build-bench):
#   record   60,000 single-event calls from 64 callers: the callback client on 64 connections,
#            client threads on 64 connections, the callback client on 4 connections; each
#            followed by PostgreSQL's committed transactions meanwhile (events per group commit)
#   record   100,000 events in batches of 1000 from 4 callers
# A throwaway cluster as run_bench.sh makes (durable, scripts/pg-tuning.conf, huge pages), under
# $HIE_BENCH_DIR (default var/audit-ab, wiped first). HIE_BENCH_PG_PORT (55472), HIE_BENCH_PORT
# (7105).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

dir="${HIE_BENCH_DIR:-$HIE_VAR/audit-ab}"
bench_bin="$build/services/audit/hie-audit-bench"
[ -x "$bench_bin" ] || die "build hie-audit-bench in $build first"
declare -A roots=()
rounds=()
for arg in "$@"; do
  if [[ "$arg" == *=* ]]; then
    root="${arg#*=}"
    [ -x "$root/services/audit/hie-audit" ] || die "no hie-audit in $root/services/audit"
    roots["${arg%%=*}"]="$(cd "$root" && pwd)"
  else
    rounds+=("$arg")
  fi
done
[ ${#rounds[@]} -gt 0 ] || die "usage: append_ab.sh NAME=BUILD_ROOT... NAME..."
for name in "${rounds[@]}"; do [ -n "${roots[$name]:-}" ] || die "no build root named $name"; done

start_bench_run "$dir"
for name in "${!roots[@]}"; do echo "$name: ${roots[$name]}"; done
b() { "$bench_bin" "$@" --target="127.0.0.1:$port" --certs="$dir/certs"; }
commits() {
  "$PG_BIN/psql" "$dsn" -Atc \
    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

seed=10
for name in "${rounds[@]}"; do
  start_bench_audit "${roots[$name]}/services/audit/hie-audit" "$dir" "$dsn" "$port" \
    "$dir/audit-$name.log"
  echo "== $name $(date -u +%T)"
  b record --events=10000 --batch=1 --concurrency=64 --seed=$((seed++)) --driver=callback \
    >/dev/null
  for client in "--driver=callback" "--driver=threads" "--driver=callback --connections=4"; do
    before="$(commits)"
    # shellcheck disable=SC2086  # $client: one or two flags
    b record --events=60000 --batch=1 --concurrency=64 --seed=$((seed++)) $client
    transactions=$(($(commits) - before))
    echo "transactions: $transactions ($((60000 / (transactions > 0 ? transactions : 1))) events each)"
  done
  b record --events=100000 --batch=1000 --concurrency=4 --seed=$((seed++))
  stop_bench_audit
done
