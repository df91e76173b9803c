#!/bin/sh
# Checks hie-member's start-up refusals on the real binary: a bad data folder stops the start
# with the file and line and never a value from it, bad flags name the flag, nothing crashes.
# Data is read before any port is opened, so no certificate is needed.
# usage: cli_test.sh path/to/hie-member
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() {  # description, condition
  if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi
}
run() {  # args...: runs the binary, exit code in $rc, stderr in $T/err.txt
  "$BIN" --metrics-listen= "$@" 2> "$T/err.txt" > "$T/out.txt"
  rc=$?
}

run --help
check "--help: exit 0" "[ $rc -eq 0 ]"
check "--help: lists the fault flags" "grep -q 'fault-black-hole' '$T/out.txt'"

run --generate-patients=10
check "no --org: exit 1" "[ $rc -eq 1 ]"
check "no --org: says so" "grep -q -- '--org is required' '$T/err.txt'"

run --org=clinic-a
check "no data: exit 1" "[ $rc -eq 1 ]"
check "no data: says which flags" "grep -q 'give either --data-dir or --generate-patients' '$T/err.txt'"

run --org=clinic-a --generate-patients=10 --fault-error-rate=1.5
check "error rate 1.5: exit 1" "[ $rc -eq 1 ]"
check "error rate 1.5: names the flag" "grep -q 'fault-error-rate must be between 0 and 1' '$T/err.txt'"

run --org=clinic-z --generate-patients=10
check "org outside the population: exit 1" "[ $rc -eq 1 ]"
check "org outside the population: says so" "grep -q 'org is not one of population-orgs' '$T/err.txt'"

mkdir -p "$T/data/content"
printf '{"localId":"MRN1","demographics":{"name":{"family":"Secretname"}}}\n{"localId":"MRN2","demographics":{"birthDate":"31/12/1999"}}\n' \
  > "$T/data/patients.jsonl"
: > "$T/data/documents.jsonl"
run --org=clinic-a --data-dir="$T/data"
check "bad birth date: exit 1" "[ $rc -eq 1 ]"
check "bad birth date: file and line" "grep -q 'patients.jsonl:2: demographics.birth_date' '$T/err.txt'"
check "bad birth date: no value in the message" "! grep -q -e 'Secretname' -e '31/12/1999' '$T/err.txt'"

rm -f "$T/data/documents.jsonl"
printf '{"localId":"MRN1"}\n' > "$T/data/patients.jsonl"
run --org=clinic-a --data-dir="$T/data"
check "no documents.jsonl: exit 1" "[ $rc -eq 1 ]"
check "no documents.jsonl: names it" "grep -q 'documents.jsonl: no such file' '$T/err.txt'"

run --org=clinic-a --data-dir="$T/nowhere"
check "no folder: exit 1" "[ $rc -eq 1 ]"
check "no folder: names patients.jsonl" "grep -q 'patients.jsonl: no such file' '$T/err.txt'"

exit $fail
