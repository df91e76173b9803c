#!/usr/bin/env bash
# Runs the hub's rendered Helm chart under `podman play kube` against a throwaway PostgreSQL and
# Redis, checks every service's health from the host over mutual TLS, asks one federated query
# through the gateway that the member nodes' containers answer, tears everything down, and prints
# PASS or FAIL (exit status 0 or 1).
#
#   HIE_BUILD_DIR=build-bench scripts/kube-play.sh
#
# Needs: the images localhost/hie-*:<version> in podman's storage (scripts/images.sh; built here
# from $HIE_BUILD_DIR when one is missing), and hiectl, hie-mpi and helm (scripts/helm.sh) of
# $HIE_BUILD_DIR on the host. Nothing is compiled.
#
# Steps: certificates (scripts/gen-certs.sh), PostgreSQL (port 25493) and Redis (26493) on
# loopback, all under $HIE_VAR/kube-play; `helm template` with helm/hie-hub/values-podman.yaml
# (one replica each, migrations at start, the five demo members); scripts/kube_play.py turns the
# manifests into what podman 4.3 runs (host network, Service addresses to localhost, Secrets as
# ConfigMaps, probes left to this script: see its header) and writes the Secrets an operator
# would create (secrets.yaml); `podman play kube`; `hiectl health` of the six services; each
# member's feed through the gateway; then, as scripts/up.sh does, clinic-a asks for the records
# of its patient with records at the most members (`hiectl outside-records` through the gateway)
# and the answer must list records from other members. Logs of every container are kept in
# $HIE_VAR/kube-play/logs. Podman runs with CONTAINERS_CONF=deploy/containers.conf.
# Environment: HIE_KUBE_PLAY_TIMEOUT (seconds to wait for health and feeds, default 180),
# HIE_KUBE_PLAY_KEEP=1 (leave the hub running; tear down with `scripts/kube-play.sh down`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CONTAINERS_CONF="$HIE_ROOT/deploy/containers.conf"
dir="$HIE_VAR/kube-play"
pg_port=25493
redis_port=26493
timeout="${HIE_KUBE_PLAY_TIMEOUT:-180}"
hiectl="$HIE_BUILD_DIR/services/hiectl/hiectl"
mpi="$HIE_BUILD_DIR/mpi/hie-mpi"
chart="$HIE_ROOT/helm/hie-hub"
programs=(hie-gateway hie-identity hie-locator hie-registry hie-consent hie-audit hie-member)
tag="$(sed -n 's/^project(hie_hub VERSION \([0-9.]*\).*/\1/p' "$HIE_ROOT/CMakeLists.txt")"
start_time=$(date +%s)

teardown() {
  if [ -f "$dir/play.yaml" ]; then
    podman play kube --down "$dir/play.yaml" >/dev/null 2>&1 || true
    # podman keeps a named volume per ConfigMap volume (here also the Secrets' content).
    python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap": print(d["metadata"]["name"])' "$dir/play.yaml" \
      | while read -r v; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  fi
  "$HIE_ROOT/scripts/pg.sh" stop "$dir/pg" || true
  "$HIE_ROOT/scripts/redis.sh" stop "$dir/redis" || true
}
if [ "${1:-}" = down ]; then teardown; exit 0; fi

result=FAIL
finish() {
  local rc=$?
  if [ -f "$dir/play.yaml" ]; then
    mkdir -p "$dir/logs"
    for c in $(podman ps -a --format '{{.Names}}' | grep -E -- '-pod-0-hie-' || true); do
      podman logs "$c" >"$dir/logs/$c.log" 2>&1 || true
    done
  fi
  if [ "${HIE_KUBE_PLAY_KEEP:-0}" = 1 ]; then
    log "kube-play: left running (HIE_KUBE_PLAY_KEEP=1); stop it with scripts/kube-play.sh down"
  else
    log "kube-play: tearing down (podman play kube --down, PostgreSQL, Redis)"
    teardown
  fi
  [ "$result" = PASS ] && [ $rc -eq 0 ] || result=FAIL
  printf '%s: podman play kube of helm/hie-hub (%ss; logs in %s)\n' "$result" \
    "$(($(date +%s) - start_time))" "${dir#"$HIE_ROOT"/}/logs"
  [ "$result" = PASS ] && exit 0
  exit 1
}
trap finish EXIT

for t in podman runc python3; do command -v "$t" >/dev/null || die "$t is missing"; done
[ -x "$hiectl" ] && [ -x "$mpi" ] || die "no hiectl or hie-mpi in $HIE_BUILD_DIR (set HIE_BUILD_DIR)"
missing=()
for p in "${programs[@]}"; do
  podman image exists "localhost/$p:$tag" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "kube-play: building the missing images: ${missing[*]}"
  "$HIE_ROOT/scripts/images.sh" "${missing[@]}"
fi

# A previous run left behind (interrupted): remove it first.
teardown
rm -rf "$dir/logs" "$dir/pg" "$dir/redis"
mkdir -p "$dir/logs"
certs="$("$HIE_ROOT/scripts/gen-certs.sh" "$dir/certs")"
pg_dsn="$("$HIE_ROOT/scripts/pg.sh" start "$dir/pg" "$pg_port" fast)"
redis_addr="$("$HIE_ROOT/scripts/redis.sh" start "$dir/redis" "$redis_port")"
log "kube-play: PostgreSQL $pg_dsn, Redis $redis_addr"

