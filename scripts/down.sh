#!/usr/bin/env bash
# Stops what scripts/up.sh started: the services, Redis and PostgreSQL. Data under var/ stays.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for pidfile in "$HIE_VAR"/run/*.pid; do
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped $(basename "$pidfile" .pid)"
  fi
  rm -f "$pidfile"
done
"$HIE_ROOT/scripts/redis.sh" stop "$HIE_VAR/redis"
"$HIE_ROOT/scripts/pg.sh" stop "$HIE_VAR/pg"
log "stopped PostgreSQL and Redis"
