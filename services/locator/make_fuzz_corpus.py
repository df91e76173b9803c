#!/usr/bin/env python3
"""Writes services/locator/fuzz_corpus: seeds for locator_fuzz (core/locator_fuzz.cc).

Each file is one selector byte (mod 6: 0 LocateRequest, 1 ReportActivityRequest, 2
DeleteLocationRequest, 3 ListLocationsRequest, 4 identity events as a GetHistoryResponse, 5 a
registry ListChangesResponse; for Report and Delete, selector // 6 odd acts as a member system of
clinic-a, else as an operator) followed by the serialized message. Messages are built with
protobuf from stubs compiled out of the repository's .proto files (protoc, as the e2e Python
clients do); the nasty ones are patched bytes on purpose: bad UTF-8 and control characters in ids
and reasons, 1001 source ids, huge documents_added, negative page sizes, forged page tokens,
timestamps at years 0001 and 9999 and nanos out of range, unknown enum values, feed pages whose
positions go backwards, unreadable changes, duplicate entry uuids, a supersession with no ids.
The fuzz target seeds (clinic-a, MRN-1) reported, MRN-GONE removed at the patient's request,
MRN-OLD removed by its member, identity event 5 and registry change (3, urn:uuid:seed-a).
Run with Debian's python3 and python3-protobuf (what scripts/test.sh installs):
  /usr/bin/python3 services/locator/make_fuzz_corpus.py
"""
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import hub_grpc  # noqa: E402

hub_grpc.compile_stubs(os.path.join(ROOT, "proto"), tempfile.mkdtemp(),
                       ["hie/common/v1/common.proto", "hie/identity/v1/identity.proto",
                        "hie/registry/v1/registry.proto", "hie/locator/v1/locator.proto"])
from hie.common.v1 import common_pb2 as c  # noqa: E402
from hie.identity.v1 import identity_pb2 as i  # noqa: E402
from hie.locator.v1 import locator_pb2 as l  # noqa: E402
from hie.registry.v1 import registry_pb2 as r  # noqa: E402

YEAR_1 = -62135596800  # 0001-01-01T00:00:00Z
YEAR_9999 = 253402300799  # 9999-12-31T23:59:59Z: beyond int64 nanoseconds
MEMBER = 6  # added to a selector: act as clinic-a's member system


def context():
    return c.RequestContext(request_id="req-1", purpose_of_use=c.PURPOSE_OF_USE_OPERATIONS)


def sid(local="MRN-1", org="clinic-a"):
    return c.SourceId(org=org, local_id=local)


def locate(ids, **kw):
    return l.LocateRequest(context=context(), source_ids=ids, **kw)


def report(local="MRN-7", key="r1", org="clinic-a", **kw):
    kw.setdefault("origin", l.LOCATION_ORIGIN_ADMIN)
    return l.ReportActivityRequest(context=context(), source_id=sid(local, org),
                                   idempotency_key=key, **kw)


def delete(local="MRN-1", reason_code=l.REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS, key="d1"):
    return l.DeleteLocationRequest(context=context(), source_id=sid(local), reason="ticket 42",
                                   reason_code=reason_code, idempotency_key=key)


def listing(**kw):
    return l.ListLocationsRequest(context=context(), org="clinic-a", **kw)


def event(seq, kind, ids, seconds=1_760_000_000, nanos=0):
    e = i.IdentityEvent(event_id=f"ev-{seq}", sequence=seq, type=kind, source_ids=ids)
    e.event_time.seconds = seconds
    e.event_time.nanos = nanos
    return e


def events(*evs):
    return i.GetHistoryResponse(events=list(evs))


def change(version, uuid, local="MRN-1", status=r.AVAILABILITY_STATUS_APPROVED,
           submitted=1_760_000_000, unreadable=False):
    ch = r.EntryChange(position=r.ChangePosition(version=version, entry_uuid=uuid))
    if unreadable:
        ch.unreadable = True
        return ch
    e = ch.entry
    e.entry_uuid = uuid
    e.patient.CopyFrom(sid(local))
    e.status = status
    e.class_code.CopyFrom(c.Coding(system="http://loinc.org", code="11502-2"))
    e.creation_time.seconds = submitted - 100
    e.submission_time.seconds = submitted
    return ch


def page(*changes, next_after=None):
    p = r.ListChangesResponse(changes=list(changes))
    if next_after is not None:
        p.next_after.CopyFrom(next_after)
    elif changes:
        p.next_after.CopyFrom(changes[-1].position)
    return p


created, updated, superseded = (i.IDENTITY_EVENT_TYPE_RECORD_CREATED,
                                i.IDENTITY_EVENT_TYPE_RECORD_UPDATED,
                                i.IDENTITY_EVENT_TYPE_RECORD_SUPERSEDED)
report_9999 = report(key="r9999")
report_9999.activity_time.seconds = YEAR_9999
report_bad_nanos = report(key="rnanos")
report_bad_nanos.activity_time.seconds = 1_700_000_000
report_bad_nanos.activity_time.nanos = 1_000_000_000
list_range = listing(page_size=1)
list_range.last_activity_time.start.seconds = YEAR_1
list_range.last_activity_time.end.seconds = YEAR_9999
far_change = change(9, "urn:uuid:far", local="MRN-FAR")
far_change.entry.service_stop_time.seconds = YEAR_9999
far_change.entry.submission_time.seconds = YEAR_9999
far_change.entry.submission_time.nanos = -5

