#!/usr/bin/env bash
# Writes gateway_fuzz's seed corpus (services/gateway/fuzz_corpus): each seed is one selector
# byte (core/gateway_fuzz.cc) then a member directory file's text or a request serialized with
# protoc --encode from the repository's .proto files. Run from anywhere; rewrites the folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/services/gateway/fuzz_corpus"
rm -rf "$out" && mkdir -p "$out"

text() {  # name selector-byte text (printf format)
  { printf "\\x$2"; printf "$3"; } >"$out/$1"
}
proto() {  # name selector-byte message text-format
  { printf "\\x$2"; printf '%s' "$4" | protoc --encode="hie.gateway.v1.$3" -I "$root/proto" \
      -I /usr/include "$root/proto/hie/gateway/v1/gateway.proto"; } >"$out/$1"
}

good='clinic-a,127.0.0.1:7101,active,1000,Clinic A\n'
text dir_good 00 "# members\n${good}clinic-b,b.example:443,suspended,200,Smith, Jones & Partners\n\n"
text dir_crlf 00 'clinic-a,127.0.0.1:7101,active,1000,Clinic A\r\nclinic-b,h:1,active,5,B\r\n'
text dir_bad_state 00 'clinic-a,127.0.0.1:7101,sleeping,1000,Clinic A\n'
text dir_repeated_org 00 "${good}${good}"
text dir_zero_results 00 'clinic-a,127.0.0.1:7101,active,0,Clinic A\n'
text dir_huge_results 00 'clinic-a,127.0.0.1:7101,active,99999999999999999999,Clinic A\n'
text dir_no_port 00 'clinic-a,127.0.0.1,active,10,Clinic A\n'
text dir_missing_fields 00 'clinic-a,127.0.0.1:7101\n'
text dir_space_in_org 00 'clinic a,127.0.0.1:7101,active,10,A\n'
text dir_nul 00 'clinic-a,127.0.0.1:7101,active,10,Cli\x00nic\n'
text dir_bad_utf8 00 'clinic-a,127.0.0.1:7101,active,10,Cl\xc3\x28nic\n'
text dir_control_chars 00 'clinic-a,127.0.0.1:7101,active,10,Cl\x1b[31mnic\n'
text dir_no_newline_at_end 00 'clinic-a,127.0.0.1:7101,active,10,A'
{ printf '\x00clinic-a,127.0.0.1:7101,active,10,'; head -c 2000 /dev/zero | tr '\0' 'x'; } \
  >"$out/dir_long_line"
{ printf '\x00'; for i in $(seq 1 300); do printf 'm-%d,h:%d,active,10,M\n' "$i" "$i"; done; } \
  >"$out/dir_many_members"

ctx='context { purpose_of_use: PURPOSE_OF_USE_TREATMENT user_id: "dr-a" user_role: ROLE_CLINICIAN }'
proto find_good 01 FindOutsideRecordsRequest "$ctx local_id: \"MRN-1\" max_results_per_member: 50"
proto find_emergency_without_grant 01 FindOutsideRecordsRequest \
  'context { purpose_of_use: PURPOSE_OF_USE_EMERGENCY user_id: "dr-a" user_role: ROLE_CLINICIAN } local_id: "MRN-1"'
proto find_operator_role 01 FindOutsideRecordsRequest \
  'context { purpose_of_use: PURPOSE_OF_USE_TREATMENT user_id: "op" user_role: ROLE_HIE_OPERATOR } local_id: "MRN-1"'
proto find_space_in_id 01 FindOutsideRecordsRequest "$ctx local_id: \"MRN 1\""
proto find_filters 01 FindOutsideRecordsRequest \
  "$ctx local_id: \"MRN-1\" member_orgs: \"clinic-b\" query { class_codes { system: \"http://loinc.org\" code: \"11488-4\" } creation_time { start { seconds: 1 } } }"
proto find_bad_max 01 FindOutsideRecordsRequest "$ctx local_id: \"MRN-1\" max_results_per_member: -5"
proto retrieve_good 02 RetrieveDocumentRequest \
  "$ctx local_id: \"MRN-1\" member_org: \"clinic-b\" retrieve_key: \"note-7\""
proto retrieve_no_key 02 RetrieveDocumentRequest "$ctx local_id: \"MRN-1\" member_org: \"clinic-b\""
system='context { purpose_of_use: PURPOSE_OF_USE_OPERATIONS user_role: ROLE_MEMBER_SYSTEM }'
proto publish_own 03 PublishDocumentsRequest \
  "$system idempotency_key: \"k1\" entries { unique_id: \"1.2.3\" patient { local_id: \"MRN-1\" } }"
proto publish_other_org 03 PublishDocumentsRequest \
  "$system idempotency_key: \"k1\" entries { patient { org: \"clinic-b\" local_id: \"MRN-1\" } }"
proto publish_other_location 03 PublishDocumentsRequest \
  "$system idempotency_key: \"k1\" entries { patient { local_id: \"M\" } location { member_org: \"clinic-b\" } }"
proto feed_good 04 FeedPatientRequest \
  "$system local_id: \"MRN-1\" idempotency_key: \"k\" demographics { birth_date: \"1980-02-29\" }"
proto feed_no_key 04 FeedPatientRequest "$system local_id: \"MRN-1\""
proto feed_public_health 04 FeedPatientRequest \
  'context { purpose_of_use: PURPOSE_OF_USE_PUBLIC_HEALTH user_role: ROLE_MEMBER_SYSTEM } local_id: "M" idempotency_key: "k"'
proto find_by_demographics 01 FindOutsideRecordsRequest \
  "$ctx demographics { name { family: \"Doe\" given: \"Ann\" } birth_date: \"1980-02-29\" }"
proto find_local_id_and_demographics 01 FindOutsideRecordsRequest \
  "$ctx local_id: \"MRN-1\" demographics { birth_date: \"1980-02-29\" }"
registrar='context { purpose_of_use: PURPOSE_OF_USE_OPERATIONS user_id: "reg-1" user_role: ROLE_ADMINISTRATIVE_STAFF }'
proto consent_own 05 CreateConsentDirectiveRequest \
  "$registrar idempotency_key: \"k\" directive { patient { local_id: \"MRN-1\" } effect: EFFECT_DENY }"
proto consent_other_org 05 CreateConsentDirectiveRequest \
  "$registrar idempotency_key: \"k\" directive { patient { org: \"clinic-b\" local_id: \"M\" } }"
emergency='context { purpose_of_use: PURPOSE_OF_USE_EMERGENCY user_id: "dr-a" user_role: ROLE_CLINICIAN }'
proto glass_good 06 BreakGlassRequest \
  "$emergency local_id: \"a-1\" reason: \"unconscious\" reason_code: BREAK_GLASS_REASON_LIFE_THREATENING idempotency_key: \"k\""
proto glass_unknown_patient 06 BreakGlassRequest \
  "$emergency local_id: \"a-404\" reason: \"r\" reason_code: BREAK_GLASS_REASON_OTHER_EMERGENCY idempotency_key: \"k\""
proto glass_negative_duration 06 BreakGlassRequest \
  "$emergency local_id: \"a-1\" reason: \"r\" reason_code: BREAK_GLASS_REASON_OTHER_EMERGENCY requested_duration { seconds: -5 } idempotency_key: \"k\""
proto glass_staff_role 06 BreakGlassRequest \
  'context { purpose_of_use: PURPOSE_OF_USE_EMERGENCY user_id: "n-1" user_role: ROLE_CLINICAL_STAFF } local_id: "a-1" reason: "r" idempotency_key: "k"'
ls "$out" | wc -l
