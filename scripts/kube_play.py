#!/usr/bin/env python3
"""Turns the hub chart's rendered manifests into what `podman play kube` (podman 4.3) runs on one
machine, and writes the Secrets the chart expects from scripts/gen-certs.sh's files.

  kube_play.py --rendered=R.yaml --certs=DIR --pg-dsn=DSN --secrets-out=S.yaml --out=P.yaml

--secrets-out: the Secrets an operator creates before `helm install` (helm/README.md,
"Installing"): <service>-server-tls and <service>-client-tls per service, audit-signing-key,
the member nodes' <org>-endpoint-tls and <org>-client-tls, and hie-postgres-dsn (one DSN per
service, all --pg-dsn here). Kept for reference; --out carries their content in podman's form.

--out: the manifests podman runs, changed as follows (each is printed on stderr):
  - Service, NetworkPolicy, PodDisruptionBudget, HorizontalPodAutoscaler, Job, Certificate are
    left out: podman 4.3 runs Pod, Deployment, PersistentVolumeClaim, ConfigMap and Secret
    documents only and silently skips every other kind (there is no cluster DNS, no network
    policy, no scheduler, no autoscaler and no hook);
  - every pod uses the host's network (hostNetwork): pods are not given one another's Service
    names (hostAliases are not written into /etc/hosts under the host network either), and
    PostgreSQL and Redis listen on the host's loopback. So the services listen on 127.0.0.1
    instead of 0.0.0.0, every address "<service>:<port>" in args and ConfigMaps becomes
    "localhost:<port>" (the development certificates carry DNS:localhost), and the demo member
    nodes, which all listen on members.port in the chart, get port + i and metricsPort + i;
  - Secrets become ConfigMaps of the same name and content: podman 4.3 writes a Secret volume's
    files with the base64 text of each value (not the value), panics on a Secret volume without
    an explicit `optional`, and reads secretKeyRef env only from podman secrets holding JSON
    (which its own Secret documents are not). ConfigMap volumes it writes as given. An env
    secretKeyRef becomes the literal value;
  - containerPorts are removed: with the host network podman 4.3 refuses them ("PortMappings
    can only be used with Bridge or slirp4netns networking"); the --listen flags give the ports;
  - liveness, readiness and startup probes and preStop hooks are removed: podman 4.3 ignores the
    readiness and startup probes, and turns an exec liveness probe into a health check by joining
    its argv with spaces, which breaks the chart's `/bin/sh -c "hiectl health ...; test $? -le 1"`
    (the shell would run `hiectl` alone, fail, and podman would restart a healthy container);
    the preStop `sleep` action (Kubernetes 1.30) is unknown to it. scripts/kube-play.sh checks
    health from the host with hiectl instead.
"""
import argparse
import base64
import copy
import os
import re
import sys

import yaml

SERVICES = ["gateway", "identity", "locator", "registry", "consent", "audit"]
SKIPPED_KINDS = {"Service", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                 "Job", "Certificate"}


def note(msg):
    print(f"kube_play: {msg}", file=sys.stderr)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def secret(name, data, type_="Opaque"):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type_,
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def tls_secret(name, certs, stem):
    return secret(name, {"tls.crt": read(f"{certs}/{stem}.pem"),
                         "tls.key": read(f"{certs}/{stem}.key"),
                         "ca.crt": read(f"{certs}/ca.pem")}, "kubernetes.io/tls")


def make_secrets(docs, certs, pg_dsn):
    """The Secrets the rendered Deployments reference, from gen-certs.sh's file names."""
    out = {}
    for s in SERVICES:
        out[f"{s}-server-tls"] = tls_secret(f"{s}-server-tls", certs, s)
        out[f"{s}-client-tls"] = tls_secret(f"{s}-client-tls", certs, f"{s}-client")
    out["audit-signing-key"] = secret("audit-signing-key",
                                      {"signing.key": read(f"{certs}/audit-signing.key")})
    out["hie-postgres-dsn"] = secret("hie-postgres-dsn",
                                     {s: pg_dsn.encode() for s in SERVICES})
    # Member nodes: <org>-endpoint-tls (server) and <org>-client-tls (the org's systems).
    for d in docs:
        if d.get("kind") != "Deployment":
            continue
        for v in d["spec"]["template"]["spec"].get("volumes", []):
            name = (v.get("secret") or {}).get("secretName")
            if not name or name in out:
                continue
            m = re.fullmatch(r"(clinic-[a-z])-(endpoint|client)-tls", name)
            if not m:
                sys.exit(f"kube_play: no certificate known for Secret {name}")
            stem = m[1] + ("-endpoint" if m[2] == "endpoint" else "")
            out[name] = tls_secret(name, certs, stem)
    return out


