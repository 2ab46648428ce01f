"""Big tenants never block (issue 21): ``hybridsoa-mock serve --data-dir`` creates an N-mailbox tenant while
this process polls ``/_mock/health`` and another tenant; then the server is stopped and restarted on the same
data dir, timing the way back to healthy and comparing the worker's RSS before and after; then the big tenant
is loaded on first use and deleted, each again while health and the other tenant are polled.

    .venv/bin/python loadtests/bench_big_tenant.py --mailboxes 200000
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

SERVE = [str(Path(sys.executable).with_name("hybridsoa-mock")), "serve", "--no-tls", "--no-demo"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> int:
    """Resident memory of the engine's worker processes (the children of ``pid``), in MB."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(int(Path(f"/proc/{k}/status").read_text().split("VmRSS:")[1].split()[0]) for k in kids) // 1024


def _start(port: int, data: str) -> subprocess.Popen:
    return subprocess.Popen(
        SERVE + ["--port", str(port), "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_healthy(url: str) -> None:
    while True:
        try:
            requests.get(f"{url}/_mock/health", timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)


#: Answers slower than this are listed one by one (when into the phase, which request).
SLOW = 0.1


def _poll_while(url: str, work, slow: list | None = None) -> list[float]:
    """Run ``work`` in a thread while polling health and the small tenant; the latencies, sorted. ``slow``
    receives ``(seconds into the phase, path, latency)`` of each answer over :data:`SLOW`."""
    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    latencies, session = [], requests.Session()
    while worker.is_alive():
        for path in ("/_mock/health", "/_mock/tenants/other"):
            t0 = time.perf_counter()
            try:
                session.get(url + path, timeout=30).raise_for_status()
                latencies.append(time.perf_counter() - t0)
            except requests.RequestException:
                latencies.append(float("inf"))
            if latencies[-1] > SLOW and slow is not None:
                slow.append((t0 - start, path, latencies[-1]))
        time.sleep(0.02)
    worker.join()
    return sorted(latencies)


def _slow(slow: list) -> str:
    return "".join(f"\n    {at:7.1f} s in: {path} {took * 1000:.0f} ms" for at, path, took in slow)


def _describe(latencies: list[float]) -> str:
    if not latencies:
        return "no health/other-tenant requests meanwhile"
    return (
        f"{len(latencies)} health/other-tenant requests meanwhile: median "
        f"{latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms, "
        f"over 100 ms: {sum(1 for x in latencies if x > 0.1)}"
    )


def main(argv=None) -> int:
    """Create a big tenant under health polling, then restart and time recovery; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=100_000)
    args = parser.parse_args(argv)
    port, data = _free_port(), tempfile.mkdtemp(prefix="hybridsoa-big-")
    url = f"http://127.0.0.1:{port}"
    proc = _start(port, data)
    try:
        _wait_healthy(url)
        requests.post(f"{url}/_mock/tenants", json={"name": "other", "mailboxes": 5}, timeout=60).raise_for_status()
        created = {}

        def create():
            t0 = time.perf_counter()
            r = requests.post(f"{url}/_mock/tenants", json={"name": "big", "mailboxes": args.mailboxes}, timeout=3600)
            created.update(status=r.status_code, seconds=time.perf_counter() - t0)

        slow: dict[str, list] = {"create": [], "load": [], "delete": []}
        latencies = _poll_while(url, create, slow["create"])
        rss_before = _rss_mb(proc.pid)
        proc.terminate()
        proc.wait(timeout=120)
        t0 = time.perf_counter()
        proc = _start(port, data)
        _wait_healthy(url)
        healthy = time.perf_counter() - t0
        rss_after = _rss_mb(proc.pid)
        t0 = time.perf_counter()
        requests.get(f"{url}/_mock/tenants/other", timeout=600).raise_for_status()
        other_first = time.perf_counter() - t0
        loaded = {}

        def first_use():
            t0 = time.perf_counter()
            loaded["mailboxes"] = requests.get(f"{url}/_mock/tenants/big", timeout=3600).json()["counts"]["mailboxes"]
            loaded["seconds"] = time.perf_counter() - t0

        during_load = _poll_while(url, first_use, slow["load"])
        rss_loaded = _rss_mb(proc.pid)
        deleted = {}

        def delete():
            t0 = time.perf_counter()
            deleted["status"] = requests.delete(f"{url}/_mock/tenants/big", timeout=3600).status_code
            deleted["seconds"] = time.perf_counter() - t0

        during_delete = _poll_while(url, delete, slow["delete"])
        rss_deleted = _rss_mb(proc.pid)
        print(
            f"create {args.mailboxes:,} mailboxes: {created.get('status')} in {created.get('seconds', 0):.1f} s; "
            f"{_describe(latencies)}{_slow(slow['create'])}"
        )
        print(
            f"restart to healthy: {healthy:.1f} s ({healthy / args.mailboxes * 100_000:.1f} s per 100,000 "
            f"mailboxes); the small tenant's first request then took {other_first * 1000:.0f} ms"
        )
        print(
            f"the big tenant's first use (loads it): {loaded.get('seconds', 0):.1f} s, "
            f"{loaded.get('mailboxes', 0):,} mailboxes; {_describe(during_load)}{_slow(slow['load'])}"
        )
        print(
            f"delete it: {deleted.get('status')} in {deleted.get('seconds', 0):.1f} s; {_describe(during_delete)}"
            f"{_slow(slow['delete'])}"
        )
        print(
            f"worker RSS: {rss_before} MB before the restart, {rss_after} MB once healthy, {rss_loaded} MB with "
            f"every tenant loaded again, {rss_deleted} MB after the big one was deleted"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        shutil.rmtree(data, ignore_errors=True)  # a 200,000-mailbox data dir is over a gigabyte
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
