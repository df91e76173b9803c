#!/usr/bin/env python3
"""Renders the hub's Helm chart and checks its manifests against the binaries they run.

    check_chart.py (--helm PATH | --helm-script scripts/helm.sh) --chart helm/hie-hub
                   --bin hie-identity=PATH ... --bin hiectl=PATH [--systemd deploy/systemd]
                   [--self-test]

For each case (default values; values-production.yaml; the demo members with cert-manager;
migrations.mode=job) it runs `helm lint --strict` and `helm template`, then checks:
  - every container running a hie-* binary: each flag in its args and each HIE_* variable in its
    env is one the binary lists in `--help`, with a value of the default's kind (boolean,
    duration, integer, HOST:PORT); every absolute path it is given lies in a volume mounted in
    that container (and is a key of that volume's Secret/ConfigMap items when they are listed);
  - ports: each address the binary listens on (--listen, --metrics-listen, --hl7-listen, from
    args, env or its default) is a containerPort and not loopback, and each containerPort is one
    it listens on; probes: hiectl commands in exec probes (directly or in `sh -c`) are checked
    like args against `hiectl <command> --help`, and `health --target` must be this container's
    gRPC port on localhost; a built-in gRPC probe is refused (it cannot present a certificate);
  - every Service selects a pod template and its targetPorts are ports those pods expose;
  - every Secret, ConfigMap and PersistentVolumeClaim referenced is rendered by the chart (or
    issued by one of its cert-manager Certificates) or is a value the operator sets (a key ending
    in Secret, ConfigMap or Claim in the merged values, documented in values.yaml);
  - NetworkPolicies select rendered pods (except those guarding the operator's database pods);
    named ports exist; only the gateway's grpc and identity's mllp ports admit peers outside the
    namespace (metrics only named peers); every hub pod is covered; every HOST:PORT a container
    dials (flags, the gateway's member file) names a rendered Service whose pods admit it; only
    database clients are admitted to the guarded PostgreSQL and Redis pods;
  - PodDisruptionBudgets select pods; HorizontalPodAutoscalers target rendered Deployments that
    leave replicas to them.
With --systemd, the units too: each runs a binary given with --bin, its EnvironmentFile has an
example in env/ that lists every HIE_* variable of that binary and no other (values that are set
checked like flags), and hie.target wants every unit of the hub.
A container of a Job (migrations.mode=job) must run its binary with --migrate-only (apply the
schema's migrations and exit), and no Deployment's may (it would exit at once and be restarted
for ever). --self-test then breaks copies of the chart and of the units (BREAKS below, some with
values of their own) and fails unless every break is reported. Exit status: 0 all checks passed,
1 a check failed, 2 usage or tool error. Uses the standard library only: YAML is read through
helm itself (fromYaml: sigs.k8s.io/yaml, as kubectl reads it), so no YAML module is needed.
"""
import argparse, glob, json, os, re, shlex, shutil, subprocess, sys, tempfile

CASES = [  # name, values files in the chart, overrides (a values file written as JSON)
    ("default", [], {}),
    ("production", ["values-production.yaml"], {}),
    ("demo members, cert-manager", [], {"members": {"enabled": True},
                                        "certManager": {"enabled": True}}),
    ("migrations job", [], {"migrations": {"mode": "job"}}),
]
EXTERNAL_PORTS = {("gateway", "grpc"), ("identity", "mllp")}  # (component, port name)
COMPONENT = "app.kubernetes.io/component"


