"""Listing after a restart (issue 21): a data dir with a small tenant and an N-mailbox one is reopened in a fresh
process, which then lists tenants (``GET /_mock/tenants``), renders the dashboard's tenant list and binds to the
small tenant's AD over LDAP; timed and RSS-measured, against the listing that loads every tenant first (what
``GET /_mock/tenants`` did before the index held each tenant's card), each in its own process.

    .venv/bin/python loadtests/bench_lazy_listing.py --mailboxes 20000
    .venv/bin/python loadtests/bench_lazy_listing.py --mailboxes 100000 --lock cpu.lock

(``--lock FILE``: only the two measuring processes hold that flock, not the creation of the big tenant.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> int:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) // 1024


def _open(data: str):
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.store import open_store

    registry = TenantRegistry(seed=1)
    return registry, open_store(registry, data, snapshot)


def _prepare(data: str, mailboxes: int) -> None:
    registry, store = _open(data)
    registry.create("other", seed=1, mailboxes=5, frozen_clock=True)
    t0 = time.perf_counter()
    registry.create("big", seed=2, mailboxes=mailboxes, frozen_clock=True)
    print(f"created the {mailboxes:,}-mailbox tenant in {time.perf_counter() - t0:.1f} s", flush=True)
    store.close()


def _measure(data: str, mode: str) -> dict:
    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain.onprem import ldap_tree as dit

    t0 = time.perf_counter()
    registry, store = _open(data)
    out = {"restart": time.perf_counter() - t0, "rss_healthy": _rss_mb()}
    client = create_app(registry).test_client()
    t0 = time.perf_counter()
    if mode == "load-all":  # the listing before the index's cards: every tenant loaded, then summarized
        listing = []
        for tenant in registry.list():
            with tenant.lock:
                listing.append(tenant.summary())
    else:
        listing = client.get("/_mock/tenants").get_json()["value"]
    out["list"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert client.get("/").status_code == 200
    out["dashboard"] = time.perf_counter() - t0
    try:  # the LDAP modules' first import, outside the timing (a name no tenant has: loads nothing)
        dit.authenticate(registry, "CN=hybridsoa-ldap,CN=Users,DC=nobody,DC=local", "x")
    except dit.DirectoryError:
        pass
    t0 = time.perf_counter()
    other = registry.get("other") if mode == "load-all" else None
    name = "CN=hybridsoa-ldap,CN=Users,DC=other,DC=local"
    password = dit.bind_password(other or registry.get("other"))
    registry_view = dit.authenticate(registry, name, password)
    out["ldap_bind"] = time.perf_counter() - t0
    out["bound"] = registry_view.name
    out["listed"] = [(t["name"], t["counts"]["mailboxes"]) for t in listing]
    out["loaded"] = sorted(t.name for t in registry.loaded())
    out["rss_after"] = _rss_mb()
    store.close()
    return out


def main(argv=None) -> int:
    """Prepare the data dir, then measure both listings, each in a fresh process; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=20_000)
    parser.add_argument("--lock", help="flock this file around each measuring process only")
    parser.add_argument("--measure", choices=("index", "load-all"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(args.data, args.measure)))
        return 0
    data = tempfile.mkdtemp(prefix="hybridsoa-lazy-")
    _prepare(data, args.mailboxes)
    results = {}
    for mode in ("load-all", "index"):
        command = [sys.executable, __file__, "--measure", mode, "--data", data]
        run = subprocess.run(
            (["flock", args.lock] if args.lock else []) + command, capture_output=True, text=True, check=True
        )
        results[mode] = json.loads(run.stdout.strip().splitlines()[-1])
    for mode, r in results.items():
        print(
            f"{mode:9s} restart {r['restart']:.2f} s, RSS {r['rss_healthy']} MB; list {r['list'] * 1000:.0f} ms, "
            f"dashboard list {r['dashboard'] * 1000:.0f} ms, LDAP bind to 'other' {r['ldap_bind'] * 1000:.0f} ms; "
            f"loaded after: {r['loaded']}; RSS after {r['rss_after']} MB; listed {r['listed']}"
        )
    old, new = results["load-all"], results["index"]
    print(f"list after restart: {old['list'] / max(new['list'], 1e-6):.0f}x faster with the index's cards")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
