"""What a whole toggle request costs in memory and with ``--data-dir``, counted in instructions (issue 21): the
bench's own request (``Set-Mailbox -IsExchangeCloudManaged`` through InvokeCommand, the identities in turn)
through the whole WSGI app, in process, no TLS and no engine, so the figure does not move with other load on the
machine the way req/s does.

    .venv/bin/python loadtests/probe_durable_request.py                    # in memory, and durable
    .venv/bin/python loadtests/probe_durable_request.py --apply-every 250  # the apply as a 0.25 s round would
    .venv/bin/python loadtests/probe_durable_request.py --modes memory,bare,floor,command  # the lower bounds

Each figure is (instructions of a run with ``--toggles`` + 300 requests - the same run with 300) / ``--toggles``,
counted by valgrind (callgrind), both runs in parallel. The durable runs apply what is queued every
``--apply-every`` requests in the request thread (the background thread's work, at the point a round of
``APPLY_INTERVAL`` at the served rate would reach), so it is counted too; the default, 3,000, is one round of
about a second at the bench's durable rate.

Two lower bounds, not stores (nothing they write could be replayed): ``bare`` is durable mode whose per-request
hook only takes the request's change marks and writes nothing (the plumbing of durable mode alone); ``floor`` also
encodes the changed objects, audit records and journal entries in one orjson call and appends that line to the redo
log, keeping nothing for SQLite and no RNG, clock or card state (the least a request can pay for a redo record that
holds whole objects). ``command`` appends only the request's journal entries and the RNG position (what a command
log, which replays requests instead of storing their effects, would write at the least; its checkpoints are not
counted).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 500


def _bare(store, tenant, thorough, *, blobs=True) -> bool:
    """The ``bare`` lower bound of ``RedoWriter._log_changes``: take the change marks, write nothing."""
    _take_changes(store, tenant)
    return False


def _floor(store, tenant, thorough, *, blobs=True) -> bool:
    """The ``floor`` lower bound of ``RedoWriter._log_changes``: one orjson line of whole objects, appended."""
    rows, audit, entries = _take_changes(store, tenant)
    if not rows and not audit and not entries:
        return False
    _append(store, {"tid": tenant.id, "rows": rows, "audit": audit, "journal": entries})
    return True


def _command(store, tenant, thorough, *, blobs=True) -> bool:
    """The ``command`` lower bound of ``RedoWriter._log_changes``: the requests as journalled, and the RNG position."""
    from hybridsoa.mock.store.signals import rng_position, rng_signature

    _rows, _audit, entries = _take_changes(store, tenant)
    if not entries:
        return False
    _append(store, {"tid": tenant.id, "journal": entries, "ids:pos": rng_position(rng_signature(tenant.ids.rng))})
    return True


def _append(store, record: dict) -> None:
    # One redo line in a single orjson call (native objects, no per-part texts), appended as the store appends.
    import orjson

    store.redo.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE, default=str))


def _take_changes(store, tenant) -> tuple[list, list, list]:
    # What a request changed: (collection, key, seq, object) rows, new audit records, new journal entries.
    cached = store._colls.get(tenant.id)
    if cached is None or cached[0] is not tenant:
        cached = store._colls[tenant.id] = (tenant, store.codec.collections_of(tenant))
    rows = []
    for attr, coll in cached[1].items():
        if coll.dirty:
            rows.extend((attr, key, coll.seq(key), coll.get(key)) for key in coll.take_dirty())
    audit, tenant.audit.dirty = tenant.audit.dirty, []
    _cleared, entries = tenant.journal.take_unsaved()
    return rows, audit, entries


def workload(mode: str, requests: int, mailboxes: int, apply_every: int) -> None:
    """The measured run: set up a tenant, warm up, then ``requests`` toggles."""
    sys.path.insert(0, str(ROOT))
    from hybridsoa.mock.store import redo_log

    redo_log.APPLY_INTERVAL, redo_log.APPLY_RECORDS = 1e9, 10**9  # this loop applies, at fixed points
    from hybridsoa.mock.domain.entra import keys

    fixed = Path(os.environ["PROBE_KEY"]).read_bytes()
    keys._cached_key = lambda material: fixed  # key generation draws random primes: not the same every run
    from werkzeug.test import EnvironBuilder

    from hybridsoa.mock.server import ServeOptions, build
    from hybridsoa.mock.store.durable import DurableStore

    if mode in ("bare", "floor", "command"):
        DurableStore._log_changes = {"bare": _bare, "floor": _floor, "command": _command}[mode]  # type: ignore[method-assign]
        DurableStore._drain = lambda store, reads=False, wait=True: 0  # type: ignore[method-assign]
        # Every toggle through the hook above: the command log (store/commands.py) would take them first.
        DurableStore.command_capture = lambda store: None  # type: ignore[method-assign]
    data_dir = tempfile.mkdtemp(prefix="probe-") if mode != "memory" else None
    app, _registry, _demo = build(ServeOptions(data_dir=data_dir, demo=False))
    store = app.extensions.get("hybridsoa_store")
    client = app.test_client()
    tenant = client.post(
        "/_mock/tenants", json={"mailboxes": mailboxes, "name": "bench", "options": {"mix": "uniform"}}
    ).get_json()
    automation = next(a for a in tenant["apps"] if a["name"] == "automation")
    form = {
        "grant_type": "client_credentials",
        "client_id": automation["clientId"],
        "client_secret": automation["clientSecret"],
        "scope": "https://outlook.office365.com/.default",
    }
    token = client.post(f"/{tenant['tenantId']}/oauth2/v2.0/token", data=form).get_json()["access_token"]
    path = f"/adminapi/beta/{tenant['tenantId']}/InvokeCommand"
    headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=1000"}
    listing = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}}
    aliases = [
        m["Alias"] for m in client.post(f"{path}?$select=Alias", json=listing, headers=headers).get_json()["value"]
    ]
    environs = []
    for n in range(2 * len(aliases)):  # each identity set, then cleared: every request changes state
        value = (n // len(aliases)) % 2 == 0
        body = {
            "CmdletInput": {
                "CmdletName": "Set-Mailbox",
                "Parameters": {"Identity": aliases[n % len(aliases)], "IsExchangeCloudManaged": value},
            }
        }
        environ = EnvironBuilder(
            path=path, method="POST", data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
        ).get_environ()
        environ["wsgi.input"] = environ["wsgi.input"].read()
        environs.append(environ)

    def start_response(status, _headers, _exc_info=None):
        if not status.startswith("200"):
            raise SystemExit(f"a toggle answered {status}")

    for n in range(WARMUP + requests):
        environ = dict(environs[n % len(environs)])
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"])
        body = app(environ, start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        if store is not None and (n + 1) % apply_every == 0:
            store._drain(reads=True)
    os._exit(0)  # no teardown in the count


def count(mode: str, requests: int, mailboxes: int, apply_every: int, key: str) -> int:
    """Instructions of one run under callgrind."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    argv += [
        "--run",
        mode,
        "--requests",
        str(requests),
        "--mailboxes",
        str(mailboxes),
        "--apply-every",
        str(apply_every),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PROBE_KEY": key}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if not found or out.returncode != 0:
        raise SystemExit(f"valgrind gave no count ({mode}): {out.stderr[-800:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", choices=["memory", "durable", "bare", "floor", "command"], help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--toggles", type=int, default=3000, help="requests counted (default 3000)")
    parser.add_argument(
        "--mailboxes", type=int, default=1000, help="mailboxes in the tenant (default 1000, as bench.py)"
    )
    parser.add_argument("--apply-every", type=int, default=3000, help="apply to SQLite every N requests (default 3000)")
    parser.add_argument(
        "--modes", default="memory,durable", help="of memory, durable, bare, floor, command (default memory,durable)"
    )
    args = parser.parse_args()
    if args.run:
        workload(args.run, args.requests, args.mailboxes, args.apply_every)
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as fh:
        fh.write(pem)
    results = {}
    with ThreadPoolExecutor(2) as pool:
        for mode in args.modes.split(","):
            short, long = pool.map(
                lambda n, m=mode: count(m, n, args.mailboxes, args.apply_every, fh.name), [300, 300 + args.toggles]
            )
            results[mode] = (long - short) // args.toggles
            print(f"{mode}: {results[mode]:,} instructions per toggle request", flush=True)
    for mode in ("bare", "floor", "command", "durable"):
        if "memory" in results and mode in results:
            print(f"memory / {mode}: {results['memory'] / results[mode]:.3f}")
    os.unlink(fh.name)


if __name__ == "__main__":
    main()
