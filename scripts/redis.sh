#!/usr/bin/env bash
# Starts or stops a private, non-persistent Redis on loopback.
#   scripts/redis.sh start DIR PORT     prints host:port
#   scripts/redis.sh stop DIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cmd="${1:-}"; dir="${2:-}"; port="${3:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: redis.sh start|stop DIR [PORT]"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pidfile="$dir/redis.pid"
case "$cmd" in
  start)
    [ -n "$port" ] || die "redis.sh start needs a port"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "127.0.0.1:$port"; exit 0
    fi
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$pidfile" --logfile "$dir/redis.log" --dir "$dir"
    for _ in $(seq 1 50); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && { echo "127.0.0.1:$port"; exit 0; }
      sleep 0.1
    done
    die "Redis did not start (see $dir/redis.log)"
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid="$(cat "$pidfile")"  # read once: redis-server removes the file as it exits
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
    fi
    rm -f "$pidfile"
    ;;
  *) die "usage: redis.sh start|stop DIR [PORT]" ;;
esac
