#!/usr/bin/env bash
# Brings the local hub up on this machine and shows it answering: installs dependencies,
# builds the programs (not the tests: scripts/test.sh builds those), generates development certificates, starts PostgreSQL and Redis under var/, starts
# the services in the background, checks them over mutual TLS with the operator's certificate
# (and shows that a client without a certificate is refused), loads a small synthetic
# population from five clinics, and shows a search with its explanation and a review task; then
# a consent directive changing a decision, the audit trail of it, and the audit chain verified;
# the document registry answering, and the record locator answering where a patient's records
# are (learnt from identity's feed). Then the gateway and five member clinics sharing that
# population (one slow, one never answering): a federated query as a clinic makes it, with the
# per-member summary; one consent denial; one merge undone.
# Safe to run twice: services already running are restarted on the new build.
# Stop everything with scripts/down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$HIE_ROOT/scripts/install-deps.sh"
"$HIE_ROOT/scripts/build.sh" hie_programs
certs="$("$HIE_ROOT/scripts/gen-certs.sh" "$HIE_VAR/certs")"

pg_port="${HIE_PG_PORT:-55433}"
redis_port="${HIE_REDIS_PORT:-56380}"
pg_dsn="$("$HIE_ROOT/scripts/pg.sh" start "$HIE_VAR/pg" "$pg_port")"
redis_addr="$("$HIE_ROOT/scripts/redis.sh" start "$HIE_VAR/redis" "$redis_port")"
log "PostgreSQL: $pg_dsn"
log "Redis: $redis_addr"

