#!/usr/bin/env python3
"""hie-audit driven by an independent gRPC implementation: Python grpcio, with stubs compiled at
test time from the repository's .proto files (protoc, grpc_python_plugin).

Run by e2e_audit_test (PythonClient), which starts a private PostgreSQL and hie-audit:

  audit_python_client.py --target 127.0.0.1:PORT --certs DIR --proto-dir PROTO --work-dir DIR

Checks, over mutual TLS: Record and RecordBatch (idempotent retries, a conflicting retry, a bad
field named, a caller that may not write); search; the chain recomputed HERE from the documented
canonical encoding (services/audit/core/canonical.h), independently of the C++ encoder; Verify;
a checkpoint whose Ed25519 signature is verified here with the listed public key.
Exit status 0 when every check passes.
"""

import argparse
import hashlib
import os
import struct
import sys
import time
import unittest
import uuid

import hub_grpc

ARGS = None
grpc = None
common_pb2 = audit_pb2 = audit_pb2_grpc = None


def stub(cert):
    return audit_pb2_grpc.AuditLogStub(hub_grpc.secure_channel(grpc, ARGS.target, ARGS.certs, cert))


def context():
    return common_pb2.RequestContext(request_id="py-" + uuid.uuid4().hex)


RUN = uuid.uuid4().hex[:12]
EVENT_TIME = int(time.time()) - 10  # one event time, so that a retry is the same content


def event(n, **overrides):
    e = audit_pb2.AuditEvent(
        event_id=f"py-{RUN}-{n}", type=audit_pb2.EVENT_TYPE_DISCLOSURE,
        action="gateway.RetrieveDocument", outcome=audit_pb2.OUTCOME_SUCCESS,
        actor=common_pb2.Actor(org="clinic-a", user_id=f"py-{RUN}",
                               role=common_pb2.ROLE_CLINICIAN),
        purpose_of_use=common_pb2.PURPOSE_OF_USE_TREATMENT, request_id=f"req-{n}",
        patients=[common_pb2.SourceId(org="clinic-b", local_id="MRN-7")],
        custodian_org="clinic-b", recipient_org="clinic-a",
        objects=[audit_pb2.ObjectRef(kind="document", id=f"doc-{n}")],
        details={"zeta": "1", "alpha": "2"},
        caller_subject="O=clinic-a,OU=member,CN=emr-1", network_address="ipv4:10.1.2.3:4567")
    e.event_time.FromSeconds(EVENT_TIME)
    for key, value in overrides.items():
        setattr(e, key, value)
    return e


# --- The canonical encoding, version 1, written from its documentation ---------------------

def u32(v):
    return struct.pack(">I", v)


def i64(v):
    return struct.pack(">q", v)


def s(v):
    b = v.encode("utf-8")
    return u32(len(b)) + b


def nanos(ts):
    return ts.seconds * 1_000_000_000 + ts.nanos


def encode(e):
    out = b"HIE-AUDIT-EVENT\0" + bytes([1])
    out += i64(e.sequence) + i64(nanos(e.record_time))
    out += s(e.event_id) + i64(nanos(e.event_time)) + u32(e.type) + s(e.action)
    out += u32(e.outcome) + s(e.status_code)
    out += s(e.actor.org) + s(e.actor.user_id) + u32(e.actor.role) + u32(e.purpose_of_use)
    out += s(e.request_id) + s(e.client_request_id)
    out += u32(len(e.patients)) + b"".join(s(p.org) + s(p.local_id) for p in e.patients)
    out += s(e.person_id) + s(e.custodian_org) + s(e.recipient_org)
    out += u32(len(e.objects)) + b"".join(s(o.kind) + s(o.id) for o in e.objects)
    out += s(e.decision_id) + s(e.directive_id) + s(e.break_glass_id) + s(e.source_service)
    out += s(e.caller_subject) + s(e.network_address)
    keys = sorted(e.details.keys(), key=lambda k: k.encode("utf-8"))
    out += u32(len(keys)) + b"".join(s(k) + s(e.details[k]) for k in keys)
    return out


def encode_checkpoint(c):
    return (b"HIE-AUDIT-CHKPT\0" + bytes([1]) + i64(c.sequence) + c.head_hash +
            i64(nanos(c.create_time)) + s(c.key_id))


