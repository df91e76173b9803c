#!/usr/bin/env bash
# The hub's whole test suite, from a fresh machine: installs the Debian dependencies, builds,
# starts a throwaway PostgreSQL and Redis on loopback under var/test, runs every test (unit,
# integration, end-to-end, deploy: the Helm chart against the binaries, the images under `podman
# play kube`) with ctest, then two extra passes, and stops the servers. Safe to run twice; exits
# non-zero when anything fails.
#
# Every test runs once. With the extra passes (the default without arguments: what CI runs), the
# unit and integration tests are built and run in the sanitizer build only (under ASan+UBSan,
# which checks more than the release build could), and the normal build makes the programs and
# the e2e tests and runs the e2e and deploy tests against the release binaries: compiling the
# unit and integration tests twice took about a quarter of the run (docs/build-and-test-times.md).
# Without the extra passes, or with ctest arguments, the normal build makes and runs everything.
#
#   scripts/test.sh                     # everything (what CI runs)
#   scripts/test.sh -L unit             # extra arguments go to ctest; the extra passes are skipped
#   HIE_SANITIZERS=0 scripts/test.sh    # the normal build and all tests in it: no extra passes
#   HIE_SANITIZERS=1 scripts/test.sh -L unit   # the extra passes even with ctest arguments
#   HIE_SANITIZERS=only scripts/test.sh # the extra passes only (no normal build or ctest run)
#
# The extra passes share one build: clang-14 with -DHIE_SANITIZE=address,undefined and libFuzzer's
# coverage instrumentation (-DHIE_FUZZ=ON; -O1 -g1) in build-asan, only the unit and integration
# test programs and the fuzzers (one clang build instead of a gcc one for the tests and a clang
# one for the fuzzers: docs/build-and-test-times.md).
#   sanitizers  `ctest -L 'unit|integration'` once under ASan+UBSan+LeakSanitizer against the same
#               servers. Suppressions: scripts/sanitizer-suppressions/.
#   fuzzing     the libFuzzer targets (csv_fuzz, hl7_fuzz, audit_fuzz, consent_fuzz, registry_fuzz,
#               locator_fuzz, member_data_fuzz, gateway_fuzz); each runs every input of its
#               committed corpus once, whole, then mutates for HIE_FUZZ_SECONDS (default 60),
#               over a copy in var/fuzz/<target>/corpus (the repository is not modified). Any
#               crash, leak, timeout (-timeout=10 s per input), memory blow-up
#               (-rss_limit_mb=1024, -malloc_limit_mb=256) or sanitizer report fails the run; the
#               input is kept in var/fuzz/<target>/artifacts/ and the command to replay it is
#               printed. The fuzzers run $HIE_JOBS at a time.
#
# What runs beside what (background work at idle CPU priority takes what the foreground leaves:
# the tests do not keep both cores busy): the container base image
# (scripts/images.sh --base) beside the normal build; the sanitizer build beside the e2e and
# deploy tests (its output in var/sanitizer-build.log, its end printed if it fails); the fuzzers
# beside the sanitizer tests. Any exit, an early one included (a failed build, Ctrl-C), stops
# the background work still running, with everything it started, and the test servers.
#
# Environment: HIE_BUILD_DIR (build), HIE_ASAN_BUILD_DIR (build-asan), HIE_VAR (var: servers in
# $HIE_VAR/test, fuzz runs in $HIE_VAR/fuzz),
# HIE_TEST_PG_PORT (55432), HIE_TEST_REDIS_PORT (56379), HIE_JOBS (nproc), HIE_FUZZ_SECONDS (60).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

passes="${HIE_SANITIZERS:-auto}"
case "$passes" in
  auto) if [ $# -gt 0 ]; then passes=0; else passes=1; fi ;;
  0 | 1 | only) ;;
  *) die "HIE_SANITIZERS must be 0, 1 or only (got '$passes')" ;;
