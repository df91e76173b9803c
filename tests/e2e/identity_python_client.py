#!/usr/bin/env python3
"""hie-identity driven by an independent gRPC implementation: Python grpcio (Debian package
python3-grpcio), with stubs compiled at test time from the repository's .proto files by protoc
and grpc_python_plugin (Debian protobuf-compiler, protobuf-compiler-grpc).

Run by e2e_identity_python_client_test, which starts a private PostgreSQL and hie-identity:

  identity_python_client.py --target 127.0.0.1:PORT --certs DIR --rogue-certs DIR
                            --proto-dir PROTO --work-dir DIR

Checks, over mutual TLS: health; register, resolve and search a record; hostile input refused
with INVALID_ARGUMENT naming the field, and nothing stored; roles from the certificate; a
client without a certificate, or with one from another CA, refused in the TLS handshake.
Exit status 0 when every check passes.
"""

import argparse
import os
import socket
import ssl
import sys
import unittest
import uuid

import hub_grpc

ARGS = None
grpc = None
common_pb2 = identity_pb2 = identity_pb2_grpc = None


read = hub_grpc.read


def credentials(cert=None, certs_dir=None):
    certs_dir = certs_dir or ARGS.certs
    ca = read(os.path.join(ARGS.certs, "ca.pem"))  # we always trust the hub's CA
    if cert is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=read(os.path.join(certs_dir, cert + ".key")),
        certificate_chain=read(os.path.join(certs_dir, cert + ".pem")))


def channel(cert="operator", certs_dir=None):
    return grpc.secure_channel(ARGS.target, credentials(cert, certs_dir),
                               options=[("grpc.ssl_target_name_override", "localhost")])


def stub(cert="operator", certs_dir=None):
    return identity_pb2_grpc.IdentityServiceStub(channel(cert, certs_dir))


def context():
    return common_pb2.RequestContext(request_id="py-" + uuid.uuid4().hex,
                                     purpose_of_use=common_pb2.PURPOSE_OF_USE_OPERATIONS)


def demographics(family="Abernathy-Quist", given="Winifred", birth_date="1961-07-23"):
    return common_pb2.Demographics(
        name=common_pb2.PersonName(family=family, given=given),
        birth_date=birth_date,
        sex=common_pb2.SEX_FEMALE,
        addresses=[common_pb2.Address(lines=["48 Larkspur Row"], city="Millbrook",
                                      postal_code="61822")],
        phones=[common_pb2.ContactPoint(value="217-555-0188")])


def register(s, org, local_id, demo, key=None):
    return s.RegisterSourceRecord(identity_pb2.RegisterSourceRecordRequest(
        context=context(), source_id=common_pb2.SourceId(org=org, local_id=local_id),
        demographics=demo, idempotency_key=key or "py-" + uuid.uuid4().hex), timeout=10)