class AuditFromPython(unittest.TestCase):

    def test_1_record_is_idempotent_and_refuses_conflicts(self):
        gateway = stub("gateway-client")
        first = gateway.Record(audit_pb2.RecordRequest(context=context(), event=event(1)),
                               timeout=10)
        self.assertGreaterEqual(first.sequence, 1)
        self.assertEqual(len(first.hash), 32)
        again = gateway.Record(audit_pb2.RecordRequest(context=context(), event=event(1)),
                               timeout=10)
        self.assertEqual((again.sequence, again.hash), (first.sequence, first.hash))
        with self.assertRaises(grpc.RpcError) as conflict:
            gateway.Record(audit_pb2.RecordRequest(
                context=context(), event=event(1, action="gateway.Other")), timeout=10)
        self.assertEqual(conflict.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        batch = gateway.RecordBatch(audit_pb2.RecordBatchRequest(
            context=context(), events=[event(2), event(3), event(4)]), timeout=10)
        self.assertEqual([r.sequence for r in batch.results],
                         [batch.results[0].sequence + i for i in range(3)])

    def test_2_bad_input_names_the_field_and_writers_are_services_only(self):
        gateway = stub("gateway-client")
        with self.assertRaises(grpc.RpcError) as bad:
            gateway.RecordBatch(audit_pb2.RecordBatchRequest(
                context=context(), events=[event(5), event(6, event_id="")]), timeout=10)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("events[1].event_id", bad.exception.details())
        with self.assertRaises(grpc.RpcError) as bad_utf8:
            e = event(7)
            e.details["note"] = "\x1b[2J"
            gateway.Record(audit_pb2.RecordRequest(context=context(), event=e), timeout=10)
        self.assertEqual(bad_utf8.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("details", bad_utf8.exception.details())
        with self.assertRaises(grpc.RpcError) as denied:
            stub("auditor").Record(audit_pb2.RecordRequest(context=context(), event=event(8)),
                                   timeout=10)
        self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_3_chain_recomputes_from_the_documented_encoding(self):
        auditor = stub("auditor")
        request = audit_pb2.SearchEventsRequest(context=context(), actor_user_id=f"py-{RUN}",
                                                page_size=100)
        request.event_time.start.FromSeconds(int(time.time()) - 3600)
        found = auditor.SearchEvents(request, timeout=10).events
        self.assertEqual(len(found), 4)  # 1, 2, 3, 4; the refused ones are not there
        for e in found:
            h = hashlib.sha256(e.previous_hash + encode(e)).digest()
            self.assertEqual(h, e.hash, f"sequence {e.sequence} recomputed in Python")
            self.assertEqual(e.source_service, "gateway")  # the certificate CN, set by hie-audit
        by_sequence = {e.sequence: e for e in found}
        for seq, e in by_sequence.items():
            if seq - 1 in by_sequence:
                self.assertEqual(e.previous_hash, by_sequence[seq - 1].hash)

    def test_4_verify_and_a_checkpoint_verified_here(self):
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
        auditor = stub("auditor")
        result = auditor.Verify(audit_pb2.VerifyRequest(context=context()), timeout=60)
        self.assertEqual(result.status, audit_pb2.VerifyResult.STATUS_VALID, result.detail)
        checkpoint = auditor.CreateCheckpoint(audit_pb2.CreateCheckpointRequest(
            context=context()), timeout=10)
        keys = auditor.ListSigningKeys(audit_pb2.ListSigningKeysRequest(context=context()),
                                       timeout=10).keys
        key = next(k for k in keys if k.key_id == checkpoint.key_id)
        public = load_pem_public_key(key.public_key_pem.encode())
        public.verify(checkpoint.signature, encode_checkpoint(checkpoint))  # raises if invalid
        with self.assertRaises(Exception):
            public.verify(checkpoint.signature, encode_checkpoint(checkpoint) + b"x")


def main():
    global ARGS, grpc, common_pb2, audit_pb2, audit_pb2_grpc
    parser = argparse.ArgumentParser()
    for flag in ("--target", "--certs", "--proto-dir", "--work-dir"):
        parser.add_argument(flag, required=True)
    ARGS = parser.parse_args()
    hub_grpc.compile_stubs(ARGS.proto_dir, os.path.join(ARGS.work_dir, "stubs"),
                            ["hie/common/v1/common.proto", "hie/audit/v1/audit.proto"])
    import grpc as grpc_module
    grpc = grpc_module
    from hie.common.v1 import common_pb2 as c
    from hie.audit.v1 import audit_pb2 as a, audit_pb2_grpc as ag
    common_pb2, audit_pb2, audit_pb2_grpc = c, a, ag
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(AuditFromPython)
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
