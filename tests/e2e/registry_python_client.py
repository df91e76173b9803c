#!/usr/bin/env python3
"""hie-registry driven by an independent gRPC implementation: Python grpcio, with stubs compiled
at test time from the repository's .proto files (protoc, grpc_python_plugin).

Run by e2e_registry_test (PythonClient), which starts a private PostgreSQL and hie-registry:

  registry_python_client.py --target 127.0.0.1:PORT --certs DIR --proto-dir PROTO --work-dir DIR

Checks, over mutual TLS: a submission set published through the gateway's delegation (an
idempotent retry, a conflicting retry), FindDocuments with a filter and paging, a replacement
that deprecates its target, GetRelatedDocuments, bad input named in INVALID_ARGUMENT (SHA-1
alone), PERMISSION_DENIED for a member certificate calling directly and for an actor publishing
another org's record. Exit status 0 when every check passes.
"""

import argparse
import hashlib
import os
import sys
import unittest
import uuid

import hub_grpc

ARGS = None
grpc = None
common_pb2 = registry_pb2 = registry_pb2_grpc = None
RUN = uuid.uuid4().hex[:12]


def stub(cert):
    return registry_pb2_grpc.DocumentRegistryStub(
        hub_grpc.secure_channel(grpc, ARGS.target, ARGS.certs, cert))


def context(org="clinic-a", role=None, purpose=None):
    return common_pb2.RequestContext(
        request_id="py-" + uuid.uuid4().hex,
        purpose_of_use=purpose or common_pb2.PURPOSE_OF_USE_TREATMENT,
        actor=common_pb2.Actor(org=org, role=role or common_pb2.ROLE_MEMBER_SYSTEM))


def patient():
    return common_pb2.SourceId(org="clinic-a", local_id=f"py-{RUN}")


def entry(unique_id, created, content=b"document"):
    e = registry_pb2.DocumentEntry(
        unique_id=unique_id, patient=patient(),
        class_code=common_pb2.Coding(system="http://loinc.org", code="11488-4"),
        type_code=common_pb2.Coding(system="http://loinc.org", code="11488-4"),
        format_code=common_pb2.Coding(system="urn:ihe:format", code="urn:ihe:pcc:xphr:2007"),
        mime_type="text/xml",
        confidentiality_codes=[common_pb2.Coding(
            system="http://terminology.hl7.org/CodeSystem/v3-Confidentiality", code="N")],
        hash=registry_pb2.ContentHash(algorithm=registry_pb2.ContentHash.ALGORITHM_SHA256,
                                      digest=hashlib.sha256(content).digest()),
        size_bytes=len(content),
        location=registry_pb2.DocumentLocation(member_org="clinic-a",
                                               repository_unique_id="1.2.3"))
    e.creation_time.FromSeconds(created)
    return e


def submission(key, entries, associations=(), org="clinic-a"):
    return registry_pb2.RegisterSubmissionSetRequest(
        context=context(org), idempotency_key=key,
        submission_set=registry_pb2.SubmissionSet(unique_id=f"set.{key}"),
        entries=entries, associations=list(associations))


