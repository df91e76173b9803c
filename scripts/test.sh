#!/usr/bin/env bash
# The hub's whole test suite, from a fresh machine: installs the Debian dependencies, builds,
# starts a throwaway PostgreSQL and Redis on loopback under var/test, runs every test (unit,
# integration, end-to-end) with ctest, and stops the servers. Safe to run twice; exits non-zero
# when anything fails.
#
#   scripts/test.sh              # everything
#   scripts/test.sh -L unit      # extra arguments go to ctest
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$HIE_ROOT/scripts/install-deps.sh"
"$HIE_ROOT/scripts/build.sh"

test_var="$HIE_VAR/test"
pg_port="${HIE_TEST_PG_PORT:-55432}"
redis_port="${HIE_TEST_REDIS_PORT:-56379}"
cleanup() {
  "$HIE_ROOT/scripts/redis.sh" stop "$test_var/redis" || true
  "$HIE_ROOT/scripts/pg.sh" stop "$test_var/pg" || true
}
trap cleanup EXIT
# A throwaway cluster: start from scratch every run so no state leaks between runs.
"$HIE_ROOT/scripts/pg.sh" stop "$test_var/pg" || true
rm -rf "$test_var/pg"
log "test servers: PostgreSQL on $pg_port, Redis on $redis_port"
export HIE_TEST_PG_DSN="$("$HIE_ROOT/scripts/pg.sh" start "$test_var/pg" "$pg_port" fast)"
export HIE_TEST_REDIS="$("$HIE_ROOT/scripts/redis.sh" start "$test_var/redis" "$redis_port")"
export HIE_TEST_REQUIRE_SERVERS=1

start=$(date +%s)
cd "$HIE_BUILD_DIR"
status=0
ctest --output-on-failure -j "${HIE_JOBS:-$(nproc)}" "$@" || status=$?
log "tests: finished in $(( $(date +%s) - start ))s"
exit $status
