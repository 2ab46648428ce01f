"""What the durable store adds to one toggle, counted in instructions (issue 21): a figure that does not move with
other load on the machine, so it can tell small changes apart where req/s cannot.

    .venv/bin/python loadtests/probe_durable_cost.py                      # plain, durable without and with the apply
    .venv/bin/python loadtests/probe_durable_cost.py --ablate rng,journal # the same with parts replaced by constants

Each figure is (instructions of a run with 1,200 toggles - the same run with 200) / 1,000, counted by valgrind
(callgrind), in process, no HTTP: a ``Set-Mailbox``-like change (one mailbox flag flipped, its audit record, its
journal entry) made under the tenant lock, then, in the durable modes, ``DurableStore.request_done`` as the request
pipeline calls it. ``plain``: the change alone; ``nodrain``: plus the request thread's durable work (the
background apply is held off); ``durable``: plus applying every 100 toggles to SQLite, as the background thread
does every 50 ms. ``--ablate`` replaces parts of the request side by constants to see what each costs (the
results are then wrong on purpose; never use it for anything but this count): ``rng`` (the RNG signature and
``ids:pos``), ``journal`` (journal rows), ``blobs`` (state blobs and the clock), ``card`` (the index card),
``objjson`` (object and audit JSON), ``write`` (the redo ``write()``), ``encode`` (the redo record's JSON).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = ("rng", "journal", "blobs", "card", "objjson", "write", "encode")


def workload(mode: str, n: int, ablate: set[str], mailboxes: int) -> None:
    """The measured run: ``n`` toggles in ``mode`` (plain, nodrain, durable)."""
    sys.path.insert(0, str(ROOT))
    from hybridsoa.mock.store import redo_log

    redo_log.APPLY_INTERVAL, redo_log.APPLY_RECORDS = 1e9, 10**9  # this loop applies, at fixed points
    from hybridsoa.mock.domain.entra import keys

    key = os.environ.get("PROBE_KEY")
    if key:
        fixed = Path(key).read_bytes()
        keys._cached_key = lambda material: fixed  # key generation draws random primes: not the same every run
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.store import durable

    if "rng" in ablate:
        durable.rng_signature = lambda rng: 1
    if "card" in ablate:
        snapshot.index_card = lambda tenant: {"ablated": 1}
    if "journal" in ablate:
        durable.DurableStore._journal_rows = lambda self, tenant: (tenant.journal.take_unsaved(), None)[1]
    if "blobs" in ablate:
        durable.DurableStore._changed_blobs = lambda self, *a, **k: {}
    if "objjson" in ablate:
        snapshot.object_json = lambda obj: '{"ablated": 1}'
    if "write" in ablate:
        redo_log.RedoLog.append = lambda self, data: None
    if "encode" in ablate:
        redo_log.encode = lambda record: b""
    registry = TenantRegistry(seed=1)
    store = durable.open_store(registry, tempfile.mkdtemp(prefix="hybridsoa-probe-"), snapshot)
    tenant = registry.create("bench", mailboxes=mailboxes, seed=7, options={"mix": "uniform"})
    with tenant.lock:
        boxes = [(k, m) for k, m in tenant.mailboxes._items.items() if m.recipient_type_details == "UserMailbox"]
    entry = {
        "api": "exchange",
        "method": "POST",
        "path": f"/adminapi/beta/{tenant.id}/InvokeCommand",
        "cmdlet": "Set-Mailbox",
        "query": None,
        "caller": {"appId": "6513270e-269e-4d37-b2a7-4de452e6b438", "userPrincipalName": None},
        "clientRequestId": None,
        "status": 200,
    }
    store._drain(reads=True)
    rnd = random.Random(3)
    for i in range(n):
        key, box = boxes[rnd.randrange(len(boxes))]
        with tenant.lock:
            box.is_exchange_cloud_managed = not box.is_exchange_cloud_managed
            tenant.mailboxes.touch(key)
            params = {"Identity": box.alias, "IsExchangeCloudManaged": box.is_exchange_cloud_managed}
            tenant.add_audit_record(
                "exchange", "Set-Mailbox", None, target=box.alias, parameters=params, changes={"flag": [0, 1]}
            )
            tenant.journal.add(dict(entry, time=tenant.clock.now(), parameters=params, durationMs=1.0))
            if mode != "plain":
                store.request_done(tenant, thorough=True, blobs=False)
        if mode == "durable" and i % 100 == 99:
            store._drain(reads=True)
    if mode == "durable":
        store._drain(reads=True)
    os._exit(0)  # the count stops here: no close, no interpreter teardown


def count(mode: str, n: int, ablate: str, mailboxes: int, key: str) -> int:
    """Instructions of one run of the workload under callgrind."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    argv += ["--run", mode, "--toggles", str(n), "--ablate", ablate, "--mailboxes", str(mailboxes)]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PROBE_KEY": key}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if not found:
        raise SystemExit(f"valgrind gave no count ({mode}): {out.stderr[-800:]}")
    return int(found.group(1))


def main(argv=None) -> int:
    """Print instructions per toggle for each mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="plain,nodrain,durable")
    parser.add_argument("--ablate", default="", help=f"comma-separated, of {', '.join(ABLATIONS)}")
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--toggles", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    ablate = {a for a in args.ablate.split(",") if a}
    unknown = ablate - set(ABLATIONS)
    if unknown:
        parser.error(f"unknown ablation(s): {', '.join(sorted(unknown))}")
    if args.run:
        workload(args.run, args.toggles, ablate, args.mailboxes)
        return 0
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    with tempfile.TemporaryDirectory(prefix="hybridsoa-probe-key-") as tmp:
        key = Path(tmp) / "key.pem"
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key.write_bytes(pem)
        for mode in args.modes.split(","):
            low, high = (count(mode, n, args.ablate, args.mailboxes, str(key)) for n in (200, 1200))
            print(f"{mode}: {(high - low) // 1000:,} instructions per toggle", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