def selector_matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rendered", required=True)
    p.add_argument("--certs", required=True)
    p.add_argument("--pg-dsn", required=True)
    p.add_argument("--secrets-out", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    with open(a.rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    secrets = make_secrets(docs, a.certs, a.pg_dsn)
    with open(a.secrets_out, "w") as f:
        yaml.safe_dump_all(list(secrets.values()), f, sort_keys=False)
    os.chmod(a.secrets_out, 0o600)

    deployments = [d for d in docs if d["kind"] == "Deployment"]
    services = [d for d in docs if d["kind"] == "Service"]
    skipped = {}
    for d in docs:
        if d["kind"] in SKIPPED_KINDS:
            skipped.setdefault(d["kind"], []).append(d["metadata"]["name"])
    for kind, names in sorted(skipped.items()):
        note(f"left out {len(names)} {kind}: {', '.join(names)}")
    unknown = {d["kind"] for d in docs} - SKIPPED_KINDS - {"Deployment", "ConfigMap"}
    if unknown:
        sys.exit(f"kube_play: kinds this script does not know: {sorted(unknown)}")

    # Ports on the host: the first Deployment to use a port keeps it; members (which share
    # members.port in the chart) move up by one until free.
    used = set()
    port_map = {}  # (deployment name, container port) -> host port
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        ports = [pt["containerPort"] for pt in c.get("ports", [])]
        shift = 0
        while any(pt + shift in used for pt in ports):
            shift += 1
        for pt in ports:
            port_map[(d["metadata"]["name"], pt)] = pt + shift
            used.add(pt + shift)
        if shift:
            note(f"{d['metadata']['name']}: ports {ports} -> {[pt + shift for pt in ports]}")

    # "<service>:<port>" -> "localhost:<host port>", following each Service to its Deployment.
    address_map = {}
    for s in services:
        target = [d for d in deployments if selector_matches(
            s["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        if len(target) != 1:
            sys.exit(f"kube_play: Service {s['metadata']['name']} selects {len(target)} Deployments")
        d = target[0]
        named = {pt["name"]: pt["containerPort"]
                 for pt in d["spec"]["template"]["spec"]["containers"][0]["ports"]}
        for sp in s["spec"]["ports"]:
            tp = sp["targetPort"]
            cport = named[tp] if isinstance(tp, str) else tp
            address_map[f"{s['metadata']['name']}:{sp['port']}"] = \
                f"localhost:{port_map[(d['metadata']['name'], cport)]}"

    def rewrite(text):
        def sub(m):
            return address_map.get(m[0], m[0])
        return re.sub(r"(?<![\w.-])[a-z0-9][a-z0-9-]*:\d+(?!\d)", sub, text)

    out = []
    # Secrets as ConfigMaps (podman 4.3 mishandles Secret volumes: see the header).
    for name, s in secrets.items():
        if name == "hie-postgres-dsn":
            continue  # env only: the values are inlined below
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                    "data": {k: base64.b64decode(v).decode() for k, v in s["data"].items()}})
    note(f"Secrets as ConfigMaps: {', '.join(n for n in secrets if n != 'hie-postgres-dsn')}")
    for d in docs:
        if d["kind"] == "ConfigMap":
            d = copy.deepcopy(d)
            d["data"] = {k: rewrite(v) for k, v in d.get("data", {}).items()}
            out.append(d)
    for d in deployments:
        d = copy.deepcopy(d)
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        pod.pop("topologySpreadConstraints", None)
        for v in pod.get("volumes", []):
            if "secret" in v:
                sv = v.pop("secret")
                cm = {"name": sv["secretName"]}
                if "items" in sv:
                    cm["items"] = sv["items"]
                v["configMap"] = cm
        for c in pod["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
                c.pop(probe, None)
            args = []
            for arg in c.get("args", []):
                m = re.fullmatch(r"(--(?:listen|metrics-listen|hl7-listen))=0\.0\.0\.0:(\d+)", arg)
                if m:
                    arg = f"{m[1]}=127.0.0.1:{port_map.get((name, int(m[2])), int(m[2]))}"
                args.append(rewrite(arg))
            c["args"] = args
            # Under the host network podman 4.3 refuses containerPorts ("PortMappings can
            # only be used with Bridge or slirp4netns networking"): the --listen flags say it.
            c.pop("ports", None)
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    e.pop("valueFrom")
                    e["value"] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
        out.append(d)
    note("every pod on the host's network, listening on 127.0.0.1, no containerPorts; "
         "Service addresses -> " + ", ".join(f"{k}={v}" for k, v in sorted(address_map.items())))
    note("probes and preStop hooks removed (health is checked from the host)")
    with open(a.out, "w") as f:
        yaml.safe_dump_all(out, f, sort_keys=False)
    os.chmod(a.out, 0o600)


if __name__ == "__main__":
    main()
