#!/usr/bin/env bash
# Benchmark of the gateway (hie-gateway-bench, bench/gateway_bench.cc): 20 member endpoints in
# process (one hanging, one black-holed) behind the gateway over gRPC with mutual TLS on
# loopback, the hub's services faked instantly; its baseline in the same run is the same
# members called directly (the gateway's own fan-out client, without the gateway).
#
#   services/gateway/bench/run_bench.sh [MEMBERS]
#
# Builds nothing: first
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   nice cmake --build build-bench -j2 --target hie-gateway-bench
# Certificates and the log under $HIE_BENCH_DIR (default var/gateway-bench, wiped first).
# Environment: HIE_BENCH_BUILD (build-bench).
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

members="${1:-20}"
build="${HIE_BENCH_BUILD:-$HIE_ROOT/build-bench}"
dir="${HIE_BENCH_DIR:-$HIE_VAR/gateway-bench}"
bench_bin="$build/services/gateway/hie-gateway-bench"
[ -x "$bench_bin" ] || die "build hie-gateway-bench in $build first"
rm -rf "$dir"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
exec > >(tee "$dir/bench.log") 2>&1
certs="$("$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs")"

echo "date: $(date -u +%FT%TZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "command: services/gateway/bench/run_bench.sh $members"
echo
"$bench_bin" --certs="$certs" --members="$members" --queries=200 --seconds=10 \
  --concurrency=8 --retrievals=50
