"""Durability benchmark: what one acknowledged mutation costs with SQLite WAL (synchronous=FULL, the chosen
store) versus an append-only JSON-lines log fsynced per request, against the in-memory baseline; and how long
recovery takes for each after the same history.

    .venv/bin/python -m loadtests.bench_durable [--mailboxes 2000] [--toggles 1000]

Each "request" is what the middleware flushes for a ``Set-Mailbox -IsExchangeCloudManaged`` toggle: one mailbox
object, one audit record, and whatever small state blobs changed. Results are printed as ratios to the
in-memory baseline measured in the same run (docs/benchmarks.md records them)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store.durable import DurableStore


class AppendLogStore(DurableStore):
    """The alternative design: every flush appends one JSON line (objects, audit, blobs) and fsyncs the file;
    recovery replays the whole log (a real one would also write periodic snapshots to bound replay)."""

    def __init__(self, registry, path: str):  # noqa: D107 - same interface as DurableStore, no SQLite
        import threading

        self.registry, self.path, self.lock, self.codec = registry, path, threading.RLock(), snapshot
        self._written, self._clock_marks, self.commits = {}, {}, 0
        self.fh = open(path, "ab", buffering=0)  # noqa: SIM115  (the journal stays open for the run)

    def tenant_created(self, tenant) -> None:
        """Write the whole tenant as one record."""
        with tenant.lock, self.lock:
            doc = snapshot.dump_tenant(tenant)
            for coll in snapshot.collections_of(tenant).values():
                coll.take_dirty()
            tenant.audit.dirty = []
            self._append({"full": doc})
            self._written[tenant.id] = {}
            self._changed_blobs(tenant)

    def flush(self, tenant) -> bool:
        """Append what changed as one fsynced line."""
        with self.lock:
            colls = snapshot.collections_of(tenant)
            objects = []
            for attr, coll in colls.items():
                for key in coll.take_dirty():
                    obj = coll.get(key)
                    objects.append([attr, key, coll.seq(key), None if obj is None else snapshot.dump_object(obj)])
            audit, tenant.audit.dirty = tenant.audit.dirty, []
            blobs = self._changed_blobs(tenant)
            if not objects and not audit and not blobs:
                return False
            self._append(
                {
                    "tenant": tenant.id,
                    "objects": objects,
                    "audit": [r.to_dict() for r in audit],
                    "blobs": {k: json.loads(v) for k, v in blobs.items()},
                }
            )
            self._written.setdefault(tenant.id, {}).update(blobs)
            return True

    def _append(self, record: dict) -> None:
        self.fh.write(json.dumps(record).encode() + b"\n")
        os.fsync(self.fh.fileno())
        self.commits += 1

    def replay(self) -> list:
        """Rebuild every tenant from the log (what a restart would do)."""
        docs: dict[str, dict] = {}
        with open(self.path, "rb") as fh:
            for line in fh:
                rec = json.loads(line)
                if "full" in rec:
                    docs[rec["full"]["tenant"]["id"]] = rec["full"]
                    continue
                doc = docs[rec["tenant"]]
                for attr, key, seq, data in rec["objects"]:
                    coll = doc["collections"][attr]
                    coll["items"] = [row for row in coll["items"] if row[0] != key]
                    if data is None:
                        coll["tombstones"][key] = seq
                    else:
                        coll["items"].append([key, seq, data])
                doc["audit"].extend(rec["audit"])
                for name, value in rec["blobs"].items():
                    if name.startswith("subsystem:"):
                        doc["subsystems"][name[len("subsystem:") :]] = value
                    elif name in ("clock", "ids", "state"):
                        doc[name] = value
        return [snapshot.restore_tenant(d, resume_clock=True) for d in docs.values()]


def _toggle(tenant, mailboxes, i) -> None:
    with tenant.lock:
        mbx = mailboxes[i % len(mailboxes)]
        old = mbx.is_exchange_cloud_managed
        mbx.is_exchange_cloud_managed = not old
        tenant.mailboxes.touch(mbx.guid)
        tenant.add_audit_record(
            "exchange",
            "Set-Mailbox",
            None,
            target=mbx.guid,
            parameters={"Identity": mbx.user_principal_name, "IsExchangeCloudManaged": not old},
            changes={"IsExchangeCloudManaged": {"old": old, "new": not old}},
        )


def run(kind: str, mailboxes: int, toggles: int, workdir: str) -> dict:
    """Create a tenant, then time ``toggles`` mutate+flush rounds (and recovery) for one store kind."""
    registry = TenantRegistry(seed=1)
    store = None
    if kind == "sqlite-wal-full":
        store = DurableStore(registry, os.path.join(workdir, "bench.sqlite3"), snapshot)
    elif kind == "sqlite-wal-normal":
        store = DurableStore(registry, os.path.join(workdir, "bench-normal.sqlite3"), snapshot)
        store.db.execute("PRAGMA synchronous=NORMAL")
    elif kind == "append-log-fsync":
        store = AppendLogStore(registry, os.path.join(workdir, "bench.log"))
    if store is not None:
        registry.on_tenant_created.append(store.tenant_created)
        registry.store = store
    tenant = registry.create("bench", seed=7, frozen_clock=True, mailboxes=mailboxes)
    targets = [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"]
    samples = []
    for i in range(toggles):
        start = time.perf_counter()
        _toggle(tenant, targets, i)
        if store is not None:
            with tenant.lock:
                store.flush(tenant)
        samples.append(time.perf_counter() - start)
    recovery = None
    if store is not None:
        start = time.perf_counter()
        if isinstance(store, AppendLogStore):
            restored = store.replay()[0]
        else:
            fresh = TenantRegistry(seed=1)
            reopened = DurableStore(fresh, store.path, snapshot)
            reopened.load_all()
            reopened.load_everything()
            restored = fresh.get("bench")
        recovery = time.perf_counter() - start
        flags = {m.guid: m.is_exchange_cloud_managed for m in restored.mailboxes}
        assert flags == {m.guid: m.is_exchange_cloud_managed for m in tenant.mailboxes}, kind
    size = sum(os.path.getsize(os.path.join(workdir, f)) for f in os.listdir(workdir))
    return {
        "kind": kind,
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "p95": sorted(samples)[int(len(samples) * 0.95)],
        "recovery": recovery,
        "bytes": size,
    }


def run_http(durable: bool, mailboxes: int, toggles: int, workdir: str) -> float:
    """Median seconds of one ``Set-Mailbox -IsExchangeCloudManaged`` through the Flask app (no sockets),
    with or without the SQLite store attached: the end-to-end price of durability."""
    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain.entra.tokens import issue_access_token
    from hybridsoa.mock.store import open_store

    registry = TenantRegistry(seed=1)
    if durable:
        open_store(registry, workdir, snapshot)
    tenant = registry.create("bench", seed=7, frozen_clock=True, mailboxes=mailboxes)
    token, _ = issue_access_token(tenant, "exchange", app=tenant.app_by_name("automation"), lifetime=86400)
    client = create_app(registry).test_client()
    upns = [m.user_principal_name for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"]
    samples = []
    for i in range(toggles):
        body = {
            "CmdletInput": {
                "CmdletName": "Set-Mailbox",
                "Parameters": {"Identity": upns[i % len(upns)], "IsExchangeCloudManaged": (i // len(upns)) % 2 == 0},
            }
        }
        start = time.perf_counter()
        reply = client.post(
            f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        samples.append(time.perf_counter() - start)
        assert reply.status_code == 200, reply.get_data(as_text=True)
    return statistics.median(samples)


def main(argv=None) -> int:
    """Run every store kind and print ratios to the in-memory baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=2000)
    parser.add_argument("--toggles", type=int, default=1000)
    args = parser.parse_args(argv)
    results = []
    for kind in ("memory", "sqlite-wal-full", "sqlite-wal-normal", "append-log-fsync"):
        with tempfile.TemporaryDirectory() as workdir:
            results.append(run(kind, args.mailboxes, args.toggles, workdir))
    base = results[0]["median"]
    wal = next(r for r in results if r["kind"] == "sqlite-wal-full")
    print(
        f"{args.toggles} toggles on a {args.mailboxes}-mailbox tenant; ratios to the in-memory toggle "
        f"(median) and, for recovery, to SQLite WAL FULL; vs log = this store's median / the append log's"
    )
    log = next(r for r in results if r["kind"] == "append-log-fsync")
    print(f"{'store':<20}{'median x':>10}{'p95 x':>10}{'vs log':>10}{'recovery x':>12}{'disk MB':>10}")
    for r in results:
        rec = "-" if r["recovery"] is None else f"{r['recovery'] / wal['recovery']:.2f}"
        print(
            f"{r['kind']:<20}{r['median'] / base:>10.1f}{r['p95'] / base:>10.1f}"
            f"{r['median'] / log['median']:>10.2f}{rec:>12}"
            f"{r['bytes'] / 1e6:>10.2f}"
        )
    with tempfile.TemporaryDirectory() as workdir:
        plain = run_http(False, args.mailboxes, min(args.toggles, 300), workdir)
    with tempfile.TemporaryDirectory() as workdir:
        durable = run_http(True, args.mailboxes, min(args.toggles, 300), workdir)
    print(
        f"Set-Mailbox through the app: with SQLite WAL FULL {durable / plain:.1f}x the in-memory request "
        f"(median of {min(args.toggles, 300)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
