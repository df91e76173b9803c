#!/usr/bin/env python3
"""hie-consent driven by an independent gRPC implementation: Python grpcio, with stubs compiled
at test time from the repository's .proto files (protoc, grpc_python_plugin).

Run by e2e_consent_test (PythonClient), which starts a private PostgreSQL and hie-consent
(default mode opt-out):

  consent_python_client.py --target 127.0.0.1:PORT --certs DIR --proto-dir PROTO --work-dir DIR

Checks, over mutual TLS: CreateDirective through the gateway's delegation (an idempotent retry,
a conflicting retry), ListDirectives, Decide before and after RevokeDirective, bad input named
in INVALID_ARGUMENT, PERMISSION_DENIED for a member certificate calling directly and for an
actor of another org writing a directive. Exit status 0 when every check passes.
"""

import argparse
import os
import sys
import time
import unittest
import uuid

import hub_grpc

ARGS = None
grpc = None
common_pb2 = consent_pb2 = consent_pb2_grpc = None


def stub(cert):
    return consent_pb2_grpc.ConsentServiceStub(hub_grpc.secure_channel(grpc, ARGS.target, ARGS.certs, cert))


RUN = uuid.uuid4().hex[:12]


def context(org, role, purpose=None, user="py-user"):
    return common_pb2.RequestContext(
        request_id="py-" + uuid.uuid4().hex,
        purpose_of_use=purpose or common_pb2.PURPOSE_OF_USE_OPERATIONS,
        actor=common_pb2.Actor(org=org, user_id=user, role=role))


def records_staff():
    return context("clinic-a", common_pb2.ROLE_ADMINISTRATIVE_STAFF)


PATIENT = None  # set in main(), once the stubs are imported


def deny_directive(comment="no sharing"):
    d = consent_pb2.ConsentDirective(patient=PATIENT, effect=consent_pb2.EFFECT_DENY,
                                     comment=comment)
    d.effective_period.start.FromSeconds(int(time.time()) - 3600)
    return d


def decide(gateway, patients=None, custodian="clinic-a"):
    return gateway.Decide(consent_pb2.DecideRequest(
        context=context("clinic-b", common_pb2.ROLE_CLINICIAN,
                        common_pb2.PURPOSE_OF_USE_TREATMENT),
        patients=patients if patients is not None else [PATIENT], custodian_org=custodian),
        timeout=10)


