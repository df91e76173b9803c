#!/usr/bin/env python3
"""Writes services/member/fuzz_corpus: seeds for member_data_fuzz (core/member_data_fuzz.cc).

Each file is a patients.jsonl, a line "%%", then a documents.jsonl; every content file a document
names exists and holds its key's bytes, except keys starting with "missing". The nasty ones:
broken and deeply nested JSON, unknown fields, bad UTF-8 and control characters, bad dates,
repeated ids and keys, paths in retrieve keys, missing content, wrong declared hashes and sizes,
other orgs, a line over the 4 KiB limit, more than 50 patients, content over the limits, NUL
bytes, CR LF line ends, huge numbers and timestamps out of range.
Run with any python3:  python3 services/member/make_fuzz_corpus.py
"""
import base64
import hashlib
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_corpus")


def patient(local_id, **demographics):
    line = {"localId": local_id}
    if demographics:
        line["demographics"] = demographics
    return json.dumps(line, ensure_ascii=False)


def document(patient_id, key, **extra):
    entry = {
        "uniqueId": "urn:test:" + key,
        "patient": {"localId": patient_id},
        "classCode": {"system": "http://loinc.org", "code": "11488-4"},
        "typeCode": {"system": "http://loinc.org", "code": "11488-4"},
        "formatCode": {"system": "urn:oid:1.3.6.1.4.1.19376.1.2.3", "code": "urn:ihe:pcc:xphr:2007"},
        "mimeType": "text/plain",
        "confidentialityCodes": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}],
        "creationTime": "2021-03-04T05:06:07Z",
        "location": {"retrieveKey": key},
    }
    entry.update(extra)
    return json.dumps(entry, ensure_ascii=False)


def folder(patients, documents):
    return "\n".join(patients) + "\n%%\n" + "\n".join(documents) + "\n"


P1 = patient("MRN001", name={"given": "Ann", "family": "Lee"}, sex="SEX_FEMALE",
             birthDate="1980-02-29")
P2 = patient("MRN002")
GOOD_DOCS = [document("MRN001", "note-1"), document("MRN002", "note-2")]
digest = base64.b64encode(hashlib.sha256(b"note-1").digest()).decode()

SEEDS = {
    "good": folder([P1, P2], GOOD_DOCS),
    "good_crlf_blank_lines": folder([P1, "", "   ", P2], GOOD_DOCS).replace("\n", "\r\n"),
    "good_declared_hash": folder([P1], [document(
        "MRN001", "note-1", sizeBytes="6",
        hash={"algorithm": "ALGORITHM_SHA256", "digest": digest})]),
    "good_deprecated_labelled": folder([P1], [document(
        "MRN001", "note-1", status="AVAILABILITY_STATUS_DEPRECATED",
        confidentialityCodes=[{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                               "code": "PSY"}])]),
    "patients_only": "\n".join([P1, P2]) + "\n",
    "broken_json": folder([P1, '{"localId": "MRN9"'], GOOD_DOCS),
    "deep_nesting": folder(['{"localId":"A","demographics":' + "[" * 3000 + "]" * 3000 + "}"], []),
    "unknown_field": folder(['{"localId":"A","favouriteColour":"red"}'], []),
    "control_chars": folder([patient("A", name={"family": "L\u001bee\u0000"})], []),
    "bad_dates": folder([patient("A", birthDate="29/02/1980"), patient("B", deceasedDate="2020-13-01")], []),
    "repeated_patient": folder([P1, P2, P1], GOOD_DOCS),
    "repeated_key": folder([P1, P2], [document("MRN001", "note-1"), document("MRN002", "note-1")]),
    "key_collides_unique_id": folder([P1, P2], [
        document("MRN001", "note-1"), document("MRN002", "urn-x", uniqueId="note-1")]),
    "path_keys": folder([P1], [document("MRN001", "../patients.jsonl"), document("MRN001", "a/b"),
                               document("MRN001", ".hidden")]),
    "missing_content": folder([P1], [document("MRN001", "missing-1")]),
    "wrong_size_and_hash": folder([P1], [document(
        "MRN001", "note-1", sizeBytes="999",
        hash={"algorithm": "ALGORITHM_SHA1", "digest": "AAAA"})]),
    "other_org": folder([P1], [document("MRN001", "note-1", patient={"localId": "MRN001",
                                                                     "org": "clinic-b"})]),
    "unknown_patient": folder([P1], [document("MRN404", "note-1")]),
    "long_line": folder([patient("A", name={"family": "x" * 5000})], []),
    "too_many_patients": folder([patient("P%d" % i) for i in range(60)], []),
    "content_over_limit": folder([P1], [document("MRN001", "k" * 70)]),
    "content_total_over_limit": folder([P1], [document("MRN001", "%s-%d" % ("c" * 60, i))
                                              for i in range(20)]),
    "huge_numbers": folder([patient("A", multipleBirthOrder=99999999999)], [document(
        "MRN001", "note-1", sizeBytes="-1", creationTime="10000-01-01T00:00:00Z")]),
    "time_out_of_registry_range": folder([P1], [document(
        "MRN001", "note-1", creationTime="1700-01-01T00:00:00Z")]),
    "not_publishable": folder([P1], [json.dumps({"uniqueId": "u", "patient": {"localId": "MRN001"},
                                                 "location": {"retrieveKey": "note-1"}})]),
    "bad_utf8": (P1 + "\n" + '{"localId":"A","demographics":{"name":{"family":"').encode() +
                b"\xc3\x28\xff" + b'"}}}\n%%\n',
    "nul_bytes": b'{"localId":"A\x00B"}\n%%\n\x00\x00\n',
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    for name, seed in SEEDS.items():
        data = seed if isinstance(seed, bytes) else seed.encode()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