class Checker:
    def __init__(self, helm, bins):
        self.helm, self.bins, self.errors, self.help = helm, bins, [], {}

    # --- tools -----------------------------------------------------------------------------
    def run(self, argv, what):
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            raise ToolError(f"{what} failed (exit {p.returncode}): {' '.join(argv)}\n"
                            f"{p.stdout}{p.stderr}")
        return p.stdout

    def to_json(self, texts):
        """Parses YAML texts with helm's fromYaml: a throwaway chart renders them as JSON."""
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(f"{d}/docs"); os.makedirs(f"{d}/templates")
            with open(f"{d}/Chart.yaml", "w") as f:
                f.write("apiVersion: v2\nname: yaml-to-json\nversion: 0.0.0\n")
            for i, t in enumerate(texts):
                with open(f"{d}/docs/{i:05}.yaml", "w") as f:
                    f.write(t)
            with open(f"{d}/templates/json.yaml", "w") as f:
                f.write('{{- $all := list }}{{ range $p, $_ := .Files.Glob "docs/*.yaml" }}'
                        '{{ $all = append $all ($.Files.Get $p | fromYaml) }}{{ end }}'
                        '{"docs": {{ toJson $all }}}\n')
            out = self.run([self.helm, "template", "y", d], "helm (YAML to JSON)")
        docs = json.loads(out[out.index("{"):])["docs"]
        for t, doc in zip(texts, docs):
            if doc and "Error" in doc and len(doc) == 1:
                raise ToolError(f"not YAML ({doc['Error']}):\n{t[:400]}")
        return docs

    def flags_of(self, binary, command=()):
        """{flag: (env name or None, default)} from `binary [command] --help`."""
        key = (binary, tuple(command))
        if key not in self.help:
            if binary not in self.bins:
                raise ToolError(f"no --bin {binary}=PATH given")
            text = self.run([self.bins[binary], *command, "--help"], f"{binary} --help")
            if binary == "hiectl":  # "  --name=default  help [env]" (hiectl/commands.cc)
                found = {m[1]: (None, m[2] or "")  # no "=": empty or false, kind unknown
                         for m in re.finditer(r"^  --([a-z0-9-]+)(?:=(\S*))?\s", text, re.M)}
            else:  # "  --name (env HIE_NAME, default 'value')" (common/config.cc)
                found = {m[1]: (m[2], m[3]) for m in re.finditer(
                    r"^  --([a-z0-9-]+) \(env (HIE_[A-Z0-9_]+), default '(.*)'\)$", text, re.M)}
            if not found:
                raise ToolError(f"no flags found in `{binary} {' '.join(command)} --help`")
            self.help[key] = found
        return self.help[key]

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")

    # --- one case ----------------------------------------------------------------------------
    def check_case(self, chart, name, files, overrides):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as extra:
            json.dump(overrides, extra); extra.flush()
            args = [a for f in files for a in ("-f", os.path.join(chart, f))] + ["-f", extra.name]
            try:
                self.run([self.helm, "lint", "--strict", chart, *args], "helm lint")
                out = self.run([self.helm, "template", "hie", chart, "--namespace", "hie", *args],
                               "helm template")
            except ToolError as e:
                self.fail(f"[{name}] {chart}", str(e))
                return 0
        texts, sources = [], []
        for chunk in re.split(r"^---\s*$", out, flags=re.M):
            if chunk.strip():
                src = re.search(r"^# Source: (\S+)", chunk, re.M)
                texts.append(chunk); sources.append(src[1] if src else "?")
        value_texts = [open(os.path.join(chart, f)).read() for f in ["values.yaml", *files]]
        parsed = self.to_json(texts + value_texts)
        values = {}
        for v in parsed[len(texts):] + [overrides]:
            merge(values, v or {})
        objs = [dict(o, _src=s) for o, s in zip(parsed[:len(texts)], sources) if o]
        for o in objs:
            o["_where"] = f"[{name}] {o['kind']}/{o['metadata']['name']} ({o['_src']})"
        self.objs = objs
        self.operator = set(operator_names(values, r"(Secret|ConfigMap|Claim)$"))
        self.operator_hosts = set(operator_names(values, r"(^h|H)ost$"))
        sentinels = values.get("redis", {}).get("sentinels") or []
        self.operator_hosts |= {a.rpartition(":")[0] for a in sentinels}
        self.pods = [(o, pod_template(o)) for o in objs if pod_template(o)]
        for o, pod in self.pods:
            for i, c in enumerate(pod["spec"].get("containers", [])):
                self.check_container(o, pod, c, f"{o['_where']} containers[{i}] {c['name']}")
            self.check_references(o, pod)
        for o in objs:
            {"Service": self.check_service, "NetworkPolicy": self.check_policy,
             "PodDisruptionBudget": self.check_pdb, "HorizontalPodAutoscaler": self.check_hpa
             }.get(o["kind"], lambda o: None)(o)
        self.check_coverage_and_reachability()
        return len(objs)

    # --- containers --------------------------------------------------------------------------
    def check_container(self, o, pod, c, where):
        binary = os.path.basename((c.get("command") or [""])[0])
        if not binary.startswith("hie-"):
            return self.fail(where, f"command {c.get('command')} runs no hie-* binary")
        flags = self.flags_of(binary)
        config = {k: d for k, (_, d) in flags.items()}
        by_env = {e: k for k, (e, _) in flags.items()}
        for e in (c.get("env") or []):
            if e["name"].startswith("HIE_"):
                if e["name"] not in by_env:
                    self.fail(where, f"env {e['name']} is not a variable of {binary} "
                                     f"({binary} --help)")
                elif "value" in e:
                    self.check_value(where, f"env {e['name']}", binary, by_env[e["name"]],
                                     e["value"], flags)
                    config[by_env[e["name"]]] = e["value"]
                else:
                    config[by_env[e["name"]]] = "<from " + json.dumps(e.get("valueFrom")) + ">"
            if e.get("value", "").startswith("/"):
                self.check_path(where, f"env {e['name']}", e["value"], c, pod)
        for k, v in parse_args((c.get("args") or []), where, self):
            if k not in flags:
                self.fail(where, f"args: --{k} is not a flag of {binary} ({binary} --help)")
                continue
            self.check_value(where, f"args --{k}", binary, k, v, flags)
            config[k] = v
            if v.startswith("/"):
                self.check_path(where, f"args --{k}", v, c, pod)
        migrate_only = config.get("migrate-only", "false").lower() in ("true", "1", "yes")
        if (o["kind"] == "Job") != migrate_only:
            self.fail(where, f"{binary} in a {o['kind']} " + (
                "must run --migrate-only (without it the Job would serve and never complete)"
                if o["kind"] == "Job" else "runs --migrate-only: it would exit at once"))
        listens = {}
        for k, v in config.items():
            if is_listen(k) and v and o["kind"] != "Job":
                host, _, port = v.rpartition(":")
                if not port.isdigit():
                    self.fail(where, f"--{k}={v}: not HOST:PORT")
                    continue
                if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
                    self.fail(where, f"{binary} listens on loopback only (--{k}={v}): "
                                     "unreachable through its Service")
                listens[int(port)] = k
        ports = {p["containerPort"]: p.get("name") for p in (c.get("ports") or [])}
        for port, k in listens.items():
            if port not in ports:
                self.fail(where, f"{binary} listens on {port} (--{k}) but the container "
                                 f"exposes no containerPort {port}")
        for port, pname in ports.items():
            if port not in listens:
                self.fail(where, f"ports: containerPort {port} ({pname}) is not a port "
                                 f"{binary} listens on")
        grpc_port = int(config["listen"].rpartition(":")[2]) if config.get("listen") else None
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            if kind in c:
                self.check_probe(f"{where} {kind}", c[kind], c, pod, grpc_port, ports)
        c["_dials"] = [(f"--{k}", v) for k, v in config.items() if o["kind"] != "Job"
                       and not is_listen(k) and re.fullmatch(r"[A-Za-z0-9.-]+:\d+", v or "")]
        c["_config"] = config
        for field, address in c["_dials"]:
            host, _, port = address.rpartition(":")
            if host in ("127.0.0.1", "localhost") and int(port) not in listens:
                self.fail(where, f"{field}={address} (set or default) dials this pod's loopback, "
                                 "where nothing listens: give it the Service's address")

    def check_value(self, where, field, binary, key, value, flags):
        default = flags[key][1]
        kinds = [("true or false", r"true|false", r"(?i)true|false|yes|no|t|f|y|n|1|0"),
                 ("a duration such as 5s", r"\d+(\.\d+)?(ns|us|ms|s|m|h)",
                  r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+|0"),
                 ("an integer", r"[1-9]\d*", r"-?\d+"),
                 ("HOST:PORT (or empty)", r"[\w.-]+:\d+", r"|[\w.\[\]:-]*:\d{1,5}")]
        for name, default_re, value_re in kinds:
            if re.fullmatch(default_re, default) and not re.fullmatch(value_re, value):
                self.fail(where, f"{field}={value!r}: {binary} expects {name} "
                                 f"(default {default!r})")

    def check_path(self, where, field, path, c, pod):
        mounts = [m for m in (c.get("volumeMounts") or []) if path == m["mountPath"]
                  or path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mounts:
            return self.fail(where, f"{field}={path} is not under any volumeMount")
        m = max(mounts, key=lambda m: len(m["mountPath"]))
        vol = next((v for v in (pod["spec"].get("volumes") or []) if v["name"] == m["name"]), None)
        if vol is None:
            return self.fail(where, f"volumeMount {m['name']} names no volume")
        rel = path[len(m["mountPath"].rstrip("/")) + 1:]
        source = vol.get("secret") or vol.get("configMap")
        if source is None or not rel:
            return
        if source.get("items"):
            files = [i["path"] for i in source["items"]]
        else:
            ref = source.get("secretName") or source.get("name")
            kind = "Secret" if "secret" in vol else "ConfigMap"
            obj = self.find(kind, ref)
            if obj is None:
                return  # provided by the operator: its keys are documented in values.yaml
            files = list(obj.get("data", {})) + list(obj.get("stringData", {}))
        if rel not in files:
            self.fail(where, f"{field}={path}: volume {vol['name']} holds {sorted(files)}, "
                             f"not {rel}")

    def check_probe(self, where, probe, c, pod, grpc_port, ports):
        if "grpc" in probe:
            return self.fail(where, "a gRPC probe cannot present a client certificate "
                                    "(mutual TLS): use hiectl health in an exec probe")
        for kind in ("httpGet", "tcpSocket"):
            if kind in probe:
                p = probe[kind]["port"]
                num = p if isinstance(p, int) else next(
                    (n for n, name in ports.items() if name == p), None)
                if num is None or num not in ports:
                    self.fail(where, f"{kind}.port {p} is not a port of the container")
        if "exec" not in probe:
            return
        argv = probe["exec"]["command"]
        if os.path.basename(argv[0]) in ("sh", "bash") and argv[1:2] == ["-c"]:
            calls = [shlex.split(part) for part in re.split(r";|&&|\|\|", argv[2])]
        else:
            calls = [argv]
        hiectl_calls = [a for a in calls if a and os.path.basename(a[0]) == "hiectl"]
        if not hiectl_calls:
            self.fail(where, f"exec probe {argv} runs no hiectl command")
        for a in hiectl_calls:
            command = a[1:2] if len(a) > 1 and not a[1].startswith("-") else []
            flags = self.flags_of("hiectl", command)
            config = {k: d for k, (_, d) in flags.items()}
            for k, v in parse_args([w for w in a[1:] if w not in command], where, self, True):
                if k not in flags:
                    self.fail(where, f"exec: --{k} is not a flag of hiectl {' '.join(command)}")
                    continue
                self.check_value(where, f"exec --{k}", "hiectl", k, v, flags)
                config[k] = v
                if v.startswith("/"):
                    self.check_path(where, f"exec --{k}", v, c, pod)
            if command == ["health"]:
                host, _, port = config.get("target", "").rpartition(":")
                if host not in ("localhost", "127.0.0.1") or not port.isdigit():
                    self.fail(where, f"hiectl health --target={config.get('target')}: must be "
                                     "localhost:<this container's gRPC port>")
                elif int(port) != grpc_port:
                    self.fail(where, f"hiectl health --target={config['target']}: the "
                                     f"container's gRPC port (--listen) is {grpc_port}")

    # --- systemd units -----------------------------------------------------------------------
    def check_systemd(self, d):
        target = open(os.path.join(d, "hie.target")).read()
        for unit in sorted(glob.glob(os.path.join(d, "hie-*.service"))):
            text, name = open(unit).read(), os.path.basename(unit)
            where = f"[systemd] {name}"
            exe = re.search(r"^ExecStart=(\S+)", text, re.M)
            envfile = re.search(r"^EnvironmentFile=/etc/hie/([\w%-]+)\.env$", text, re.M)
            if not exe or not envfile:
                self.fail(where, "needs ExecStart= and EnvironmentFile=/etc/hie/<name>.env")
                continue
            binary = os.path.basename(exe[1])
            if "@" not in name and not re.search(rf"^Wants=.*\b{re.escape(name)}", target, re.M):
                self.fail(where, "hie.target does not want it")
            flags = self.flags_of(binary)
            by_env = {e: k for k, (e, _) in flags.items()}
            example = os.path.join(d, "env", envfile[1].split("-%i")[0] + ".env")
            if not os.path.exists(example):
                self.fail(where, f"no example {example} for its EnvironmentFile")
                continue
            listed = set()
            for n, line in enumerate(open(example).read().splitlines(), 1):
                m = re.fullmatch(r"(#?)([A-Z][A-Z0-9_]*)=(.*)", line)
                if not m:
                    continue
                if m[2] not in by_env:
                    self.fail(f"[systemd] {example}:{n}", f"{m[2]} is not a variable of {binary}")
                    continue
                listed.add(m[2])
                if not m[1] and m[2] == "HIE_MIGRATE_ONLY":
                    self.fail(f"[systemd] {example}:{n}", "sets HIE_MIGRATE_ONLY: the service "
                                                          "would migrate and exit at every start")
                if not m[1]:
                    self.check_value(f"[systemd] {example}:{n}", m[2], binary, by_env[m[2]],
                                     m[3].strip('"'), flags)
            for env in sorted(set(by_env) - listed):
                self.fail(f"[systemd] {example}", f"does not list {env} ({binary} --help)")

    # --- references, Services, policies --------------------------------------------------------
    def find(self, kind, name):
        return next((o for o in self.objs if o["kind"] == kind
                     and o["metadata"]["name"] == name), None)

    def provided(self, kind, name):
        if self.find(kind, name) or name in self.operator:
            return True
        return kind == "Secret" and any(o["kind"] == "Certificate" and
                                        o["spec"].get("secretName") == name for o in self.objs)

    def check_references(self, o, pod):
        spec, refs = pod["spec"], []
        for v in (spec.get("volumes") or []):
            if "secret" in v: refs.append(("Secret", v["secret"]["secretName"], v["name"]))
            if "configMap" in v: refs.append(("ConfigMap", v["configMap"]["name"], v["name"]))
            if "persistentVolumeClaim" in v:
                refs.append(("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"],
                             v["name"]))
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in (c.get("env") or []):
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    ref = e.get("valueFrom", {}).get(key)
                    if ref:
                        refs.append((kind, ref["name"], f"env {e['name']}"))
            for m in (c.get("volumeMounts") or []):
                if not any(v["name"] == m["name"] for v in (spec.get("volumes") or [])):
                    self.fail(o["_where"], f"volumeMount {m['name']} names no volume")
        for s in spec.get("imagePullSecrets", []):
            refs.append(("Secret", s["name"], "imagePullSecrets"))
        for kind, name, field in refs:
            if not self.provided(kind, name):
                self.fail(o["_where"], f"{field}: {kind} {name!r} is neither rendered by the "
                                       "chart nor a value the operator sets (values.yaml)")

    def selected(self, selector):
        """The (object, pod template) pairs whose pod labels the selector matches."""
        return [(o, pod) for o, pod in self.pods
                if matches(selector, pod["metadata"].get("labels", {}))]

    def check_service(self, svc):
        pods = self.selected({"matchLabels": svc["spec"].get("selector", {})})
        if not pods:
            return self.fail(svc["_where"], "spec.selector selects no pod template")
        headless = svc["spec"].get("clusterIP") == "None"
        if headless and svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            self.fail(svc["_where"], f"headless with type {svc['spec']['type']}: only ClusterIP "
                                     "Services can be headless")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if not all(container_port(pod, target) for _, pod in pods):
                self.fail(svc["_where"], f"ports[{p.get('name')}].targetPort {target} is not a "
                                         "containerPort of the pods it selects")
            # A headless Service's name resolves to the pods: callers dial its port on them.
            elif headless and any(container_port(pod, target) != p["port"] for _, pod in pods):
                self.fail(svc["_where"], f"headless: ports[{p.get('name')}].port {p['port']} is "
                                         "not the port its pods listen on")

    def check_policy(self, np):
        guards = np["metadata"].get("labels", {}).get("hie.io/guards")
        spec = np["spec"]
        pods = self.selected(spec.get("podSelector", {}))
        if not pods and not guards:
            self.fail(np["_where"], "spec.podSelector selects no pod template of the chart")
        for i, rule in enumerate(spec.get("ingress", [])):
            where = f"{np['_where']} ingress[{i}]"
            for port in rule.get("ports", []):
                if isinstance(port.get("port"), str) and pods and not any(
                        container_port(pod, port["port"]) for _, pod in pods):
                    self.fail(where, f"port {port['port']!r} is not a port of the selected pods")
            peers = rule.get("from")
            outside = peers is None or any("namespaceSelector" in p or "ipBlock" in p
                                           for p in peers)
            for port in rule.get("ports", [{"port": None}]):
                for o, pod in pods:
                    comp = pod["metadata"]["labels"].get(COMPONENT)
                    name = port_name(pod, port["port"])
                    if outside and (comp, name) not in EXTERNAL_PORTS and not (
                            name == "metrics" and peers):
                        self.fail(where, f"admits peers outside the namespace to {comp} port "
                                         f"{name or port['port']}: only the gateway's grpc and "
                                         "identity's mllp ports may be (metrics: named peers)")
            for p in peers or []:
                if "podSelector" in p and "namespaceSelector" not in p and not guards \
                        and not self.selected(p["podSelector"]):
                    self.fail(where, f"from podSelector {p['podSelector']} selects no pod")
            if guards and i == 0:  # the hub's clients: exactly the pods that use the database
                keys = {"postgres": ["pg-dsn"], "redis": ["redis", "redis-sentinels"]}[guards]
                admitted = {id(o) for p in peers or [] for o, _ in self.selected(p["podSelector"])}
                for o, pod in self.pods:
                    uses = any(c.get("_config", {}).get(k) for k in keys
                               for c in pod["spec"]["containers"])
                    if uses != (id(o) in admitted):
                        self.fail(where, f"{o['kind']}/{o['metadata']['name']} "
                                         f"{'uses' if uses else 'does not use'} {guards} but is "
                                         f"{'not ' if uses else ''}admitted")

    def check_pdb(self, pdb):
        if not self.selected(pdb["spec"]["selector"]):
            self.fail(pdb["_where"], "spec.selector selects no pod template")

    def check_hpa(self, hpa):
        ref = hpa["spec"]["scaleTargetRef"]
        target = self.find(ref["kind"], ref["name"])
        if target is None:
            self.fail(hpa["_where"], f"scaleTargetRef {ref['kind']}/{ref['name']} is not rendered")
        elif "replicas" in target["spec"]:
            self.fail(target["_where"], "spec.replicas is set while a HorizontalPodAutoscaler "
                                        "scales it (every upgrade would reset it)")

    def check_coverage_and_reachability(self):
        policies = [o for o in self.objs if o["kind"] == "NetworkPolicy"]
        if not policies:
            return
        for o, pod in self.pods:
            if o["kind"] != "Job" and not self.policies_of(pod, policies):
                self.fail(o["_where"], "no NetworkPolicy selects its pods (all ingress open)")
        for o, pod in self.pods:
            for c in pod["spec"]["containers"]:
                dials = list(c.get("_dials", []))
                members = c.get("_config", {}).get("members", "")
                if members:
                    for line in self.file_lines(c, pod, members):
                        dials.append((f"members file {members}", line.split(",")[1]))
                for field, address in dials:
                    self.check_dial(o, pod, field, address, policies)

    def file_lines(self, c, pod, path):
        for m in (c.get("volumeMounts") or []):
            vol = next(v for v in pod["spec"]["volumes"] if v["name"] == m["name"])
            if path.startswith(m["mountPath"] + "/") and "configMap" in vol:
                cm = self.find("ConfigMap", vol["configMap"]["name"])
                text = (cm or {}).get("data", {}).get(path[len(m["mountPath"]) + 1:], "")
                return [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
        return []

    def check_dial(self, o, pod, field, address, policies):
        host, _, port = address.rpartition(":")
        name = re.sub(r"\.hie(\.svc(\.cluster\.local)?)?$", "", host)
        if "." in name or name == "localhost" or host in self.operator_hosts:
            return  # outside the cluster, itself, or a server the operator runs (redis.host)
        svc = self.find("Service", name)
        where = f"{o['_where']} {field}={address}"
        if svc is None:
            return self.fail(where, f"names no Service of the chart ({name})")
        sp = next((p for p in svc["spec"]["ports"] if p["port"] == int(port)), None)
        if sp is None:
            return self.fail(where, f"Service {name} has no port {port}")
        for _, target in self.selected({"matchLabels": svc["spec"]["selector"]}):
            cport = container_port(target, sp.get("targetPort", sp["port"]))
            if not self.admits(target, cport, pod, policies):
                self.fail(where, f"the NetworkPolicies of {name}'s pods do not admit "
                                 f"{pod['metadata']['labels'].get(COMPONENT)} on port {cport}")

    def policies_of(self, pod, policies):
        return [p for p in policies
                if matches(p["spec"].get("podSelector", {}), pod["metadata"].get("labels", {}))]

    def admits(self, target, cport, source, policies):
        mine = self.policies_of(target, policies)
        if not mine:
            return True
        labels = source["metadata"].get("labels", {})
        for p in mine:
            for rule in p["spec"].get("ingress", []):
                ports = rule.get("ports")
                if ports and not any(container_port(target, x["port"]) == cport for x in ports):
                    continue
                peers = rule.get("from")
                if peers is None or any("podSelector" in x and "namespaceSelector" not in x
                                        and matches(x["podSelector"], labels) for x in peers):
                    return True
        return False


class ToolError(Exception):
    pass


def merge(into, other):
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v


def operator_names(values, key_re):
    """Non-empty strings under keys matching key_re (what the operator names in the values)."""
    if isinstance(values, dict):
        for k, v in values.items():
            if isinstance(v, str) and re.search(key_re, k) and v:
                yield v
            else:
                yield from operator_names(v, key_re)
    elif isinstance(values, list):
        for v in values:
            yield from operator_names(v, key_re)


def is_listen(key):
    return key == "listen" or key.endswith("-listen")


def pod_template(o):
    if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return o["spec"]["template"]
    return None


def parse_args(args, where, checker, hiectl=False):
    """[(key, value)] as services/common/config.cc (and hiectl's bare booleans) read them."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if not a.startswith("--"):
            checker.fail(where, f"unexpected argument {a!r}")
        elif "=" in a:
            out.append(tuple(a[2:].split("=", 1)))
        elif hiectl or i + 1 >= len(args):
            out.append((a[2:], "true"))
        else:
            out.append((a[2:], args[i + 1])); i += 1
        i += 1
    return out


def matches(selector, labels):
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        has, value = e["key"] in labels, labels.get(e["key"])
        ok = {"In": has and value in e.get("values", []),
              "NotIn": not has or value not in e.get("values", []),
              "Exists": has, "DoesNotExist": not has}[e["operator"]]
        if not ok:
            return False
    return True


def container_port(pod, port):
    """The containerPort a Service/NetworkPolicy port (number or name) means, or None."""
    for c in pod["spec"]["containers"]:
        for p in (c.get("ports") or []):
            if port in (p["containerPort"], p.get("name")):
                return p["containerPort"]
    return None


def port_name(pod, port):
    for c in pod["spec"]["containers"]:
        for p in (c.get("ports") or []):
            if port in (p["containerPort"], p.get("name")):
                return p.get("name")
    return None


# Breaks the self-test makes in copies of the chart and of deploy/systemd: (file, old text, new
# text, part of the message that must be reported).
BREAKS = [
    ("chart/templates/identity.yaml", "--hl7-listen=0.0.0.0", "--hl7-lissen=0.0.0.0",
     "--hl7-lissen is not a flag of hie-identity"),
    ("chart/templates/_helpers.tpl", "--target=localhost:{{ .port }}",
     "--target=localhost:{{ .metricsPort }}", "the container's gRPC port (--listen) is"),
    ("chart/templates/_helpers.tpl", "targetPort: metrics}", "targetPort: metric}",
     "targetPort metric is not a containerPort"),
    ("chart/templates/_helpers.tpl", "{name: grpc, port: {{ .port }}, targetPort: grpc}",
     "{name: grpc, port: 443, targetPort: grpc}", "headless: ports[grpc].port 443 is not"),
    ("chart/templates/_helpers.tpl", "{name: metrics, containerPort: {{ .metricsPort }}}",
     "{name: metrics, containerPort: 9999}", "listens on 940"),
    ("chart/templates/_helpers.tpl", " --timeout=%ds", " --timeout=x%ds", "expects a duration"),
    ("chart/templates/_helpers.tpl", "- name: HIE_PG_DSN", "- name: HIE_PG_DNS",
     "env HIE_PG_DNS is not a variable"),
    ("chart/templates/audit.yaml", "secretName: {{ $v.signingKeySecret }}",
     "secretName: audit-signing", "Secret 'audit-signing' is neither rendered"),
    ("chart/templates/audit.yaml", "/etc/hie/audit-signing/signing.key",
     "/etc/hie/audit-signing/signing.pem", "not signing.pem"),
    ("chart/templates/_helpers.tpl", "locator: [gateway]", "locator: [registry]",
     "do not admit gateway on port 7002"),
    ("chart/templates/networkpolicies.yaml", "- ports: [{port: mllp}]", "- ports: [{port: grpc}]",
     "outside the namespace to identity port grpc"),
    ("chart/templates/migrations.yaml", "args: [--migrate-only]", "args: []",
     "must run --migrate-only", {"migrations": {"mode": "job"}}),
    ("chart/templates/migrations.yaml", "args: [--migrate-only]", "args: [--migrate-onyl]",
     "--migrate-onyl is not a flag of hie-", {"migrations": {"mode": "job"}}),
    ("chart/templates/_helpers.tpl", "- name: HIE_PG_DSN", "- {name: HIE_MIGRATE_ONLY, "
     "value: \"true\"}\n- name: HIE_PG_DSN", "runs --migrate-only: it would exit"),
    ("systemd/env/identity.env", "HIE_HL7_LISTEN=", "HIE_HL7_LISTN=",
     "HIE_HL7_LISTN is not a variable of hie-identity"),
    ("systemd/env/consent.env", "HIE_PG_DSN=", "HIE_PG_DSN_=", "does not list HIE_PG_DSN"),
    ("systemd/env/registry.env", "#HIE_MIGRATE_ONLY=false", "HIE_MIGRATE_ONLY=false",
     "sets HIE_MIGRATE_ONLY"),
]


def self_test(checker, chart, systemd):
    missed = []
    for path, old, new, expected, *values in BREAKS:
        if path.startswith("systemd/") and not systemd:
            continue
        with tempfile.TemporaryDirectory() as d:
            copy = shutil.copytree(chart, os.path.join(d, "chart"))
            if systemd:
                shutil.copytree(systemd, os.path.join(d, "systemd"))
            broken = os.path.join(d, path)
            text = open(broken).read()
            if old not in text:
                missed.append(f"{path}: {old!r} not found (update BREAKS)"); continue
            with open(broken, "w") as f:
                f.write(text.replace(old, new, 1))
            checker.errors = []
            try:
                if path.startswith("systemd/"):
                    checker.check_systemd(os.path.join(d, "systemd"))
                else:
                    checker.check_case(copy, "self-test", [], values[0] if values else {})
            except ToolError as e:
                checker.errors.append(str(e))
            found = any(expected in e for e in checker.errors)
            print(f"self-test: {path}: {old!r} -> {new!r}: "
                  f"{'reported' if found else 'NOT REPORTED'}")
            if not found:
                missed.append(f"{path}: {old!r} -> {new!r} should report {expected!r}; got "
                              f"{checker.errors[:3]}")
    return missed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    helm = ap.add_mutually_exclusive_group(required=True)
    helm.add_argument("--helm", help="the helm binary")
    helm.add_argument("--helm-script", help="scripts/helm.sh: prints helm's path (installs it)")
    ap.add_argument("--chart", required=True)
    ap.add_argument("--bin", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--systemd", help="deploy/systemd: check the units and their env examples")
    ap.add_argument("--self-test", action="store_true",
                    help="also break copies of the chart and require every break reported")
    a = ap.parse_args()
    bins = dict(b.split("=", 1) for b in a.bin)
    try:
        path = a.helm or subprocess.run([a.helm_script], check=True, capture_output=True,
                                        text=True).stdout.strip()
        checker = Checker(path, bins)
        for name, files, overrides in CASES:
            n = checker.check_case(a.chart, name, files, overrides)
            print(f"[{name}] helm lint and template: {n} manifests checked")
        if a.systemd:
            checker.check_systemd(a.systemd)
            print(f"[systemd] units and env examples of {a.systemd} checked")
        if checker.errors:
            print(f"FAILED: {len(checker.errors)} problem(s):", *checker.errors, sep="\n  ")
            return 1
        if a.self_test:
            missed = self_test(checker, a.chart, a.systemd)
            if missed:
                print("FAILED: the self-test's breaks were not all reported:", *missed,
                      sep="\n  ")
                return 1
    except (ToolError, subprocess.CalledProcessError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("chart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
