"""The HTTPS proxy against the direct port (issue 20): the same toggle, ``Set-Mailbox -IsExchangeCloudManaged``
through ``InvokeCommand``, sent by the same client to one ``hybridsoa-mock serve --proxy-port`` process, once to
``https://127.0.0.1:<port>`` and once to ``https://outlook.office365.com`` through ``HTTPS_PROXY``, in
interleaved rounds of the same run.

    .venv/bin/python loadtests/bench_proxy.py [--rounds 3] [--seconds 10] [--threads 8] [--mailboxes 500]
    .venv/bin/python loadtests/bench_proxy.py --parsers     # CPU per request: llhttp (httptools) vs h11

Prints one JSON document: per round and mode the toggles per second and the server's CPU milliseconds per
toggle (its process group, from /proc), and the proxy/direct ratios (medians over the rounds): by throughput and
by server CPU (direct CPU per request over proxied, i.e. the capacity ratio). The server is pinned to core 0 and
this client to core 1 when the machine has two. The client is ``http.client`` with one kept-alive connection per
thread in both modes (through the proxy: one CONNECT and one TLS handshake per connection, then only requests)
and the same CA bundle, so only the route differs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.bench import (
    BIN,
    SERVER_CORE,
    _popen_logged,
    free_port,
    group_cpu_seconds,
    mock_sign_in,
    pinned,
    stop,
    wait_for,
)

LOAD_CORE = 1


def toggles(
    url: str, verify: str, proxies: dict | None, headers: dict, identities: list[str], threads: int, seconds: float
) -> int:
    """Run ``threads`` clients sending toggles for ``seconds``; returns how many were answered 200. The client
    is the standard library's ``http.client`` in both modes (a tunnel is its ``set_tunnel``), so the client's
    own cost per request is the same and the difference is the server side."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    target = urlsplit(url)
    proxy = urlsplit(proxies["https"]) if proxies else None
    context = ssl.create_default_context(cafile=verify)
    done = [0] * threads
    failed: list[str] = []
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        if proxy is not None:
            conn = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=context, timeout=60)
            conn.set_tunnel(target.hostname, target.port or 443)
        else:
            conn = http.client.HTTPSConnection(target.hostname, target.port, context=context, timeout=60)
        i, value = n, True
        while time.monotonic() < stop_at:
            body = json.dumps(
                {
                    "CmdletInput": {
                        "CmdletName": "Set-Mailbox",
                        "Parameters": {"Identity": identities[i % len(identities)], "IsExchangeCloudManaged": value},
                    }
                }
            )
            conn.request("POST", target.path, body=body, headers={**headers, "Content-Type": "application/json"})
            answer = conn.getresponse()
            text = answer.read()
            if answer.status == 200:
                done[n] += 1
            elif len(failed) < 5:
                failed.append(f"{answer.status} {text[:200]!r}")
            i += threads
            value = not value
        conn.close()

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failed:
        print(f"[bench_proxy] failures: {failed}", file=sys.stderr)
    return sum(done)


def parser_costs(repeat: int = 3000) -> dict:
    """Microseconds of CPU to parse one toggle request (a 1.4 KB bearer token, 120-byte body) and to write its
    answer: llhttp (httptools, what the proxy uses) against h11 (the pure-Python parser first tried)."""
    import h11
    import httptools

    from hybridsoa.mock.proxy import RequestReader, serialize_response

    request = (
        b"POST /adminapi/beta/c0ffee00-5eed-4d3a-9b1e-000000008443/InvokeCommand HTTP/1.1\r\n"
        b"Host: outlook.office365.com\r\nUser-Agent: python-requests/2.32\r\nAccept: */*\r\n"
        b"Authorization: Bearer " + b"x" * 1400 + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: 120\r\n\r\n" + b"a" * 120
    )
    headers = [("Content-Type", "application/json;odata.metadata=minimal;charset=utf-8")] + [
        (f"x-ms-{i}", f"value-{i}") for i in range(9)
    ]
    body = b"x" * 900
    out = {"httptoolsVersion": httptools.__version__, "h11Version": h11.__version__}
    reader = RequestReader()
    start = time.process_time()
    for _ in range(repeat):
        reader.feed(request)
        reader.done.popleft()
        serialize_response(200, b"OK", headers + [("Content-Length", "900")], body)
    out["llhttpUsPerRequest"] = round((time.process_time() - start) / repeat * 1e6, 1)
    conn = h11.Connection(h11.SERVER)
    start = time.process_time()
    for _ in range(repeat):
        conn.receive_data(request)
        while not isinstance(conn.next_event(), h11.EndOfMessage):
            pass
        conn.send(h11.Response(status_code=200, headers=headers + [("Content-Length", "900")]))
        conn.send(h11.Data(data=body))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()
    out["h11UsPerRequest"] = round((time.process_time() - start) / repeat * 1e6, 1)
    return out