esac
jobs="${HIE_JOBS:-$(nproc)}"
# Split: unit and integration tests in the sanitizer build only (see the top).
split=0
if [ "$passes" = 1 ] && [ $# -eq 0 ]; then split=1; fi
asan_dir="${HIE_ASAN_BUILD_DIR:-$HIE_ROOT/build-asan}"
fuzz_seconds="${HIE_FUZZ_SECONDS:-60}"
suppressions="$HIE_ROOT/scripts/sanitizer-suppressions"

# Phase timings (wall, and CPU of the processes the phase ran: compilers, tests, fuzzers), printed
# at the end; failed phases make the exit status. Phases that run in the background (below) write
# their line to the same file.
failed=()
phase_start=0
phase_cpu=0
clock_ticks="$(getconf CLK_TCK)"
mkdir -p "$HIE_VAR"
phases_file="$HIE_VAR/test-phases"
rm -f "$phases_file"
cpu_pid=$$  # whose children's CPU the phases count: a background phase sets its own
children_cpu() {  # CPU seconds of $cpu_pid's finished children (/proc: cutime + cstime)
  local stat
  read -r -a stat <"/proc/$cpu_pid/stat"
  echo $(( (stat[15] + stat[16]) / clock_ticks ))
}
phase_begin() { phase_start=$(date +%s); phase_cpu=$(children_cpu); log "$1"; }
phase_end() {
  local line
  line="$1: $(( $(date +%s) - phase_start ))s (CPU $(( $(children_cpu) - phase_cpu ))s)"
  echo "$line" >>"$phases_file"
  log "$line"
}
# Background work takes the CPU the foreground leaves: SCHED_IDLE (renice 19 where that is
# refused) and the idle I/O class, inherited by every child; its phases count its own children.
# Measured (docs/build-and-test-times.md): the e2e and deploy tests beside the sanitizer build
# took 7% longer, the fuzzers beside the sanitizer tests ran 1.2-9 times fewer inputs, and the
# whole run took 2 minutes less.
idle_priority() {
  cpu_pid=$BASHPID
  chrt --idle -p 0 "$BASHPID" >/dev/null 2>&1 || renice -n 19 -p "$BASHPID" >/dev/null 2>&1 ||
    true
  ionice -c 3 -p "$BASHPID" >/dev/null 2>&1 || true
}

# --- Sanitizer and fuzz build ------------------------------------------------------------------
# Debian's gRPC, protobuf, libpqxx... are not instrumented; ASan and UBSan work with them as
# they are. Container-overflow checks stay on: libstdc++ annotates nothing unless
# _GLIBCXX_SANITIZE_VECTOR is defined, so uninstrumented libraries cannot trip them (no false
# positive seen; detect_container_overflow=0 is the switch if one appears). LeakSanitizer stays
# on, with the suppressions in lsan.supp (third-party leaks only; each says what and why). UBSan
# reports are fatal (-fno-sanitize-recover and halt_on_error).
sanitizer_env=(
  "ASAN_OPTIONS=check_initialization_order=1"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
  "LSAN_OPTIONS=suppressions=$suppressions/lsan.supp:print_suppressions=0"
  "ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer"
)
# Each fuzzer: "name program-in-the-build committed-corpus dictionary|-".
fuzzers=(
  "csv_fuzz services/hiectl/csv_fuzz services/hiectl/fuzz_corpus services/hiectl/csv_fuzz.dict"
  "hl7_fuzz services/identity/hl7/hl7_fuzz services/identity/hl7/fuzz_corpus -"
  "audit_fuzz services/audit/audit_fuzz services/audit/fuzz_corpus -"
  "consent_fuzz services/consent/consent_fuzz services/consent/fuzz_corpus -"
  "registry_fuzz services/registry/registry_fuzz services/registry/fuzz_corpus -"
  "locator_fuzz services/locator/locator_fuzz services/locator/fuzz_corpus -"
  "member_data_fuzz services/member/member_data_fuzz services/member/fuzz_corpus -"
  "gateway_fuzz services/gateway/gateway_fuzz services/gateway/fuzz_corpus -"
)
fuzzer_names=()
for entry in "${fuzzers[@]}"; do fuzzer_names+=("${entry%% *}"); done
# -O1 as ASan advises (-O0 halves the compile time, but hl7_test has CPU-time bounds and ASan
# code at -O0 is much slower); -g1: line tables only, enough for file:line in every report and
# about 20% less compile time than -g (measured on identity_manager.cc and identity.pb.cc).
# The test programs themselves and the generated protobuf code are compiled at -O0
# (HIE_TEST_AND_PROTO_FLAGS): half the compile time of -O1 for them (identity_manager_test.cc:
# 49 s -> 26 s), while the code under test keeps -O1. libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link, which the fuzzers need in the libraries they call) is in the test
# programs too: it costs them little, and a second build would cost more.
sanitizer_cxx_flags="-O1 -g1"
sanitizer_build() {
  phase_begin "sanitizer build ($asan_dir: unit and integration tests, ${fuzzer_names[*]};\
 clang-14, ASan+UBSan, $sanitizer_cxx_flags)"
  # A build directory of another compiler (gcc made build-asan before 2026-12-07) starts over.
  if [ -f "$asan_dir/CMakeCache.txt" ] &&
     ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$asan_dir/CMakeCache.txt"; then
    rm -rf "$asan_dir"
  fi
  cmake -S "$HIE_ROOT" -B "$asan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$sanitizer_cxx_flags" -DCMAKE_CXX_COMPILER=clang++-14 \
    -DHIE_SANITIZE=address,undefined -DHIE_TEST_AND_PROTO_FLAGS=-O0 \
    -DHIE_FUZZ=ON -DHIE_HL7_FUZZ=ON \
    >/dev/null || return 1
  cmake --build "$asan_dir" -j "$jobs" \
    --target hie_unit_tests hie_integration_tests "${fuzzer_names[@]}" || return 1
  phase_end "sanitizer build"
}
sanitizer_tests() {
  phase_begin "sanitizer tests (ctest -L 'unit|integration' in $asan_dir)"
  local status=0
  (cd "$asan_dir" && env "${sanitizer_env[@]}" \
    ctest --output-on-failure -j "$jobs" -L 'unit|integration') || status=$?
  phase_end "sanitizer tests"
  return $status
}

# --- Fuzz pass ---------------------------------------------------------------------------------
run_fuzzer() {  # name program corpus dict; writes $HIE_VAR/fuzz/<name>/{fuzz.log,exit}
  local name=$1 program="$asan_dir/$2" corpus="$HIE_ROOT/$3" dict=$4 work="$HIE_VAR/fuzz/$1"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  cp -R "$corpus/." "$work/corpus/"
  local args=(-timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=256
              -artifact_prefix="$work/artifacts/" -print_final_stats=1)
  [ "$dict" = - ] || args+=(-dict="$HIE_ROOT/$dict")
  # 1. Every committed input, whole (without -max_len nothing is cut): the hostile cases are
  #    checked on every run. 2. Mutations, inputs up to 4 KiB (7x the executions per second of
  #    the 70-80 KiB the longest cases would allow).
  local code=0
  env "${sanitizer_env[@]}" "$program" "${args[@]}" -runs=0 "$work/corpus" \
    >"$work/corpus.log" 2>&1 || code=$?
  if [ $code -eq 0 ]; then
    env "${sanitizer_env[@]}" "$program" "${args[@]}" -max_len=4096 \
      -max_total_time="$fuzz_seconds" "$work/corpus" \
      >"$work/fuzz.log" 2>&1 || code=$?
  else
    cp "$work/corpus.log" "$work/fuzz.log"
  fi
  # A sanitizer report that did not stop the run still fails it.
  if [ $code -eq 0 ] && grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' \
       "$work/corpus.log" "$work/fuzz.log"; then
    code=1
  fi
  echo $code >"$work/exit"
}
report_fuzzer() {  # name program; returns its exit status
  local name=$1 program="$asan_dir/$2" work="$HIE_VAR/fuzz/$1" code artifact
  code="$(cat "$work/exit" 2>/dev/null || echo 1)"
  if [ "$code" -eq 0 ]; then
    log "$name: ok, $(awk '/^stat::number_of_executed_units/ {print $2}' "$work/fuzz.log") runs"
    return 0
  fi
  printf -- '---- %s failed (exit %s); the end of %s:\n' "$name" "$code" "$work/fuzz.log" >&2
  tail -n 60 "$work/fuzz.log" >&2
  for artifact in "$work"/artifacts/*; do
    [ -e "$artifact" ] || continue
    printf -- '---- input kept: %s (%s bytes); replay: %s %s\n' \
      "$artifact" "$(stat -c %s "$artifact")" "$program" "$artifact" >&2
    od -A d -c "$artifact" | head -n 20 >&2
  done
  return 1
}
fuzz_run() {  # every fuzzer, $jobs at a time
  local entry pids=()
  phase_begin "fuzzing: ${fuzz_seconds}s each, $jobs at a time"
  for entry in "${fuzzers[@]}"; do
    # shellcheck disable=SC2086  # the entry is four words
    run_fuzzer $entry &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[@]}" || true; pids=(); fi
  done
  wait "${pids[@]}" || true
  phase_end "fuzzing"
}
fuzz_report() {
  local entry status=0
  for entry in "${fuzzers[@]}"; do
    # shellcheck disable=SC2086
    report_fuzzer $entry || status=1
  done
  return $status
}

# --- The run ------------------------------------------------------------------------------------
# On every exit, early ones included (a failed build, Ctrl-C): the background jobs still running
# are stopped with everything they started (a sanitizer build left running would collide with
# the next run's in the same directory), then the test servers.
servers_started=0
descendants() {  # the processes below $1, from /proc (procps may be absent)
  local child
  for child in $(grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3); do
    echo "$child"
    descendants "$child"
  done
}
cleanup() {
  local job tree
  for job in $(jobs -p); do
    tree="$job $(descendants "$job" | tr '\n' ' ')"
    # shellcheck disable=SC2086  # a list of process ids
    kill $tree 2>/dev/null || true
  done
  if [ $servers_started = 1 ]; then
    "$HIE_ROOT/scripts/redis.sh" stop "$test_var/redis" || true
    "$HIE_ROOT/scripts/pg.sh" stop "$test_var/pg" || true
  fi
}
trap cleanup EXIT
"$HIE_ROOT/scripts/install-deps.sh"
# The container base image of deploy_kube_play_test (scripts/images.sh --base: debootstrap, about
# 100 s of CPU and some download on a new machine) is made beside the build.
base_image_pid=""
if [ "$passes" != only ] && [ $# -eq 0 ]; then
  ( idle_priority; "$HIE_ROOT/scripts/images.sh" --base ) >"$HIE_VAR/images-base.log" 2>&1 &
  base_image_pid=$!
fi
if [ "$passes" != only ]; then
  phase_begin "build ($HIE_BUILD_DIR)"
  if [ $split = 1 ]; then
    "$HIE_ROOT/scripts/build.sh" hie_programs hie_e2e_tests hie_test_certs
  else
    "$HIE_ROOT/scripts/build.sh"
  fi
  "$HIE_ROOT/scripts/node-deps.sh"
  "$HIE_ROOT/scripts/helm.sh" >/dev/null  # helm for deploy_chart_test (label deploy)
  if [ -n "$base_image_pid" ] && ! wait "$base_image_pid"; then
    log "images: no base image made beside the build ($HIE_VAR/images-base.log); the test makes it"
  fi
  phase_end "build"
fi

test_var="$HIE_VAR/test"
pg_port="${HIE_TEST_PG_PORT:-55432}"
redis_port="${HIE_TEST_REDIS_PORT:-56379}"
servers_started=1
# A throwaway cluster: start from scratch every run so no state leaks between runs.
"$HIE_ROOT/scripts/pg.sh" stop "$test_var/pg" || true
rm -rf "$test_var/pg"
log "test servers: PostgreSQL on $pg_port, Redis on $redis_port"
HIE_TEST_PG_DSN="$("$HIE_ROOT/scripts/pg.sh" start "$test_var/pg" "$pg_port" fast)"
HIE_TEST_REDIS="$("$HIE_ROOT/scripts/redis.sh" start "$test_var/redis" "$redis_port")"
export HIE_TEST_PG_DSN HIE_TEST_REDIS HIE_TEST_REQUIRE_SERVERS=1

asan_log="$HIE_VAR/sanitizer-build.log"
if [ "$passes" != 0 ]; then
  ( idle_priority; sanitizer_build ) >"$asan_log" 2>&1 &
  asan_pid=$!
  log "sanitizer build: started in the background at idle priority (its output: $asan_log)"
fi

if [ "$passes" != only ]; then
  phase_begin "tests"
  status=0
  ctest_args=("$@")
  if [ $split = 1 ]; then ctest_args=(-L 'e2e|deploy'); fi
  (cd "$HIE_BUILD_DIR" && ctest --output-on-failure -j "$jobs" "${ctest_args[@]}") || status=$?
  phase_end "tests"
  [ $status -eq 0 ] || failed+=("tests (ctest in $HIE_BUILD_DIR)")
fi
if [ "$passes" = 0 ]; then
  [ ${#failed[@]} -eq 0 ] || exit 1
  exit 0
fi

# The sanitizer build (idle priority) runs beside the e2e tests, or alone with HIE_SANITIZERS=only;
# then the fuzzers (idle priority) run beside the sanitizer tests.
asan_ok=1
wait "$asan_pid" || asan_ok=0
if [ $asan_ok = 1 ]; then
  mkdir -p "$HIE_VAR/fuzz"
  ( idle_priority; fuzz_run ) >"$HIE_VAR/fuzz/run.log" 2>&1 &
  fuzz_pid=$!
  sanitizer_tests || failed+=("sanitizer tests in $asan_dir (look above for \
'ERROR: ...Sanitizer' or 'runtime error')")
  wait "$fuzz_pid" || true
  fuzz_report || failed+=("fuzz pass (failing inputs kept in $HIE_VAR/fuzz/*/artifacts)")
else
  tail -n 100 "$asan_log" >&2
  failed+=("sanitizer build in $asan_dir (the end of $asan_log is above)")
fi

log "phases: $(paste -sd ';' "$phases_file" | sed 's/;/, /g')"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
log "all passes succeeded"
