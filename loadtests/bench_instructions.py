"""Instructions per toggle, counted by valgrind (callgrind): a figure that does not move with other load on the
machine, unlike req/s or CPU time. Issue 9's throughput target is about the server's cost per request, so this
measures the application's share of it exactly:

    .venv/bin/python loadtests/bench_instructions.py                 # mock toggle vs the bare-Flask baseline
    .venv/bin/python loadtests/bench_instructions.py --tree /tmp/old # also an older tree (``git archive`` export)

Each figure is (instructions of a run with N requests - instructions of the same run with 0) / N, both runs
after the same warm-up, called as gunicorn calls the app (``app(environ, start_response)``) on a 300-mailbox
tenant, with gunicorn's own handling of the response headers (``process_headers`` and the header block it
writes) inside ``start_response``: that part grows with each header, so it is the mock's cost too. The RSA key
pool is replaced by one fixed key and ``PYTHONHASHSEED=0`` so the setup costs the same in both runs (key
generation draws random primes). TLS, sockets and the rest of the server stack are not included: they cost the
mock and the baselines the same.

Two baselines, as in ``bench.py``: the bare-Flask endpoint sending the mock's whole response (its body size and
its headers, copied from a real answer), and the same body with Content-Type only.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOAD = r"""
import io, json, os, sys
sys.path.insert(0, os.environ["BENCH_ROOT"])
os.environ["BASELINE_BYTES"] = "238"
which, n = sys.argv[1], int(sys.argv[2])
from mockserver.domain import keys
fixed = open(os.environ["BENCH_KEY"], "rb").read()
keys._cached_key = lambda material: fixed
from mockserver.app import create_app
from mockserver.domain.tenant import TenantRegistry
from mockserver.domain.tokens import issue_access_token
from gunicorn.http.wsgi import Response as GunicornResponse
registry = TenantRegistry(seed=1)
tenant = registry.create("bench", mailboxes=300, seed=7)
token, _ = issue_access_token(tenant, "exchange", app=tenant.app_by_name("automation"))
aliases = [m.alias for m in tenant.mailboxes.values()]
app = create_app(registry)
environ = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": f"/adminapi/beta/{tenant.id}/InvokeCommand",
           "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8443", "SERVER_PROTOCOL": "HTTP/1.1",
           "wsgi.url_scheme": "https", "wsgi.version": (1, 0), "wsgi.errors": sys.stderr,
           "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
           "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8443", "HTTP_AUTHORIZATION": "Bearer " + token,
           "CONTENT_TYPE": "application/json"}
statuses, sent = [], []
def start_response(status, headers, exc=None):
    # What gunicorn does with them: validate each header, then write the header block.
    response = GunicornResponse.__new__(GunicornResponse)
    response.headers, response.response_length, response.upgrade = [], None, False
    response.process_headers(headers)
    block = ["HTTP/1.1 " + status + "\r\n"] + ["%s: %s\r\n" % (k, v) for k, v in response.headers]
    ("%s\r\n" % "".join(block)).encode("latin-1")
    statuses.append(status)
    sent.append(headers)
def call(i):
    body = json.dumps({"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {
        "Identity": aliases[i % len(aliases)], "IsExchangeCloudManaged": (i // len(aliases)) % 2 == 0}}}).encode()
    env = dict(environ, CONTENT_LENGTH=str(len(body)))
    env["wsgi.input"] = io.BytesIO(body)
    out = app(env, start_response)
    b"".join(out)
    getattr(out, "close", lambda: None)()
if which != "mock":
    call(0)  # the mock's real answer, whose headers the same-response baseline copies
    os.environ["BASELINE_HEADERS"] = json.dumps([] if which == "baseline-body" else sent[-1])
    from loadtests.baseline_app import app
for i in range(200):
    call(i)
for i in range(200, 200 + n):
    call(i)
assert statuses[-1].startswith("200"), statuses[-1]
"""


def instructions(tree: Path, which: str, n: int, work: Path) -> int:
    """Instructions callgrind counted for one run of the workload."""
    out = work / f"callgrind.{which}.{n}"
    env = {**os.environ, "PYTHONHASHSEED": "0", "BENCH_ROOT": str(tree), "BENCH_KEY": str(work / "key.pem")}
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                           str(work / "workload.py"), which, str(n)], env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"callgrind run failed: {proc.stderr[-2000:]}")
    return int(found.group(1))


def per_request(tree: Path, which: str, n: int, work: Path) -> float:
    """Instructions per request: the N-request run minus the 0-request run, over N."""
    return (instructions(tree, which, n, work) - instructions(tree, which, 0, work)) / n


def main(argv=None) -> int:
    """Print instructions per toggle for the mock (this tree and optionally another) and the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--tree", type=Path, help="also measure this tree (an older commit's export)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; this benchmark needs it", file=sys.stderr)
        return 2
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    with tempfile.TemporaryDirectory(prefix="hybridsoa-instr-") as tmp:
        work = Path(tmp)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (work / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        (work / "workload.py").write_text(WORKLOAD)
        base = per_request(ROOT, "baseline", args.requests, work)
        rows = [("bare-Flask baseline, same response", base),
                ("bare-Flask baseline, same body, Content-Type only",
                 per_request(ROOT, "baseline-body", args.requests, work)),
                ("mock, this tree", per_request(ROOT, "mock", args.requests, work))]
        if args.tree:
            rows.append((f"mock, {args.tree}", per_request(args.tree, "mock", args.requests, work)))
    print("| app | instructions per request | ratio to baseline |\n|---|---|---|")
    for label, value in rows:
        print(f"| {label} | {value:,.0f} | {value / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
