#!/usr/bin/env bash
# Brings the local hub up on this machine and shows it answering: installs dependencies,
# builds, generates development certificates, starts PostgreSQL and Redis under var/, starts
# the services in the background, checks them over mutual TLS with the operator's certificate
# (and shows that a client without a certificate is refused), loads a small synthetic
# population from five clinics, and shows a search with its explanation and a review task; then
# a consent directive changing a decision, the audit trail of it, and the audit chain verified;
# the document registry answering, and the record locator answering where a patient's records
# are (learnt from identity's feed).
# Safe to run twice: services already running are restarted on the new build.
# Stop everything with scripts/down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$HIE_ROOT/scripts/install-deps.sh"
"$HIE_ROOT/scripts/build.sh"
certs="$("$HIE_ROOT/scripts/gen-certs.sh" "$HIE_VAR/certs")"

pg_port="${HIE_PG_PORT:-55433}"
redis_port="${HIE_REDIS_PORT:-56380}"
pg_dsn="$("$HIE_ROOT/scripts/pg.sh" start "$HIE_VAR/pg" "$pg_port")"
redis_addr="$("$HIE_ROOT/scripts/redis.sh" start "$HIE_VAR/redis" "$redis_port")"
log "PostgreSQL: $pg_dsn"
log "Redis: $redis_addr"

mkdir -p "$HIE_VAR/run" "$HIE_VAR/log"
# start_service NAME PORT METRICS_PORT [extra flags...]
start_service() {
  local name="$1" port="$2" metrics_port="$3"; shift 3
  local pidfile="$HIE_VAR/run/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  fi
  nohup "$HIE_BUILD_DIR/services/$name/hie-$name" --listen="127.0.0.1:$port" \
    --metrics-listen="127.0.0.1:$metrics_port" --tls-ca="$certs/ca.pem" \
    --tls-cert="$certs/$name.pem" --tls-key="$certs/$name.key" "$@" \
    >>"$HIE_VAR/log/$name.log" 2>&1 &
  echo $! >"$pidfile"
  log "$name: started (pid $!, port $port, metrics $metrics_port, log var/log/$name.log)"
}
# Matching parameters trained offline (hie-mpi train), as a deployment would on a sample of its
# own records; here a synthetic sample of another seed than the demo population.
params="$HIE_VAR/model/params.txt"
if [ ! -f "$params" ]; then
  mkdir -p "$HIE_VAR/model"
  "$HIE_BUILD_DIR/mpi/hie-mpi" generate --persons 20000 --seed 7 --out "$HIE_VAR/model/sample" \
    >/dev/null
  "$HIE_BUILD_DIR/mpi/hie-mpi" train --input "$HIE_VAR/model/sample/records.csv" \
    --out "$params" --index-size 100000 >/dev/null
  rm -rf "$HIE_VAR/model/sample"
  log "matching parameters trained on a synthetic sample: $params"
fi
start_service identity 7001 9401 --pg-dsn="$pg_dsn" --redis="$redis_addr" \
  --hl7-listen=127.0.0.1:2575 --model-params="$params"

start_service audit 7005 9405 --pg-dsn="$pg_dsn" --signing-key="$certs/audit-signing.key" \
  --checkpoint-dir="$HIE_VAR/audit-checkpoints" --identity=localhost:7001 \
  --client-cert="$certs/audit-client.pem" --client-key="$certs/audit-client.key"
start_service consent 7004 9404 --pg-dsn="$pg_dsn" --identity=localhost:7001 \
  --audit=localhost:7005 --client-cert="$certs/consent-client.pem" \
  --client-key="$certs/consent-client.key" --default-mode=opt-out
start_service registry 7003 9403 --pg-dsn="$pg_dsn"
start_service locator 7002 9402 --pg-dsn="$pg_dsn" --identity=localhost:7001 \
  --registry=localhost:7003 --client-cert="$certs/locator-client.pem" \
  --client-key="$certs/locator-client.key"

hiectl="$HIE_BUILD_DIR/services/hiectl/hiectl"
tls=(--tls-ca="$certs/ca.pem" --tls-cert="$certs/operator.pem" --tls-key="$certs/operator.key")
for _ in $(seq 1 100); do
  "$hiectl" health --target=localhost:7001 "${tls[@]}" >/dev/null 2>&1 && break
  sleep 0.2
done
log "health check with the operator certificate (mutual TLS):"
"$hiectl" health --target=localhost:7001 "${tls[@]}"
log "the same check presenting no certificate must be refused:"
if "$hiectl" health --target=localhost:7001 --tls-ca="$certs/ca.pem" --tls-cert= --tls-key= \
  --timeout=2s; then
  die "a client without a certificate was accepted"
