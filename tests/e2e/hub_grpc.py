"""What the Python e2e clients (second gRPC implementation) share: stubs compiled at test time
from the repository's .proto files (protoc and grpc_python_plugin, Debian protobuf-compiler and
protobuf-compiler-grpc) and mutual-TLS channels with the test certificates."""

import os
import shutil
import subprocess
import sys


def find_tool(name):
    path = shutil.which(name) or ("/usr/bin/" + name if os.path.exists("/usr/bin/" + name) else None)
    if path is None:
        raise RuntimeError(f"{name} not found (Debian: protobuf-compiler, protobuf-compiler-grpc)")
    return path


def compile_stubs(proto_dir, out_dir, protos):
    """Compiles `protos` (paths under proto_dir) into Python modules under out_dir and puts
    out_dir first on sys.path."""
    os.makedirs(out_dir, exist_ok=True)
    includes = [f"-I{proto_dir}"]
    if os.path.exists("/usr/include/google/protobuf/timestamp.proto"):
        includes.append("-I/usr/include")
    subprocess.run(
        [find_tool("protoc"), *includes, f"--python_out={out_dir}", f"--grpc_out={out_dir}",
         f"--plugin=protoc-gen-grpc={find_tool('grpc_python_plugin')}", *protos],
        check=True)
    sys.path.insert(0, out_dir)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def secure_channel(grpc, target, certs_dir, cert=None, ca_dir=None):
    """A channel to `target` trusting <ca_dir or certs_dir>/ca.pem, presenting
    <certs_dir>/<cert>.pem (no client certificate when cert is None)."""
    ca = read(os.path.join(ca_dir or certs_dir, "ca.pem"))
    if cert is None:
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=read(os.path.join(certs_dir, cert + ".key")),
            certificate_chain=read(os.path.join(certs_dir, cert + ".pem")))
    return grpc.secure_channel(target, creds,
                               options=[("grpc.ssl_target_name_override", "localhost")])