def main(argv=None) -> int:
    """Serve, create the tenant, run the interleaved rounds and print the report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--mailboxes", type=int, default=500)
    parser.add_argument("--parsers", action="store_true", help="only compare the HTTP parsers (no server)")
    args = parser.parse_args(argv)
    if args.parsers:
        print(json.dumps(parser_costs(), indent=2))
        return 0
    import requests

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    port, proxy_port = free_port(), free_port()
    server = _popen_logged(
        pinned(
            SERVER_CORE,
            [
                str(BIN / "hybridsoa-mock"),
                "serve",
                "--no-demo",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--proxy-port",
                str(proxy_port),
            ],
        ),
        "mock-proxy",
        None,
        cwd=work,
    )
    try:
        ca, bundle = str(work / ".hybridsoa" / "ca.pem"), str(work / ".hybridsoa" / "ca-bundle.pem")
        direct = f"https://127.0.0.1:{port}"
        for _ in range(600):
            if Path(bundle).exists() and Path(ca).exists():
                break
            time.sleep(0.1)
        wait_for(f"{direct}/_mock/health", ca, server=server)
        tenant = requests.post(
            f"{direct}/_mock/tenants",
            json={"mailboxes": args.mailboxes, "name": "benchproxy", "options": {"mix": "uniform"}},
            verify=ca,
            timeout=600,
        ).json()
        token = mock_sign_in(direct, ca, tenant)
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/adminapi/beta/{tenant['tenantId']}/InvokeCommand"
        listing = requests.post(
            f"{direct}{path}?$select=Alias",
            headers={**headers, "Prefer": "odata.maxpagesize=1000"},
            json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}},
            verify=ca,
            timeout=120,
        ).json()
        identities = [m["Alias"] for m in listing["value"]]
        # Both modes verify against the same bundle (what REQUESTS_CA_BUNDLE holds): only the route differs.
        modes = {
            "direct": (f"{direct}{path}", bundle, None),
            "proxy": (f"https://outlook.office365.com{path}", bundle, {"https": f"http://127.0.0.1:{proxy_port}"}),
        }
        for url, verify, proxies in modes.values():  # warm-up: connections, code paths, caches
            toggles(url, verify, proxies, headers, identities, args.threads, 1.0)
        rounds = []
        for n in range(args.rounds):
            row = {}
            for name, (url, verify, proxies) in modes.items():
                cpu, client_cpu = group_cpu_seconds(server.pid), time.process_time()
                start = time.monotonic()
                count = toggles(url, verify, proxies, headers, identities, args.threads, args.seconds)
                elapsed = time.monotonic() - start
                cpu, client_cpu = group_cpu_seconds(server.pid) - cpu, time.process_time() - client_cpu
                row[name] = {
                    "toggles": count,
                    "perSecond": round(count / elapsed, 1),
                    "serverCpuMsPerToggle": round(cpu * 1000 / count, 3) if count and cpu else None,
                    "clientCpuMsPerToggle": round(client_cpu * 1000 / count, 3) if count else None,
                }
                print(f"[bench_proxy] round {n + 1} {name}: {row[name]}", file=sys.stderr, flush=True)
            rounds.append(row)
        by_rate = [r["proxy"]["perSecond"] / r["direct"]["perSecond"] for r in rounds]
        by_cpu = [
            r["direct"]["serverCpuMsPerToggle"] / r["proxy"]["serverCpuMsPerToggle"]
            for r in rounds
            if r["direct"]["serverCpuMsPerToggle"] and r["proxy"]["serverCpuMsPerToggle"]
        ]
        report = {
            "command": "loadtests/bench_proxy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "mailboxes": len(identities),
            "threads": args.threads,
            "seconds": args.seconds,
            "rounds": rounds,
            "ratioProxyOverDirectByThroughput": round(statistics.median(by_rate), 2),
            "ratioProxyOverDirectByServerCpu": round(statistics.median(by_cpu), 2) if by_cpu else None,
            "target": 0.7,
        }
        print(json.dumps(report, indent=2))
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
