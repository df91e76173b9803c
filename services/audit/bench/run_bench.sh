#!/usr/bin/env bash
# Benchmark of the audit service (hie-audit) over gRPC with mutual TLS on loopback, beside a bare
# gRPC echo (health Check) on the same machine in the same run.
#
#   services/audit/bench/run_bench.sh [LOAD]
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-audit hie-audit-bench
#
# A throwaway PostgreSQL cluster, durable (fsync and synchronous_commit ON) with
# scripts/pg-tuning.conf and huge pages (scripts/lib.sh; HIE_BENCH_HUGE_PAGES=0: none), and
# certificates, under $HIE_BENCH_DIR (default var/audit-bench, wiped first); hie-audit with
# --workers 96. Then, in order:
#   echo     1 caller and 64 callers (a blocked client thread per caller, then gRPC's callback
#            API: 64 calls in flight without 64 client threads)
#   record   HIE_BENCH_BATCHED events (200000) in RecordBatch calls of 1000 from
#            HIE_BENCH_BATCH_CALLERS callers (4)
#   record   HIE_BENCH_SINGLE events (100000) as single-event Record calls from 64 callers, with
#            each of the two client drivers (set beside the echo of the same driver), then with
#            the callback driver over 4 connections instead of 64 (as the hub's services call:
#            one channel per replica), beside its echo
#   load     LOAD more events (default 0) in batches, to size the log for search
#   verify   the whole chain, three times: the first on new scan connections (a new PostgreSQL
#            backend page-faults on every shared buffer it touches), then on the kept ones
#   search   2000 searches by one patient (of 100000), 1 caller, then 8 callers
# Environment: HIE_BENCH_BUILD (build-bench), HIE_BENCH_PG_PORT (55472), HIE_BENCH_PORT (7105),
# HIE_BENCH_AUDIT_FLAGS (more hie-audit flags, e.g. --max-group-events=2000).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

load="${1:-0}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/audit-bench}"
batched="${HIE_BENCH_BATCHED:-200000}"
single="${HIE_BENCH_SINGLE:-100000}"
batch_callers="${HIE_BENCH_BATCH_CALLERS:-4}"
audit_bin="$build/services/audit/hie-audit"
bench_bin="$build/services/audit/hie-audit-bench"
[ -x "$audit_bin" ] && [ -x "$bench_bin" ] || die "build hie-audit and hie-audit-bench in $build first"
psql_bin="$PG_BIN/psql"

start_bench_run "$dir"

# shellcheck disable=SC2086  # HIE_BENCH_AUDIT_FLAGS: several flags
start_bench_audit "$audit_bin" "$dir" "$dsn" "$port" "$dir/audit.log" ${HIE_BENCH_AUDIT_FLAGS:-}

b() { "$bench_bin" "$@" --target="127.0.0.1:$port" --certs="$dir/certs"; }
b echo --calls=20000 --concurrency=1
b echo --calls=100000 --concurrency=64
b echo --calls=100000 --concurrency=64 --driver=callback
b record --events="$batched" --batch=1000 --concurrency="$batch_callers" --seed=1
b record --events="$single" --batch=1 --concurrency=64 --seed=2
b record --events="$single" --batch=1 --concurrency=64 --seed=4 --driver=callback
b echo --calls=100000 --concurrency=64 --driver=callback --connections=4
b record --events="$single" --batch=1 --concurrency=64 --seed=5 --driver=callback --connections=4
b echo --calls=20000 --concurrency=1
if [ "$load" -gt 0 ]; then b record --events="$load" --batch=1000 --concurrency=4 --seed=3; fi
"$psql_bin" "$dsn" -Atc "SELECT 'events stored: ' || count(*) FROM audit.events"
for _ in 1 2 3; do b verify; done
b search --queries=2000 --concurrency=1
b search --queries=4000 --concurrency=8
b echo --calls=20000 --concurrency=8