class IdentityFromPython(unittest.TestCase):

    def test_health_is_serving(self):
        check = channel().unary_unary("/grpc.health.v1.Health/Check",
                                      request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)
        # HealthCheckRequest{service: ""} is empty; HealthCheckResponse{status: SERVING} is
        # field 1, varint 1.
        self.assertEqual(check(b"", timeout=5), b"\x08\x01")

    def test_register_resolve_and_search(self):
        s = stub()
        registered = register(s, "clinic-a", "PY-1", demographics(), key="py-register-1")
        self.assertTrue(registered.created)
        self.assertEqual(registered.record.version, 1)
        self.assertTrue(registered.person_id)
        again = register(s, "clinic-a", "PY-1", demographics(), key="py-register-1")
        self.assertEqual(again.person_id, registered.person_id, "idempotent retry")
        self.assertEqual(again.record.version, 1)

        resolved = s.Resolve(identity_pb2.ResolveRequest(
            context=context(), source_id=common_pb2.SourceId(org="clinic-a", local_id="PY-1")),
            timeout=10)
        self.assertEqual(resolved.person_id, registered.person_id)
        self.assertIn(("clinic-a", "PY-1"),
                      [(r.source_id.org, r.source_id.local_id) for r in resolved.cross_references])

        found = s.SearchPersons(identity_pb2.SearchPersonsRequest(
            context=context(), query=common_pb2.Demographics(
                name=common_pb2.PersonName(family="Abernathy-Quist", given="Winifred"),
                birth_date="1961-07-23")), timeout=10)
        self.assertGreaterEqual(len(found.matches), 1)
        best = found.matches[0]
        self.assertEqual(best.candidate.person_id, registered.person_id)
        self.assertGreater(len(best.candidate.explanation.fields), 0, "explained")
        self.assertIn(("clinic-a", "PY-1"),
                      [(i.org, i.local_id) for i in best.source_ids])

    def assert_refused(self, local_id, demo, field):
        s = stub()
        with self.assertRaises(grpc.RpcError) as refused:
            register(s, "clinic-a", local_id, demo)
        code, details = refused.exception.code(), refused.exception.details()
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, details)
        self.assertIn(field, details)
        # Nothing stored.
        if len(local_id) <= 128 and "\x1b" not in local_id:
            with self.assertRaises(grpc.RpcError) as missing:
                s.GetSourceRecord(identity_pb2.GetSourceRecordRequest(
                    context=context(),
                    source_id=common_pb2.SourceId(org="clinic-a", local_id=local_id)), timeout=10)
            self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_name_with_an_escape_character_is_refused_naming_the_field(self):
        self.assert_refused("PY-ESC-1", demographics(family="Smi\x1bth"), "name.family")
        self.assert_refused("PY-ESC-2", demographics(given="Win\x1b[2Jifred"), "name.given")

    def test_local_id_with_an_escape_character_is_refused_naming_the_field(self):
        self.assert_refused("PY\x1b-3", demographics(), "source_id.local_id")

    def test_over_long_values_are_refused_naming_the_field(self):
        self.assert_refused("L" * 129, demographics(), "source_id.local_id")
        self.assert_refused("PY-LONG-2", demographics(family="Q" * 300), "name.family")

    def test_impossible_birth_date_is_refused_naming_the_field(self):
        self.assert_refused("PY-DATE-1", demographics(birth_date="1984-02-30"), "birth_date")

    def test_roles_come_from_the_certificate(self):
        for cert in ("clinic-a", "auditor"):
            with self.assertRaises(grpc.RpcError) as denied:
                register(stub(cert), "clinic-a", "PY-ROLE-" + cert, demographics())
            self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED, cert)
        # An auditor may read.
        stub("auditor").ListReviewTasks(
            identity_pb2.ListReviewTasksRequest(context=context()), timeout=10)

    def test_the_gateway_acts_for_the_user_it_names(self):
        ctx = context()
        ctx.actor.CopyFrom(common_pb2.Actor(org="clinic-a", user_id="dr-okafor",
                                            role=common_pb2.ROLE_CLINICIAN))
        sid = common_pb2.SourceId(org="clinic-a", local_id="PY-GW-1")
        stub("gateway-client").RegisterSourceRecord(identity_pb2.RegisterSourceRecordRequest(
            context=ctx, source_id=sid,
            demographics=demographics(family="Ferreira-Lind", given="Otto",
                                      birth_date="1979-03-04"),
            idempotency_key="py-gw-1"), timeout=10)
        history = stub("operator").GetHistory(identity_pb2.GetHistoryRequest(
            context=context(), source_id=sid,
            types=[identity_pb2.IDENTITY_EVENT_TYPE_RECORD_CREATED]), timeout=10)
        self.assertEqual(len(history.events), 1)
        actor = history.events[0].actor
        self.assertEqual((actor.org, actor.user_id, actor.role),
                         ("clinic-a", "dr-okafor", common_pb2.ROLE_CLINICIAN))
        # A member's user only touches its own organisation's records.
        with self.assertRaises(grpc.RpcError) as denied:
            stub("gateway-client").RegisterSourceRecord(identity_pb2.RegisterSourceRecordRequest(
                context=ctx, source_id=common_pb2.SourceId(org="clinic-b", local_id="PY-GW-2"),
                demographics=demographics(), idempotency_key="py-gw-2"), timeout=10)
        self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        # The gateway must say whom it acts for.
        with self.assertRaises(grpc.RpcError) as refused:
            register(stub("gateway-client"), "clinic-a", "PY-GW-3", demographics())
        self.assertEqual(refused.exception.code(), grpc.StatusCode.INVALID_ARGUMENT,
                         refused.exception.details())
        self.assertIn("context.actor", refused.exception.details())

    def test_other_hub_services_only_read_as_themselves(self):
        register(stub(), "clinic-a", "PY-SVC-1", demographics(family="Lindqvist", given="Maj",
                                                              birth_date="1948-11-30"))
        locator = stub("locator-client")
        with self.assertRaises(grpc.RpcError) as denied:
            register(locator, "clinic-a", "PY-SVC-2", demographics())
        self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        resolved = locator.Resolve(identity_pb2.ResolveRequest(
            context=context(), source_id=common_pb2.SourceId(org="clinic-a", local_id="PY-SVC-1")),
            timeout=10)
        self.assertTrue(resolved.person_id)
        ctx = context()
        ctx.actor.CopyFrom(common_pb2.Actor(org="clinic-a", user_id="dr-okafor",
                                            role=common_pb2.ROLE_CLINICIAN))
        with self.assertRaises(grpc.RpcError) as impersonating:
            locator.Resolve(identity_pb2.ResolveRequest(
                context=ctx, source_id=common_pb2.SourceId(org="clinic-a", local_id="PY-SVC-1")),
                timeout=10)
        self.assertEqual(impersonating.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_server_certificates_cannot_be_used_to_call(self):
        # identity.pem and gateway.pem are servers' certificates (serverAuth only).
        for cert in ("identity", "gateway"):
            with self.assertRaises(grpc.RpcError) as refused:
                stub(cert).Resolve(identity_pb2.ResolveRequest(
                    context=context(), source_id=common_pb2.SourceId(org="clinic-a",
                                                                     local_id="PY-1")), timeout=5)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE,
                             f"{cert}: {refused.exception.details()}")

    def test_no_client_certificate_is_refused_in_the_handshake(self):
        with self.assertRaises(grpc.RpcError) as refused:
            stub(cert=None).Resolve(identity_pb2.ResolveRequest(
                context=context(), source_id=common_pb2.SourceId(org="clinic-a",
                                                                 local_id="PY-1")), timeout=5)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE,
                         refused.exception.details())
        # At the TLS level: with the operator's certificate the server answers the HTTP/2
        # preface with its SETTINGS frame; without a certificate the handshake is refused (in
        # TLS 1.3 the server's alert arrives on the first read) and no HTTP/2 byte comes.
        self.assertTrue(self.raw_tls_exchange(with_cert=True),
                        "control: with a certificate the server speaks HTTP/2")
        self.assertFalse(self.raw_tls_exchange(with_cert=False),
                         "without a certificate the server spoke HTTP/2")

    def test_certificate_from_another_ca_is_refused(self):
        with self.assertRaises(grpc.RpcError) as refused:
            stub("operator", certs_dir=ARGS.rogue_certs).Resolve(identity_pb2.ResolveRequest(
                context=context(), source_id=common_pb2.SourceId(org="clinic-a",
                                                                 local_id="PY-1")), timeout=5)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE,
                         refused.exception.details())

    def raw_tls_exchange(self, with_cert):
        """True when the server completed the handshake and sent HTTP/2 bytes."""
        host, port = ARGS.target.rsplit(":", 1)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.load_verify_locations(os.path.join(ARGS.certs, "ca.pem"))
        tls.set_alpn_protocols(["h2"])
        if with_cert:
            tls.load_cert_chain(os.path.join(ARGS.certs, "operator.pem"),
                                os.path.join(ARGS.certs, "operator.key"))
        try:
            with socket.create_connection((host, int(port)), timeout=5) as raw:
                with tls.wrap_socket(raw, server_hostname="localhost") as conn:
                    conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                                 b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # empty SETTINGS
                    return len(conn.recv(1024)) > 0
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout) as e:
            print(f"  (TLS {'with' if with_cert else 'without'} a certificate: {e!r})")
            return False


def main():
    global ARGS, grpc, common_pb2, identity_pb2, identity_pb2_grpc
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--certs", required=True)
    parser.add_argument("--rogue-certs", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS = parser.parse_args()
    import grpc as grpc_module
    grpc = grpc_module
    hub_grpc.compile_stubs(ARGS.proto_dir, os.path.join(ARGS.work_dir, "gen"),
                           ["hie/common/v1/common.proto", "hie/identity/v1/identity.proto"])
    from hie.common.v1 import common_pb2 as c
    from hie.identity.v1 import identity_pb2 as i, identity_pb2_grpc as ig
    common_pb2, identity_pb2, identity_pb2_grpc = c, i, ig
    print(f"grpcio {grpc.__version__}, target {ARGS.target}")
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(IdentityFromPython)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