cases = {
    "locate_seeded": (0, locate([sid(), sid("MRN-GONE"), sid("MRN-2"), sid("MRN-OLD")])),
    "locate_1001_ids": (0, locate([sid(f"MRN-{n}") for n in range(1001)])),
    "locate_since_year_0001_other_org": (0, locate([sid(), sid("B-1", "clinic-b")],
                                                   active_since={"seconds": YEAR_1})),
    "report_operator": (1, report(documents_added=3,
                                  data_categories=[c.Coding(system="urn:hie:data-category",
                                                            code="imaging")])),
    "report_patient_removed": (1, report("MRN-GONE", key="r-gone")),
    "report_huge_documents": (1, report(documents_added=2**62)),
    "report_year_9999": (1, report_9999),
    "report_nanos_out_of_range": (1, report_bad_nanos),
    "report_unknown_origin": (1 + MEMBER, report(origin=99)),
    "delete_patient_request_member": (2 + MEMBER,
                                      delete(reason_code=l.REMOVAL_REASON_PATIENT_REQUEST)),
    "delete_unknown_reason_code": (2, delete(reason_code=7)),
    "delete_gone_again": (2, delete("MRN-GONE", l.REMOVAL_REASON_PATIENT_REQUEST)),
    "list_one_per_page": (3, listing(page_size=1, include_removed=True)),
    "list_negative_page_size": (3, listing(page_size=-5)),
    "list_forged_token": (3, listing(page_token="0000000000000000.-9223372036854775808.MRN-1")),
    "list_year_range": (3, list_range),
    "identity_batch": (4, events(event(6, created, [sid("MRN-3")]),
                                 event(7, updated, [sid("MRN-GONE"), sid("MRN-OLD")]),
                                 event(8, superseded, [sid("MRN-3"), sid("MRN-1")]))),
    "identity_backwards": (4, events(event(9, created, [sid("MRN-4")]),
                                     event(6, created, [sid("MRN-5")]),
                                     event(2, superseded, [sid("MRN-1")]))),
    "identity_superseded_no_ids": (4, events(event(6, superseded, []))),
    "identity_extreme_times": (4, events(event(6, created, [sid("MRN-6")], YEAR_1),
                                         event(7, updated, [sid("MRN-6")], YEAR_9999),
                                         event(8, updated, [sid("MRN-7")], 1, -1_000_000_001),
                                         event(9, 99, [sid("MRN-8")]))),
    # Found by locator_fuzz: the empty local id ends the first page of clinic-a's listing.
    "identity_empty_id_at_page_end": (4, events(*[event(10 + n, created, [sid(f"A{n}")],
                                                        1_800_000_000) for n in range(5)],
                                                event(20, created, [sid("")], 1_720_000_000))),
    "identity_1001_ids": (4, events(event(6, created, [sid(f"R{n}") for n in range(1001)]))),
    "registry_page": (5, page(change(4, "urn:uuid:b"),
                              change(5, "urn:uuid:seed-a", status=r.AVAILABILITY_STATUS_DEPRECATED),
                              change(6, "urn:uuid:c", local="MRN-GONE"))),
    "registry_backwards": (5, page(change(7, "urn:uuid:x"), change(2, "urn:uuid:y"),
                                   change(7, "urn:uuid:w"),
                                   next_after=r.ChangePosition(version=1, entry_uuid="a"))),
    "registry_unreadable_and_duplicates": (5, page(change(4, "urn:uuid:u", unreadable=True),
                                                   change(5, "urn:uuid:d"),
                                                   change(6, "urn:uuid:d"),
                                                   change(7, "urn:uuid:d",
                                                          status=r.AVAILABILITY_STATUS_DEPRECATED),
                                                   change(8, "urn:uuid:d"))),
    "registry_extreme_times": (5, page(far_change)),
}
raw = {name: bytes([sel]) + msg.SerializeToString() for name, (sel, msg) in cases.items()}
# Byte-level nastiness the message API will not produce.
raw["locate_bad_utf8_id"] = raw["locate_seeded"].replace(b"MRN-2", b"M\xc0\xaf2")
raw["report_control_chars"] = raw["report_operator"].replace(b"MRN-7", b"MR\x1b7")
raw["delete_bad_utf8_reason"] = bytes([2]) + delete("MRN-1", key="d9").SerializeToString().replace(
    b"ticket 42", b"ticket\xff\xfe42")
raw["delete_control_reason"] = raw["delete_gone_again"].replace(b"ticket 42", b"ticket\x0042")
raw["identity_bad_ids"] = raw["identity_batch"].replace(b"MRN-3", b"M\xff\x013")

out = os.path.join(ROOT, "services", "locator", "fuzz_corpus")
os.makedirs(out, exist_ok=True)
for name, data in raw.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(raw)} seeds in {out}")
