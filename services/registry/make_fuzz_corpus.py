#!/usr/bin/env python3
"""Writes services/registry/fuzz_corpus: seeds for registry_fuzz (core/registry_fuzz.cc).

Each file is one selector byte (mod 6: 0 RegisterSubmissionSetRequest, 1 FindDocumentsRequest, 2
GetDocumentsRequest, 3 GetRelatedDocumentsRequest, 4 DeprecateDocumentRequest, 5
ListChangesRequest) followed by the serialized request. Messages are built with protobuf from
stubs compiled out of the repository's .proto files (protoc, as the e2e Python clients do); the
nasty ones are cut or patched bytes on purpose: bad UTF-8, control characters, SHA-1 only, huge
repeated fields, associations onto a deprecated document, page tokens forged or from another
query, truncation, feed positions out of range, locations without their retrieve key.
Run with Debian's python3 and python3-protobuf (what scripts/test.sh installs):
  /usr/bin/python3 services/registry/make_fuzz_corpus.py
"""
import hashlib
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import hub_grpc  # noqa: E402

hub_grpc.compile_stubs(os.path.join(ROOT, "proto"), tempfile.mkdtemp(),
                       ["hie/common/v1/common.proto", "hie/registry/v1/registry.proto"])
from hie.common.v1 import common_pb2 as c  # noqa: E402
from hie.registry.v1 import registry_pb2 as r  # noqa: E402


def context(purpose=c.PURPOSE_OF_USE_TREATMENT):
    return c.RequestContext(request_id="req-1", purpose_of_use=purpose,
                            actor=c.Actor(org="clinic-a", role=c.ROLE_MEMBER_SYSTEM))


def entry(unique_id="1.2.3.1", local_id="MRN-1", created=1_700_000_100):
    e = r.DocumentEntry(
        unique_id=unique_id, patient=c.SourceId(org="clinic-a", local_id=local_id),
        class_code=c.Coding(system="http://loinc.org", code="11502-2"),
        type_code=c.Coding(system="http://loinc.org", code="11502-2"),
        format_code=c.Coding(system="urn:ihe:format", code="urn:ihe:lab:xd-lab:2008"),
        mime_type="text/xml",
        confidentiality_codes=[
            c.Coding(system="http://terminology.hl7.org/CodeSystem/v3-Confidentiality", code="R"),
            c.Coding(system="http://terminology.hl7.org/CodeSystem/v3-ActCode", code="HIV")],
        hash=r.ContentHash(algorithm=r.ContentHash.ALGORITHM_SHA256,
                           digest=hashlib.sha256(unique_id.encode()).digest()),
        size_bytes=2048,
        location=r.DocumentLocation(member_org="clinic-a", repository_unique_id="1.2.3"),
        authors=[r.Author(institution="Clinic A Laboratory")])
    e.creation_time.FromSeconds(created)
    return e


def register(entries, associations=(), key="k1", set_id="9.9.1"):
    return r.RegisterSubmissionSetRequest(
        context=context(), idempotency_key=key,
        submission_set=r.SubmissionSet(unique_id=set_id), entries=entries,
        associations=list(associations))


def replace(source, target, kind=r.ASSOCIATION_TYPE_REPLACE):
    return r.Association(type=kind, source=source, target_entry_uuid=target)


def find(**query):
    return r.FindDocumentsRequest(context=context(), patients=[c.SourceId(org="clinic-a",
                                                                          local_id="MRN-1")],
                                  query=r.DocumentQuery(**query), page_size=1)


sha1 = entry("1.2.3.9")
sha1.hash.algorithm = r.ContentHash.ALGORITHM_SHA1
sha1.hash.digest = hashlib.sha1(b"x").digest()
inverted = entry("1.2.3.8")
inverted.service_start_time.FromSeconds(200)
inverted.service_stop_time.FromSeconds(100)
reused = entry("1.2.seed.a")  # the seeded unique id, another hash
far = entry("1.2.3.7", created=253402300799)  # 9999-12-31: beyond int64 nanoseconds
wide = r.DocumentQuery()
wide.creation_time.start.FromSeconds(-62135596800)  # 0001-01-01
wide.creation_time.end.FromSeconds(253402300799)
wide.service_stop_time.end.FromSeconds(253402300799)

