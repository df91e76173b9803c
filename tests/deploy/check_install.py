#!/usr/bin/env python3
"""Installs the build into a temporary prefix and runs what was installed there.

    check_install.py --build-dir DIR --certs DIR --program NAME ... [--keep]

  1. `cmake --install DIR --prefix TMP`: TMP/bin must hold exactly the --program names, and
     TMP/share/hie the nickname table and the example configuration (cmake/HieInstall.cmake);
  2. each installed program, run from an empty directory with a bare environment, answers
     `--help` with exit 0 (no library or path of the build or source tree needed);
  3. with HIE_TEST_PG_DSN (a PostgreSQL superuser; scripts/test.sh sets it): in a fresh database,
     the installed hie-identity with --migrate-only exits 0; then the installed hie-identity,
     started from an empty directory with the test certificates (--certs, scripts/gen-certs.sh),
     must load TMP/share/hie/nicknames.csv (its `nicknames_loaded` log line: the installed data,
     not the source tree's) and answer the installed `hiectl health` (operator certificate) within
     60 s; on SIGTERM it exits 0.
Without HIE_TEST_PG_DSN step 3 is skipped (exit 77, ctest SKIP_RETURN_CODE) unless
HIE_TEST_REQUIRE_SERVERS=1, which makes it a failure. Exit status: 0 passed, 1 a check failed,
77 skipped. Standard library only.
"""
import argparse, json, os, re, secrets, shutil, signal, socket, subprocess, sys, tempfile, time

BARE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
DATA = ["nicknames.csv", "nicknames_LICENSE.txt", "pg-tuning.conf",
        "examples/systemd/hie-identity.service", "examples/systemd/hie.target",
        "examples/env/identity.env"]


class Failed(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install(build_dir, prefix, programs):
    subprocess.run(["cmake", "--install", build_dir, "--prefix", prefix], check=True,
                   stdout=subprocess.DEVNULL)
    installed = sorted(os.listdir(os.path.join(prefix, "bin")))
    if installed != sorted(programs):
        raise Failed(f"bin/ holds {installed}, expected {sorted(programs)}")
    missing = [f for f in DATA if not os.path.isfile(os.path.join(prefix, "share/hie", f))]
    if missing:
        raise Failed(f"share/hie lacks {missing}")
    print(f"installed into {prefix}: {len(installed)} programs, share/hie complete")


def check_help(prefix, programs, empty_dir):
    for p in programs:
        r = subprocess.run([os.path.join(prefix, "bin", p), "--help"], cwd=empty_dir,
                           env=BARE_ENV, capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or "--" not in r.stdout + r.stderr:
            raise Failed(f"{p} --help: exit {r.returncode}\n{r.stdout[-400:]}{r.stderr[-400:]}")
    print(f"--help: all {len(programs)} installed programs answer")
    if "hie-mpi" in programs:  # its default nickname table: the installed one, not the source's
        r = subprocess.run([os.path.join(prefix, "bin", "hie-mpi"), "--help"], cwd=empty_dir,
                           env=BARE_ENV, capture_output=True, text=True, timeout=30)
        expected = os.path.realpath(os.path.join(prefix, "share/hie/nicknames.csv"))
        if f"nicknames (without --nicknames): {expected}" not in r.stdout:
            raise Failed(f"installed hie-mpi's default nickname table is not {expected}:\n"
                         f"{r.stdout[-300:]}")
        print(f"hie-mpi: default nickname table {expected}")


def psql(dsn, sql):
    subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True,
                   env={**BARE_ENV}, stdout=subprocess.DEVNULL)


def with_dbname(dsn, name):
    return re.sub(r"\bdbname=\S+", "", dsn).strip() + f" dbname={name}"


def wait_healthy(prefix, port, certs, identity, log_path):
    hiectl = [os.path.join(prefix, "bin", "hiectl"), "health", f"--target=localhost:{port}",
              f"--tls-ca={certs}/ca.pem", f"--tls-cert={certs}/operator.pem",
              f"--tls-key={certs}/operator.key", "--timeout=2s"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if identity.poll() is not None:
            raise Failed(f"hie-identity exited {identity.returncode}:\n{tail(log_path)}")
        r = subprocess.run(hiectl, env=BARE_ENV, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            print(f"installed hiectl health: SERVING ({r.stdout.strip().splitlines()[-1:]})")
            return
        time.sleep(0.5)
    raise Failed(f"no SERVING answer within 60 s; last: {r.stdout}{r.stderr}\n{tail(log_path)}")


def tail(path, n=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def check_identity_runs(prefix, certs, admin_dsn, work):
    name = "hie_install_" + secrets.token_hex(4)
    psql(admin_dsn, f"CREATE DATABASE {name}")
    try:
        identity_bin = os.path.join(prefix, "bin", "hie-identity")
        dsn = with_dbname(admin_dsn, name)
        r = subprocess.run([identity_bin, "--migrate-only", f"--pg-dsn={dsn}"], cwd=work,
                           env=BARE_ENV, capture_output=True, text=True, timeout=90)
        if r.returncode != 0:
            raise Failed(f"hie-identity --migrate-only: exit {r.returncode}\n{r.stderr[-800:]}")
        port, log_path = free_port(), os.path.join(work, "identity.log")
        args = [identity_bin, f"--pg-dsn={dsn}", f"--listen=127.0.0.1:{port}",
                f"--metrics-listen=127.0.0.1:{free_port()}", "--hl7-listen=",
                f"--tls-ca={certs}/ca.pem", f"--tls-cert={certs}/identity.pem",
                f"--tls-key={certs}/identity.key"]
        with open(log_path, "w") as log:
            identity = subprocess.Popen(args, cwd=work, env=BARE_ENV, stdout=log, stderr=log)
        try:
            wait_healthy(prefix, port, certs, identity, log_path)
            check_nicknames(prefix, log_path)
            identity.send_signal(signal.SIGTERM)
            if identity.wait(timeout=30) != 0:
                raise Failed(f"hie-identity exited {identity.returncode} on SIGTERM\n"
                             f"{tail(log_path)}")
            print("installed hie-identity: stopped cleanly on SIGTERM")
        finally:
            if identity.poll() is None:
                identity.kill()
                identity.wait()
    finally:
        psql(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def check_nicknames(prefix, log_path):
    expected = os.path.join(prefix, "share/hie/nicknames.csv")
    with open(log_path) as f:
        paths = [json.loads(line).get("path") for line in f
                 if line.startswith("{") and '"nicknames_loaded"' in line]
    if paths != [expected]:
        raise Failed(f"hie-identity loaded nicknames from {paths}, expected [{expected!r}]")
    print(f"installed hie-identity: nickname table from {expected}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--certs", required=True, help="scripts/gen-certs.sh's output directory")
    ap.add_argument("--program", action="append", required=True, help="expected in bin/")
    ap.add_argument("--keep", action="store_true", help="leave the temporary prefix")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="hie-install-")
    prefix, work = os.path.join(root, "prefix"), os.path.join(root, "work")
    os.makedirs(work)
    try:
        install(a.build_dir, prefix, a.program)
        check_help(prefix, a.program, work)
        dsn = os.environ.get("HIE_TEST_PG_DSN", "")
        if not dsn:
            if os.environ.get("HIE_TEST_REQUIRE_SERVERS") == "1":
                raise Failed("HIE_TEST_PG_DSN is not set")
            print("skipped: HIE_TEST_PG_DSN is not set; run scripts/test.sh for the full check")
            return 77
        check_identity_runs(prefix, os.path.abspath(a.certs), dsn, work)
    except (Failed, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if a.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("install checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
