#!/usr/bin/env python3
"""hie-locator driven by an independent gRPC implementation: Python grpcio, with stubs compiled
at test time from the repository's .proto files (protoc, grpc_python_plugin).

Run by e2e_locator_test (PythonClientDrivesTheWireContract), which starts a private PostgreSQL
and hie-locator (no feeds followed):

  locator_python_client.py --target 127.0.0.1:PORT --certs DIR --proto-dir PROTO --work-dir DIR

Checks, over mutual TLS: an operator's ReportActivity (an idempotent retry, a conflicting
retry), Locate through the gateway's delegation (categories and activity filters, most recent
first), ListLocations paging, a member's removal and a patient's removal with their tombstones
(a report after a patient's removal is FAILED_PRECONDITION), bad input named in
INVALID_ARGUMENT, PERMISSION_DENIED for a member certificate calling directly and for a member
actor reporting another org's record. Exit status 0 when every check passes.
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
common_pb2 = locator_pb2 = locator_pb2_grpc = None
RUN = uuid.uuid4().hex[:12]
ORG = f"py-{RUN}"


def stub(cert):
    return locator_pb2_grpc.RecordLocatorStub(
        hub_grpc.secure_channel(grpc, ARGS.target, ARGS.certs, cert))


def context(org=None, role=None, purpose=None):
    c = common_pb2.RequestContext(
        request_id="py-" + uuid.uuid4().hex,
        purpose_of_use=purpose or common_pb2.PURPOSE_OF_USE_TREATMENT)
    if org:
        c.actor.org = org
        c.actor.role = role or common_pb2.ROLE_CLINICIAN
    return c


def sid(local, org=ORG):
    return common_pb2.SourceId(org=org, local_id=local)


def category(code):
    return common_pb2.Coding(system="urn:hie:data-category", code=code)


def report(local, seconds, key, categories=(), documents=0):
    request = locator_pb2.ReportActivityRequest(
        context=context(), source_id=sid(local), origin=locator_pb2.LOCATION_ORIGIN_ADMIN,
        data_categories=[category(c) for c in categories], documents_added=documents,
        idempotency_key=key)
    request.activity_time.seconds = seconds
    return stub("operator").ReportActivity(request, timeout=10)


class LocatorFromPython(unittest.TestCase):
    def test_1_reports_are_idempotent(self):
        first = report("r1", 1_700_000_100, f"{RUN}-1", ["imaging"], documents=2)
        self.assertEqual(first.document_count, 2)
        again = report("r1", 1_700_000_100, f"{RUN}-1", ["imaging"], documents=2)
        self.assertEqual(again, first)
        with self.assertRaises(grpc.RpcError) as conflict:
            report("r1", 1_700_000_100, f"{RUN}-1", ["imaging"], documents=3)
        self.assertEqual(conflict.exception.code(), grpc.StatusCode.ALREADY_EXISTS)

    def test_2_locate_through_the_gateway_filters_and_orders(self):
        report("r2", 1_700_000_300, f"{RUN}-2", ["lab-results"])
        report("r3", 1_700_000_200, f"{RUN}-3")  # categories unknown: always passes
        gateway = stub("gateway-client")
        located = gateway.Locate(locator_pb2.LocateRequest(
            context=context(org="clinic-a"),
            source_ids=[sid("r1"), sid("r2"), sid("r3"), sid("none")]), timeout=10)
        self.assertEqual([l.source_id.local_id for l in located.locations], ["r2", "r3", "r1"])
        imaging = gateway.Locate(locator_pb2.LocateRequest(
            context=context(org="clinic-a"), source_ids=[sid("r1"), sid("r2"), sid("r3")],
            data_categories=[category("imaging")]), timeout=10)
        self.assertEqual(sorted(l.source_id.local_id for l in imaging.locations), ["r1", "r3"])
        recent = locator_pb2.LocateRequest(context=context(org="clinic-a"),
                                           source_ids=[sid("r1"), sid("r2"), sid("r3")])
        recent.active_since.seconds = 1_700_000_250
        self.assertEqual([l.source_id.local_id for l in gateway.Locate(recent).locations],
                         ["r2"])

    def test_3_list_pages(self):
        seen = []
        request = locator_pb2.ListLocationsRequest(
            context=context(purpose=common_pb2.PURPOSE_OF_USE_OPERATIONS), org=ORG, page_size=2)
        while True:
            page = stub("operator").ListLocations(request, timeout=10)
            seen += [l.source_id.local_id for l in page.locations]
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        self.assertEqual(seen, ["r2", "r3", "r1"])

    def test_4_removals_leave_tombstones(self):
        op = stub("operator")
        op.DeleteLocation(locator_pb2.DeleteLocationRequest(
            context=context(), source_id=sid("r3"),
            reason_code=locator_pb2.REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS,
            reason="purged at the member", idempotency_key=f"{RUN}-d3"), timeout=10)
        op.DeleteLocation(locator_pb2.DeleteLocationRequest(
            context=context(), source_id=sid("r2"),
            reason_code=locator_pb2.REMOVAL_REASON_PATIENT_REQUEST,
            reason="privacy ticket", idempotency_key=f"{RUN}-d2"), timeout=10)
        with self.assertRaises(grpc.RpcError) as again:
            op.DeleteLocation(locator_pb2.DeleteLocationRequest(
                context=context(), source_id=sid("r2"),
                reason_code=locator_pb2.REMOVAL_REASON_PATIENT_REQUEST,
                reason="privacy ticket", idempotency_key=f"{RUN}-d2-other"), timeout=10)
        self.assertEqual(again.exception.code(), grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as refused:
            report("r2", int(time.time()), f"{RUN}-4")
        self.assertEqual(refused.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        listed = op.ListLocations(locator_pb2.ListLocationsRequest(
            context=context(purpose=common_pb2.PURPOSE_OF_USE_OPERATIONS), org=ORG,
            include_removed=True), timeout=10)
        removal = {l.source_id.local_id: l.removal.reason_code for l in listed.locations}
        self.assertEqual(removal, {
            "r1": locator_pb2.REMOVAL_REASON_UNSPECIFIED,
            "r2": locator_pb2.REMOVAL_REASON_PATIENT_REQUEST,
            "r3": locator_pb2.REMOVAL_REASON_MEMBER_NO_LONGER_HOLDS})
        # A member's removal is lifted by a newer report.
        report("r3", int(time.time()), f"{RUN}-5")
        located = stub("gateway-client").Locate(locator_pb2.LocateRequest(
            context=context(org="clinic-a"), source_ids=[sid("r2"), sid("r3")]), timeout=10)
        self.assertEqual([l.source_id.local_id for l in located.locations], ["r3"])

    def test_5_bad_input_names_the_field(self):
        with self.assertRaises(grpc.RpcError) as bad:
            stub("operator").DeleteLocation(locator_pb2.DeleteLocationRequest(
                context=context(), source_id=sid("r1"), reason="x",
                idempotency_key=f"{RUN}-bad"), timeout=10)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("reason_code", bad.exception.details())
        with self.assertRaises(grpc.RpcError) as bad_id:
            stub("operator").Locate(locator_pb2.LocateRequest(
                context=context(), source_ids=[sid("bad\u00e9id")]), timeout=10)
        self.assertEqual(bad_id.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("source_ids[0].local_id", bad_id.exception.details())

    def test_6_members_and_other_orgs_are_refused(self):
        with self.assertRaises(grpc.RpcError) as member:
            stub("clinic-a").Locate(locator_pb2.LocateRequest(
                context=context(), source_ids=[sid("r1")]), timeout=10)
        self.assertEqual(member.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        request = locator_pb2.ReportActivityRequest(
            context=context(org="clinic-a", role=common_pb2.ROLE_MEMBER_SYSTEM),
            source_id=sid("r9", org="clinic-b"), origin=locator_pb2.LOCATION_ORIGIN_ADMIN,
            idempotency_key=f"{RUN}-6")
        with self.assertRaises(grpc.RpcError) as other_org:
            stub("gateway-client").ReportActivity(request, timeout=10)
        self.assertEqual(other_org.exception.code(), grpc.StatusCode.PERMISSION_DENIED)


def main():
    global ARGS, grpc, common_pb2, locator_pb2, locator_pb2_grpc
    parser = argparse.ArgumentParser()
    for flag in ("--target", "--certs", "--proto-dir", "--work-dir"):
        parser.add_argument(flag, required=True)
    ARGS = parser.parse_args()
    hub_grpc.compile_stubs(ARGS.proto_dir, os.path.join(ARGS.work_dir, "stubs"),
                            ["hie/common/v1/common.proto", "hie/locator/v1/locator.proto"])
    import grpc as grpc_module
    grpc = grpc_module
    from hie.common.v1 import common_pb2 as c
    from hie.locator.v1 import locator_pb2 as lp, locator_pb2_grpc as lg
    common_pb2, locator_pb2, locator_pb2_grpc = c, lp, lg
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(LocatorFromPython)
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