cases = {
    "register_one": (0, register([entry()])),
    "register_replace": (0, register([entry()], [replace("1.2.3.1", "urn:uuid:seed-a")])),
    "register_onto_deprecated": (0, register([entry()], [replace("1.2.3.1", "urn:uuid:seed-d")])),
    "register_append": (0, register([entry()], [replace("1.2.3.1", "urn:uuid:seed-a",
                                                        r.ASSOCIATION_TYPE_APPEND)])),
    "register_other_patient_target": (0, register([entry(local_id="MRN-2")],
                                                  [replace("1.2.3.1", "urn:uuid:seed-a")])),
    "register_sha1": (0, register([sha1])),
    "register_reused_unique_id": (0, register([reused])),
    "register_inverted_service": (0, register([inverted])),
    "register_many": (0, register([entry(f"1.2.4.{i}") for i in range(300)])),
    "register_duplicate_ids": (0, register([entry(), entry()])),
    "register_year_9999": (0, register([far])),
    "find_first_page": (1, find()),
    "find_filters": (1, find(class_codes=[c.Coding(system="http://loinc.org", code="11502-2")],
                             author_institution="LABORATORY", statuses=[1, 2])),
    "find_wide_ranges": (1, r.FindDocumentsRequest(
        context=context(), patients=[c.SourceId(org="clinic-a", local_id="MRN-1")], query=wide)),
    "find_forged_token": (1, r.FindDocumentsRequest(
        context=context(), patients=[c.SourceId(org="clinic-a", local_id="MRN-1")],
        page_token="0000000000000000.-9223372036854775808.urn:uuid:x")),
    "find_no_purpose": (1, r.FindDocumentsRequest(
        context=context(c.PURPOSE_OF_USE_UNSPECIFIED),
        patients=[c.SourceId(org="clinic-a", local_id="MRN-1")])),
    "get_both": (2, r.GetDocumentsRequest(context=context(), entry_uuids=["urn:uuid:seed-a"],
                                          unique_ids=["1.2.seed.d", "nope"])),
    "get_by_location": (2, r.GetDocumentsRequest(
        context=context(), unique_ids=["1.2.seed.a"],
        locations=[r.DocumentLocation(member_org="clinic-a", repository_unique_id="1.2.3",
                                      retrieve_key="1.2.seed.a"),
                   r.DocumentLocation(member_org="clinic-a", repository_unique_id="1.2.3",
                                      retrieve_key="1.2.seed.d")])),
    "get_location_without_key": (2, r.GetDocumentsRequest(
        context=context(),
        locations=[r.DocumentLocation(member_org="clinic-a", repository_unique_id="1.2.3")])),
    "related_seed": (3, r.GetRelatedDocumentsRequest(context=context(),
                                                     entry_uuid="urn:uuid:seed-a")),
    "deprecate_seed": (4, r.DeprecateDocumentRequest(context=context(),
                                                     entry_uuid="urn:uuid:seed-a",
                                                     reason="entered in error",
                                                     idempotency_key="d1")),
    "deprecate_deprecated": (4, r.DeprecateDocumentRequest(context=context(),
                                                           entry_uuid="urn:uuid:seed-d",
                                                           reason="again", idempotency_key="d2")),
    "changes_from_start": (5, r.ListChangesRequest(context=context(), page_size=1)),
    "changes_after_position": (5, r.ListChangesRequest(
        context=context(), page_size=1000,
        after=r.ChangePosition(version=1,
                               entry_uuid="urn:uuid:0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"))),
    "changes_bad_position": (5, r.ListChangesRequest(
        context=context(), page_size=-1,
        after=r.ChangePosition(version=-9223372036854775808, entry_uuid="urn:uuid:seed-a"))),
}
raw = {name: bytes([sel]) + msg.SerializeToString() for name, (sel, msg) in cases.items()}
# Byte-level nastiness the message API will not produce.
raw["register_bad_utf8_title"] = raw["register_one"].replace(b"Clinic A Laboratory",
                                                             b"Clinic \xff\xfe Laboratory")
raw["register_control_chars"] = raw["register_one"].replace(b"MRN-1", b"MR\x1bN")
raw["register_truncated"] = raw["register_replace"][:-7]
raw["get_location_bad_utf8_key"] = raw["get_by_location"].replace(b"1.2.seed.d",
                                                                b"1.2.\xc0\xafeed.d")
raw["find_bad_utf8_patient"] = raw["find_first_page"].replace(b"MRN-1", b"MR\xc0\xaf")

out = os.path.join(ROOT, "services", "registry", "fuzz_corpus")
os.makedirs(out, exist_ok=True)
for name, data in raw.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(raw)} seeds in {out}")
