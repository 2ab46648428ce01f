"""A big tenant's snapshot over HTTP never stalls other tenants (issue 21): ``hybridsoa-mock serve`` (in memory)
creates an N-mailbox tenant, then this process GETs its snapshot to a file, PUTs the file back as a new tenant
and in place, each while polling ``/_mock/health`` and a small tenant (``bench_big_tenant._poll_while``), and
prints each phase's time, body size, the polled answers' latencies and the worker's RSS.

    .venv/bin/python loadtests/bench_snapshot_http.py --mailboxes 50000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_big_tenant import SERVE, _describe, _free_port, _poll_while, _rss_mb, _wait_healthy


def _peak_mb(pid: int) -> int:
    """Peak resident memory (VmHWM) of the engine's worker processes, in MB."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(int(Path(f"/proc/{k}/status").read_text().split("VmHWM:")[1].split()[0]) for k in kids) // 1024


def main(argv=None) -> int:
    """Create a big tenant, then GET and PUT its snapshot under health polling; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=50_000)
    args = parser.parse_args(argv)
    import subprocess

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(SERVE + ["--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(url)
        requests.post(f"{url}/_mock/tenants", json={"name": "other", "mailboxes": 5}, timeout=60).raise_for_status()
        t0 = time.perf_counter()
        r = requests.post(f"{url}/_mock/tenants", json={"name": "big", "mailboxes": args.mailboxes}, timeout=3600)
        r.raise_for_status()
        print(f"created {args.mailboxes:,} mailboxes in {time.perf_counter() - t0:.1f} s; RSS {_rss_mb(proc.pid)} MB")
        with tempfile.TemporaryDirectory(prefix="hybridsoa-snap-") as tmp:
            path = Path(tmp) / "big.json"
            phases = [
                ("GET  /_mock/tenants/big/snapshot (to a file)", lambda: _get(url, path)),
                ("PUT  /_mock/tenants/copy/snapshot (a new tenant)", lambda: _put(url, "copy", path)),
                ("PUT  /_mock/tenants/big/snapshot (in place)", lambda: _put(url, "big", path)),
            ]
            for label, work in phases:
                out: dict = {}

                def run(work=work, out=out):
                    t0 = time.perf_counter()
                    out["status"] = work()
                    out["seconds"] = time.perf_counter() - t0

                latencies = _poll_while(url, run)
                print(
                    f"{label}: {out.get('status')} in {out.get('seconds', 0):.1f} s, "
                    f"{path.stat().st_size / 1e6:.0f} MB; {_describe(latencies)}; worker RSS {_rss_mb(proc.pid)} MB"
                )
        counts = [requests.get(f"{url}/_mock/tenants/{t}", timeout=600).json()["counts"] for t in ("big", "copy")]
        print(
            f"mailboxes after: big {counts[0]['mailboxes']:,}, copy {counts[1]['mailboxes']:,}; same counts: "
            f"{counts[0] == counts[1]}; worker peak RSS {_peak_mb(proc.pid)} MB"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    return 0


def _get(url: str, path: Path) -> int:
    with requests.get(f"{url}/_mock/tenants/big/snapshot", stream=True, timeout=3600) as r, path.open("wb") as f:
        for chunk in r.iter_content(1 << 20):
            f.write(chunk)
        return r.status_code


def _put(url: str, tenant: str, path: Path) -> int:
    with path.open("rb") as f:  # a file object: requests sends it with its Content-Length, a piece at a time
        r = requests.put(
            f"{url}/_mock/tenants/{tenant}/snapshot",
            data=f,
            headers={"Content-Type": "application/json"},
            timeout=3600,
        )
    if r.status_code >= 300:
        print(r.text[:300])
    return r.status_code


if __name__ == "__main__":
    raise SystemExit(main())
