#!/bin/sh
# Links every labelled public data set with hie-mpi and scores the result.
# usage: mpi/scripts/eval_datasets.sh [path/to/hie-mpi] [path/to/shared/data] [work dir]
set -eu
B=${1:-build-mpi/mpi/hie-mpi}
D=${2:-/work/shared/data}
W=${3:-$(mktemp -d)}
mkdir -p "$W"
if [ ! -d "$D" ]; then echo "data directory $D not found; skipping"; exit 0; fi
FEBRL="record_id=rec_id,family_name=surname,birth_date=date_of_birth,address_line=street_number+address_1,city=suburb,postal_code=postcode,ssn=soc_sec_id"
SPLINK="record_id=unique_id,given_name=first_name,family_name=surname,birth_date=dob"
KENYA="record_id=ID,given_name=Given_Name,family_name=Family_Name,sex=Gender_at_Birth,birth_date=Date_of_Birth,city=City,phone=Phone_Number,ssn=National_ID"
ETHIOPIA="record_id=ID,given_name=Given_Name,family_name=Fathers_Name+FathersFather_Name,sex=Gender_at_Birth,birth_date=Date_of_Birth,city=City,phone=Phone_Number,ssn=National_ID"
RL="record_id=rec_id,given_name=fname_c1+fname_c2,family_name=lname_c1+lname_c2"

run() {  # name, eval-truth-args, link args...
  name=$1; truth=$2; shift 2
  echo "== $name"
  /usr/bin/time -f "wall %e s, max RSS %M kB" "$B" link --quiet --output "$W/$name.csv" "$@"
  # shellcheck disable=SC2086
  "$B" eval --clusters "$W/$name.csv" $truth | tr '\n' ' '
  echo
}
run febrl1 --truth-from-id --input "$D/febrl/febrl1.csv" --map "$FEBRL"
run febrl2 --truth-from-id --input "$D/febrl/febrl2.csv" --map "$FEBRL"
run febrl3 --truth-from-id --input "$D/febrl/febrl3.csv" --map "$FEBRL"
run febrl4 --truth-from-id --input "$D/febrl/febrl4a.csv" --input "$D/febrl/febrl4b.csv" --map "$FEBRL"
run fake_1000 "--truth $D/splink/fake_1000.csv --truth-columns unique_id,cluster" --input "$D/splink/fake_1000.csv" --map "$SPLINK"
run fake_20000 "--truth $D/splink/fake_20000.csv --truth-columns unique_id,cluster" --input "$D/splink/fake_20000.csv" --map "$SPLINK"
run jempi_kenya --truth-from-id --input "$D/jempi/data-test-32-d-001000-004000-dcab-1.csv" --map "$KENYA"
run jempi_ethiopia --truth-from-id --input "$D/jempi/ethiopia-data-test-32-d-001000-004000-dcab.csv" --map "$ETHIOPIA"
# RLdata: birth date split in three columns; hie-mpi joins them with spaces (Y M D).
run rldata10000 "--truth $D/rldata/RLdata10000.csv --truth-columns rec_id,ent_id" --input "$D/rldata/RLdata10000.csv" --map "$RL,birth_date=by+bm+bd"
