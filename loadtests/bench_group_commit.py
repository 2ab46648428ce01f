"""Durable mode's cost per request, in process (issue 21): threads toggling ``Set-Mailbox -IsExchangeCloudManaged``
through the WSGI app, in memory and with the durable store (group commit), same process, interleaved rounds.

    .venv/bin/python loadtests/bench_group_commit.py [--rounds 3] [--requests 3000] [--threads 16]

Prints, per round, CPU milliseconds per request of the whole process (user + system) and of the background thread
alone (with the redo log, ``synchronous=normal``: the thread that applies it to SQLite; with ``--synchronous full``:
group commit's, which only writes reads' journal entries), requests/s, requests per SQLite commit, and the
durable/in-memory ratios. No TLS or HTTP engine: this
isolates what the store adds per request (docs/benchmarks.md has the served figures from bench.py).
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _run(durable: bool, requests: int, threads: int, synchronous: str) -> dict:
    from werkzeug.test import EnvironBuilder

    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.domain.entra.tokens import issue_access_token
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.store import durable as durable_module

    registry = TenantRegistry(seed=1)
    commit_cpu = {}
    if durable:
        # The background thread: the redo log's applier (synchronous=normal), else the group commit's.
        loops = {name: getattr(durable_module.DurableStore, name) for name in ("_commit_loop", "_apply_loop")}

        def timed(loop):
            def run(self):
                start = time.thread_time()
                try:
                    loop(self)
                finally:
                    commit_cpu["s"] = time.thread_time() - start

            return run

        for name, loop in loops.items():
            setattr(durable_module.DurableStore, name, timed(loop))
        try:
            extra = (synchronous,) if "synchronous" in inspect.signature(durable_module.open_store).parameters else ()
            durable_module.open_store(registry, tempfile.mkdtemp(prefix="hybridsoa-gc-"), snapshot, *extra)
        finally:
            for name, loop in loops.items():
                setattr(durable_module.DurableStore, name, loop)
    app = create_app(registry)
    tenant = registry.create("bench", mailboxes=1000, seed=7, options={"mix": "uniform"})
    token, _ = issue_access_token(tenant, "exchange", app=tenant.app_by_name("automation"))
    aliases = [m.alias for m in tenant.mailboxes.values() if m.recipient_type_details == "UserMailbox"][:500]
    wsgi = app.wsgi_app

    def toggle(i: int) -> None:
        environ = EnvironBuilder(
            path=f"/adminapi/beta/{tenant.id}/InvokeCommand",
            method="POST",
            headers={"Authorization": "Bearer " + token},
            json={
                "CmdletInput": {
                    "CmdletName": "Set-Mailbox",
                    "Parameters": {"Identity": aliases[i % len(aliases)], "IsExchangeCloudManaged": bool(i % 2)},
                }
            },
        ).get_environ()
        status = []
        b"".join(wsgi(environ, lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200"):
            raise RuntimeError(f"toggle answered {status[0]}")

    toggle(0)
    per = requests // threads
    commits_before = registry.store.commits if registry.store else 0

    def worker(k: int) -> None:
        for i in range(per):
            toggle(k * per + i)

    before, wall = os.times(), time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    after, wall = os.times(), time.perf_counter() - wall
    n = per * threads
    commits = (registry.store.commits - commits_before) if registry.store else 0
    if registry.store:
        registry.store.close()
    cpu = (after.user - before.user) + (after.system - before.system)
    return {
        "cpuMs": cpu * 1000 / n,
        "rps": n / wall,
        "perCommit": n / commits if commits else None,
        "commitThreadMs": commit_cpu["s"] * 1000 / n if "s" in commit_cpu else None,
    }


def main(argv=None) -> int:
    """Interleaved in-memory / durable rounds; prints each round and the median ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    args = parser.parse_args(argv)
    by_rps, by_cpu = [], []
    for i in range(args.rounds):
        mem = _run(False, args.requests, args.threads, args.synchronous)
        dur = _run(True, args.requests, args.threads, args.synchronous)
        by_rps.append(dur["rps"] / mem["rps"])
        by_cpu.append(mem["cpuMs"] / dur["cpuMs"])
        print(
            f"round {i + 1}: memory {mem['rps']:.0f} req/s {mem['cpuMs']:.3f} ms CPU/req; durable "
            f"({args.synchronous}) {dur['rps']:.0f} req/s {dur['cpuMs']:.3f} ms CPU/req, background thread "
            f"{dur['commitThreadMs']:.3f} ms/req, {dur['perCommit']:.1f} requests per commit",
            flush=True,
        )
    print(
        f"durable / memory: {statistics.median(by_rps):.2f} by throughput, {statistics.median(by_cpu):.2f} by CPU "
        f"per request (medians of {args.rounds} rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
