"""Instructions per toggle, counted by valgrind (callgrind): a figure that does not move with other load on the
machine, unlike req/s or CPU time. Issue 9's throughput target is about the server's cost per request, so this
measures the application's share of it exactly:

    .venv/bin/python loadtests/bench_instructions.py                 # mock toggle vs the bare-Flask baseline
    .venv/bin/python loadtests/bench_instructions.py --tree /tmp/old # also an older tree (``git archive`` export)
    .venv/bin/python loadtests/bench_instructions.py --served        # through gunicorn's request path and TLS
    .venv/bin/python loadtests/bench_instructions.py --served --caches  # simulated cache and branch misses

Each figure is (instructions of a run with N requests - instructions of the same run with 0) / N, both runs
after the same warm-up, called as gunicorn calls the app (``app(environ, start_response)``) on a 300-mailbox
tenant, with gunicorn's own handling of the response headers (``process_headers`` and the header block it
writes) inside ``start_response``: that part grows with each header, so it is the mock's cost too. The RSA key
pool is replaced by one fixed key and ``PYTHONHASHSEED=0`` so the setup costs the same in both runs (key
generation draws random primes). TLS, sockets and the rest of the server stack are not included: they cost the
mock and the baselines the same. With ``--served`` they are, short of threads and the event loop: each request
goes through gunicorn's parser, ``wsgi.create`` and ``Response`` over real TLS on a socketpair. ``--caches``
runs cachegrind's cache and branch simulation instead and prints misses per request beside instructions.

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
from hybridsoa.mock.domain.entra import keys
fixed = open(os.environ["BENCH_KEY"], "rb").read()
keys._cached_key = lambda material: fixed
from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.domain.entra.tokens import issue_access_token
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
def toggle_body(i):
    return json.dumps({"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {
        "Identity": aliases[i % len(aliases)], "IsExchangeCloudManaged": (i // len(aliases)) % 2 == 0}}}).encode()
def call(i):
    body = toggle_body(i)
    env = dict(environ, CONTENT_LENGTH=str(len(body)))
    env["wsgi.input"] = io.BytesIO(body)
    out = app(env, start_response)
    b"".join(out)
    getattr(out, "close", lambda: None)()
if which != "mock":
    call(0)  # the mock's real answer, whose headers the same-response baseline copies
    os.environ["BASELINE_HEADERS"] = json.dumps([] if which == "baseline-body" else sent[-1])
    from loadtests.baseline_app import app
if os.environ.get("BENCH_SERVED") == "1":
    # Through gunicorn's own request path (its parser, wsgi.create, Response) over real TLS on a socketpair,
    # one thread: the server stack's work per request is counted too, without sockets' scheduling.
    import socket, ssl, threading
    from pathlib import Path
    from gunicorn.config import Config
    from gunicorn.http import wsgi as gunicorn_wsgi
    from gunicorn.http.parser import RequestParser
    from hybridsoa.mock.tls import ensure_tls
    tls = ensure_tls(Path(os.environ["BENCH_TLS"]))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(tls.cert), str(tls.key))
    client_ctx = ssl.create_default_context(cafile=str(tls.ca))
    client_ctx.check_hostname = False
    server_end, client_end = socket.socketpair()
    wrapped = {}
    handshake = threading.Thread(target=lambda: wrapped.update(s=server_ctx.wrap_socket(server_end, server_side=True)))
    handshake.start()
    client = client_ctx.wrap_socket(client_end, server_hostname="127.0.0.1")
    handshake.join()
    server, cfg = wrapped["s"], Config()
    requests = RequestParser(cfg, server, ("127.0.0.1", 5555))
    def call(i):
        body = toggle_body(i)
        client.sendall((f"POST {environ['PATH_INFO']} HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n"
                        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        response, env = gunicorn_wsgi.create(next(requests), server, ("127.0.0.1", 5555), ("127.0.0.1", 8443), cfg)
        env["wsgi.multithread"] = True
        out = app(env, response.start_response)
        for item in out:
            response.write(item)
        response.close()
        getattr(out, "close", lambda: None)()
        data = b""
        while b"\r\n\r\n" not in data:
            data += client.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                     .split(b":")[1])
        while len(rest) < length:
            rest += client.recv(65536)
        statuses.append(head.split(b" ", 2)[1].decode())
for i in range(200):
    call(i)
for i in range(200, 200 + n):
    call(i)
assert statuses[-1].startswith("200"), statuses[-1]
"""

