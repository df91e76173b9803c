# Shared by the scripts: paths and small helpers. Source it; do not run it.
set -euo pipefail
HIE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HIE_VAR="${HIE_VAR:-$HIE_ROOT/var}"
HIE_BUILD_DIR="${HIE_BUILD_DIR:-$HIE_ROOT/build}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Huge pages (2 MiB) for PostgreSQL's shared buffers, as docs/operations.md section 4 asks of
# a deployment: the kernel's vm.nr_hugepages raised to cover scripts/pg-tuning.conf's
# shared_buffers (plus 10%) when we are root and memory allows; PostgreSQL's huge_pages = try
# then maps its buffers with them. With 4 KiB pages a 4 GB buffer pool costs a million page
# faults in each new backend and TLB misses on every access (dear under a hypervisor's nested
# paging). HIE_BENCH_HUGE_PAGES=0: none (the kernel left alone, huge_pages = off; for an A/B).
# Says what it did on stderr; the reservation stays (release: `sysctl vm.nr_hugepages=0`).
reserve_bench_huge_pages() {
  local buffers_mb pages have free_mb
  if [ "${HIE_BENCH_HUGE_PAGES:-1}" = 0 ]; then echo "huge pages: not asked for" >&2; return; fi
  buffers_mb="$(sed -n "s/^shared_buffers *= *'\([0-9]*\)GB'.*/\1/p" \
    "$HIE_ROOT/scripts/pg-tuning.conf")"
  buffers_mb=$(( ${buffers_mb:-0} * 1024 ))
  pages=$(( buffers_mb * 11 / 10 / 2 + 64 ))
  have="$(cat /proc/sys/vm/nr_hugepages)"
  free_mb=$(( $(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024 ))
  if [ "$have" -lt "$pages" ] && [ -w /proc/sys/vm/nr_hugepages ] &&
     [ $(( (pages - have) * 2 )) -lt $(( free_mb / 2 )) ]; then
    echo "$pages" > /proc/sys/vm/nr_hugepages || true
    have="$(cat /proc/sys/vm/nr_hugepages)"
  fi
  echo "huge pages: $have reserved (2 MiB; $pages wanted for shared_buffers)" >&2
}

# scripts/pg-tuning.conf written into the running cluster at DSN (ALTER SYSTEM: in force after
# its next restart), with huge pages reserved for it (reserve_bench_huge_pages) or, when
# HIE_BENCH_HUGE_PAGES=0, turned off.
apply_bench_pg_tuning() {
  local dsn="$1" name value
  grep -v '^\s*\(#\|$\)' "$HIE_ROOT/scripts/pg-tuning.conf" | while IFS='=' read -r name value; do
    "$PG_BIN/psql" "$dsn" -qAtc "ALTER SYSTEM SET $(echo $name) = $(echo $value)" >/dev/null
  done
  reserve_bench_huge_pages
  if [ "${HIE_BENCH_HUGE_PAGES:-1}" = 0 ]; then
    "$PG_BIN/psql" "$dsn" -qAtc "ALTER SYSTEM SET huge_pages = off" >/dev/null
  fi
}

# Benchmark programs' PostgreSQL: a cluster in DIR on PORT, durable (fsync and synchronous_commit
# on) with apply_bench_pg_tuning (a restart), its key settings printed on stderr. Prints the
# DSN. Used by services/*/bench/run_bench.sh.
start_bench_pg() {
  local dir="$1" port="$2" dsn
  dsn="$("$HIE_ROOT/scripts/pg.sh" start "$dir" "$port")" || return 1
  apply_bench_pg_tuning "$dsn"
  "$HIE_ROOT/scripts/pg.sh" stop "$dir" >&2
  "$HIE_ROOT/scripts/pg.sh" start "$dir" "$port" >/dev/null || return 1
  "$PG_BIN/psql" "$dsn" -Atc "SELECT name || '=' || setting FROM pg_settings WHERE name IN
    ('fsync','synchronous_commit','shared_buffers','max_wal_size','huge_pages') ORDER BY name" >&2
  grep -E '^HugePages_(Total|Free|Rsvd)' /proc/meminfo | tr -s ' \n' ' ' >&2; echo >&2
  echo "$dsn"
}

# The demo query of a generated population (DIR holds `hie-mpi generate`'s truth.csv and
# records.csv): clinic-a's patient whose person has records at the most clinics (ties: the
# smallest local id). Prints "PERSON LOCAL_ID SOURCES", SOURCES being every record of that
# person as org:local_id,org:local_id,...
demo_query_patient() {
  local dir="$1" person local
  read -r person local < <(awk -F, 'NR == FNR { if (FNR > 1) person[$1] = $2; next }
    FNR > 1 { p = person[$1]; if (!((p, $2) in seen)) { seen[p, $2] = 1; n[p]++ }
              if ($2 == "clinic-a" && !(p in id)) id[p] = $3 }
    END { for (p in id) if (n[p] > best || (n[p] == best && id[p] < pick)) {
            best = n[p]; pick = id[p]; who = p }
          print who, pick }' "$dir/truth.csv" "$dir/records.csv")
  echo "$person $local $(awk -F, -v who="$person" 'NR == FNR { if ($2 == who) mine[$1] = 1; next }
    ($1 in mine) { printf "%s%s:%s", sep, $2, $3; sep = "," }' "$dir/truth.csv" "$dir/records.csv")"
}