class ConsentFromPython(unittest.TestCase):
    directive = None

    def test_1_create_is_idempotent_and_refuses_conflicts(self):
        gateway = stub("gateway-client")
        request = consent_pb2.CreateDirectiveRequest(
            context=records_staff(), directive=deny_directive(), idempotency_key=f"py-{RUN}-1")
        first = gateway.CreateDirective(request, timeout=10)
        self.assertTrue(first.directive_id.startswith("cd-"), first.directive_id)
        self.assertEqual(first.state, consent_pb2.DIRECTIVE_STATE_ACTIVE)
        self.assertEqual(first.recorded_by.org, "clinic-a")
        self.assertTrue(first.etag)
        request.context.request_id = "py-" + uuid.uuid4().hex
        again = gateway.CreateDirective(request, timeout=10)
        self.assertEqual((again.directive_id, again.etag), (first.directive_id, first.etag))
        with self.assertRaises(grpc.RpcError) as conflict:
            gateway.CreateDirective(consent_pb2.CreateDirectiveRequest(
                context=records_staff(), directive=deny_directive(comment="other"),
                idempotency_key=f"py-{RUN}-1"), timeout=10)
        self.assertEqual(conflict.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        ConsentFromPython.directive = first

    def test_2_list_and_decide(self):
        gateway = stub("gateway-client")
        listed = gateway.ListDirectives(consent_pb2.ListDirectivesRequest(
            context=records_staff(), patients=[PATIENT]), timeout=10).directives
        self.assertEqual([d.directive_id for d in listed], [self.directive.directive_id])
        decision = decide(gateway)
        self.assertEqual(decision.effect, consent_pb2.EFFECT_DENY)
        self.assertEqual(decision.basis, consent_pb2.DECISION_BASIS_DIRECTIVE)
        self.assertEqual(decision.directive_id, self.directive.directive_id)
        self.assertTrue(decision.decision_id)
        self.assertGreater(decision.view_version, 0)
        # Another person's record is not affected.
        other = decide(gateway, [common_pb2.SourceId(org="clinic-a", local_id=f"other-{RUN}")])
        self.assertEqual(other.effect, consent_pb2.EFFECT_PERMIT)
        self.assertEqual(other.basis, consent_pb2.DECISION_BASIS_DEFAULT_POLICY)
        self.assertLessEqual(other.cache_ttl.ToTimedelta().total_seconds(), 1.0)

    def test_3_revoke_then_permit(self):
        gateway = stub("gateway-client")
        revoked = gateway.RevokeDirective(consent_pb2.RevokeDirectiveRequest(
            context=records_staff(), directive_id=self.directive.directive_id,
            reason="withdrawn", etag=self.directive.etag, idempotency_key=f"py-{RUN}-2"),
            timeout=10)
        self.assertEqual(revoked.state, consent_pb2.DIRECTIVE_STATE_REVOKED)
        self.assertNotEqual(revoked.etag, self.directive.etag)
        decision = decide(gateway)
        self.assertEqual(decision.effect, consent_pb2.EFFECT_PERMIT)
        self.assertEqual(decision.basis, consent_pb2.DECISION_BASIS_DEFAULT_POLICY)
        with self.assertRaises(grpc.RpcError) as stale:
            gateway.RevokeDirective(consent_pb2.RevokeDirectiveRequest(
                context=records_staff(), directive_id=self.directive.directive_id,
                reason="again", etag=self.directive.etag, idempotency_key=f"py-{RUN}-3"),
                timeout=10)
        self.assertIn(stale.exception.code(),
                      (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION))

    def test_4_bad_input_names_the_field(self):
        gateway = stub("gateway-client")
        no_start = deny_directive()
        no_start.ClearField("effective_period")
        with self.assertRaises(grpc.RpcError) as bad:
            gateway.CreateDirective(consent_pb2.CreateDirectiveRequest(
                context=records_staff(), directive=no_start, idempotency_key=f"py-{RUN}-4"),
                timeout=10)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("directive.effective_period.start", bad.exception.details())
        with self.assertRaises(grpc.RpcError) as no_custodian:
            decide(gateway, custodian="")
        self.assertEqual(no_custodian.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("custodian_org", no_custodian.exception.details())

    def test_5_members_and_other_orgs_are_refused(self):
        with self.assertRaises(grpc.RpcError) as member:
            decide(stub("clinic-b"))
        self.assertEqual(member.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        with self.assertRaises(grpc.RpcError) as other_org:
            stub("gateway-client").CreateDirective(consent_pb2.CreateDirectiveRequest(
                context=context("clinic-b", common_pb2.ROLE_ADMINISTRATIVE_STAFF),
                directive=deny_directive(), idempotency_key=f"py-{RUN}-5"), timeout=10)
        self.assertEqual(other_org.exception.code(), grpc.StatusCode.PERMISSION_DENIED)


def main():
    global ARGS, grpc, common_pb2, consent_pb2, consent_pb2_grpc, PATIENT
    parser = argparse.ArgumentParser()
    for flag in ("--target", "--certs", "--proto-dir", "--work-dir"):
        parser.add_argument(flag, required=True)
    ARGS = parser.parse_args()
    hub_grpc.compile_stubs(ARGS.proto_dir, os.path.join(ARGS.work_dir, "stubs"),
                            ["hie/common/v1/common.proto", "hie/consent/v1/consent.proto"])
    import grpc as grpc_module
    grpc = grpc_module
    from hie.common.v1 import common_pb2 as c
    from hie.consent.v1 import consent_pb2 as cp, consent_pb2_grpc as cg
    common_pb2, consent_pb2, consent_pb2_grpc = c, cp, cg
    PATIENT = common_pb2.SourceId(org="clinic-a", local_id=f"py-{RUN}")
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(ConsentFromPython)
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