#: What cachegrind's summary says, per counter (``--caches``).
_CACHE_COUNTERS = {
    "I   refs": "instructions",
    "I1  misses": "L1 instruction misses",
    "D1  misses": "L1 data misses",
    "LLi misses": "last-level instruction misses",
    "LLd misses": "last-level data misses",
    "Mispredicts": "branch mispredictions",
}


def counters(tree: Path, which: str, n: int, work: Path, args) -> dict[str, int]:
    """What valgrind counted for one run of the workload: instructions (callgrind), or with ``--caches`` the
    cache and branch simulation's counters (cachegrind)."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "BENCH_ROOT": str(tree),
        "BENCH_KEY": str(work / "key.pem"),
        "BENCH_TLS": str(work / "tls"),
        "BENCH_SERVED": "1" if args.served else "0",
    }
    if args.caches:
        tool = ["--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes", "--cachegrind-out-file=/dev/null"]
    else:
        tool = ["--tool=callgrind", f"--callgrind-out-file={work / f'callgrind.{which}.{n}'}"]
    proc = subprocess.run(
        ["valgrind", *tool, sys.executable, str(work / "workload.py"), which, str(n)],
        env=env,
        capture_output=True,
        text=True,
    )
    found = {}
    if args.caches:
        for name in _CACHE_COUNTERS:
            m = re.search(rf"== {re.escape(name)}:\s+([\d,]+)", proc.stderr)
            if m:
                found[name] = int(m.group(1).replace(",", ""))
    else:
        m = re.search(r"Collected : (\d+)", proc.stderr)
        if m:
            found["I   refs"] = int(m.group(1))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"valgrind run failed: {proc.stderr[-2000:]}")
    return found


def per_request(tree: Path, which: str, n: int, work: Path, args) -> dict[str, float]:
    """Counters per request: the N-request run minus the 0-request run, over N."""
    many, none = counters(tree, which, n, work, args), counters(tree, which, 0, work, args)
    return {name: (many[name] - none[name]) / n for name in many if name in none}


def main(argv=None) -> int:
    """Print instructions per toggle for the mock (this tree and optionally another) and the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--tree", type=Path, help="also measure this tree (an older commit's export)")
    parser.add_argument(
        "--served",
        action="store_true",
        help="route each request through gunicorn's request path over real TLS (one thread)",
    )
    parser.add_argument(
        "--caches",
        action="store_true",
        help="cachegrind's cache and branch simulation instead of callgrind's instruction count",
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; this benchmark needs it", file=sys.stderr)
        return 2
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    sys.path.insert(0, str(ROOT))
    from hybridsoa.mock.tls import ensure_tls

    with tempfile.TemporaryDirectory(prefix="hybridsoa-instr-") as tmp:
        work = Path(tmp)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (work / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (work / "workload.py").write_text(WORKLOAD)
        ensure_tls(work / "tls")  # made once, so no run pays for key generation
        runs = [
            ("bare-Flask baseline, same response", ROOT, "baseline"),
            ("bare-Flask baseline, same body, Content-Type only", ROOT, "baseline-body"),
            ("mock, this tree", ROOT, "mock"),
        ]
        if args.tree:
            runs.append((f"mock, {args.tree}", args.tree, "mock"))
        rows = [(label, per_request(tree, which, args.requests, work, args)) for label, tree, which in runs]
    base = rows[0][1]
    names = list(base)
    print(f"Per request{' through gunicorn and TLS' if args.served else ''} (ratio to the first row):\n")
    print("| app | " + " | ".join(_CACHE_COUNTERS[name] for name in names) + " |")
    print("|---|" + "---|" * len(names))
    for label, values in rows:
        # A ratio only where the baseline's count is large enough to mean one (last-level misses are near 0).
        cells = [
            f"{values[name]:,.0f} ({values[name] / base[name]:.2f})" if base[name] >= 100 else f"{values[name]:,.0f}"
            for name in names
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
