#!/bin/sh
# Produces every figure of the "Matching engine (mpi/)" section of docs/benchmarks.md.
# usage: mpi/scripts/run_benchmarks.sh [build dir] [shared data dir] [work dir]
set -eu
BUILD=${1:-build-mpi}
D=${2:-/work/shared/data}
W=${3:-/tmp/mpi-bench}
B="$BUILD/mpi/hie-mpi"
mkdir -p "$W"
echo "## machine"; lscpu | grep 'Model name'; nproc; date -u; uptime
FEBRL="record_id=rec_id,family_name=surname,birth_date=date_of_birth,address_line=street_number+address_1,city=suburb,postal_code=postcode,ssn=soc_sec_id"
if [ -d "$D" ]; then
  echo "## FEBRL4 A<->B, 3 runs (wall and CPU)"
  for i in 1 2 3; do
    /usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M kB" "$B" link --quiet \
      --input "$D/febrl/febrl4a.csv" --input "$D/febrl/febrl4b.csv" --map "$FEBRL" \
      --output "$W/febrl4.csv"
  done
  "$B" eval --clusters "$W/febrl4.csv" --truth-pairs "$D/febrl/febrl4_true_pairs.csv"
  "$B" link --quiet --input "$D/febrl/febrl4a.csv" --input "$D/febrl/febrl4b.csv" --map "$FEBRL" \
    --output "$W/febrl4.csv" --candidates-out "$W/febrl4_candidates.csv"
  echo "pairs completeness:"; "$B" eval --clusters "$W/febrl4_candidates.csv" \
    --truth-pairs "$D/febrl/febrl4_true_pairs.csv" --pairs | grep -E "recall|predicted"
  echo "## public data sets"
  sh "$(dirname "$0")/eval_datasets.sh" "$B" "$D" "$W/datasets"
else
  echo "shared data not found at $D: public data sets skipped"
fi
echo "## generated 100k persons"
"$B" generate --persons 100000 --seed 1 --out "$W/g100k"
/usr/bin/time -f "wall %e s, user %U s, max RSS %M kB" "$B" link --input "$W/g100k/records.csv" \
  --output "$W/g100k/clusters.csv"
"$B" eval --clusters "$W/g100k/clusters.csv" --truth "$W/g100k/truth.csv" \
  --hard-pairs "$W/g100k/hard_pairs.csv"
echo "## generated 1M records (500k persons)"
"$B" generate --persons 500000 --seed 3 --out "$W/g1m"
/usr/bin/time -f "wall %e s, user %U s, max RSS %M kB" "$B" link --input "$W/g1m/records.csv" \
  --output "$W/g1m/clusters.csv"
"$B" eval --clusters "$W/g1m/clusters.csv" --truth "$W/g1m/truth.csv" \
  --hard-pairs "$W/g1m/hard_pairs.csv"
echo "## online index, 1M records"
"$B" bench --records 1000000 --queries 20000
uptime