"$HIE_ROOT/scripts/helm.sh" template hie "$chart" -f "$chart/values-podman.yaml" \
  --set "image.tag=$tag" --set "redis.port=$redis_port" >"$dir/rendered.yaml"
python3 "$HIE_ROOT/scripts/kube_play.py" --rendered="$dir/rendered.yaml" --certs="$certs" \
  --pg-dsn="$pg_dsn" --secrets-out="$dir/secrets.yaml" --out="$dir/play.yaml"
log "kube-play: podman play kube $(grep -c '^kind: Deployment' "$dir/play.yaml") Deployments"
podman play kube "$dir/play.yaml" >"$dir/logs/play.log" 2>&1 \
  || { cat "$dir/logs/play.log" >&2; die "podman play kube failed"; }
podman pod ps --format '{{.Name}} {{.Status}} {{.NumberOfContainers}}' --sort name >&2

tls=(--tls-ca="$certs/ca.pem" --tls-cert="$certs/operator.pem" --tls-key="$certs/operator.key")
port_of() {  # the gRPC port of a Deployment's container (its --listen in the adapted manifests)
  python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment" and d["metadata"]["name"] == sys.argv[2]:
        for a in d["spec"]["template"]["spec"]["containers"][0]["args"]:
            if a.startswith("--listen="): print(a.rsplit(":", 1)[1])' "$dir/play.yaml" "$1"
}
deadline=$(($(date +%s) + timeout))
for s in gateway identity locator registry consent audit; do
  port="$(port_of "$s")"
  until "$hiectl" health --target="localhost:$port" "${tls[@]}" --timeout=2s >/dev/null 2>&1; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      podman logs --tail 20 "$s-pod-0-hie-$s" >&2 || true
      die "$s (localhost:$port) not SERVING within ${timeout}s"
    fi
    sleep 1
  done
  log "kube-play: $s SERVING on localhost:$port ($(podman inspect --format '{{.State.Status}}' \
    "$s-pod-0-hie-$s") in pod $s-pod-0)"
done
gateway="localhost:$(port_of gateway)"

orgs=(clinic-a clinic-b clinic-c clinic-d clinic-e)
for org in "${orgs[@]}"; do
  c="$org-endpoint-pod-0-hie-member"
  until podman logs "$c" 2>&1 | grep -q hub_feed_done; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      podman logs --tail 20 "$c" >&2 || true
      die "$org: no hub_feed_done within ${timeout}s"
    fi
    sleep 1
  done
  log "kube-play: $org: $(podman logs "$c" 2>&1 | grep hub_feed_done | tail -n 1 \
    | grep -o '"patients_fed":[0-9]*,"patients_failed":[0-9]*,"documents_published":[0-9]*')"
done

# The members' population (hie-member --generate-patients=300 --seed=2026 over the five orgs
# is hie-mpi generate's population): clinic-a's patient with records at the most members.
demo="$dir/demo"
rm -rf "$demo"
"$mpi" generate --persons 300 --seed 2026 --out "$demo" >/dev/null
read -r q_person q_local sources < <(demo_query_patient "$demo")
others="$(tr ',' '\n' <<<"$sources" | cut -d: -f1 | grep -v '^clinic-a$' | sort -u | tr '\n' ' ')"
records="$(tr ',' '\n' <<<"$sources" | wc -l)"
locator="localhost:$(port_of locator)"
until [ "$("$hiectl" locate "${tls[@]}" --target="$locator" --source="$sources" --json \
  | grep -o '"document_count"' | wc -l)" -ge "$records" ]; do  # the locator follows the feeds
  if [ "$(date +%s)" -gt "$deadline" ]; then
    "$hiectl" locate "${tls[@]}" --target="$locator" --source="$sources" >&2 || true
    die "the locator does not know the $records records ($sources) within ${timeout}s"
  fi
  sleep 1
done

clinic_a=(--tls-ca="$certs/ca.pem" --tls-cert="$certs/clinic-a.pem" --tls-key="$certs/clinic-a.key")
log "kube-play: clinic-a asks the gateway ($gateway) for patient clinic-a/$q_local's records at"
log "  the other members (the population's truth: $records records, at ${others% })"
"$hiectl" outside-records "${clinic_a[@]}" --target="$gateway" --local-id="$q_local" \
  --user=dr-demo --timeout=5s | tee "$dir/logs/outside-records.txt"
"$hiectl" outside-records "${clinic_a[@]}" --target="$gateway" --local-id="$q_local" \
  --user=dr-demo --timeout=5s --json >"$dir/logs/outside-records.json"
# The answer (JSON lines: a member_result per member, then the summary) must hold, from every
# member the truth places this person at, status OK and entries that member's container answered
# live (entry_sources *_MEMBER: not only the registry's copy of the metadata).
python3 - "$dir/logs/outside-records.json" $others <<'EOF'
import json, sys
expected = set(sys.argv[2:])
live = {}
for line in open(sys.argv[1]):
    r = json.loads(line).get("member_result")
    if r and r.get("status") == "MEMBER_STATUS_OK":
        live[r["member_org"]] = sum(1 for s in r.get("entry_sources", []) if s.endswith("MEMBER"))
print(f"entries answered live per member: {live}; expected members: {sorted(expected)}",
      file=sys.stderr)
missing = sorted(org for org in expected if live.get(org, 0) == 0)
if missing:
    sys.exit(f"no live records from {missing} in the gateway's answer")
EOF
result=PASS
