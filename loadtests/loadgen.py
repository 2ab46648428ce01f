"""A small closed-loop HTTP/1.1 load generator for ``loadtests/bench.py`` (issue 21): ``users`` keep-alive
connections (TLS or plain), each sending one request, waiting for the whole answer, then sending the next (or, with
``--rps-per-user``, pacing to that rate, as Locust's ``constant_throughput`` does).

Why not Locust alone: one Locust process on one core tops out near 2,200 TLS requests/s, below what the engine
serves, so req/s ratios measured the load generator instead of the servers. This one builds each request as bytes
and parses only the status line and Content-Length, on asyncio protocols (uvloop when installed), and drives several
times that on the same core. Every request is still distinct: the bodies cycle through the target's identities
as ``bench_targets.py`` does (each toggle a real state change).

    python loadtests/loadgen.py --target mock --host https://127.0.0.1:8443 -u 16 -t 15

Configuration of the request comes from the same environment ``bench_targets.py`` reads (``BENCH_CA``,
``BENCH_TENANT``, ``BENCH_TOKEN``, ``BENCH_IDENTITIES``). Prints one JSON object: requests, failures, rps,
p50/p95/p99 (ms) and the first failure seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from urllib.parse import urlencode, urlsplit

HEADER_END = b"\r\n\r\n"
#: A request unanswered after this many seconds counts as failed (and its connection is dropped).
REQUEST_TIMEOUT = 30.0


def identities() -> list[str]:
    """The pool of identities the requests cycle through (``BENCH_IDENTITIES``, one per line)."""
    path = os.environ.get("BENCH_IDENTITIES")
    if not path:
        return ["bench0"]
    with open(path) as fh:
        return [line.strip() for line in fh if line.strip()] or ["bench0"]


def request_factory(target: str, authority: str):
    """A function of the request number returning the whole request as bytes: ``mock`` (and ``baseline``) send
    Set-Mailbox -IsExchangeCloudManaged through InvokeCommand, ``moto`` sends IAM TagUser; the value flips after
    each pass over the identities, so every request changes state."""
    pool = identities()
    if target in ("mock", "baseline"):
        path = f"/adminapi/beta/{os.environ.get('BENCH_TENANT', 'bench')}/InvokeCommand"
        extra = f"Authorization: Bearer {os.environ.get('BENCH_TOKEN', '')}\r\nContent-Type: application/json\r\n"

        def body(identity: str, value: bool) -> bytes:
            return json.dumps(
                {
                    "CmdletInput": {
                        "CmdletName": "Set-Mailbox",
                        "Parameters": {"Identity": identity, "IsExchangeCloudManaged": value},
                    }
                }
            ).encode()

    elif target == "moto":
        path = "/"
        extra = (
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, "
            "SignedHeaders=host, Signature=0\r\n"
        )

        def body(identity: str, value: bool) -> bytes:
            form = {
                "Action": "TagUser",
                "Version": "2010-05-08",
                "UserName": identity,
                "Tags.member.1.Key": "IsExchangeCloudManaged",
                "Tags.member.1.Value": str(value).lower(),
            }
            return urlencode(form).encode()

    else:
        raise ValueError(f"unknown target {target!r}")
    head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: */*\r\n{extra}"

    def build(n: int) -> bytes:
        identity, value = pool[n % len(pool)], (n // len(pool)) % 2 == 0
        payload = body(identity, value)
        return f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload

    return build


class Connection(asyncio.Protocol):
    """One keep-alive connection: :meth:`send` writes a request and returns a future of its status code, resolved
    once the whole body (by Content-Length) has arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.status = 0
        self.remaining = -1  # body bytes still to come; -1 while the head is incomplete
        #: The server closed (or said it would: ``Connection: close``); the next request needs a new connection.
        self.closed = False

    def connection_made(self, transport) -> None:
        """Keep the transport."""
        self.transport = transport

    def send(self, data: bytes) -> asyncio.Future:
        """Write one request; the future resolves to the response's status code."""
        if self.closed:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        self.remaining = -1
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        """Parse the status line and Content-Length, then count body bytes until the answer is complete."""
        if self.remaining < 0:
            self.buffer += data
            end = self.buffer.find(HEADER_END)
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            self.status = int(lines[0].split(" ", 2)[1])
            pairs = (line.partition(":") for line in lines[1:])
            fields = {name.strip().lower(): value.strip() for name, _, value in pairs}
            length = int(fields["content-length"]) if "content-length" in fields else None
            if fields.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0"):
                self.closed = True
            if length is None:
                self._finish(ConnectionError("answer without Content-Length"))
                return
            self.remaining = length - (len(self.buffer) - end - 4)
        else:
            self.remaining -= len(data)
        if self.remaining <= 0:
            self._finish(None)

    def _finish(self, error: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(self.status)
            else:
                waiter.set_exception(error)

    def connection_lost(self, exc) -> None:
        """A server that closes mid-answer fails the request in flight."""
        self.closed = True
        self._finish(exc or ConnectionError("connection closed"))


async def run(host: str, target: str, users: int, seconds: float, rps_per_user: float, warmup: float) -> dict:
    """Drive the load; return the figures of the measured window (after ``warmup`` seconds)."""
    loop = asyncio.get_running_loop()
    url = urlsplit(host)
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    context = None
    if tls:
        ca = os.environ.get("BENCH_CA")
        context = ssl.create_default_context(cafile=ca) if ca else ssl._create_unverified_context()
    build = request_factory(target, url.netloc)
    counter = iter(range(1 << 62))
    latencies: list[float] = []
    failures = 0
    first_failure = ""
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    interval = 1.0 / rps_per_user if rps_per_user > 0 else 0.0

    async def user(index: int) -> None:
        nonlocal failures, first_failure
        conn: Connection | None = None
        if interval:
            # Paced users start spread over one interval: started together they would arrive in bursts of
            # ``users`` requests at once, which is not what a rate means.
            await asyncio.sleep(interval * index / users)
        while True:
            begin = time.perf_counter()
            if begin >= stop_at:
                break
            try:
                if conn is None or conn.closed:
                    if conn is not None and conn.transport is not None:
                        conn.transport.close()
                    _, conn = await loop.create_connection(
                        Connection, url.hostname, port, ssl=context, server_hostname=url.hostname if tls else None
                    )
                    begin = time.perf_counter()
                status = await asyncio.wait_for(conn.send(build(next(counter))), REQUEST_TIMEOUT)
                ok = status < 400
                if not ok and not first_failure:
                    first_failure = f"HTTP {status}"
            except (TimeoutError, OSError, ConnectionError, ValueError) as exc:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                ok, conn = False, None
                if not first_failure:
                    first_failure = repr(exc)
            end = time.perf_counter()
            if begin >= measure_from and end <= stop_at:
                latencies.append(end - begin)
                failures += not ok
            if interval:
                await asyncio.sleep(max(0.0, begin + interval - time.perf_counter()))
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(user(i) for i in range(users)))
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "requests": len(latencies),
        "failures": failures,
        "rps": len(latencies) / seconds,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "firstFailure": first_failure,
        # The generator's own CPU over the whole run: near the run's length means the client, not the server, set
        # the pace.
        "clientCpuSeconds": time.process_time(),
        "wallSeconds": time.perf_counter() - start,
    }


def main(argv=None) -> int:
    """Command line: print the figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True, help="https://127.0.0.1:PORT")
    parser.add_argument("--target", choices=["mock", "baseline", "moto"], default="mock")
    parser.add_argument("-u", "--users", type=int, default=16, help="connections, each one request at a time")
    parser.add_argument("-t", "--seconds", type=float, default=15, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds of load before measuring")
    parser.add_argument("--rps-per-user", type=float, default=0.0, help="pace each user to this rate (0: closed)")
    args = parser.parse_args(argv)
    try:
        import uvloop  # type: ignore[import-not-found]  # optional: the same figures, at less client CPU

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(args.host, args.target, args.users, args.seconds, args.rps_per_user, args.warmup))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
