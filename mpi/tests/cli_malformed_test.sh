#!/bin/sh
# Checks how `hie-mpi` handles malformed input: clear errors naming the problem, bad rows
# reported by line number and skipped, never a crash, and no field values (PHI) in messages.
# usage: cli_malformed_test.sh path/to/hie-mpi
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() {  # description, condition
  if eval "$2"; then echo "ok   - $1"; else echo "FAIL - $1"; fail=1; fi
}

# 1. Bad rows are skipped with their line numbers; good rows are linked.
printf 'record_id,given_name,family_name,birth_date\n1,Ann,Lee,1980-01-02\n2,Secretname\n3,Ann,Lee,1980-01-02\n4,Bob,Ray,1970-05-06,extra\n' > "$T/bad_rows.csv"
"$BIN" link --input "$T/bad_rows.csv" --output "$T/out.csv" 2> "$T/err.txt"
rc=$?
check "bad rows: exit 0" "[ $rc -eq 0 ]"
check "bad rows: line 3 reported" "grep -q 'bad_rows.csv:3:' '$T/err.txt'"
check "bad rows: line 5 reported" "grep -q 'bad_rows.csv:5:' '$T/err.txt'"
check "bad rows: no PHI in messages" "! grep -q 'Secretname' '$T/err.txt'"
check "bad rows: output has the 2 good rows" "[ \$(wc -l < '$T/out.csv') -eq 3 ]"

# 2. Unterminated quote: a clear error naming the line, exit code 1, no crash.
printf 'record_id,given_name\n1,Ann\n2,"Bob\n3,Cy\n' > "$T/quote.csv"
"$BIN" link --input "$T/quote.csv" --output "$T/out.csv" 2> "$T/err.txt"
rc=$?
check "unterminated quote: exit 1" "[ $rc -eq 1 ]"
check "unterminated quote: names line 3" "grep -q 'line 3' '$T/err.txt'"

# 3. Empty file, binary garbage, no known column, missing file, bad --map: errors, no crash.
: > "$T/empty.csv"
"$BIN" link --input "$T/empty.csv" --output "$T/out.csv" 2> "$T/err.txt"
check "empty file: exit 1 with message" "[ $? -eq 1 ] && grep -q 'empty' '$T/err.txt'"
head -c 3000 /dev/urandom > "$T/garbage.csv"
"$BIN" link --input "$T/garbage.csv" --output "$T/out.csv" 2> "$T/err.txt"
rc=$?
check "garbage: no crash (exit 0 or 1)" "[ $rc -eq 0 ] || [ $rc -eq 1 ]"
printf 'foo,bar\n1,2\n' > "$T/nocols.csv"
"$BIN" link --input "$T/nocols.csv" --output "$T/out.csv" 2> "$T/err.txt"
check "no known column: exit 1 mentions --map" "[ $? -eq 1 ] && grep -q -- '--map' '$T/err.txt'"
"$BIN" link --input "$T/does_not_exist.csv" --output "$T/out.csv" 2> "$T/err.txt"
check "missing file: exit 1" "[ $? -eq 1 ] && grep -q 'cannot open' '$T/err.txt'"
"$BIN" link --input "$T/bad_rows.csv" --output "$T/out.csv" --map 'nonsense' 2> "$T/err.txt"
check "bad --map: exit 1" "[ $? -eq 1 ]"
"$BIN" link --input "$T/bad_rows.csv" 2> "$T/err.txt"
check "missing --output: usage error" "[ $? -eq 2 ]"
"$BIN" frobnicate 2> "$T/err.txt"
check "unknown command: exit 2" "[ $? -eq 2 ]"

# 4. eval on malformed input.
"$BIN" eval --clusters "$T/empty.csv" --truth-from-id 2> "$T/err.txt"
check "eval empty clusters: exit 1" "[ $? -eq 1 ]"
exit $fail
