#!/usr/bin/env bash
# Starts or stops a private PostgreSQL cluster on loopback, owned by the `postgres` user
# (PostgreSQL refuses to run as root).
#   scripts/pg.sh start DIR PORT [fast]   # `fast` turns off fsync: for throwaway test clusters
#   scripts/pg.sh stop DIR
# Prints nothing on success but the DSN (start). Safe to run twice.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cmd="${1:-}"; dir="${2:-}"; port="${3:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: pg.sh start|stop DIR [PORT] [fast]"
[ -n "$PG_BIN" ] || die "PostgreSQL server binaries not found (run scripts/install-deps.sh)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"; sock="$dir/sock"

run_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@";
  else "$@"; fi
}

case "$cmd" in
  start)
    [ -n "$port" ] || die "pg.sh start needs a port"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      run_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    run_pg mkdir -p "$sock"
    if ! run_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      opts="-p $port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=200"
      if [ "${4:-}" = fast ]; then opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
      run_pg "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null \
        || { tail -n 20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
    fi
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ] && run_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      run_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
    ;;
  *) die "usage: pg.sh start|stop DIR [PORT] [fast]" ;;
esac