fi

# A synthetic population (hie-mpi generate: several clinics, typos, nicknames, moves, twins...),
# loaded once through the identity API. Re-running is safe anyway: bulk keys are idempotent.
demo="$HIE_VAR/demo"
if [ ! -f "$demo/loaded" ]; then
  "$HIE_BUILD_DIR/mpi/hie-mpi" generate --persons 300 --seed 2026 --out "$demo" >/dev/null
  log "loading $(($(wc -l <"$demo/records.csv") - 1)) synthetic records from 5 clinics:"
  "$hiectl" register --file "$demo/records.csv" --parallel 4 "${tls[@]}" | tail -n 1
  touch "$demo/loaded"
fi

log "search: who is this patient? (the first record of the population, as a query)"
IFS=, read -r _ _ _ given _ family _ birth _ _ _ postal _ < <(sed -n 2p "$demo/records.csv")
"$hiectl" search "${tls[@]}" --given="$given" --family="$family" --birth-date="$birth" \
  --postal-code="$postal" --explain --max=3 || true

log "the operator's review queue, and the first task with both records side by side:"
"$hiectl" review list "${tls[@]}" --page-size=5
task="$("$hiectl" review list "${tls[@]}" --json --page-size=1 | grep -o '"task_id":"[^"]*"' \
  | head -n 1 | cut -d'"' -f4)"
if [ -n "$task" ]; then "$hiectl" review show "$task" "${tls[@]}"; fi

# Consent and audit, with the privacy officer's certificate (auditor).
po=(--tls-ca="$certs/ca.pem" --tls-cert="$certs/auditor.pem" --tls-key="$certs/auditor.key")
for port in 7002 7003 7004 7005; do
  for _ in $(seq 1 100); do
    "$hiectl" health --target="localhost:$port" "${tls[@]}" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
# Decisions asked as the gateway asks them (its certificate may name the recipient).
gw=(--tls-ca="$certs/ca.pem" --tls-cert="$certs/gateway-client.pem"
  --tls-key="$certs/gateway-client.key")
IFS=, read -r _ org local_id _ < <(sed -n 2p "$demo/records.csv")
log "consent: may clinic-z see $org's records of patient $org/$local_id for treatment? (HIE default: opt-out)"
"$hiectl" consent decide "${gw[@]}" --org="$org" --local-id="$local_id" --custodian="$org" \
  --recipient=clinic-z --purpose=treatment
log "the patient refuses clinic-z (a DENY directive recorded by the privacy officer):"
directive="$("$hiectl" consent directive create "${po[@]}" --json --org="$org" \
  --local-id="$local_id" --effect=deny --actor-org=clinic-z --from="$(date -u +%FT%TZ)" \
  --comment="demo: patient refused clinic-z" | grep -o '"directive_id":"[^"]*"' | cut -d'"' -f4)"
log "directive $directive; the same question now:"
"$hiectl" consent decide "${gw[@]}" --org="$org" --local-id="$local_id" --custodian="$org" \
  --recipient=clinic-z --purpose=treatment
"$hiectl" consent directive revoke "$directive" "${po[@]}" --reason="demo over" >/dev/null
log "audit: the consent changes as the audit log recorded them (delivered through consent's outbox):"
for _ in $(seq 1 50); do
  "$hiectl" audit search "${po[@]}" --type=consent-change --org="$org" --local-id="$local_id" \
    --json | grep -q '"event_id"' && break
  sleep 0.2
done
"$hiectl" audit search "${po[@]}" --type=consent-change --org="$org" --local-id="$local_id"
log "audit: the whole chain recomputed and every signed checkpoint checked:"
"$hiectl" audit checkpoints "${po[@]}" --create >/dev/null
"$hiectl" audit verify "${po[@]}"

log "document registry (members publish through the gateway, issue 14):"
"$hiectl" health --target=localhost:7003 "${tls[@]}"
log "record locator: where are $org/$local_id's records? (learnt from identity's feed)"
for _ in $(seq 1 50); do
  "$hiectl" locate "${tls[@]}" --source="$org:$local_id" --json | grep -q '"source_id"' && break
  sleep 0.2
done
"$hiectl" locate "${tls[@]}" --source="$org:$local_id"

log "HL7 v2 ADT feed: MLLP with mutual TLS on 127.0.0.1:2575 (member certificates)"
log "metrics: curl http://127.0.0.1:9401/metrics (identity), 9402 (locator), 9403 (registry),"
log "  9404 (consent), 9405 (audit)"
log "the hub is up; try: $hiectl --help   (stop it with scripts/down.sh)"