class RegistryFromPython(unittest.TestCase):
    first = None

    def test_1_publish_is_idempotent_and_refuses_conflicts(self):
        gateway = stub("gateway-client")
        request = submission(f"py-{RUN}-1", [entry(f"1.{RUN}.1", 1000), entry(f"1.{RUN}.2", 2000)])
        first = gateway.RegisterSubmissionSet(request, timeout=10)
        self.assertEqual(len(first.entries), 2)
        self.assertTrue(first.entries[0].entry_uuid.startswith("urn:uuid:"))
        self.assertEqual(first.entries[0].status, registry_pb2.AVAILABILITY_STATUS_APPROVED)
        self.assertEqual(first.submission_set.source_org, "clinic-a")
        request.context.request_id = "py-" + uuid.uuid4().hex
        again = gateway.RegisterSubmissionSet(request, timeout=10)
        self.assertEqual([e.entry_uuid for e in again.entries],
                         [e.entry_uuid for e in first.entries])
        request.entries[0].title = "another request"
        with self.assertRaises(grpc.RpcError) as conflict:
            gateway.RegisterSubmissionSet(request, timeout=10)
        self.assertEqual(conflict.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        RegistryFromPython.first = first

    def test_2_find_pages_newest_first(self):
        gateway = stub("gateway-client")
        find = registry_pb2.FindDocumentsRequest(context=context(), patients=[patient()],
                                                 page_size=1)
        page = gateway.FindDocuments(find, timeout=10)
        self.assertEqual([e.unique_id for e in page.entries], [f"1.{RUN}.2"])
        self.assertTrue(page.next_page_token)
        find.page_token = page.next_page_token
        page = gateway.FindDocuments(find, timeout=10)
        self.assertEqual([e.unique_id for e in page.entries], [f"1.{RUN}.1"])
        self.assertFalse(page.next_page_token)
        other = registry_pb2.FindDocumentsRequest(
            context=context(), patients=[patient()],
            query=registry_pb2.DocumentQuery(
                class_codes=[common_pb2.Coding(system="http://loinc.org", code="11502-2")]))
        self.assertEqual(len(gateway.FindDocuments(other, timeout=10).entries), 0)

    def test_3_replace_deprecates_its_target(self):
        gateway = stub("gateway-client")
        target = self.first.entries[0].entry_uuid
        replaced = gateway.RegisterSubmissionSet(submission(
            f"py-{RUN}-3", [entry(f"1.{RUN}.3", 3000, b"version 2")],
            [registry_pb2.Association(type=registry_pb2.ASSOCIATION_TYPE_REPLACE,
                                      source=f"1.{RUN}.3", target_entry_uuid=target)]),
            timeout=10)
        self.assertEqual(list(replaced.deprecated_entry_uuids), [target])
        self.assertEqual(replaced.entries[0].version, 2)
        related = gateway.GetRelatedDocuments(registry_pb2.GetRelatedDocumentsRequest(
            context=context(), entry_uuid=target), timeout=10)
        self.assertEqual([e.entry_uuid for e in related.entries],
                         [replaced.entries[0].entry_uuid])
        got = gateway.GetDocuments(registry_pb2.GetDocumentsRequest(
            context=context(), entry_uuids=[target]), timeout=10)
        self.assertEqual(got.entries[0].status, registry_pb2.AVAILABILITY_STATUS_DEPRECATED)
        with self.assertRaises(grpc.RpcError) as onto_deprecated:
            gateway.RegisterSubmissionSet(submission(
                f"py-{RUN}-4", [entry(f"1.{RUN}.4", 4000)],
                [registry_pb2.Association(type=registry_pb2.ASSOCIATION_TYPE_APPEND,
                                          source=f"1.{RUN}.4", target_entry_uuid=target)]),
                timeout=10)
        self.assertEqual(onto_deprecated.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_4_bad_input_names_the_field(self):
        sha1 = entry(f"1.{RUN}.5", 5000)
        sha1.hash.algorithm = registry_pb2.ContentHash.ALGORITHM_SHA1
        sha1.hash.digest = hashlib.sha1(b"document").digest()
        with self.assertRaises(grpc.RpcError) as bad:
            stub("gateway-client").RegisterSubmissionSet(submission(f"py-{RUN}-5", [sha1]),
                                                         timeout=10)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("entries[0].hash.algorithm", bad.exception.details())

    def test_5_members_and_other_orgs_are_refused(self):
        with self.assertRaises(grpc.RpcError) as member:
            stub("clinic-a").FindDocuments(registry_pb2.FindDocumentsRequest(
                context=context(), patients=[patient()]), timeout=10)
        self.assertEqual(member.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        with self.assertRaises(grpc.RpcError) as other_org:
            stub("gateway-client").RegisterSubmissionSet(submission(
                f"py-{RUN}-6", [entry(f"1.{RUN}.6", 6000)], org="clinic-b"), timeout=10)
        self.assertEqual(other_org.exception.code(), grpc.StatusCode.PERMISSION_DENIED)


def main():
    global ARGS, grpc, common_pb2, registry_pb2, registry_pb2_grpc
    parser = argparse.ArgumentParser()
    for flag in ("--target", "--certs", "--proto-dir", "--work-dir"):
        parser.add_argument(flag, required=True)
    ARGS = parser.parse_args()
    hub_grpc.compile_stubs(ARGS.proto_dir, os.path.join(ARGS.work_dir, "stubs"),
                            ["hie/common/v1/common.proto", "hie/registry/v1/registry.proto"])
    import grpc as grpc_module
    grpc = grpc_module
    from hie.common.v1 import common_pb2 as c
    from hie.registry.v1 import registry_pb2 as rp, registry_pb2_grpc as rg
    common_pb2, registry_pb2, registry_pb2_grpc = c, rp, rg
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(RegistryFromPython)
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