mkdir -p "$HIE_VAR/run" "$HIE_VAR/log"
# start_process NAME BINARY SERVER_CERT PORT METRICS_PORT [extra flags...]: restarted when running.
start_process() {
  local name="$1" binary="$2" cert="$3" port="$4" metrics_port="$5"; shift 5
  local pidfile="$HIE_VAR/run/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  fi
  nohup "$binary" --listen="127.0.0.1:$port" \
    --metrics-listen="127.0.0.1:$metrics_port" --tls-ca="$certs/ca.pem" \
    --tls-cert="$certs/$cert.pem" --tls-key="$certs/$cert.key" "$@" \
    >>"$HIE_VAR/log/$name.log" 2>&1 &
  echo $! >"$pidfile"
  log "$name: started (pid $!, port $port, metrics $metrics_port, log var/log/$name.log)"
}
# start_service NAME PORT METRICS_PORT [extra flags...]
start_service() {
  local name="$1"; shift
  start_process "$name" "$HIE_BUILD_DIR/services/$name/hie-$name" "$name" "$@"
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

# --- Member clinics and the gateway (issue 14) ---------------------------------------------------
# Five hie-member nodes share the demo population (the same generator, persons and seed as
# records.csv: each holds its clinic's patients, with a few documents each), feed their patients
# and publish their documents through the gateway. clinic-d answers 150 ms late; clinic-e
# black-holes every data call (accepts it, never answers).
orgs=(clinic-a clinic-b clinic-c clinic-d clinic-e)
members_csv="$HIE_VAR/gateway-members.csv"
: >"$members_csv"
for i in "${!orgs[@]}"; do
  letter="${orgs[$i]#clinic-}"
  echo "${orgs[$i]},localhost:$((7101 + i)),active,1000,Clinic ${letter^^}" >>"$members_csv"
done
start_service gateway 7000 9400 --members="$members_csv" --pg-dsn="$pg_dsn" \
  --client-cert="$certs/gateway-client.pem" --client-key="$certs/gateway-client.key"
for _ in $(seq 1 100); do
  "$hiectl" health --target=localhost:7000 "${tls[@]}" >/dev/null 2>&1 && break
  sleep 0.2
done
declare -A feeds_before
for i in "${!orgs[@]}"; do
  org="${orgs[$i]}"
  feeds_before[$org]="$(grep -c hub_feed_done "$HIE_VAR/log/member-$org.log" 2>/dev/null || true)"
  faults=()
  [ "$org" = clinic-d ] && faults=(--fault-latency-ms=150)
  [ "$org" = clinic-e ] && faults=(--fault-black-hole=true)
  start_process "member-$org" "$HIE_BUILD_DIR/services/member/hie-member" "$org-endpoint" \
    $((7101 + i)) $((9501 + i)) --org="$org" --generate-patients=300 --seed=2026 \
    --population-orgs="$(IFS=,; echo "${orgs[*]}")" --hub=localhost:7000 \
    --client-cert="$certs/$org.pem" --client-key="$certs/$org.key" "${faults[@]}"
done
for org in "${orgs[@]}"; do
  for _ in $(seq 1 300); do
    [ "$(grep -c hub_feed_done "$HIE_VAR/log/member-$org.log" 2>/dev/null || true)" -gt \
      "${feeds_before[$org]:-0}" ] && break
    sleep 0.2
  done
  log "$org: $(grep hub_feed_done "$HIE_VAR/log/member-$org.log" | tail -n 1 \
    | grep -o '"patients_fed":[0-9]*,"patients_failed":[0-9]*,"documents_published":[0-9]*')"
done

# The person of clinic-a's patients with records at the most clinics (the population's truth).
read -r q_person q_local sources < <(demo_query_patient "$demo")
records="$(tr ',' '\n' <<<"$sources" | wc -l)"
for _ in $(seq 1 100); do  # the locator follows the registry's feed
  [ "$("$hiectl" locate "${tls[@]}" --source="$sources" --json | grep -o '"document_count"' \
    | wc -l)" -ge "$records" ] && break
  sleep 0.2
done
clinic_a=(--tls-ca="$certs/ca.pem" --tls-cert="$certs/clinic-a.pem" --tls-key="$certs/clinic-a.key")
log "a clinician at clinic-a asks for patient clinic-a/$q_local's records at the other members"
log "  ($records records at the HIE; a 2 s deadline; clinic-e never answers):"
"$hiectl" outside-records "${clinic_a[@]}" --local-id="$q_local" --user=dr-demo --timeout=2s

log "the patient refuses clinic-a access to clinic-b's records (privacy officer); asked again,"
log "  clinic-b is not contacted at all:"
directive="$("$hiectl" consent directive create "${po[@]}" --json --org=clinic-a \
  --local-id="$q_local" --effect=deny --actor-org=clinic-a --custodian=clinic-b \
  --from="$(date -u +%FT%TZ)" --comment="demo: no clinic-b records to clinic-a" \
  | grep -o '"directive_id":"[^"]*"' | cut -d'"' -f4)"
"$hiectl" outside-records "${clinic_a[@]}" --local-id="$q_local" --user=dr-demo --timeout=2s \
  | tail -n 9
"$hiectl" consent directive revoke "$directive" "${po[@]}" --reason="demo over" >/dev/null

# A merge and its undoing: another person's records join the answer, then leave it again.
other="$(awk -F, 'NR > 1 && $2 == "clinic-b" { print $3; exit }' "$demo/records.csv")"
# The operator works through the gateway (OperatorGateway: the certificate says who and what role).
staff=(--gateway=localhost:7000)
person_of() {
  "$hiectl" resolve "${tls[@]}" "${staff[@]}" --org="$1" --local-id="$2" --json \
    | grep -o '"person_id":"[^"]*"' | head -n 1 | cut -d'"' -f4
}
survivor="$(person_of clinic-a "$q_local")"
merged="$(person_of clinic-b "$other")"
if [ -n "$survivor" ] && [ -n "$merged" ] && [ "$survivor" != "$merged" ]; then
  log "an operator merges person $merged into $survivor (by mistake, through the gateway), then"
  log "  undoes it:"
  event="$("$hiectl" merge "${tls[@]}" "${staff[@]}" --json --survivor="$survivor" --merged="$merged" --force \
    --reason="demo: wrong merge" | grep -o '"merge_event_id":"[^"]*"' | cut -d'"' -f4)"
  "$hiectl" outside-records "${clinic_a[@]}" --local-id="$q_local" --user=dr-demo --timeout=2s \
    | grep ' members: '
  "$hiectl" unmerge "${tls[@]}" "${staff[@]}" --event="$event" --reason="demo: undo" >/dev/null
  log "after the unmerge, the answer is as before:"
  "$hiectl" outside-records "${clinic_a[@]}" --local-id="$q_local" --user=dr-demo --timeout=2s \
    | grep ' members: '
fi

log "the privacy officer verifies the audit log through the gateway (AdminGateway):"
"$hiectl" audit verify "${po[@]}" "${staff[@]}"

log "HL7 v2 ADT feed: MLLP with mutual TLS on 127.0.0.1:2575 (member certificates)"
log "gateway: localhost:7000 (member certificates); members: localhost:7101-7105"
log "metrics: curl http://127.0.0.1:9401/metrics (identity), 9402 (locator), 9403 (registry),"
log "  9404 (consent), 9405 (audit), 9400 (gateway), 9501-9505 (members)"
log "the hub is up; try: $hiectl --help   (stop it with scripts/down.sh)"
