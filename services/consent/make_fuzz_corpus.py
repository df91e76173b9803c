#!/usr/bin/env python3
"""Writes services/consent/fuzz_corpus: seeds for consent_fuzz (core/consent_fuzz.cc).

Each file is one selector byte (even: DecideRequest, odd: CreateDirectiveRequest; the other
bits pick the policy and break-glass facts) followed by the serialized message, encoded here by
hand (protobuf wire format) so that no protobuf package is needed. Nasty cases on purpose: bad
UTF-8, control characters, huge repeated fields, inverted and empty periods, extreme times.
Run: python3 services/consent/make_fuzz_corpus.py
"""
import os

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

def key(field, wire):
    return varint((field << 3) | wire)

def s(field, value):
    data = value if isinstance(value, bytes) else value.encode()
    return key(field, 2) + varint(len(data)) + data

def m(field, *parts):
    return s(field, b"".join(parts))

def i(field, n):
    return key(field, 0) + varint(n)

def source(field, org, local):
    return m(field, s(1, org), s(2, local))

def ts(field, seconds, nanos=0):
    return m(field, i(1, seconds), i(2, nanos) if nanos else b"")

def context(purpose=1, org="clinic-b", user="dr-b", role=1, grant=""):
    actor = m(3, s(1, org), s(2, user), i(3, role))
    return m(1, s(1, "req-1"), i(2, purpose), actor, s(4, grant) if grant else b"")

def label(field, code, system="http://terminology.hl7.org/CodeSystem/v3-ActCode"):
    return m(field, s(1, system), s(2, code))

T0 = 1767268800
cases = {
    "decide_treatment": (0, context() + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")),
    "decide_opt_in_sud_document": (2, context() + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")
                                   + label(5, "ETH")),
    "decide_emergency_grant": (16, context(purpose=4, grant="bg-1") + source(2, "clinic-a", "MRN1")
                               + s(3, "clinic-c")),
    "decide_stale_view": (32, context() + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")),
    "decide_exempt": (4, context(purpose=5) + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")),
    "decide_bad_utf8_org": (0, context() + source(2, b"clinic-\xff\xfe", "MRN1") + s(3, "clinic-c")),
    "decide_overlong_utf8": (0, context() + source(2, "clinic-a", "MRN1")
                             + s(3, "clinic-c") + label(4, b"\xc0\xaf")),
    "decide_control_chars": (0, context() + source(2, "clinic-a", "MR\x1bN") + s(3, "clinic-c")),
    "decide_huge_patients": (0, context() + source(2, "clinic-a", "MRN1") * 1500 + s(3, "clinic-c")),
    "decide_many_labels": (0, context() + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")
                           + label(5, "X") * 150),
    "decide_extreme_time": (0, context() + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")
                            + ts(6, 253402300799, 999999999)),
    "decide_negative_nanos": (0, context() + source(2, "clinic-a", "MRN1") + s(3, "clinic-c")
                              + m(6, i(1, T0), i(2, (1 << 64) - 1))),
    "decide_unknown_purpose": (0, context(purpose=99) + source(2, "clinic-a", "MRN1")
                               + s(3, "clinic-c")),
    "create_deny": (1, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 2),
                                     m(9, m(1, i(1, T0)))) + s(3, "k1")),
    "create_permit_sud": (3, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 1),
                                           label(8, "ETH"), m(9, m(1, i(1, T0)))) + s(3, "k1")),
    "create_inverted_period": (1, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 2),
                                                m(9, m(1, i(1, T0)), m(2, i(1, T0 - 1))))
                               + s(3, "k1")),
    "create_empty_period": (1, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 2),
                                             m(9, m(1, i(1, T0)), m(2, i(1, T0)))) + s(3, "k1")),
    "create_no_start": (1, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 2)) + s(3, "k1")),
    "create_huge_orgs": (1, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 2),
                                          s(4, "clinic-x") * 500, m(9, m(1, i(1, T0))))
                         + s(3, "k1")),
    "create_far_past": (1, context() + m(2, source(2, "clinic-a", "MRN1"), i(3, 2),
                                         m(9, m(1, i(1, (1 << 64) - 62135596800))))
                        + s(3, "k1")),
    "truncated": (0, context()[:-3]),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_corpus")
os.makedirs(out, exist_ok=True)
for name, (selector, body) in cases.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([selector]) + body)
print(f"{len(cases)} seeds in {out}")
