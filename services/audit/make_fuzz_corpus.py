#!/usr/bin/env python3
"""Writes the seed corpus of audit_fuzz (fuzz_corpus/): hand-made hostile inputs for each of its
three parsers (see core/audit_fuzz.cc). Deterministic; rerun after changing the encoding."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_corpus")


def s(b):
    return struct.pack(">I", len(b)) + b


def event(seq=1, patients=(), details=(), event_id=b"ev-1"):
    out = b"HIE-AUDIT-EVENT\0" + b"\x01" + struct.pack(">qq", seq, 1_800_000_000_000_000_000)
    out += s(event_id) + struct.pack(">q", 1_799_999_000_000_000_000) + struct.pack(">I", 2)
    out += s(b"gateway.RetrieveDocument") + struct.pack(">I", 1) + s(b"")
    out += s(b"clinic-a") + s(b"jsmith") + struct.pack(">II", 1, 1) + s(b"req") + s(b"")
    out += struct.pack(">I", len(patients)) + b"".join(s(o) + s(l) for o, l in patients)
    out += s(b"") + s(b"clinic-b") + s(b"clinic-a") + struct.pack(">I", 0)
    out += s(b"") * 4 + s(b"O=clinic-a,OU=member,CN=emr") + s(b"ipv4:10.0.0.1:1")
    out += struct.pack(">I", len(details)) + b"".join(s(k) + s(v) for k, v in details)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    good = event(patients=[(b"clinic-b", b"MRN-1")], details=[(b"a", b"1"), (b"b", b"2")])
    cases = {
        "decode_good": b"\x00" + good,
        "decode_truncated": b"\x00" + good[:-3],
        "decode_trailing": b"\x00" + good + b"x",
        "decode_huge_count": b"\x00" + good[:95] + b"\xff\xff\xff\xff" + good[99:],
        "decode_bad_utf8": b"\x00" + event(event_id=b"\xc3\x28"),
        "decode_unsorted_details": b"\x00" + event(details=[(b"b", b"2"), (b"a", b"1")]),
        "decode_version_2": b"\x00" + good[:16] + b"\x02" + good[17:],
        "checkpoint_good": b"\x02" + b"hie-audit-checkpoint 1\nsequence 5\nhead_hash " +
        b"00" * 32 + b"\ncreate_time_ns 1\nkey_id ab\nsignature_algorithm ED25519\nsignature 00\n",
        "checkpoint_bad_hex": b"\x02hie-audit-checkpoint 1\nsequence 5\nhead_hash zz\n",
        "checkpoint_overflow": b"\x02hie-audit-checkpoint 1\nsequence 99999999999999999999999\n",
        "batch_empty": b"\x01",
        "batch_junk": b"\x01\x0a\xff\xff\xff\xff\x0f",
    }
    for name, data in cases.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
